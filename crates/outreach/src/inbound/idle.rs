//! IMAP IDLE (RFC 2177): a reply or a bounce is read within seconds of arriving instead of at the
//! next regular reading, for up to `RELAIS_OUTREACH_IDLE_MAX` mailboxes per worker process.
//!
//! The [`Supervisor`] is a watcher (`kernel::watchers`) of the process that runs the job worker,
//! so an IDLE connection never holds a job's slot or transaction. Every [`RECONCILE_EVERY`] it
//! lists the mailboxes to watch through the door `app.outreach_idle_mailboxes` (ids of active
//! mailboxes with an IMAP server, organizations taking turns; nothing else) and keeps one task per
//! listed mailbox, at most `idle_max` — beyond that, mailboxes are only polled. A mailbox that is
//! no longer listed (paused, disabled, revoked, or its organization closed) has its task stopped.
//!
//! A task logs in as the reader does (`inbox::Inboxes`: the vault's password or an OAuth2 token,
//! the same private-address rule), checks that the server offers IDLE, selects INBOX and waits in
//! IDLE. When the server reports a new message (`EXISTS`), the task queues the mailbox's reading
//! now (`service::watch`) and waits again: the reader job does the reading, so everything that
//! makes reading crash-safe stays in one place, and the regular polling goes on unchanged as the
//! fallback. IDLE is ended and issued again every [`RENEW_IDLE`], before the 29 minutes after
//! which a server may take the client for gone (and after [`SILENCE_CHECK`] without a word from
//! the server, which shows whether the connection still lives); a mailbox whose server or
//! credentials changed meanwhile is then connected to again, as it now is.
//!
//! When things go wrong:
//! * a server without IDLE ends the task, and the mailbox is not tried again for [`HOLD_AFTER_END`]
//!   (polling covers it); so does a mailbox found inactive when its task logs in;
//! * credentials refused end the task too, and queue a reading now: the reader pauses the mailbox
//!   and tells its owner, which takes it off the door's list;
//! * anything else (a server unreachable, a connection dropped) is tried again after a pause that
//!   doubles from [`BACKOFF_FIRST`] to [`BACKOFF_MAX`] — never a loop without a pause.
//!
//! Logs carry stable codes only: no address, host, user name or secret.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_imap::imap_proto::{MailboxDatum, Response};
use async_imap::types::{Capability, UnsolicitedResponse};
use kernel::db::Actor;
use kernel::module::JobDeps;
use kernel::watchers::{Shutdown, Watcher};
use kernel::{Clock, Db, OrgId};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use uuid::Uuid;

use super::inbox::{Inboxes, NotOpened, Opened};
use super::service;
use super::store::{self, Reading};
use crate::mailboxes::OutreachSettings;
use crate::mailboxes::imap::{self, Session};
use crate::mailboxes::probe::step;

/// How often the watched mailboxes are brought in line with the door's list.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(60);
/// How long one IDLE command lasts before it is ended and issued again (RFC 2177: at most 29
/// minutes).
pub const RENEW_IDLE: Duration = Duration::from_secs(25 * 60);
/// How long a connection in IDLE may hear nothing from its server (not even a keep-alive) before
/// IDLE is ended and issued again, which shows whether the connection still lives.
pub const SILENCE_CHECK: Duration = Duration::from_secs(5 * 60);
/// The first pause after a failed connection, doubled at each failure in a row…
pub const BACKOFF_FIRST: Duration = Duration::from_secs(60);
/// …up to this.
pub const BACKOFF_MAX: Duration = Duration::from_secs(10 * 60);
/// How long a mailbox whose task ended by itself (no IDLE, credentials refused) is left to
/// polling before it is tried again.
pub const HOLD_AFTER_END: Duration = Duration::from_secs(60 * 60);

/// The watcher's name in the logs.
pub const WATCHER: &str = "outreach.idle";

