//! The inbox reader: one run reads one mailbox's new messages and acts on each (see `service`),
//! then queues the next reading.
//!
//! No database transaction is open while the IMAP server is talked to. Each message is acted on
//! in its own transaction, which also moves the mailbox's position past it: after a crash the
//! next reading starts at the first message not yet acted on, and none is acted on twice.
//! A server that cannot be reached is tried again at the next reading; one that refuses the
//! credentials pauses the mailbox (`imap_auth`) and its owner sees why on the mailbox's page.

use std::sync::Arc;

use futures_util::TryStreamExt;
use kernel::OrgId;
use kernel::db::Actor;
use kernel::jobs::{JobRun, Registry};
use kernel::module::JobDeps;
use time::OffsetDateTime;
use uuid::Uuid;

use super::classify::classify;
use super::inbox::{Inboxes, NotOpened, Opened};
use super::{BATCH, FETCH_LIMIT, INBOUND_JOB, service, store};
use crate::mailboxes::probe::step;
use crate::mailboxes::{OutreachSettings, imap, transport};

pub fn register(registry: &mut Registry, deps: &JobDeps<'_>) {
    let settings = deps.config.modules.get::<OutreachSettings>();
    let reader =
        Arc::new(Reader { inboxes: Inboxes::new(deps.db.clone(), deps.vault.clone(), deps.audit.clone(), &settings) });
    registry.register(INBOUND_JOB, move |run: JobRun| {
        let reader = reader.clone();
        async move { reader.read(run).await }
    });
}

struct Reader {
    inboxes: Inboxes,
}

/// How one reading ended, besides database errors (which fail the job, to be retried).
enum Ended {
    /// Read up to date, or nothing to read: the next regular reading.
    Done,
    /// A batch was read and more is waiting: read again at once.
    More,
    /// The mailbox is gone, paused or has no IMAP server: no further reading until it is active.
    Stop,
}

impl Reader {
    async fn read(&self, mut run: JobRun) -> anyhow::Result<kernel::OrgTx> {
        let now = run.now;
        let Some(mailbox) = run.payload.get("mailbox_id").and_then(|id| id.as_str()).and_then(|id| id.parse().ok())
        else {
            return Ok(run.tx);
        };
        match self.read_mailbox(run.tx.org(), mailbox, now).await? {
            Ended::Done => service::watch_later(&mut run.tx, mailbox, now).await?,
            Ended::More => service::watch(&mut run.tx, mailbox, now, now).await?,
            Ended::Stop => {}
        }
        Ok(run.tx)
    }

    async fn read_mailbox(&self, org: OrgId, mailbox: Uuid, now: OffsetDateTime) -> anyhow::Result<Ended> {
        let Opened { mut session, reading } = match self.inboxes.open(org, mailbox, now).await {
            Ok(opened) => opened,
            Err(NotOpened::Inactive) => return Ok(Ended::Stop),
            Err(NotOpened::Refused(reason)) => return self.pause(org, mailbox, reason, now).await,
            Err(NotOpened::NoCredentials(code)) => {
                tracing::warn!(code, "an outreach mailbox has no credentials to read with");
                return Ok(Ended::Done);
            }
            Err(NotOpened::Unreachable(code)) => {
                tracing::warn!(code, "an outreach mailbox's IMAP server could not be reached");
                return Ok(Ended::Done);
            }
            Err(NotOpened::Database(error)) => return Err(error),
        };
        let outcome = self.read_session(&mut session, org, mailbox, &reading, now).await;
        let _ = step(session.logout()).await;
        match outcome {
            Ok(ended) => Ok(ended),
            Err(Interrupted::Imap(code)) => {
                tracing::warn!(code, "reading an outreach mailbox's inbox was interrupted");
                Ok(Ended::Done)
            }
            Err(Interrupted::Database(error)) => Err(error),
        }
    }

