//! Every sent message, reply and bounce on its lead's or contact's timeline (P1-09), as a CRM
//! email activity.

use crm::object::ObjectType;
use crm::worklog::ActivityInput;
use crm::worklog::service::NewActivity;
use kernel::{AppError, OrgTx};
use time::OffsetDateTime;
use uuid::Uuid;

use super::store;

/// The longest body a CRM activity keeps.
const ACTIVITY_BODY: usize = 20_000;

/// `messages` were sent: each with its subject and text on its record's timeline, in two
/// statements whatever their number (the dispatcher records its outcomes in groups). A message
/// whose record is gone is left out.
pub async fn sent_many(tx: &mut OrgTx, messages: &[Uuid], now: OffsetDateTime) -> Result<(), AppError> {
    if messages.is_empty() {
        return Ok(());
    }
    let rows = sqlx::query!(
        "select m.subject, m.body_text, e.contact_id, e.lead_id, b.owner_id
           from outreach_messages m
           join outreach_enrollments e on e.org_id = m.org_id and e.enrollment_id = m.enrollment_id
           join outreach_mailboxes b on b.org_id = m.org_id and b.mailbox_id = m.mailbox_id
          where m.org_id = $1 and m.message_id = any($2)",
        tx.org().0,
        messages
    )
    .fetch_all(tx.conn())
    .await?;
    let entries: Vec<NewActivity> = rows
        .into_iter()
        .filter_map(|r| {
            let (object, record_id) = match (r.contact_id, r.lead_id) {
                (Some(contact), _) => (ObjectType::Contact, contact),
                (None, Some(lead)) => (ObjectType::Lead, lead),
                (None, None) => return None,
            };
            Some(NewActivity {
                object,
                record_id,
                author: r.owner_id,
                input: activity(&r.subject, &r.body_text, "sent", now),
            })
        })
        .collect();
    crm::worklog::service::add_activities(tx, &entries, now).await?;
    Ok(())
}

/// What an email activity holds, cut to what the CRM keeps.
fn activity(subject: &str, body: &str, outcome: &str, at: OffsetDateTime) -> ActivityInput {
    ActivityInput {
        kind: "email".into(),
        subject: subject.chars().take(200).collect(),
        body: body.chars().take(ACTIVITY_BODY).collect(),
        outcome: outcome.into(),
        occurred_at: Some(at),
        duration_minutes: None,
    }
}

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
        (Some(contact), _) => (ObjectType::Contact, contact),
        (None, Some(lead)) => (ObjectType::Lead, lead),
        (None, None) => return Ok(()),
    };
    crm::worklog::service::add_activity(tx, object, id, target.owner_id, &activity(subject, body, outcome, at), at)
        .await?;
    Ok(())
}