/// What the supervisor is doing, for the tests (and a future metrics page).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Status {
    /// Reconciliations done since it started.
    pub passes: u64,
    /// Mailboxes with a task: connecting, in IDLE, or pausing after a failure.
    pub watched: usize,
    /// Connections in IDLE right now.
    pub idling: usize,
    /// Connections that reached IDLE, since it started.
    pub connected: u64,
    /// Times IDLE was ended and issued again on the same connection.
    pub renewed: u64,
    /// New messages reported by a server, each of which made its mailbox's reading due now.
    pub woken: u64,
    /// Tasks that ended by themselves (no IDLE, credentials refused, mailbox inactive), leaving
    /// their mailbox to polling.
    pub ended: u64,
}

/// The module's watchers: the IDLE supervisor.
pub fn watchers(deps: &JobDeps<'_>, clock: &Clock) -> Vec<Watcher> {
    let supervisor = Supervisor::new(deps, clock);
    vec![Watcher::new(WATCHER, move |shutdown| supervisor.run(shutdown))]
}

/// One mailbox: its organization and id.
type Key = (OrgId, Uuid);

/// Keeps one IDLE task per listed mailbox, up to its maximum. See the module documentation.
pub struct Supervisor {
    shared: Shared,
    max: usize,
    every: Duration,
}

/// What every task of a supervisor uses.
struct Shared {
    inboxes: Inboxes,
    clock: Clock,
    status: watch::Sender<Status>,
    /// [`RENEW_IDLE`], but for tests.
    renew: Duration,
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The supervisor stopped it.
    Stopped,
    /// The server does not offer IDLE.
    NoIdle,
    /// The credentials were refused; the reader will pause the mailbox.
    Refused,
    /// The mailbox is gone, not active, or has no IMAP server.
    Inactive,
}

impl End {
    fn code(self) -> &'static str {
        match self {
            Self::Stopped => "stopped",
            Self::NoIdle => "no_idle",
            Self::Refused => "refused",
            Self::Inactive => "inactive",
        }
    }
}

/// How one connection of a task ended.
enum Connection {
    Ended(End),
    /// The mailbox's server or credentials changed (its owner edited it): connect again at once.
    Changed,
    /// Failed (a stable code for the log); `idled` when it had reached IDLE, which restarts the
    /// backoff from its first step.
    Failed {
        code: &'static str,
        idled: bool,
    },
}

/// A running task, as the supervisor holds it.
struct Task {
    /// Sending `true` (or dropping it) asks the task to end.
    stop: watch::Sender<bool>,
    id: tokio::task::Id,
}

/// A running supervisor: its tasks, running ones by mailbox, and the mailboxes held off until a
/// time.
struct Watching {
    shared: Arc<Shared>,
    max: usize,
    set: JoinSet<(Key, End)>,
    running: HashMap<Key, Task>,
    held: HashMap<Key, Instant>,
}

impl Supervisor {
    pub fn new(deps: &JobDeps<'_>, clock: &Clock) -> Self {
        let settings = deps.config.modules.get::<OutreachSettings>();
        let inboxes = Inboxes::new(deps.db.clone(), deps.vault.clone(), deps.audit.clone(), &settings);
        let (status, _) = watch::channel(Status::default());
        Self {
            shared: Shared { inboxes, clock: clock.clone(), status, renew: RENEW_IDLE },
            max: settings.idle_max,
            every: RECONCILE_EVERY,
        }
    }

    /// This supervisor, reconciling at another pace (tests, which cannot wait a minute).
    pub fn reconcile_every(mut self, every: Duration) -> Self {
        self.every = every;
        self
    }

    /// This supervisor, renewing IDLE at another pace (tests, which cannot wait 25 minutes).
    pub fn renew_every(mut self, renew: Duration) -> Self {
        self.shared.renew = renew;
        self
    }

    /// Follows what the supervisor is doing.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.shared.status.subscribe()
    }

    /// Runs until shutdown, then stops every task (each ends its IDLE and logs out, bounded).
    pub async fn run(self, mut shutdown: Shutdown) {
        if self.max == 0 {
            tracing::info!("IMAP IDLE is off (RELAIS_OUTREACH_IDLE_MAX=0): mailboxes are only polled");
        }
        let mut watching = Watching {
            shared: Arc::new(self.shared),
            max: self.max,
            set: JoinSet::new(),
            running: HashMap::new(),
            held: HashMap::new(),
        };
        let mut every = tokio::time::interval(self.every);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.requested() => break,
                _ = every.tick() => watching.reconcile().await,
            }
        }
        for task in watching.running.values() {
            let _ = task.stop.send(true);
        }
        // Each task's DONE and LOGOUT are bounded steps; a task that outlives this is aborted
        // with the set (its connection closes without LOGOUT).
        let drain = async { while watching.set.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(crate::mailboxes::probe::STEP_TIMEOUT, drain).await;
    }
}

