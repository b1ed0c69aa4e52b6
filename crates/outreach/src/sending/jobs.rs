//! The dispatcher: one job kind, `outreach.dispatch`, run per organization whenever something
//! may be due (an enrollment, a resumed sequence, the next planned message's time). Each run:
//!
//! 1. puts messages abandoned in `sending` by a dead worker (lease run out) into review;
//! 2. plans due enrollments (`plan`), committed;
//! 3. for each mailbox with due messages, claims a batch (`sending`, leased; **committed before
//!    any SMTP conversation**), sends it over one session, and records each outcome in small
//!    committed groups, renewing the lease of the rest;
//! 4. queues itself again for the next due time, in the job's own transaction.
//!
//! The job's own transaction only completes the job: the steps above commit on their own, so a
//! `kill -9` at any moment leaves every message either `planned` (never handed to SMTP),
//! `sent`, or `sending` — the last going to review once its lease runs out, never resent.
//! The kernel's queue runs at most two dispatchers per organization at once and serves
//! organizations round-robin, so one organization's campaign never starves another's.

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use futures_util::StreamExt;
use kernel::db::Actor;
use kernel::jobs::{JobRun, Registry};
use kernel::module::JobDeps;
use kernel::vault::Vault;
use kernel::{AppError, Db, OrgId};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::compose::{Composed, compose};
use super::plan::{PlanContext, plan_due};
use super::smtp::{Delivery, Phase, Session};
use super::{DISPATCH_JOB, service, store};
use crate::mailboxes::transport::sender;
use crate::suppression::Reason;

/// Messages claimed at once from one mailbox. A worker that dies mid-batch leaves at most this
/// many messages for review (their fate unknown): small enough to review by hand, large enough
/// that the claim's commit is paid once per batch.
const CLAIM: i64 = 20;
/// How long a claim holds its messages without news; renewed as outcomes are recorded.
const LEASE: Duration = Duration::minutes(5);
/// Outcomes recorded per commit: a whole batch, since a worker killed before recording leaves
/// the batch's unrecorded messages in review whatever this is (they are all in `sending`).
const RECORD_EVERY: usize = CLAIM as usize;
/// A batch's outcomes are also recorded, and the lease of the rest renewed, once this much time
/// has passed since the last record: a slow server must not outlast the lease.
const RECORD_AFTER: StdDuration = StdDuration::from_secs(30);
/// Wall time one run spends sending before it hands over to a fresh run. Short, because the run's
/// job transaction holds a row lock, hence a transaction id, for as long as the run lasts: while
/// it does, PostgreSQL can neither prune the message versions the run's own batches leave behind
/// nor mark their index entries dead, so every claim steps over all of them again. With 50 s
/// runs that walk grew to thousands of entries per claim by the end of each run; a fresh run
/// every few seconds costs a few cheap queries.
const SEND_BUDGET: StdDuration = StdDuration::from_secs(8);
/// Attempts before a message the server keeps refusing for now is given up.
const MAX_ATTEMPTS: i16 = 4;
/// When a mailbox's server cannot be reached, its messages wait this long.
const UNREACHABLE_RETRY: Duration = Duration::minutes(10);
/// Mailboxes a run sends from at once, each over its own SMTP session: one mailbox's batches
/// still go one after another on one connection, while the others' overlap its database commits
/// and SMTP round trips instead of waiting for them (`relais bench send` measures it). Bounded,
/// so a run holds a few connections, and a worker killed mid-run leaves at most this many batches
/// in review.
const SESSIONS: usize = 4;

pub fn register(registry: &mut Registry, deps: &JobDeps<'_>) {
    let engine = Arc::new(Engine {
        db: deps.db.clone(),
        vault: deps.vault.clone(),
        public_origin: deps.config.public_url.origin().to_owned(),
        allow_private: deps.config.modules.get::<crate::mailboxes::OutreachSettings>().allow_private,
        oauth: deps.config.modules.get::<crate::mailboxes::OutreachSettings>().oauth,
    });
    registry.register(DISPATCH_JOB, move |run: JobRun| {
        let engine = engine.clone();
        async move { engine.dispatch(run).await }
    });
}

struct Engine {
    db: Db,
    vault: Vault,
    public_origin: String,
    allow_private: bool,
    /// The OAuth2 providers, to refresh a Gmail or Microsoft 365 mailbox's access token.
    oauth: crate::mailboxes::oauth::OAuthSettings,
}

