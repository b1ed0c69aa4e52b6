//! What other features ask of the sending engine: wake it, stop one person's sequence, stop
//! everything a mailbox had planned. Each runs in the caller's tenant transaction, so the stop
//! commits (or not) with what caused it.

use kernel::jobs::{NewJob, enqueue_at};
use kernel::{AppError, OrgTx};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::DISPATCH_JOB;

/// Makes sure the organization's dispatcher runs now: new enrollments, a resumed sequence.
pub async fn wake(tx: &mut OrgTx, now: OffsetDateTime) -> Result<(), AppError> {
    wake_at(tx, now, now).await
}

/// Makes sure the organization's dispatcher runs at `at` at the latest (the next due message or
/// step). A dispatcher already queued to run by then is enough; a running one is not (it may have
/// read what is due before the caller's change), so a new one is queued.
pub async fn wake_at(tx: &mut OrgTx, now: OffsetDateTime, at: OffsetDateTime) -> Result<(), AppError> {
    let queued = sqlx::query_scalar!(
        r#"select exists(select 1 from jobs where org_id = $1 and kind = $2 and status = 'queued' and run_at <= $3) as "queued!""#,
        tx.org().0,
        DISPATCH_JOB,
        at
    )
    .fetch_one(tx.conn())
    .await?;
    if queued {
        return Ok(());
    }
    let mut job = NewJob::new(DISPATCH_JOB, format!("wake-{}", Uuid::now_v7()), json!({}));
    job.run_at = Some(at.max(now));
    job.max_attempts = 5;
    enqueue_at(tx, now, job).await?;
    Ok(())
}

/// Ends one enrollment in `state` (`replied`, `bounced`, `unsubscribed`, `stopped`, `finished`)
/// with a reason code, and cancels its planned messages. An enrollment already ended keeps its
/// first ending (a reply after an unsubscribe stays an unsubscribe).
pub async fn stop_enrollment(
    tx: &mut OrgTx,
    enrollment: Uuid,
    state: &str,
    reason: &str,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    let stopped = sqlx::query!(
        "update outreach_enrollments
            set state = $3, state_reason = $4, next_run_at = null, updated_at = $5
          where org_id = $1 and enrollment_id = $2 and state in ('active', 'paused')",
        tx.org().0,
        enrollment,
        state,
        reason,
        now
    )
    .execute(tx.conn())
    .await?
    .rows_affected();
    if stopped == 1 {
        sqlx::query!(
            "update outreach_messages set state = 'cancelled', state_reason = $3
              where org_id = $1 and enrollment_id = $2 and state = 'planned'",
            tx.org().0,
            enrollment,
            state
        )
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

/// Cancels every planned message to any of `emails` (normalized), with `reason`: an address that
/// was just suppressed, whatever sequence or test planned them.
pub async fn cancel_messages_to(tx: &mut OrgTx, emails: &[String], reason: &str) -> Result<u64, AppError> {
    Ok(sqlx::query!(
        "update outreach_messages set state = 'cancelled', state_reason = $3
          where org_id = $1 and lower(to_address) = any($2) and state = 'planned'",
        tx.org().0,
        emails,
        reason
    )
    .execute(tx.conn())
    .await?
    .rows_affected())
}

/// Cancels every message a mailbox had planned (it is being revoked or disabled); returns how
/// many. Their enrollments stay active: their next email is planned again on another mailbox of
/// the sequence, or waits for one.
pub async fn cancel_mailbox(tx: &mut OrgTx, mailbox: Uuid, now: OffsetDateTime) -> Result<u64, AppError> {
    let cancelled = sqlx::query!(
        "with cancelled as (
           update outreach_messages set state = 'cancelled', state_reason = 'mailbox_revoked'
            where org_id = $1 and mailbox_id = $2 and state = 'planned'
           returning enrollment_id, step_id)
         update outreach_enrollments e
            set next_position = s.position, next_run_at = $3, mailbox_id = null, updated_at = $3
           from cancelled c join outreach_steps s on s.org_id = $1 and s.step_id = c.step_id
          where e.org_id = $1 and e.enrollment_id = c.enrollment_id and e.state = 'active'",
        tx.org().0,
        mailbox,
        now
    )
    .execute(tx.conn())
    .await?
    .rows_affected();
    Ok(cancelled)
}

/// A test of one email step sent to the member themself, from one of their mailboxes, through
/// the same queue as every message (so it shows what recipients get, headers included). The
/// subject is marked as a test. Returns the message's id.
#[allow(clippy::too_many_arguments)]
pub async fn send_test(
    tx: &mut OrgTx,
    now: OffsetDateTime,
    mailbox: Uuid,
    from_address: &str,
    to: &str,
    sequence: Uuid,
    step: Uuid,
    subject: &str,
    body: &str,
) -> Result<Uuid, AppError> {
    let message_id = Uuid::now_v7();
    let domain = from_address.rsplit('@').next().unwrap_or("relais.localhost");
    let header = format!("<{}@{domain}>", message_id.simple());
    let subject = format!("[TEST] {subject}");
    let new = super::store::NewMessage {
        message_id,
        enrollment_id: None,
        sequence_id: Some(sequence),
        step_id: Some(step),
        mailbox_id: mailbox,
        to_address: to.to_owned(),
        subject,
        body_text: body.to_owned(),
        message_id_header: header,
        in_reply_to: None,
        references_header: None,
        scheduled_at: now,
    };
    super::store::insert_messages(tx, now, &[new]).await?;
    wake(tx, now).await?;
    Ok(message_id)
}

/// What a person decides about a message whose fate is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// It did arrive (the recipient has it, or the mailbox's Sent folder shows it).
    Sent,
    /// It did not: send it once more.
    Resend,
    /// Do not send it; the person's sequence stops.
    Cancel,
}

