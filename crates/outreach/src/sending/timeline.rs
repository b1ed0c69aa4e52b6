//! Every sent message on its lead's or contact's timeline (P1-09), as a CRM email activity.

use kernel::{AppError, OrgTx};
use time::OffsetDateTime;
use uuid::Uuid;

use super::store;

/// The longest body a CRM activity keeps.
const ACTIVITY_BODY: usize = 20_000;

pub async fn sent(tx: &mut OrgTx, message: Uuid, now: OffsetDateTime) -> Result<(), AppError> {
    let Some(target) = store::timeline_target(tx, message).await? else { return Ok(()) };
    let (object, id) = match (target.contact_id, target.lead_id) {
        (Some(contact), _) => (crm::object::ObjectType::Contact, contact),
        (None, Some(lead)) => (crm::object::ObjectType::Lead, lead),
        (None, None) => return Ok(()),
    };
    let row = sqlx::query!(
        "select subject, body_text from outreach_messages where org_id = $1 and message_id = $2",
        tx.org().0,
        message
    )
    .fetch_one(tx.conn())
    .await?;
    let input = crm::worklog::ActivityInput {
        kind: "email".into(),
        subject: row.subject.chars().take(200).collect(),
        body: row.body_text.chars().take(ACTIVITY_BODY).collect(),
        outcome: "sent".into(),
        occurred_at: Some(now),
        duration_minutes: None,
    };
    crm::worklog::service::add_activity(tx, object, id, target.owner_id, &input, now).await?;
    Ok(())
}