impl Watching {
    /// Brings the tasks in line with the door's list.
    async fn reconcile(&mut self) {
        self.collect_ended();
        // With IDLE off the door is not even asked: nothing would be watched.
        let listed = if self.max == 0 {
            Vec::new()
        } else {
            match watchable(&self.shared.inboxes.db).await {
                Ok(listed) => listed,
                Err(error) => {
                    // Keep what runs: the next pass asks again.
                    tracing::warn!(error = %error, "listing the mailboxes to watch with IMAP IDLE failed");
                    self.publish_pass();
                    return;
                }
            }
        };
        let wanted: HashSet<Key> = listed.iter().copied().collect();
        let unlisted: Vec<Key> = self.running.keys().filter(|key| !wanted.contains(key)).copied().collect();
        for key in unlisted {
            if let Some(task) = self.running.remove(&key) {
                let _ = task.stop.send(true);
            }
        }
        // A mailbox that left the list and comes back (reconnected by its owner) is watched at
        // once, without waiting for its hold to run out.
        let now = Instant::now();
        self.held.retain(|key, until| wanted.contains(key) && *until > now);
        for key in listed {
            if self.running.len() >= self.max {
                break;
            }
            if self.running.contains_key(&key) || self.held.contains_key(&key) {
                continue;
            }
            let (stop, stopped) = watch::channel(false);
            let shared = self.shared.clone();
            let handle = self.set.spawn(async move {
                let end = shared.watch_mailbox(key, stopped).await;
                if end != End::Stopped {
                    shared.status.send_modify(|status| status.ended += 1);
                }
                (key, end)
            });
            self.running.insert(key, Task { stop, id: handle.id() });
        }
        self.publish_pass();
    }

    /// Takes in the tasks that ended: one that ended by itself leaves its mailbox to polling for
    /// [`HOLD_AFTER_END`].
    fn collect_ended(&mut self) {
        while let Some(joined) = self.set.try_join_next_with_id() {
            let (id, ended) = match joined {
                Ok((id, (_, end))) => (id, Some(end)),
                Err(error) => {
                    tracing::error!("an IMAP IDLE task panicked");
                    (error.id(), None)
                }
            };
            // A task stopped because its mailbox left the list is no longer in `running` (and a
            // new task may already run for the same mailbox): only the current task counts.
            let Some(key) = self.running.iter().find(|(_, task)| task.id == id).map(|(key, _)| *key) else {
                continue;
            };
            self.running.remove(&key);
            if let Some(end) = ended {
                tracing::info!(end = end.code(), "an outreach mailbox's IMAP IDLE ended: it is polled for now");
            }
            self.held.insert(key, Instant::now() + HOLD_AFTER_END);
        }
    }

    fn publish_pass(&self) {
        let running = self.running.len();
        self.shared.status.send_modify(|status| {
            status.passes += 1;
            status.watched = running;
        });
    }
}

