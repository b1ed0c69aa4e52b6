//! Every sent message, reply and bounce on its lead's or contact's timeline (P1-09), as a CRM
//! email activity.

use kernel::{AppError, OrgTx};
use time::OffsetDateTime;
use uuid::Uuid;

use super::store;

/// The longest body a CRM activity keeps.
const ACTIVITY_BODY: usize = 20_000;

/// `message` was sent: its subject and text.
pub async fn sent(tx: &mut OrgTx, message: Uuid, now: OffsetDateTime) -> Result<(), AppError> {
    let row = sqlx::query!(
        "select subject, body_text from outreach_messages where org_id = $1 and message_id = $2",
        tx.org().0,
        message
    )
    .fetch_one(tx.conn())
    .await?;
    record(tx, message, &row.subject, &row.body_text, "sent", now).await
}

/// Something about `message` (a reply, a bounce) as an email activity with `outcome`, on the
/// record the message was written to, by the sequence's owner.
pub async fn record(
    tx: &mut OrgTx,
    message: Uuid,
    subject: &str,
    body: &str,
    outcome: &str,
    at: OffsetDateTime,
) -> Result<(), AppError> {
    let Some(target) = store::timeline_target(tx, message).await? else { return Ok(()) };
    let (object, id) = match (target.contact_id, target.lead_id) {
        (Some(contact), _) => (crm::object::ObjectType::Contact, contact),
        (None, Some(lead)) => (crm::object::ObjectType::Lead, lead),
        (None, None) => return Ok(()),
    };
    let input = crm::worklog::ActivityInput {
        kind: "email".into(),
        subject: subject.chars().take(200).collect(),
        body: body.chars().take(ACTIVITY_BODY).collect(),
        outcome: outcome.into(),
        occurred_at: Some(at),
        duration_minutes: None,
    };
    crm::worklog::service::add_activity(tx, object, id, target.owner_id, &input, at).await?;
    Ok(())
}
