//! SQL of the member's own profile.

use super::*;
use kernel::{AppError, OrgTx};
use time::OffsetDateTime;
use uuid::Uuid;

/// The active member's profile, their row locked until the transaction ends (a change follows).
pub(super) async fn lock_me(tx: &mut OrgTx, user: Uuid) -> Result<Me, AppError> {
    let me: Option<Me> = sqlx::query_as!(
        Me,
        "select email, first_name, last_name, job_title, language, time_zone, password_hash
         from users where org_id = $1 and user_id = $2 and status = 'active' for update",
        tx.org().0,
        user
    )
    .fetch_optional(tx.conn())
    .await?;
    me.ok_or(AppError::Unauthenticated)
}

/// The member's profile as it is now.
pub(super) async fn me(tx: &mut OrgTx, user: Uuid) -> Result<Me, sqlx::Error> {
    sqlx::query_as!(
        Me,
        "select email, first_name, last_name, job_title, language, time_zone, password_hash
         from users where org_id = $1 and user_id = $2",
        tx.org().0,
        user
    )
    .fetch_one(tx.conn())
    .await
}

/// The address of the member's latest email change still waiting for confirmation at `now`.
pub(super) async fn pending_email(
    tx: &mut OrgTx,
    user: Uuid,
    now: OffsetDateTime,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "select new_email from email_changes
         where org_id = $1 and user_id = $2 and used_at is null and revoked_at is null and expires_at > $3
         order by created_at desc limit 1",
        tx.org().0,
        user,
        now
    )
    .fetch_optional(tx.conn())
    .await
}

/// The member's language, as the language switch sets it.
pub(super) async fn set_language(
    tx: &mut OrgTx,
    user: Uuid,
    language: &str,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update users set language = $3, updated_at = $4 where org_id = $1 and user_id = $2",
        tx.org().0,
        user,
        language,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}