/// The mailboxes to watch, from the door (ids only), organizations taking turns.
pub async fn watchable(db: &Db) -> Result<Vec<(OrgId, Uuid)>, sqlx::Error> {
    let rows =
        sqlx::query!(r#"select org_id as "org_id!", mailbox_id as "mailbox_id!" from app.outreach_idle_mailboxes()"#)
            .fetch_all(db.before_tenant())
            .await?;
    Ok(rows.into_iter().map(|row| (OrgId(row.org_id), row.mailbox_id)).collect())
}

impl Shared {
    /// One mailbox's task: connects, waits in IDLE, and connects again after a failure, until
    /// it is stopped or ends (see [`End`]).
    async fn watch_mailbox(&self, (org, mailbox): Key, mut stop: watch::Receiver<bool>) -> End {
        let mut backoff = BACKOFF_FIRST;
        loop {
            let idled = match self.connection(org, mailbox, &mut stop).await {
                Connection::Ended(end) => return end,
                // Only noticed when IDLE is renewed, every RENEW_IDLE: no loop without a pause.
                Connection::Changed => continue,
                Connection::Failed { code, idled } => {
                    tracing::warn!(code, "an outreach mailbox's IMAP IDLE connection failed: trying again later");
                    idled
                }
            };
            if idled {
                backoff = BACKOFF_FIRST;
            }
            tokio::select! {
                _ = stopped(&mut stop) => return End::Stopped,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// One connection: log in, check IDLE, select INBOX, then IDLE until stopped or broken.
    async fn connection(&self, org: OrgId, mailbox: Uuid, stop: &mut watch::Receiver<bool>) -> Connection {
        let Opened { session, reading } = match self.inboxes.open(org, mailbox, self.clock.now()).await {
            Ok(opened) => opened,
            Err(NotOpened::Inactive) => return Connection::Ended(End::Inactive),
            Err(NotOpened::Refused(_)) => {
                // The reader pauses the mailbox and tells its owner: have it read now rather than
                // at its next regular reading.
                self.read_now(org, mailbox).await;
                return Connection::Ended(End::Refused);
            }
            Err(NotOpened::NoCredentials(code) | NotOpened::Unreachable(code)) => {
                return Connection::Failed { code, idled: false };
            }
            Err(NotOpened::Database(_)) => return Connection::Failed { code: "database", idled: false },
        };
        self.idle(session, &reading, org, mailbox, stop).await
    }

    async fn idle(
        &self,
        mut session: Session,
        reading: &Reading,
        org: OrgId,
        mailbox: Uuid,
        stop: &mut watch::Receiver<bool>,
    ) -> Connection {
        match offers_idle(&mut session).await {
            Ok(true) => {}
            Ok(false) => {
                let _ = step(session.logout()).await;
                return Connection::Ended(End::NoIdle);
            }
            Err(code) => return Connection::Failed { code, idled: false },
        }
        if let Err(failure) = imap::select_inbox(&mut session).await {
            let _ = step(session.logout()).await;
            return Connection::Failed { code: failure.code(), idled: false };
        }
        let mut idled = false;
        loop {
            // A message that arrived between two commands (while IDLE was being renewed) was
            // reported outside IDLE.
            if arrived_meanwhile(&mut session) {
                self.read_now(org, mailbox).await;
            }
            let mut handle = session.idle();
            match step(handle.init()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Connection::Failed { code: "idle", idled },
                Err(timeout) => return Connection::Failed { code: timeout.code(), idled },
            }
            if !idled {
                idled = true;
                self.status.send_modify(|status| status.connected += 1);
            }
            let waited = {
                let _idling = Idling::start(&self.status);
                let renew_at = Instant::now() + self.renew;
                loop {
                    // Keep the interrupt source alive while waiting: dropping it ends the wait.
                    let (wait, _interrupt) = handle.wait_with_timeout(SILENCE_CHECK);
                    let response = tokio::select! {
                        _ = stopped(stop) => break Waited::Stop,
                        // The server's keep-alives reset `wait_with_timeout`'s timer (which catches
                        // a silent, perhaps dead, connection): this deadline renews IDLE in time.
                        _ = tokio::time::sleep_until(renew_at) => break Waited::Renew,
                        response = wait => response,
                    };
                    match response {
                        Ok(IdleResponse::NewData(data)) => {
                            if matches!(data.parsed(), Response::MailboxData(MailboxDatum::Exists(_))) {
                                self.read_now(org, mailbox).await;
                                self.status.send_modify(|status| status.woken += 1);
                            }
                        }
                        Ok(IdleResponse::Timeout) => break Waited::Renew,
                        // The server's stream ended: the connection is gone.
                        Ok(IdleResponse::ManualInterrupt) => break Waited::Failed("closed"),
                        Err(_) => break Waited::Failed("idle"),
                    }
                }
            };
            match waited {
                // The connection lives as long as the mailbox is unchanged: one whose owner
                // changed its server or password since is connected to again, as it now is.
                Waited::Renew if self.changed(org, mailbox, reading).await => {
                    if let Ok(Ok(mut session)) = step(handle.done()).await {
                        let _ = step(session.logout()).await;
                    }
                    return Connection::Changed;
                }
                Waited::Renew => match step(handle.done()).await {
                    Ok(Ok(renewed)) => {
                        session = renewed;
                        self.status.send_modify(|status| status.renewed += 1);
                    }
                    Ok(Err(_)) => return Connection::Failed { code: "idle_done", idled },
                    Err(timeout) => return Connection::Failed { code: timeout.code(), idled },
                },
                Waited::Stop => {
                    if let Ok(Ok(mut session)) = step(handle.done()).await {
                        let _ = step(session.logout()).await;
                    }
                    return Connection::Ended(End::Stopped);
                }
                Waited::Failed(code) => return Connection::Failed { code, idled },
            }
        }
    }

    /// Whether the mailbox is no longer what `was` read: another server, user name, provider or
    /// secret, or gone, or not active. A database error counts as unchanged (the next renewal
    /// looks again).
    async fn changed(&self, org: OrgId, mailbox: Uuid, was: &Reading) -> bool {
        let now = async {
            let mut tx = self.inboxes.db.begin_org(org, Actor::System).await?;
            let now = store::reading(&mut tx, mailbox).await?;
            tx.commit().await?;
            Ok::<_, anyhow::Error>(now)
        };
        match now.await {
            Ok(Some(now)) => {
                now.status != "active"
                    || (&now.provider, &now.imap_host, now.imap_port, &now.imap_security, &now.imap_username)
                        != (&was.provider, &was.imap_host, was.imap_port, &was.imap_security, &was.imap_username)
                    || now.secret_sealed != was.secret_sealed
            }
            Ok(None) => true,
            Err(_) => false,
        }
    }

    /// Makes the mailbox's reading due now (a reading already due is enough), in a tenant
    /// transaction of its own. On failure the regular reading still comes.
    async fn read_now(&self, org: OrgId, mailbox: Uuid) {
        let now = self.clock.now();
        let queued = async {
            let mut tx = self.inboxes.db.begin_org(org, Actor::System).await?;
            service::watch(&mut tx, mailbox, now, now).await?;
            tx.commit().await?;
            Ok::<_, anyhow::Error>(())
        };
        if queued.await.is_err() {
            tracing::warn!(
                "an outreach mailbox's reading could not be queued after IMAP IDLE: it is read at its next regular reading"
            );
        }
    }
}

/// How waiting in one IDLE command ended.
enum Waited {
    /// Time to end it and issue it again.
    Renew,
    Stop,
    Failed(&'static str),
}

/// Counts a connection in IDLE in the status for as long as it lives.
struct Idling<'a>(&'a watch::Sender<Status>);

impl<'a> Idling<'a> {
    fn start(status: &'a watch::Sender<Status>) -> Self {
        status.send_modify(|status| status.idling += 1);
        Self(status)
    }
}

impl Drop for Idling<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|status| status.idling = status.idling.saturating_sub(1));
    }
}

/// Whether the server lists IDLE among its capabilities (`Err`: a code for the log).
async fn offers_idle(session: &mut Session) -> Result<bool, &'static str> {
    let capabilities =
        step(session.capabilities()).await.map_err(|timeout| timeout.code())?.map_err(|_| "capability")?;
    Ok(capabilities
        .iter()
        .any(|capability| matches!(capability, Capability::Atom(atom) if atom.eq_ignore_ascii_case("IDLE"))))
}

/// Whether the server reported a new message outside IDLE (kept by the session as unsolicited).
fn arrived_meanwhile(session: &mut Session) -> bool {
    let mut arrived = false;
    while let Ok(response) = session.unsolicited_responses.try_recv() {
        arrived |= matches!(response, UnsolicitedResponse::Exists(_));
    }
    arrived
}

/// Resolves once the task is asked to stop (or its supervisor is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}
