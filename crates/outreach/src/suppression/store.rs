//! The suppression list's SQL.

use kernel::{AppError, OrgTx};
use time::OffsetDateTime;
use uuid::Uuid;

use super::Reason;

/// Whether `email` (already lower-cased) is on the organization's suppression list.
pub async fn is_suppressed(tx: &mut OrgTx, email: &str) -> Result<bool, AppError> {
    Ok(sqlx::query_scalar!(
        r#"select exists(select 1 from outreach_suppressions where org_id = $1 and email = $2) as "found!""#,
        tx.org().0,
        email
    )
    .fetch_one(tx.conn())
    .await?)
}

/// Adds `email` (lower-cased) to the list; returns false when it was there already (the first
/// reason stays).
pub async fn insert(
    tx: &mut OrgTx,
    now: OffsetDateTime,
    email: &str,
    reason: Reason,
    note: &str,
    message_id: Option<Uuid>,
    created_by: Option<Uuid>,
) -> Result<bool, AppError> {
    let inserted = sqlx::query!(
        "insert into outreach_suppressions (org_id, email, reason, note, message_id, created_by, created_at)
         values ($1, $2, $3, $4, $5, $6, $7) on conflict (org_id, email) do nothing",
        tx.org().0,
        email,
        reason.as_str(),
        note,
        message_id,
        created_by,
        now
    )
    .execute(tx.conn())
    .await?
    .rows_affected();
    Ok(inserted == 1)
}
