//! SQL of the member's own profile.

use super::*;
use kernel::{AppError, OrgTx};
use uuid::Uuid;

pub(super) async fn lock_me(tx: &mut OrgTx, user: Uuid) -> Result<Me, AppError> {
    let me: Option<Me> = sqlx::query_as(
        "select email, first_name, last_name, job_title, language, password_hash
         from users where org_id = $1 and user_id = $2 and status = 'active' for update",
    )
    .bind(tx.org())
    .bind(user)
    .fetch_optional(tx.conn())
    .await?;
    me.ok_or(AppError::Unauthenticated)
}
