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

/// Which of `emails` (already lower-cased) are on the organization's suppression list.
pub async fn suppressed_among(tx: &mut OrgTx, emails: &[String]) -> Result<Vec<String>, AppError> {
    Ok(sqlx::query_scalar!(
        "select email from outreach_suppressions where org_id = $1 and email = any($2)",
        tx.org().0,
        emails
    )
    .fetch_all(tx.conn())
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

/// Adds many addresses at once (an import), keeping each one's first reason; returns how many
/// were new.
pub async fn insert_many(
    tx: &mut OrgTx,
    now: OffsetDateTime,
    emails: &[String],
    reason: Reason,
    note: &str,
    created_by: Option<Uuid>,
) -> Result<u64, AppError> {
    Ok(sqlx::query!(
        "insert into outreach_suppressions (org_id, email, reason, note, created_by, created_at)
         select $1, email, $3, $4, $5, $6 from unnest($2::text[]) as email
         on conflict (org_id, email) do nothing",
        tx.org().0,
        emails,
        reason.as_str(),
        note,
        created_by,
        now
    )
    .execute(tx.conn())
    .await?
    .rows_affected())
}

/// Takes `email` off the list; false when it was not on it.
pub async fn delete(tx: &mut OrgTx, email: &str) -> Result<Option<String>, AppError> {
    Ok(sqlx::query_scalar!(
        "delete from outreach_suppressions where org_id = $1 and email = $2 returning reason",
        tx.org().0,
        email
    )
    .fetch_optional(tx.conn())
    .await?)
}

/// One address of the list, as pages and the API show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SuppressionRow {
    pub email: String,
    pub reason: String,
    pub note: String,
    pub message_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub created_by_name: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The list in address order, those after `after`, whose address contains `search` (already
/// lower-cased; empty: all).
pub async fn list(
    tx: &mut OrgTx,
    search: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<SuppressionRow>, AppError> {
    // `%` and `_` typed by a person are literal characters of an address, not patterns.
    let pattern = format!("%{}%", search.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    Ok(sqlx::query_as!(
        SuppressionRow,
        r#"select s.email, s.reason, s.note, s.message_id, s.created_by, (u.first_name || ' ' || u.last_name) as "created_by_name?",
                  s.created_at
             from outreach_suppressions s
             left join users u on u.org_id = s.org_id and u.user_id = s.created_by
            where s.org_id = $1 and s.email like $2 and ($3::text is null or s.email > $3)
            order by s.email
            limit $4"#,
        tx.org().0,
        pattern,
        after,
        limit
    )
    .fetch_all(tx.conn())
    .await?)
}

/// How many addresses the list holds.
pub async fn count(tx: &mut OrgTx) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar!(r#"select count(*) as "count!" from outreach_suppressions where org_id = $1"#, tx.org().0)
        .fetch_one(tx.conn())
        .await?)
}

/// The active or paused enrollments writing to any of `emails`: they stop when it is suppressed.
pub async fn enrollments_writing_to(tx: &mut OrgTx, emails: &[String]) -> Result<Vec<Uuid>, AppError> {
    Ok(sqlx::query_scalar!(
        "select enrollment_id from outreach_enrollments
          where org_id = $1 and email = any($2) and state in ('active', 'paused')",
        tx.org().0,
        emails
    )
    .fetch_all(tx.conn())
    .await?)
}

/// The address a sent message went to, and the mailbox it was sent from (for the unsubscribe
/// page: "you will no longer hear from …").
pub async fn message_recipient(tx: &mut OrgTx, message: Uuid) -> Result<Option<(String, Option<String>)>, AppError> {
    Ok(sqlx::query!(
        r#"select m.to_address, b.from_address as "from_address?"
             from outreach_messages m
             left join outreach_mailboxes b on b.org_id = m.org_id and b.mailbox_id = m.mailbox_id
            where m.org_id = $1 and m.message_id = $2"#,
        tx.org().0,
        message
    )
    .fetch_optional(tx.conn())
    .await?
    .map(|row| (row.to_address, row.from_address)))
}
