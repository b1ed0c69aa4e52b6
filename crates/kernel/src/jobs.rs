//! A durable job queue in PostgreSQL.
//!
//! Jobs are rows of the tenant table `jobs`. A worker on any node claims due jobs in platform scope
//! with `FOR UPDATE SKIP LOCKED` (so nodes never take the same job), then runs each one inside the
//! **tenant transaction of its org**; the handler's writes and the job's completion commit together,
//! so a crash either keeps both or neither. A claimed job carries a lease, renewed when the job
//! starts; while it runs, its worker also holds the job's row lock, so no other worker takes it.
//! If the worker dies, the lock goes with its connection and the job is claimed again once the
//! lease runs out. Handlers are bounded in wall time. Failures retry with exponential backoff and
//! jitter until `max_attempts`, then stay `failed` with their last error.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;
use time::{Duration, OffsetDateTime};

use crate::clock::Clock;
use crate::db::{Actor, Db, OrgTx};
use crate::ids::{JobId, OrgId};

const LEASE: Duration = Duration::minutes(5);
const MAX_BACKOFF_SECS: i64 = 3600;
const HANDLER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(240);

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

#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<&'static str, Handler>,
}

impl Registry {
    pub fn register<F, Fut>(&mut self, kind: &'static str, handler: F)
    where
        F: Fn(JobRun) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<OrgTx>> + Send + 'static,
    {
        self.handlers.insert(kind, Arc::new(move |run| Box::pin(handler(run))));
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
}

struct Claimed {
    org_id: OrgId,
    job_id: JobId,
    kind: String,
    payload: Value,
    attempts: i32,
    max_attempts: i32,
}

impl Worker {
    pub fn new(db: Db, clock: Clock, registry: Registry) -> Self {
        let name = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        Self { db, clock, registry: Arc::new(registry), name }
    }

    /// Claims up to `batch` due jobs and runs them. Tests call this directly instead of waiting.
    pub async fn tick(&self, batch: i64) -> anyhow::Result<Tick> {
        let now = self.clock.now();
        let mut platform = self.db.begin_platform("job queue: claim due jobs").await?;
        let claimed: Vec<Claimed> = sqlx::query_as!(
            Claimed,
            r#"update jobs set status = 'running', attempts = attempts + 1, locked_by = $1, locked_until = $2
             where (org_id, job_id) in (
                 select org_id, job_id from jobs
                 where (status = 'queued' and run_at <= $3) or (status = 'running' and locked_until < $3)
                 order by run_at
                 limit $4
                 for update skip locked)
             returning org_id as "org_id: OrgId", job_id as "job_id: JobId", kind, payload, attempts, max_attempts"#,
            &self.name,
            now + LEASE,
            now,
            batch,
        )
        .fetch_all(platform.conn())
        .await?;
        platform.commit().await?;

        let mut tick = Tick { claimed: claimed.len(), ..Tick::default() };
        for job in claimed {
            match self.run_one(&job).await {
                Ok(()) => tick.succeeded += 1,
                Err(error) => {
                    tick.failed += 1;
                    self.record_failure(&job, &error).await?;
                }
            }
        }
        Ok(tick)
    }

    async fn run_one(&self, job: &Claimed) -> anyhow::Result<()> {
        let handler = self
            .registry
            .handlers
            .get(job.kind.as_str())
            .ok_or_else(|| anyhow::anyhow!("no handler for job kind {}", job.kind))?
            .clone();
        let mut tx = self.db.begin_org(job.org_id, Actor::System).await?;
        // The lease was taken for the whole batch at claim time; renew it now that this job starts,
        // and give up if another worker has taken the job over meanwhile.
        let renewed = sqlx::query!(
            "update jobs set locked_until = $3 where org_id = $1 and job_id = $2 and locked_by = $4",
            job.org_id.0,
            job.job_id.0,
            self.clock.now() + LEASE,
            &self.name
        )
        .execute(tx.conn())
        .await?;
        if renewed.rows_affected() != 1 {
            anyhow::bail!("lease on job {} was lost before it started", job.job_id);
        }
        let run = JobRun {
            tx,
            job_id: job.job_id,
            payload: job.payload.clone(),
            attempt: job.attempts,
            now: self.clock.now(),
        };
        // A handler that hangs would hold its job (and a connection) forever: bound it in wall time.
        let mut tx = tokio::time::timeout(HANDLER_TIMEOUT, handler(run))
            .await
            .map_err(|_| anyhow::anyhow!("job {} timed out after {:?}", job.job_id, HANDLER_TIMEOUT))??;
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

    async fn record_failure(&self, job: &Claimed, error: &anyhow::Error) -> anyhow::Result<()> {
        let now = self.clock.now();
        let give_up = job.attempts >= job.max_attempts;
        let retry_at = now + backoff(job.attempts);
        // Error text is kept short; handlers must not put secrets or personal data in errors.
        let message: String = format!("{error:#}").chars().take(500).collect();
        tracing::warn!(job = %job.job_id, kind = job.kind, attempt = job.attempts, give_up, "job failed: {message}");
        let mut platform = self.db.begin_platform("job queue: record failure").await?;
        sqlx::query!(
            "update jobs set status = $3, run_at = $4, last_error = $5, locked_by = null, locked_until = null,
                             finished_at = case when $3 = 'failed' then $6::timestamptz else null end
             where org_id = $1 and job_id = $2 and locked_by = $7",
            job.org_id.0,
            job.job_id.0,
            if give_up { "failed" } else { "queued" },
            retry_at,
            message,
            now,
            &self.name
        )
        .execute(platform.conn())
        .await?;
        platform.commit().await?;
        Ok(())
    }

    /// Runs until `shutdown` resolves, polling when idle.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let idle = match self.tick(16).await {
                Ok(tick) => tick.claimed == 0,
                Err(error) => {
                    tracing::error!(error = format!("{error:#}"), "job worker tick failed");
                    true
                }
            };
            if idle {
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
                }
            }
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
