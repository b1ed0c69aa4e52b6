//! A durable job queue in PostgreSQL.
//!
//! Jobs are rows of the tenant table `jobs`. A worker on any node claims due jobs in platform scope
//! with `FOR UPDATE SKIP LOCKED` (so nodes never take the same job), then runs each one inside the
//! **tenant transaction of its org**; the handler's writes and the job's completion commit together,
//! so a crash either keeps both or neither.
//!
//! Leases: a claimed job carries a short lease ([`JobLimits::lease`], 30 s) that a heartbeat renews
//! while the job runs ([`JobLimits::heartbeat`], every 10 s, on a connection of its own). The job's
//! tenant transaction also holds a `FOR KEY SHARE` lock on the job's row, so no other worker can
//! claim it while its worker's connection lives, yet the heartbeat (an ordinary update) is never
//! blocked by it. If the worker dies, the lock goes with its connection and the job is claimed again
//! once the lease runs out — within 30 s of a `kill -9`.
//!
//! Bounds: a handler runs at most [`JobLimits::handler_timeout`] (240 s) of wall time, and every
//! statement of its transaction at most [`JobLimits::statement_timeout`] (60 s), waiting at most
//! [`JobLimits::lock_timeout`] (10 s) for a lock: PostgreSQL cancels the statement, so a job blocked
//! on the database fails and frees its worker instead of holding it.
//!
//! Concurrency and fairness: a worker runs up to [`JobLimits::concurrency`] jobs at once, at most
//! [`JobLimits::per_kind`] of one kind. Each claim takes the oldest due job of every organization
//! first (round-robin between organizations, per kind), and skips an organization that already has
//! [`JobLimits::per_org_kind`] jobs of that kind running, so one organization's backlog or stuck job
//! never starves another's.
//!
//! Failures retry with exponential backoff and jitter until `max_attempts`; then the job is given
//! up: its kind's give-up handler ([`Registry::on_give_up`]) puts the job's domain object in a
//! failed state with the reason, in the same transaction that marks the job `failed`. A job whose
//! last attempt never finished (its worker died, its lease ran out) is given up the same way
//! instead of being run once more. If the give-up handler itself fails (say, a lock held too long),
//! the job is queued again to retry the give-up, up to [`GIVE_UP_TRIES`] times.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;
use time::{Duration, OffsetDateTime};

use crate::clock::Clock;
use crate::db::{Actor, Db, OrgTx};
use crate::ids::{JobId, OrgId};

const MAX_BACKOFF_SECS: i64 = 3600;
/// How many times a failing give-up handler is retried (with backoff) before the job is marked
/// `failed` without it.
pub const GIVE_UP_TRIES: i32 = 10;

/// The worker's limits. [`JobLimits::default`] is what `relais serve`/`worker` use.
#[derive(Debug, Clone, Copy)]
pub struct JobLimits {
    /// How long a claim holds a job without a heartbeat.
    pub lease: Duration,
    /// How often a running job's lease is renewed.
    pub heartbeat: std::time::Duration,
    /// Wall time a handler may take.
    pub handler_timeout: std::time::Duration,
    /// `statement_timeout` of the job's tenant transaction.
    pub statement_timeout: std::time::Duration,
    /// `lock_timeout` of the job's tenant transaction.
    pub lock_timeout: std::time::Duration,
    /// Jobs a worker runs at once.
    pub concurrency: usize,
    /// Jobs of one kind a worker runs at once.
    pub per_kind: usize,
    /// Jobs of one kind one organization may have running at once, across all workers.
    pub per_org_kind: i64,
}