impl Engine {
    async fn dispatch(&self, mut run: JobRun) -> anyhow::Result<kernel::OrgTx> {
        let org = run.tx.org();
        let now = run.now;

        let mut tx = self.db.begin_org(org, Actor::System).await?;
        let abandoned = store::recover_abandoned(&mut tx, now).await?;
        if abandoned > 0 {
            tracing::warn!(abandoned, "outreach messages whose sending was interrupted are awaiting review");
        }
        let context = PlanContext { vault: &self.vault, public_origin: &self.public_origin };
        plan_due(&mut tx, &context, now).await?;
        tx.commit().await?;

        let started = Instant::now();
        let mut tx = self.db.begin_org(org, Actor::System).await?;
        let mailboxes = store::mailboxes_with_due(&mut tx, now).await?;
        tx.commit().await?;
        let sent: Vec<anyhow::Result<()>> = futures_util::stream::iter(mailboxes.iter().copied())
            .map(|mailbox| async move {
                while started.elapsed() < SEND_BUDGET {
                    if self.send_batch(org, mailbox, now).await? == 0 {
                        break;
                    }
                }
                Ok::<(), anyhow::Error>(())
            })
            .buffer_unordered(SESSIONS)
            .collect()
            .await;
        for outcome in sent {
            outcome?;
        }
        // Replies and bounces to what was just sent are read from these inboxes.
        for mailbox in mailboxes {
            crate::inbound::service::watch_after_sending(&mut run.tx, mailbox, now).await?;
        }

        // What is due next; due already (more than one run's worth) means a run right away.
        if let Some(next) = store::next_due(&mut run.tx).await? {
            service::wake_at(&mut run.tx, now, next).await?;
        }
        Ok(run.tx)
    }

    /// Claims and sends one batch of a mailbox's due messages; returns how many were claimed.
    async fn send_batch(&self, org: OrgId, mailbox: Uuid, now: OffsetDateTime) -> anyhow::Result<usize> {
        let mut tx = self.db.begin_org(org, Actor::System).await?;
        let sender = match sender(&mut tx, mailbox).await {
            Ok(sender) => sender,
            // Revoked or paused meanwhile: its planned messages are not this run's to send.
            Err(_) => return Ok(0),
        };
        store::drop_suppressed(&mut tx, mailbox, now, CLAIM).await?;
        let claimed = store::claim(&mut tx, mailbox, now, now + LEASE, CLAIM).await?;
        tx.commit().await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let count = claimed.len();

        // The password, or an OAuth2 access token, refreshed if it runs out soon: outside any
        // transaction of this run (read, commit, call the provider, write). A grant the provider
        // refused has paused the mailbox; either way the batch waits like an unreachable server's.
        let login = match crate::mailboxes::oauth::login(&self.db, org, &self.vault, &self.oauth, mailbox, now).await {
            Ok(login) => login,
            Err(error) => {
                let ids: Vec<Uuid> = claimed.iter().map(|m| m.message_id).collect();
                let mut tx = self.db.begin_org(org, Actor::System).await?;
                store::release(&mut tx, &ids, now + UNREACHABLE_RETRY, error.code()).await?;
                store::sending_until(&mut tx, mailbox, None).await?;
                tx.commit().await?;
                tracing::warn!(code = error.code(), "an outreach mailbox has no credentials to send with");
                return Ok(0);
            }
        };
        // A Gmail or Microsoft 365 mailbox's servers are the operator's configuration, not a
        // member's: only a password mailbox's are held to the private-address rule.
        let by_oauth = !matches!(login, crate::mailboxes::Login::Password(_));
        let allow_private = self.allow_private || by_oauth;
        let mut session = match Session::open(&sender.smtp.with_login(login), allow_private).await {
            Ok(session) => session,
            Err(error) => {
                let ids: Vec<Uuid> = claimed.iter().map(|m| m.message_id).collect();
                let mut tx = self.db.begin_org(org, Actor::System).await?;
                store::release(&mut tx, &ids, now + UNREACHABLE_RETRY, error.code()).await?;
                store::sending_until(&mut tx, mailbox, None).await?;
                match error {
                    // A refused access token is not a wrong password: its owner connects the
                    // mailbox again rather than changing a password Relais never had.
                    super::smtp::OpenError::Auth => {
                        let reason = if by_oauth { "oauth_refused" } else { "auth_failed" };
                        crate::mailboxes::transport::pause(&mut tx, mailbox, reason, now).await?;
                    }
                    super::smtp::OpenError::PrivateAddress => {
                        crate::mailboxes::transport::pause(&mut tx, mailbox, "private_address", now).await?;
                    }
                    _ => {}
                }
                tx.commit().await?;
                tracing::warn!(code = error.code(), "an outreach mailbox could not send");
                return Ok(0);
            }
        };

        let mut outcomes: Vec<(Uuid, Outcome)> = Vec::with_capacity(RECORD_EVERY);
        let mut recorded = Instant::now();
        let mut pending: Vec<Uuid> = claimed.iter().map(|m| m.message_id).collect();
        for message in &claimed {
            let outcome = if !session.is_usable() {
                Outcome::Release("smtp_connection")
            } else {
                let tracker = message.tracking.then(|| crate::tracking::Tracker {
                    vault: &self.vault,
                    origin: &self.public_origin,
                    org,
                    message: message.message_id,
                });
                let composed = Composed {
                    from: &sender.from,
                    to: &message.to_address,
                    subject: &message.subject,
                    body_text: &message.body_text,
                    message_id_header: &message.message_id_header,
                    in_reply_to: message.in_reply_to.as_deref(),
                    references: message.references_header.as_deref(),
                    unsubscribe_url: &format!(
                        "{}/u/{}",
                        self.public_origin,
                        crate::unsubscribe::token(&self.vault, org, message.message_id)
                    ),
                    date: now,
                    tracker: tracker.as_ref(),
                };
                match compose(&composed) {
                    Err(error) => Outcome::Fail(error.code().to_owned()),
                    Ok((envelope, bytes)) => match session.deliver(&envelope, &bytes).await {
                        Delivery::Accepted => Outcome::Sent,
                        Delivery::Unknown => Outcome::Review,
                        Delivery::Refused { permanent: true, phase, code } => {
                            Outcome::Rejected { recipient: phase == Phase::Recipient, code }
                        }
                        Delivery::Refused { permanent: false, .. } if message.attempts >= MAX_ATTEMPTS => {
                            Outcome::Fail("smtp_deferred".into())
                        }
                        Delivery::Refused { permanent: false, .. } => Outcome::Release("smtp_deferred"),
                    },
                }
            };
            pending.retain(|id| *id != message.message_id);
            outcomes.push((message.message_id, outcome));
            if outcomes.len() >= RECORD_EVERY || recorded.elapsed() >= RECORD_AFTER {
                self.record(org, mailbox, &mut outcomes, &pending, now).await?;
                recorded = Instant::now();
            }
        }
        self.record(org, mailbox, &mut outcomes, &pending, now).await?;
        session.close().await;
        Ok(count)
    }