impl Decision {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "sent" => Some(Self::Sent),
            "resend" => Some(Self::Resend),
            "cancel" => Some(Self::Cancel),
            _ => None,
        }
    }
}

/// Settles a message awaiting review, as `viewer` decides (a user only for their own mailbox's
/// messages; `sees_all` for managers and owners). Audited.
pub async fn review(
    tx: &mut OrgTx,
    audit: &kernel::audit::AuditLog,
    id: Uuid,
    decision: Decision,
    viewer: Uuid,
    sees_all: bool,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    let message = super::store::lock_message(tx, id).await?.ok_or(AppError::NotFound)?;
    if !sees_all && message.owner_id != Some(viewer) {
        return Err(AppError::NotFound);
    }
    if message.state != "review" {
        return Err(AppError::field("decision", "not_in_review", "This message is not awaiting review."));
    }
    match decision {
        Decision::Sent => {
            super::store::decide(tx, id, "sent", now).await?;
            if let Some(enrollment) = message.enrollment_id {
                sqlx::query!(
                    "update outreach_enrollments set next_run_at = $3, updated_at = $3
                      where org_id = $1 and enrollment_id = $2 and state = 'active' and next_run_at is null",
                    tx.org().0,
                    enrollment,
                    now
                )
                .execute(tx.conn())
                .await?;
            }
        }
        Decision::Resend => super::store::decide(tx, id, "planned", now).await?,
        Decision::Cancel => {
            super::store::decide(tx, id, "cancelled", now).await?;
            if let Some(enrollment) = message.enrollment_id {
                stop_enrollment(tx, enrollment, "stopped", "review_cancelled", now).await?;
            }
        }
    }
    let verb = match decision {
        Decision::Sent => "sent",
        Decision::Resend => "resend",
        Decision::Cancel => "cancel",
    };
    audit
        .record(
            tx,
            kernel::audit::AuditEvent::new("outreach.message.reviewed")
                .target("outreach_message", id)
                .payload(json!({ "decision": verb })),
        )
        .await?;
    wake(tx, now).await
}