impl Default for JobLimits {
    fn default() -> Self {
        Self {
            lease: Duration::seconds(30),
            heartbeat: std::time::Duration::from_secs(10),
            handler_timeout: std::time::Duration::from_secs(240),
            statement_timeout: std::time::Duration::from_secs(60),
            lock_timeout: std::time::Duration::from_secs(10),
            concurrency: 8,
            per_kind: 4,
            per_org_kind: 2,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: &'static str,
    pub payload: Value,
    /// Enqueueing twice with the same key (per org and kind) yields the first job.
    pub idempotency_key: String,
    pub run_at: Option<OffsetDateTime>,
    pub max_attempts: i32,
}

impl NewJob {
    pub fn new(kind: &'static str, idempotency_key: impl Into<String>, payload: Value) -> Self {
        Self { kind, payload, idempotency_key: idempotency_key.into(), run_at: None, max_attempts: 8 }
    }
}

/// Adds a job in the caller's tenant transaction: it exists only if the caller commits.
pub async fn enqueue(tx: &mut OrgTx, clock: &Clock, job: NewJob) -> Result<JobId, sqlx::Error> {
    enqueue_at(tx, clock.now(), job).await
}

/// [`enqueue`] for a caller that already read the clock (`now` is the creation time, and the run
/// time unless the job names one).
pub async fn enqueue_at(tx: &mut OrgTx, now: OffsetDateTime, job: NewJob) -> Result<JobId, sqlx::Error> {
    let inserted: Option<JobId> = sqlx::query_scalar!(
        "insert into jobs (org_id, job_id, kind, payload, idempotency_key, max_attempts, run_at, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)
         on conflict (org_id, kind, idempotency_key) do nothing
         returning job_id as \"job_id: JobId\"",
        tx.org().0,
        JobId::new().0,
        job.kind,
        &job.payload,
        &job.idempotency_key,
        job.max_attempts,
        job.run_at.unwrap_or(now),
        now
    )
    .fetch_optional(tx.conn())
    .await?;
    match inserted {
        Some(id) => Ok(id),
        None => {
            sqlx::query_scalar!(
                "select job_id as \"job_id: JobId\" from jobs where org_id = $1 and kind = $2 and idempotency_key = $3",
                tx.org().0,
                job.kind,
                &job.idempotency_key
            )
            .fetch_one(tx.conn())
            .await
        }
    }
}

/// What a handler gets: the open tenant transaction and the job. It hands the transaction back
/// on success so the completion commits with its work.
pub struct JobRun {
    pub tx: OrgTx,
    pub job_id: JobId,
    pub payload: Value,
    pub attempt: i32,
    /// The worker's clock when the job started: what a handler should call "now".
    pub now: OffsetDateTime,
}

pub type HandlerFuture = Pin<Box<dyn Future<Output = anyhow::Result<OrgTx>> + Send>>;
pub type Handler = Arc<dyn Fn(JobRun) -> HandlerFuture + Send + Sync>;
pub type GiveUpHandler = Arc<dyn Fn(GiveUp) -> HandlerFuture + Send + Sync>;

/// What a give-up handler gets: a fresh tenant transaction of the job's org, the job, and why it
/// was given up (its last error, short and free of secrets). It hands the transaction back; the
/// job is marked `failed` in it.
pub struct GiveUp {
    pub tx: OrgTx,
    pub job_id: JobId,
    pub payload: Value,
    pub reason: String,
    pub now: OffsetDateTime,
}

#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<&'static str, Handler>,
    give_up: HashMap<&'static str, GiveUpHandler>,
}

impl Registry {
    pub fn register<F, Fut>(&mut self, kind: &'static str, handler: F)
    where
        F: Fn(JobRun) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<OrgTx>> + Send + 'static,
    {
        self.handlers.insert(kind, Arc::new(move |run| Box::pin(handler(run))));
    }

    /// What to do when a job of `kind` is given up (attempts exhausted, timed out, or its last
    /// attempt's worker died): typically mark its domain object failed with the reason, so nothing
    /// is left "in progress" for ever. Must be idempotent.
    pub fn on_give_up<F, Fut>(&mut self, kind: &'static str, handler: F)
    where
        F: Fn(GiveUp) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<OrgTx>> + Send + 'static,
    {
        self.give_up.insert(kind, Arc::new(move |run| Box::pin(handler(run))));
    }

    fn kinds(&self) -> Vec<String> {
        self.handlers.keys().map(|k| k.to_string()).collect()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tick {
    pub claimed: usize,
    pub succeeded: usize,
    pub failed: usize,
}

#[derive(Clone)]
pub struct Worker {
    db: Db,
    clock: Clock,
    registry: Arc<Registry>,
    name: String,
    limits: JobLimits,
    heartbeats: Arc<tokio::sync::watch::Sender<u64>>,
}

#[derive(Debug, Clone)]
struct Claimed {
    org_id: OrgId,
    job_id: JobId,
    kind: String,
    payload: Value,
    attempts: i32,
    max_attempts: i32,
    last_error: Option<String>,
}

impl Worker {
    pub fn new(db: Db, clock: Clock, registry: Registry) -> Self {
        let name = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let (heartbeats, _) = tokio::sync::watch::channel(0);
        Self {
            db,
            clock,
            registry: Arc::new(registry),
            name,
            limits: JobLimits::default(),
            heartbeats: Arc::new(heartbeats),
        }
    }

    /// This worker with other limits (tests use short timeouts).
    pub fn with_limits(mut self, limits: JobLimits) -> Self {
        self.limits = limits;
        self
    }

    pub fn limits(&self) -> JobLimits {
        self.limits
    }

    /// Counts the lease renewals this worker made: a test waits on it instead of sleeping.
    pub fn heartbeats(&self) -> tokio::sync::watch::Receiver<u64> {
        self.heartbeats.subscribe()
    }

    /// Claims up to `batch` due jobs (within the limits per kind and per organization) and runs
    /// them concurrently, returning when all are settled. Tests call this directly instead of
    /// waiting.
    pub async fn tick(&self, batch: i64) -> anyhow::Result<Tick> {
        let free: Vec<i64> = self.registry.kinds().iter().map(|_| self.limits.per_kind as i64).collect();
        let claimed = self.claim(batch, &self.registry.kinds(), &free).await?;
        let mut tick = Tick { claimed: claimed.len(), ..Tick::default() };
        let mut running = tokio::task::JoinSet::new();
        for job in claimed {
            let worker = self.clone();
            running.spawn(async move { worker.execute(job).await });
        }
        while let Some(done) = running.join_next().await {
            if done? {
                tick.succeeded += 1;
            } else {
                tick.failed += 1;
            }
        }
        Ok(tick)
    }

    /// Claims up to `limit` due jobs: round-robin between organizations (each organization's
    /// oldest due job of a kind first), skipping an organization that already has
    /// `per_org_kind` jobs of the kind running, and at most `free[i]` of `kinds[i]` (a kind not
    /// listed gets `per_kind`).
    async fn claim(&self, limit: i64, kinds: &[String], free: &[i64]) -> anyhow::Result<Vec<Claimed>> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        let mut platform = self.db.begin_platform("job queue: claim due jobs").await?;
        let claimed: Vec<Claimed> = sqlx::query_as!(
            Claimed,
            r#"with due as (
                 select org_id, job_id, kind, run_at,
                        row_number() over (partition by org_id, kind order by run_at, job_id) as org_rank
                   from jobs
                  where (status = 'queued' and run_at <= $3) or (status = 'running' and locked_until < $3)),
               busy as (
                 select org_id, kind, count(*) as running from jobs
                  where status = 'running' and locked_until >= $3
                  group by org_id, kind),
               fair as (
                 select d.org_id, d.job_id, d.kind, d.run_at, d.org_rank
                   from due d left join busy b on b.org_id = d.org_id and b.kind = d.kind
                  where d.org_rank + coalesce(b.running, 0) <= $5),
               quota as (
                 select f.org_id, f.job_id, f.run_at, f.org_rank,
                        row_number() over (partition by f.kind order by f.org_rank, f.run_at, f.job_id) as kind_rank,
                        coalesce(q.free, $7) as free
                   from fair f left join unnest($6::text[], $8::int8[]) as q (kind, free) on q.kind = f.kind),
               picked as (
                 select org_id, job_id from quota where kind_rank <= free
                  order by org_rank, run_at, job_id
                  limit $4)
             update jobs set status = 'running', attempts = attempts + 1, locked_by = $1, locked_until = $2
              where (org_id, job_id) in (
                  select org_id, job_id from jobs
                   where (org_id, job_id) in (select org_id, job_id from picked)
                     and ((status = 'queued' and run_at <= $3) or (status = 'running' and locked_until < $3))
                   for update skip locked)
             returning org_id as "org_id: OrgId", job_id as "job_id: JobId", kind, payload, attempts, max_attempts,
                       last_error"#,
            &self.name,
            now + self.limits.lease,
            now,
            limit,
            self.limits.per_org_kind,
            kinds,
            self.limits.per_kind as i64,
            free,
        )
        .fetch_all(platform.conn())
        .await?;
        platform.commit().await?;
        Ok(claimed)
    }

    /// Runs one claimed job to its end (done, queued again, or given up) while its heartbeat
    /// renews the lease; `true` if the handler succeeded.
    async fn execute(&self, job: Claimed) -> bool {
        let work = async {
            if job.attempts > job.max_attempts {
                // The last attempt never settled (its worker died and the lease ran out), or the
                // give-up handler failed before: give up now rather than run the job again.
                let reason = job
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "the job's last attempt never finished (its worker stopped)".to_string());
                self.give_up(&job, &reason).await;
                return false;
            }
            match self.run_one(&job).await {
                Ok(()) => true,
                Err(error) => {
                    // Error text is kept short; handlers must not put secrets or personal data in
                    // errors.
                    let message: String = format!("{error:#}").chars().take(500).collect();
                    tracing::warn!(job = %job.job_id, kind = job.kind, attempt = job.attempts, "job failed: {message}");
                    if job.attempts >= job.max_attempts {
                        self.give_up(&job, &message).await;
                    } else if let Err(error) = self.requeue(&job, &message).await {
                        tracing::error!(job = %job.job_id, error = format!("{error:#}"), "could not record a job failure");
                    }
                    false
                }
            }
        };
        // The heartbeat also stops when the job settles (its row is no longer `running`), which
        // can be observed before this attempt's own commit is: so its end never decides the
        // outcome. The attempt always runs to its end, and a lease really lost makes its final
        // update match no row, which rolls the attempt back ("lease … was lost").
        let mut work = std::pin::pin!(work);
        tokio::select! {
            biased;
            ok = &mut work => ok,
            () = self.heartbeat(&job) => {
                tracing::warn!(job = %job.job_id, kind = job.kind, "job lease no longer renewed");
                work.await
            }
        }
    }

    /// Renews the job's lease every `heartbeat` until it is lost (another worker holds the job,
    /// or it is no longer running); never returns while the lease holds.
    async fn heartbeat(&self, job: &Claimed) {
        loop {
            let renewed = async {
                let mut platform = self.db.begin_platform("job queue: renew a lease").await?;
                let renewed = sqlx::query!(
                    "update jobs set locked_until = $3 where org_id = $1 and job_id = $2 and locked_by = $4
                        and status = 'running'",
                    job.org_id.0,
                    job.job_id.0,
                    self.clock.now() + self.limits.lease,
                    &self.name
                )
                .execute(platform.conn())
                .await?;
                platform.commit().await?;
                Ok::<bool, sqlx::Error>(renewed.rows_affected() == 1)
            }
            .await;
            match renewed {
                Ok(true) => {
                    self.heartbeats.send_modify(|n| *n += 1);
                }
                Ok(false) => return,
                // A database hiccup: try again at the next beat; the lease has slack for it.
                Err(error) => tracing::warn!(job = %job.job_id, error = %error, "could not renew a job lease"),
            }
            tokio::time::sleep(self.limits.heartbeat).await;
        }
    }

    /// Opens the job's tenant transaction with its statement and lock timeouts.
    async fn begin_job_tx(&self, org: OrgId) -> anyhow::Result<OrgTx> {
        let mut tx = self.db.begin_org(org, Actor::System).await?;
        let statement = self.limits.statement_timeout.as_millis().max(1).to_string();
        let lock = self.limits.lock_timeout.as_millis().max(1).to_string();
        sqlx::query!(
            r#"select set_config('statement_timeout', $1, true) as "s", set_config('lock_timeout', $2, true) as "l""#,
            statement,
            lock
        )
        .fetch_one(tx.conn())
        .await?;
        Ok(tx)
    }

    async fn run_one(&self, job: &Claimed) -> anyhow::Result<()> {
        let handler = self
            .registry
            .handlers
            .get(job.kind.as_str())
            .ok_or_else(|| anyhow::anyhow!("no handler for job kind {}", job.kind))?
            .clone();
        let mut tx = self.begin_job_tx(job.org_id).await?;
        // While this transaction lives, no other worker can claim the job (`FOR UPDATE SKIP
        // LOCKED` skips it); the heartbeat's update is not blocked by this lock.
        let held = sqlx::query_scalar!(
            r#"select true as "held!" from jobs where org_id = $1 and job_id = $2 and locked_by = $3 for key share"#,
            job.org_id.0,
            job.job_id.0,
            &self.name
        )
        .fetch_optional(tx.conn())
        .await?;
        if held.is_none() {
            anyhow::bail!("lease on job {} was lost before it started", job.job_id);
        }
        let run = JobRun {
            tx,
            job_id: job.job_id,
            payload: job.payload.clone(),
            attempt: job.attempts,
            now: self.clock.now(),
        };
        // A handler that hangs outside the database would hold its job for ever: bound it in wall
        // time (a statement is bounded by the transaction's statement and lock timeouts).
        let timeout = self.limits.handler_timeout;
        let mut tx = tokio::time::timeout(timeout, handler(run))
            .await
            .map_err(|_| anyhow::anyhow!("job {} timed out after {:?}", job.job_id, timeout))??;
        let done = sqlx::query!("update jobs set status = 'done', finished_at = $3, locked_by = null, locked_until = null, last_error = null
             where org_id = $1 and job_id = $2 and locked_by = $4", job.org_id.0, job.job_id.0, self.clock.now(), &self.name)
        .execute(tx.conn())
        .await?;
        if done.rows_affected() != 1 {
            // The lease ran out and another worker took the job: roll back our work.
            anyhow::bail!("lease on job {} was lost", job.job_id);
        }
        tx.commit().await?;
        Ok(())
    }

    /// Queues a failed attempt again after its backoff.
    async fn requeue(&self, job: &Claimed, message: &str) -> anyhow::Result<()> {
        let now = self.clock.now();
        let mut platform = self.db.begin_platform("job queue: record failure").await?;
        sqlx::query!(
            "update jobs set status = 'queued', run_at = $3, last_error = $4, locked_by = null, locked_until = null
             where org_id = $1 and job_id = $2 and locked_by = $5",
            job.org_id.0,
            job.job_id.0,
            now + backoff(job.attempts),
            message,
            &self.name
        )
        .execute(platform.conn())
        .await?;
        platform.commit().await?;
        Ok(())
    }

    /// Gives the job up: its kind's give-up handler and the `failed` status commit together. If
    /// that fails, the job is queued again (attempts past `max_attempts`) so a later claim retries
    /// the give-up; after [`GIVE_UP_TRIES`] it is marked `failed` alone.
    async fn give_up(&self, job: &Claimed, reason: &str) {
        let now = self.clock.now();
        let settled = async {
            let mut tx = self.begin_job_tx(job.org_id).await?;
            if let Some(hook) = self.registry.give_up.get(job.kind.as_str()).cloned() {
                let run =
                    GiveUp { tx, job_id: job.job_id, payload: job.payload.clone(), reason: reason.to_string(), now };
                tx = tokio::time::timeout(self.limits.handler_timeout, hook(run))
                    .await
                    .map_err(|_| anyhow::anyhow!("give-up handler timed out"))??;
            }
            let failed = sqlx::query!(
                "update jobs set status = 'failed', attempts = least(attempts, max_attempts), finished_at = $3,
                        last_error = $4, locked_by = null, locked_until = null
                  where org_id = $1 and job_id = $2 and locked_by = $5",
                job.org_id.0,
                job.job_id.0,
                now,
                reason,
                &self.name
            )
            .execute(tx.conn())
            .await?;
            if failed.rows_affected() != 1 {
                anyhow::bail!("lease on job {} was lost", job.job_id);
            }
            tx.commit().await?;
            Ok::<(), anyhow::Error>(())
        }
        .await;
        let Err(error) = settled else { return };
        let last = job.attempts >= job.max_attempts + GIVE_UP_TRIES;
        tracing::error!(job = %job.job_id, kind = job.kind, give_up_try = job.attempts - job.max_attempts, last,
            error = format!("{error:#}"), "could not give up a job");
        let recorded = async {
            let mut platform = self.db.begin_platform("job queue: record failure").await?;
            sqlx::query!(
                "update jobs set status = $3, run_at = $4, last_error = $5, locked_by = null, locked_until = null,
                                 finished_at = case when $3 = 'failed' then $6::timestamptz else null end
                 where org_id = $1 and job_id = $2 and locked_by = $7",
                job.org_id.0,
                job.job_id.0,
                if last { "failed" } else { "queued" },
                now + backoff((job.attempts - job.max_attempts).max(1)),
                reason,
                now,
                &self.name
            )
            .execute(platform.conn())
            .await?;
            platform.commit().await?;
            Ok::<(), anyhow::Error>(())
        }
        .await;
        if let Err(error) = recorded {
            tracing::error!(job = %job.job_id, error = format!("{error:#}"), "could not record a job failure");
        }
    }

    /// Runs until `shutdown` resolves: keeps up to `concurrency` jobs running (at most `per_kind`
    /// of a kind), claiming more as soon as one finishes, and polls every half second when idle.
    /// On shutdown it stops claiming and gives running jobs 10 s to finish; the others are
    /// abandoned (their transactions roll back and their leases run out).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let kinds = self.registry.kinds();
        let mut running: tokio::task::JoinSet<bool> = tokio::task::JoinSet::new();
        let mut kind_of: HashMap<tokio::task::Id, String> = HashMap::new();
        let mut per_kind: HashMap<String, usize> = HashMap::new();
        loop {
            let free_total = self.limits.concurrency.saturating_sub(running.len());
            let mut claimed_any = false;
            if free_total > 0 {
                let free: Vec<i64> = kinds
                    .iter()
                    .map(|k| self.limits.per_kind.saturating_sub(per_kind.get(k).copied().unwrap_or(0)) as i64)
                    .collect();
                match self.claim(free_total as i64, &kinds, &free).await {
                    Ok(jobs) => {
                        for job in jobs {
                            claimed_any = true;
                            *per_kind.entry(job.kind.clone()).or_default() += 1;
                            let worker = self.clone();
                            let kind = job.kind.clone();
                            let task = running.spawn(async move { worker.execute(job).await });
                            kind_of.insert(task.id(), kind);
                        }
                    }
                    Err(error) => tracing::error!(error = format!("{error:#}"), "job worker claim failed"),
                }
            }
            if claimed_any && running.len() < self.limits.concurrency {
                continue;
            }
            let poll = tokio::time::sleep(std::time::Duration::from_millis(500));
            tokio::select! {
                _ = &mut shutdown => break,
                Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                    let id = match done {
                        Ok((id, _)) => id,
                        Err(error) => {
                            tracing::error!(error = %error, "a job task panicked");
                            error.id()
                        }
                    };
                    if let Some(kind) = kind_of.remove(&id)
                        && let Some(n) = per_kind.get_mut(&kind)
                    {
                        *n = n.saturating_sub(1);
                    }
                }
                _ = poll => {}
            }
        }
        let drain = async { while running.join_next().await.is_some() {} };
        if tokio::time::timeout(std::time::Duration::from_secs(10), drain).await.is_err() {
            running.shutdown().await;
        }
    }
}

/// 2^attempt seconds, capped at an hour, with ±20 % jitter so retries do not stampede.
pub fn backoff(attempt: i32) -> Duration {
    let base = 1i64.checked_shl(attempt.clamp(0, 30) as u32).unwrap_or(MAX_BACKOFF_SECS).min(MAX_BACKOFF_SECS);
    let jitter = rand::random_range(0.8..1.2);
    Duration::milliseconds((base as f64 * 1000.0 * jitter) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) < Duration::seconds(3));
        assert!(backoff(5) > Duration::seconds(25));
        assert!(backoff(40) <= Duration::seconds(4320));
        assert!(backoff(40) >= Duration::seconds(2880));
    }
}
