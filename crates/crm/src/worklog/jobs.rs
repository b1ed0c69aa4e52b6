//! The work log's background job: task reminder mails.
//!
//! Task reminder mails (issue #4 item 2): a task with `remind_at` mails its assignee (or, when
//! nobody is assigned, its creator) at that time, once, in their language, with the task's title,
//! due date and a link to its record.
//!
//! * Scheduling: creating a task, or moving its `remind_at` to a future time, enqueues a
//!   `crm.task_reminder` job due at `remind_at`, in the same transaction as the task (so no job
//!   without its task, and no task without its job). The job's idempotency key is the task and
//!   the reminder time: saving the same time twice enqueues nothing more. A new reminder time
//!   already past by more than a minute (`REMINDER_GRACE`) is refused with 422 naming
//!   `remind_at` (as calendar apps do: it could never be sent on time); one within that minute is
//!   mailed at once. In a PATCH, `"remind_at": null` removes the reminder (its job then sends
//!   nothing), and leaving the field out keeps it.
//! * Sending: the job re-reads the task in its tenant transaction and sends nothing if the task is
//!   gone, no longer open, already reminded, or if its `remind_at` is no longer the job's (it was
//!   moved: the newer job sends). Otherwise it queues the mail (kernel::mail, also in this
//!   transaction) and sets `reminded_at`: the mail, the mark and the job's completion commit
//!   together, so a reminder is never sent twice nor lost.

use std::sync::Arc;

use identity::notify;
use kernel::clock::Clock;
use kernel::config::PublicUrl;
use kernel::i18n::{Lang, T};
use kernel::jobs::{JobRun, NewJob, Registry};
use kernel::mail::{self, OutgoingMail};
use kernel::vault::Vault;
use kernel::{AppError, OrgTx};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::store;

pub const JOB: &str = "crm.task_reminder";

#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    task_id: Uuid,
    /// The reminder time this job was scheduled for, in Unix seconds.
    remind_at: i64,
}

/// Enqueues the reminder of `task` at `remind_at` (at once if that time has just passed) in the
/// caller's transaction (`now` is the caller's clock).
pub async fn schedule(
    tx: &mut OrgTx,
    task: Uuid,
    remind_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    let Some(at) = remind_at else { return Ok(()) };
    let payload = Payload { task_id: task, remind_at: at.unix_timestamp() };
    let job = NewJob {
        // A time just past (within `REMINDER_GRACE`, older ones are refused) is mailed at once.
        run_at: Some(at.max(now)),
        ..NewJob::new(
            JOB,
            format!("{task}:{}", at.unix_timestamp()),
            serde_json::to_value(&payload).map_err(anyhow::Error::from)?,
        )
    };
    kernel::jobs::enqueue_at(tx, now, job).await?;
    Ok(())
}

/// Registers the reminder job (one line in `web::job_registry`): `public_url` makes the link to
/// the record.
pub fn register(registry: &mut Registry, vault: Vault, public_url: PublicUrl) {
    let shared = Arc::new((vault, public_url));
    registry.register(JOB, move |run: JobRun| {
        let shared = shared.clone();
        async move { remind(run, &shared.0, &shared.1).await }
    });
}

/// One line of text: a title with a line break must not break the mail's subject.
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

async fn remind(run: JobRun, vault: &Vault, public_url: &PublicUrl) -> anyhow::Result<OrgTx> {
    let payload: Payload = serde_json::from_value(run.payload)?;
    // The worker's clock: the mail is due at once and `reminded_at` says when it was queued.
    let clock = Clock::manual(run.now);
    let mut tx = run.tx;
    let Some(task) = store::reminder_task(&mut tx, payload.task_id).await? else { return Ok(tx) };
    let due = task.status == "open"
        && task.reminded_at.is_none()
        && task.remind_at.map(|at| at.unix_timestamp()) == Some(payload.remind_at);
    if !due {
        return Ok(tx);
    }
    // The assignee, else the creator; a deactivated member gets nothing.
    let mut recipient = None;
    for user in [task.assignee_id, task.created_by].into_iter().flatten() {
        recipient = notify::recipient(&mut tx, user, false).await?;
        if recipient.is_some() {
            break;
        }
    }
    let Some(recipient) = recipient else { return Ok(tx) };
    let t = T(Lang::parse(&recipient.language).unwrap_or(Lang::En));
    let title = one_line(&task.title);
    let due_text = match task.due_at {
        Some(at) => at
            .format(&time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC"))
            .unwrap_or_default(),
        None => t.get("crm.reminder.no_due").to_string(),
    };
    let link = public_url.join(&task.record_path());
    let message = OutgoingMail {
        to: recipient.email.clone(),
        subject: t.fmt("crm.reminder.subject", &[("title", &title)]),
        text: t.fmt(
            "crm.reminder.body",
            &[
                ("name", &recipient.first_name),
                ("org", &recipient.org_name),
                ("title", &title),
                ("due", &due_text),
                ("link", &link),
            ],
        ),
        html: None,
    };
    mail::enqueue(&mut tx, &clock, vault, &message).await?;
    store::mark_reminded(&mut tx, payload.task_id, run.now).await?;
    Ok(tx)
}
