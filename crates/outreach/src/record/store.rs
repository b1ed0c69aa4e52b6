//! A record's enrollments and suppression, as its page shows them.

use kernel::{AppError, OrgTx};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::sequences::Target;

/// One enrollment of the record.
#[derive(Debug, Clone)]
pub struct RecordEnrollment {
    pub sequence_id: Uuid,
    pub sequence_name: String,
    pub state: String,
    pub state_reason: String,
    pub updated_at: OffsetDateTime,
}

/// The record's enrollments, newest first (a record is in few sequences).
pub async fn enrollments(tx: &mut OrgTx, target: Target) -> Result<Vec<RecordEnrollment>, AppError> {
    let (contact, lead) = match target {
        Target::Contact(id) => (Some(id), None),
        Target::Lead(id) => (None, Some(id)),
    };
    Ok(sqlx::query_as!(
        RecordEnrollment,
        "select e.sequence_id, s.name as sequence_name, e.state, e.state_reason, e.updated_at
           from outreach_enrollments e
           join outreach_sequences s on s.org_id = e.org_id and s.sequence_id = e.sequence_id
          where e.org_id = $1 and (e.contact_id = $2 or e.lead_id = $3)
          order by e.created_at desc
          limit 50",
        tx.org().0,
        contact,
        lead
    )
    .fetch_all(tx.conn())
    .await?)
}

/// Why and since when `email` is suppressed, if it is.
pub async fn suppression_of(tx: &mut OrgTx, email: &str) -> Result<Option<(String, OffsetDateTime)>, AppError> {
    Ok(sqlx::query!(
        "select reason, created_at from outreach_suppressions where org_id = $1 and email = $2",
        tx.org().0,
        email
    )
    .fetch_optional(tx.conn())
    .await?
    .map(|row| (row.reason, row.created_at)))
}
