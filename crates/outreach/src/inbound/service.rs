//! What a message read from an inbox does, in the transaction that moves the mailbox's reading
//! position past it:
//!
//! * a **reply** stops that person's enrollment (`replied`), marks the message answered and goes
//!   on the record's timeline;
//! * an **auto-reply** is kept (the sequence page and record show it) and changes nothing else;
//! * a **hard bounce** marks the message bounced, stops the enrollment and suppresses the address
//!   for the whole organization (audited); a **soft bounce** plans the message again, later, up
//!   to [`SOFT_RETRIES`] times, then stops the enrollment without suppressing the address;
//! * an **unsubscribe request** to the `mailto:` of `List-Unsubscribe` suppresses the sender as
//!   the one-click link does.
//!
//! A message that concerns no outreach message of this mailbox is skipped and nothing of it is
//! kept: the reader does not copy a member's mail.

use kernel::audit::AuditLog;
use kernel::jobs::{NewJob, enqueue_at};
use kernel::{AppError, OrgTx};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::classify::{Inbound, Kind, Severity};
use super::store::{self, Matched, NewInbound};
use super::{INBOUND_JOB, POLL_EVERY};
use crate::sending;

/// Soft bounces an enrollment may have before it stops as bounced.
pub const SOFT_RETRIES: i64 = 2;
/// How long a soft-bounced message waits before it is sent again (times the retry's number).
const SOFT_RETRY_AFTER: Duration = Duration::hours(4);

/// What the reader did with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// It concerns no outreach message of this mailbox.
    Unrelated,
    Reply,
    AutoReply,
    HardBounce,
    /// A soft bounce, sent again later.
    Retried,
    /// A soft bounce once too many: the enrollment stopped.
    GaveUp,
    Unsubscribed,
}

/// Acts on one message read from `mailbox`, received (by the server) at `received_at`.
pub async fn apply(
    tx: &mut OrgTx,
    audit: &AuditLog,
    now: OffsetDateTime,
    mailbox: Uuid,
    inbound: &Inbound,
    received_at: OffsetDateTime,
) -> Result<Applied, AppError> {
    let Some(matched) = find(tx, mailbox, inbound).await? else { return Ok(Applied::Unrelated) };
    let record = |kind: &'static str, bounce_kind: &'static str, status: &'static str| NewInbound {
        mailbox_id: mailbox,
        kind,
        bounce_kind,
        matched: &matched,
        from_address: &inbound.from,
        subject: &inbound.subject,
        excerpt: &inbound.excerpt,
        status_code: status,
        received_at,
    };
    match &inbound.kind {
        Kind::Reply => {
            store::insert(tx, now, &record("reply", "", "")).await?;
            store::mark_replied(tx, matched.message_id, received_at).await?;
            sending::service::stop_enrollment(tx, matched.enrollment_id, "replied", "reply", now).await?;
            sending::timeline::record(
                tx,
                matched.message_id,
                &inbound.subject,
                &inbound.excerpt,
                "replied",
                received_at,
            )
            .await?;
            Ok(Applied::Reply)
        }
        Kind::AutoReply => {
            store::insert(tx, now, &record("auto_reply", "", "")).await?;
            Ok(Applied::AutoReply)
        }
        Kind::Bounce { severity, status, .. } => {
            let mut new = record("bounce", severity.as_str(), "");
            new.status_code = status;
            store::insert(tx, now, &new).await?;
            store::mark_bounced(tx, matched.message_id, received_at).await?;
            let applied = match severity {
                Severity::Hard => {
                    sending::service::stop_enrollment(tx, matched.enrollment_id, "bounced", "hard_bounce", now).await?;
                    crate::suppression::service::hard_bounce(
                        tx,
                        audit,
                        now,
                        &matched.to_address,
                        Some(matched.message_id),
                    )
                    .await?;
                    Applied::HardBounce
                }
                Severity::Soft => soft_bounce(tx, now, &matched).await?,
            };
            let what = if status.is_empty() { String::new() } else { format!("Status {status}") };
            sending::timeline::record(tx, matched.message_id, &inbound.subject, &what, "bounced", received_at).await?;
            Ok(applied)
        }
        Kind::Unsubscribe => {
            // Only the person the message was written to may take themself off the list.
            if inbound.from != matched.to_address.to_lowercase() {
                return Ok(Applied::Unrelated);
            }
            crate::suppression::service::unsubscribe(tx, audit, now, matched.message_id).await?;
            Ok(Applied::Unsubscribed)
        }
    }
}