    /// Commits a group of outcomes, renews the lease of the messages still to send, and puts the
    /// sent ones on their records' timelines.
    async fn record(
        &self,
        org: OrgId,
        mailbox: Uuid,
        outcomes: &mut Vec<(Uuid, Outcome)>,
        pending: &[Uuid],
        now: OffsetDateTime,
    ) -> Result<(), AppError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_org(org, Actor::System).await?;
        let sent: Vec<Uuid> = outcomes.iter().filter(|(_, o)| matches!(o, Outcome::Sent)).map(|(id, _)| *id).collect();
        store::mark_sent(&mut tx, &sent, now).await?;
        for (id, outcome) in outcomes.iter() {
            match outcome {
                Outcome::Sent => {}
                Outcome::Review => store::settle(&mut tx, *id, "review", "fate_unknown").await?,
                Outcome::Fail(code) => store::settle(&mut tx, *id, "failed", code).await?,
                Outcome::Release(code) => {
                    store::release(&mut tx, &[*id], now + Duration::minutes(15), code).await?;
                }
                Outcome::Rejected { recipient, code } => {
                    let reason: String = format!("smtp_rejected:{code}").chars().take(64).collect();
                    store::settle(&mut tx, *id, "failed", &reason).await?;
                    if *recipient {
                        bounce_now(&mut tx, *id, now).await?;
                    }
                }
            }
        }
        store::extend_lease(&mut tx, pending, now + LEASE).await?;
        // The mailbox's own lease follows its batch's; once nothing is left to send, it is free.
        store::sending_until(&mut tx, mailbox, (!pending.is_empty()).then_some(now + LEASE)).await?;
        tx.commit().await?;
        outcomes.clear();
        // The timeline entries are not part of the send's bookkeeping: one that cannot be written
        // (the record was deleted meanwhile) must not put a sent message back in doubt. The group
        // is written in one transaction (a commit, hence a disk flush, per message was the
        // dispatcher's largest database cost); if an entry fails, the group is written again one
        // by one, so only that entry is lost.
        if sent.is_empty() || self.timeline_group(org, &sent, now).await.is_ok() {
            return Ok(());
        }
        for id in sent {
            let mut tx = self.db.begin_org(org, Actor::System).await?;
            match crate::sending::timeline::sent(&mut tx, id, now).await {
                Ok(()) => tx.commit().await?,
                Err(error) => {
                    tracing::warn!(%error, "a sent outreach message could not be put on its record's timeline")
                }
            }
        }
        Ok(())
    }

    /// Every sent message of a group on its record's timeline, in one transaction.
    async fn timeline_group(&self, org: OrgId, sent: &[Uuid], now: OffsetDateTime) -> Result<(), AppError> {
        let mut tx = self.db.begin_org(org, Actor::System).await?;
        crate::sending::timeline::sent_many(&mut tx, sent, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A recipient the server refused for good at RCPT (no such user): a hard bounce, at once.
async fn bounce_now(tx: &mut kernel::OrgTx, message: Uuid, now: OffsetDateTime) -> Result<(), AppError> {
    let row = sqlx::query!(
        "update outreach_messages set bounced_at = $3 where org_id = $1 and message_id = $2
         returning to_address, enrollment_id",
        tx.org().0,
        message,
        now
    )
    .fetch_one(tx.conn())
    .await?;
    crate::suppression::store::insert(
        tx,
        now,
        &row.to_address.to_lowercase(),
        Reason::HardBounce,
        "",
        Some(message),
        None,
    )
    .await?;
    if let Some(enrollment) = row.enrollment_id {
        service::stop_enrollment(tx, enrollment, "bounced", "hard_bounce", now).await?;
    }
    Ok(())
}

enum Outcome {
    Sent,
    Review,
    Fail(String),
    Release(&'static str),
    Rejected { recipient: bool, code: String },
}