    async fn read_session(
        &self,
        session: &mut imap::Session,
        org: OrgId,
        mailbox: Uuid,
        reading: &store::Reading,
        now: OffsetDateTime,
    ) -> Result<Ended, Interrupted> {
        let selected = imap::select_inbox(session).await.map_err(|f| Interrupted::Imap(f.code()))?;
        let Some(validity) = selected.uid_validity.map(i64::from) else {
            return Err(Interrupted::Imap("no_uid_validity"));
        };
        if reading.imap_uid_validity != Some(validity) {
            // First reading, or the server renumbered the inbox: start from what arrives next.
            let next = selected.uid_next.map_or(1, i64::from);
            let mut tx = self.inboxes.db.begin_org(org, Actor::System).await?;
            store::set_position(&mut tx, mailbox, validity, next - 1, now).await?;
            tx.commit().await?;
            return Ok(Ended::Done);
        }
        let from = reading.imap_last_uid + 1;
        let found = step(session.uid_search(format!("UID {from}:*")))
            .await
            .map_err(|f| Interrupted::Imap(f.code()))?
            .map_err(|_| Interrupted::Imap("search"))?;
        // `n:*` always names the last message, even one older than n.
        let mut uids: Vec<u32> = found.into_iter().filter(|uid| i64::from(*uid) >= from).collect();
        uids.sort_unstable();
        let more = uids.len() > BATCH;
        uids.truncate(BATCH);
        for uid in uids {
            let (raw, received_at) = fetch(session, uid).await?.unwrap_or_default();
            let received_at = received_at.unwrap_or(now);
            let mut tx = self.inboxes.db.begin_org(org, Actor::System).await?;
            match store::lock_position(&mut tx, mailbox).await? {
                Some((Some(v), last)) if v == validity && last < i64::from(uid) => {}
                // Another reading got there first, or the mailbox was revoked meanwhile.
                _ => return Ok(Ended::Done),
            }
            if let Some(inbound) = classify(&raw) {
                service::apply(&mut tx, &self.inboxes.audit, now, mailbox, &inbound, received_at).await?;
            }
            store::set_position(&mut tx, mailbox, validity, i64::from(uid), now).await?;
            tx.commit().await?;
        }
        let mut tx = self.inboxes.db.begin_org(org, Actor::System).await?;
        store::polled(&mut tx, mailbox, now).await?;
        tx.commit().await?;
        Ok(if more { Ended::More } else { Ended::Done })
    }

    /// Pauses a mailbox that cannot log in (its owner sees `reason` on its page).
    async fn pause(&self, org: OrgId, mailbox: Uuid, reason: &str, now: OffsetDateTime) -> anyhow::Result<Ended> {
        let mut tx = self.inboxes.db.begin_org(org, Actor::System).await?;
        transport::pause(&mut tx, mailbox, reason, now).await?;
        tx.commit().await?;
        tracing::warn!(reason, "an outreach mailbox was paused: its IMAP server refused it");
        Ok(Ended::Stop)
    }
}

enum Interrupted {
    /// The IMAP conversation failed (a stable code, for the log).
    Imap(&'static str),
    Database(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for Interrupted {
    fn from(error: E) -> Self {
        Self::Database(error.into())
    }
}

/// The first [`FETCH_LIMIT`] bytes of message `uid` and when the server received it; `None` when
/// the message went away meanwhile.
async fn fetch(
    session: &mut imap::Session,
    uid: u32,
) -> Result<Option<(Vec<u8>, Option<OffsetDateTime>)>, Interrupted> {
    let query = format!("(UID INTERNALDATE BODY.PEEK[]<0.{FETCH_LIMIT}>)");
    let stream = step(session.uid_fetch(uid.to_string(), query))
        .await
        .map_err(|f| Interrupted::Imap(f.code()))?
        .map_err(|_| Interrupted::Imap("fetch"))?;
    let fetched: Vec<_> = step(stream.try_collect::<Vec<_>>())
        .await
        .map_err(|f| Interrupted::Imap(f.code()))?
        .map_err(|_| Interrupted::Imap("fetch"))?;
    let Some(message) = fetched.into_iter().find(|f| f.uid == Some(uid)) else { return Ok(None) };
    let received = message.internal_date().and_then(|date| OffsetDateTime::from_unix_timestamp(date.timestamp()).ok());
    Ok(Some((message.body().unwrap_or_default().to_vec(), received)))
}