/// The outreach message `inbound` is about: by `Message-ID` first, else by address — the failed
/// recipient of a bounce, the sender of anything else — among what this mailbox sent.
async fn find(tx: &mut OrgTx, mailbox: Uuid, inbound: &Inbound) -> Result<Option<Matched>, AppError> {
    let headers: Vec<String> = inbound.refers_to.iter().map(|id| format!("<{id}>")).collect();
    if let Some(matched) = store::by_message_id(tx, mailbox, &headers).await? {
        return Ok(Some(matched));
    }
    let address = match &inbound.kind {
        Kind::Bounce { recipient, .. } => recipient.as_deref(),
        _ => Some(inbound.from.as_str()),
    };
    match address {
        Some(address) if !address.is_empty() => store::by_address(tx, mailbox, address).await,
        _ => Ok(None),
    }
}

async fn soft_bounce(tx: &mut OrgTx, now: OffsetDateTime, matched: &Matched) -> Result<Applied, AppError> {
    // The bounce just recorded counts.
    let bounces = store::soft_bounces(tx, matched.enrollment_id).await?;
    if bounces > SOFT_RETRIES {
        sending::service::stop_enrollment(tx, matched.enrollment_id, "bounced", "soft_bounce_limit", now).await?;
        return Ok(Applied::GaveUp);
    }
    let at = now + SOFT_RETRY_AFTER * i32::try_from(bounces).unwrap_or(1);
    if store::plan_again(tx, matched.message_id, at, now).await? {
        sending::service::wake_at(tx, now, at).await?;
    }
    Ok(Applied::Retried)
}

/// Makes sure `mailbox`'s inbox is read by `at` (a job already queued by then is enough).
pub async fn watch(tx: &mut OrgTx, mailbox: Uuid, now: OffsetDateTime, at: OffsetDateTime) -> Result<(), AppError> {
    let queued = sqlx::query_scalar!(
        r#"select exists(select 1 from jobs where org_id = $1 and kind = $2 and status = 'queued'
                         and payload ->> 'mailbox_id' = $3::uuid::text and run_at <= $4) as "queued!""#,
        tx.org().0,
        INBOUND_JOB,
        mailbox,
        at
    )
    .fetch_one(tx.conn())
    .await?;
    if queued {
        return Ok(());
    }
    let mut job = NewJob::new(INBOUND_JOB, format!("read-{}", Uuid::now_v7()), json!({ "mailbox_id": mailbox }));
    job.run_at = Some(at.max(now));
    job.max_attempts = 3;
    enqueue_at(tx, now, job).await?;
    Ok(())
}

/// After `mailbox` sent: its inbox is read at the next regular reading, or at once if it never
/// was (the first reading notes where the inbox stands, before any answer can arrive).
pub async fn watch_after_sending(tx: &mut OrgTx, mailbox: Uuid, now: OffsetDateTime) -> Result<(), AppError> {
    let never_read = sqlx::query_scalar!(
        r#"select imap_uid_validity is null and imap_host <> '' as "never!" from outreach_mailboxes
            where org_id = $1 and mailbox_id = $2"#,
        tx.org().0,
        mailbox
    )
    .fetch_optional(tx.conn())
    .await?;
    match never_read {
        Some(true) => watch(tx, mailbox, now, now).await,
        Some(false) => watch(tx, mailbox, now, now + POLL_EVERY).await,
        None => Ok(()),
    }
}

/// The next regular reading of `mailbox` after one that just ended.
pub async fn watch_later(tx: &mut OrgTx, mailbox: Uuid, now: OffsetDateTime) -> Result<(), AppError> {
    watch(tx, mailbox, now, now + POLL_EVERY).await
}
