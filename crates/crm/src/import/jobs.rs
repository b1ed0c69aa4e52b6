//! The import's background work: the dry run, the run one batch per job, the revert one step per
//! job, and [`register`]ing them.

use std::path::{Path, PathBuf};

use kernel::clock::Clock;
use kernel::jobs::{GiveUp, JobRun, NewJob, Registry};
use kernel::{AppError, OrgTx};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{DRY_RUN_JOB, ImportCtx, ImportRow, MAX_ATTEMPTS, REVERT_JOB, RUN_JOB, SWEEP_JOB, engine, store};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Payload {
    pub import_id: Uuid,
    pub dir: PathBuf,
    pub seq: i32,
    /// The moment the person started the step: the time stamped on every record it writes (a job
    /// has no clock of its own, and one time for the whole import is what its history should say).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The import's retry count when the step was (re)started: a retried step's jobs get fresh
    /// idempotency keys.
    #[serde(default)]
    pub round: i32,
}

impl Payload {
    /// The idempotency key of this step's job: `<import>:<what><seq>`, with the retry round when
    /// there is one.
    fn key(&self, what: &str) -> String {
        if self.round == 0 {
            format!("{}:{what}{}", self.import_id, self.seq)
        } else {
            format!("{}:r{}:{what}{}", self.import_id, self.round, self.seq)
        }
    }
}

/// Registers the import jobs (one line in `web::job_registry`).
pub fn register(registry: &mut Registry) {
    registry.register(DRY_RUN_JOB, dry_run_job);
    registry.register(RUN_JOB, run_job);
    registry.register(REVERT_JOB, revert_job);
    registry.on_give_up(DRY_RUN_JOB, |run| give_up(run, "dry_run"));
    registry.on_give_up(RUN_JOB, |run| give_up(run, "run"));
    registry.on_give_up(REVERT_JOB, |run| give_up(run, "revert"));
    registry.register(SWEEP_JOB, sweep_job);
}

/// A step's job was given up by the queue (attempts exhausted, timed out, or its worker died on
/// the last attempt): the import is marked failed at that step, so it never stays "in progress"
/// for ever and the person can retry or discard it. People read the code `job_stopped` in their
/// language; the queue's reason (an operator's detail) stays in the English text of the API.
async fn give_up(run: GiveUp, step: &'static str) -> anyhow::Result<OrgTx> {
    let GiveUp { mut tx, payload, reason, .. } = run;
    let payload: Payload = serde_json::from_value(payload)?;
    let message = format!("the background job stopped: {reason}");
    let message: String = message.chars().take(500).collect();
    store::fail(&mut tx, payload.import_id, step, "job_stopped", &message).await?;
    Ok(tx)
}

pub(super) async fn enqueue_dry_run(tx: &mut OrgTx, payload: &Payload) -> Result<(), AppError> {
    let mut job = NewJob::new(
        DRY_RUN_JOB,
        format!("{}:dry:{}", payload.import_id, Uuid::now_v7()),
        serde_json::to_value(payload).map_err(anyhow::Error::from)?,
    );
    job.max_attempts = MAX_ATTEMPTS;
    kernel::jobs::enqueue_at(tx, payload.at, job).await?;
    Ok(())
}

/// How old a leftover file must be before the sweeper removes it: far longer than any live
/// upload, which is cut after `RELAIS_UPLOAD_IDLE_TIMEOUT_SECS` without data.
const LEFTOVER_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SweepPayload {
    dir: PathBuf,
}

/// Queues the sweeper of the organization's import files for a day later, once per day (the
/// job's key is the day it runs): every upload calls this before it writes anything, so a file a
/// crash leaves behind is always followed by a sweep.
pub(super) async fn schedule_sweep(ctx: &ImportCtx<'_>, principal: &kernel::authz::Principal) -> Result<(), AppError> {
    let at = ctx.clock.now() + time::Duration::days(1);
    let key = format!("sweep:{}", at.date());
    let payload = serde_json::to_value(SweepPayload { dir: ctx.dir.clone() }).map_err(anyhow::Error::from)?;
    let mut tx = principal.begin(ctx.db).await?;
    let mut job = NewJob::new(SWEEP_JOB, key, payload);
    job.run_at = Some(at);
    kernel::jobs::enqueue(&mut tx, ctx.clock, job).await?;
    tx.commit().await?;
    Ok(())
}

/// The sweeper: removes the organization's import files nothing will read — uploads that never
/// completed (`<id>.part`) and stored files without an import (`<id>.csv` whose row was never
/// committed) — once they are a day old.
async fn sweep_job(run: JobRun) -> anyhow::Result<OrgTx> {
    let payload: SweepPayload = serde_json::from_value(run.payload)?;
    let mut tx = run.tx;
    let dir = payload.dir.join(tx.org().0.to_string());
    let mut candidates: Vec<(Uuid, PathBuf, bool)> = Vec::new();
    let mut entries = match tokio::fs::read_dir(&dir).await {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(tx),
        Err(error) => return Err(error.into()),
    };
    while let Some(entry) = entries.next_entry().await? {
        let path = entry.path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()).and_then(|s| Uuid::parse_str(s).ok()) else {
            continue;
        };
        let partial = match path.extension().and_then(|e| e.to_str()) {
            Some("part") => true,
            Some("csv") => false,
            _ => continue,
        };
        let modified = entry.metadata().await?.modified()?;
        if modified.elapsed().is_ok_and(|age| age >= LEFTOVER_AGE) {
            candidates.push((stem, path, partial));
        }
    }
    let ids: Vec<Uuid> = candidates.iter().filter(|(_, _, partial)| !partial).map(|(id, _, _)| *id).collect();
    let kept = store::existing_ids(&mut tx, &ids).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut removed = 0;
    for (id, path, partial) in candidates {
        if partial || !kept.contains(&id) {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => removed += 1,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => tracing::warn!(error = %error, "an import leftover could not be removed"),
            }
        }
    }
    if removed > 0 {
        tracing::info!(removed, "import leftovers removed");
    }
    Ok(tx)
}

pub(super) async fn enqueue_batch(tx: &mut OrgTx, payload: &Payload) -> Result<(), AppError> {
    // The job's clock is the step's start time: the job is due at once, also under a test's
    // manual clock.
    let clock = Clock::manual(payload.at);
    let mut job = NewJob::new(RUN_JOB, payload.key(""), serde_json::to_value(payload).map_err(anyhow::Error::from)?);
    job.max_attempts = MAX_ATTEMPTS;
    kernel::jobs::enqueue(tx, &clock, job).await?;
    Ok(())
}

pub(super) async fn enqueue_revert(tx: &mut OrgTx, payload: &Payload) -> Result<(), AppError> {
    let mut job =
        NewJob::new(REVERT_JOB, payload.key("revert:"), serde_json::to_value(payload).map_err(anyhow::Error::from)?);
    job.max_attempts = MAX_ATTEMPTS;
    kernel::jobs::enqueue_at(tx, payload.at, job).await?;
    Ok(())
}

/// Settles a step that ran inside the savepoint [`store::begin_step`]: on failure at the last
/// attempt, rolls the step back and marks the import failed with the reason (so it is never left
/// "running" with no explanation); before that, fails the job so the queue retries from the
/// committed checkpoint.
async fn settle(
    mut tx: OrgTx,
    import_id: Uuid,
    step: &str,
    attempt: i32,
    result: Result<(), AppError>,
) -> anyhow::Result<OrgTx> {
    match result {
        Ok(()) => Ok(tx),
        Err(error) if attempt >= MAX_ATTEMPTS => {
            error.log();
            let missing = matches!(&error, AppError::Internal(e) if e.downcast_ref::<engine::FileMissing>().is_some());
            let code = if missing { "file_missing" } else { "step_failed" };
            let message: String = format!("{error}").chars().take(500).collect();
            store::fail_step(&mut tx, import_id, step, code, &message).await?;
            Ok(tx)
        }
        Err(error) => Err(anyhow::anyhow!("import step failed: {error}")),
    }
}

async fn dry_run_job(run: JobRun) -> anyhow::Result<OrgTx> {
    let payload: Payload = serde_json::from_value(run.payload)?;
    let mut tx = run.tx;
    store::begin_step(&mut tx).await?;
    let result = dry_run_step(&mut tx, &payload).await;
    settle(tx, payload.import_id, "dry_run", run.attempt, result).await
}

async fn dry_run_step(tx: &mut OrgTx, payload: &Payload) -> Result<(), AppError> {
    let Some(row) = store::load(tx, payload.import_id, true).await? else { return Ok(()) };
    if row.status != "dry_running" {
        return Ok(());
    }
    let offset = store::data_offset(tx, row.import_id).await?;
    let findings = engine::dry_run(tx, &row, &payload.dir, offset).await?;
    store::mark_dry_run_done(tx, row.import_id, &findings, payload.at).await
}

async fn run_job(run: JobRun) -> anyhow::Result<OrgTx> {
    let payload: Payload = serde_json::from_value(run.payload)?;
    let mut tx = run.tx;
    store::begin_step(&mut tx).await?;
    let result = run_step(&mut tx, &payload).await;
    settle(tx, payload.import_id, "run", run.attempt, result).await
}

async fn run_step(tx: &mut OrgTx, payload: &Payload) -> Result<(), AppError> {
    let Some(row) = store::load(tx, payload.import_id, true).await? else { return Ok(()) };
    // A job for a batch already done (or an import no longer running) does nothing.
    if row.status != "running" || row.batches_done != payload.seq {
        return Ok(());
    }
    let outcome = engine::run_batch(tx, &row, &payload.dir, payload.at).await?;
    if !outcome.at_end {
        enqueue_batch(tx, &Payload { seq: payload.seq + 1, ..payload.clone() }).await?;
    }
    Ok(())
}

async fn revert_job(run: JobRun) -> anyhow::Result<OrgTx> {
    let payload: Payload = serde_json::from_value(run.payload)?;
    let mut tx = run.tx;
    store::begin_step(&mut tx).await?;
    let result = revert_step(&mut tx, &payload).await;
    settle(tx, payload.import_id, "revert", run.attempt, result).await
}

/// One step of a revert: first restore the updated fields, then delete created records a batch
/// at a time; each step commits with its counters and queues the next.
async fn revert_step(tx: &mut OrgTx, payload: &Payload) -> Result<(), AppError> {
    let Some(row) = store::load(tx, payload.import_id, true).await? else { return Ok(()) };
    if row.status != "reverting" {
        return Ok(());
    }
    let next = Payload { seq: payload.seq + 1, ..payload.clone() };
    if row.revert_restored_fields.is_none() {
        let restored = engine::restore_updated(tx, &row, row.reverted_by, payload.at).await?;
        store::set_restored_fields(tx, row.import_id, restored).await?;
        return enqueue_revert(tx, &next).await;
    }
    // As many records per step as the import wrote per batch: a step stays well inside a job's
    // time limit whatever the size of the import.
    let batch = i64::from(row.batch_rows.max(1));
    let deleted = engine::delete_created(tx, &row, batch).await?;
    store::add_reverted(tx, row.import_id, deleted, payload.at).await?;
    if i64::try_from(deleted).unwrap_or(i64::MAX) < batch {
        engine::finish_revert(tx, &row, payload.at).await
    } else {
        enqueue_revert(tx, &next).await
    }
}

/// Runs every remaining batch of a running import in this process, each in its own committed
/// transaction — what the jobs do, without the queue. Used by `relais bench crm`.
pub async fn run_to_end<'a>(
    ctx: impl Into<ImportCtx<'a>>,
    org: kernel::OrgId,
    id: Uuid,
    dir: &Path,
) -> Result<ImportRow, AppError> {
    let ctx = ctx.into();
    loop {
        let mut tx = ctx.db.begin_org(org, kernel::db::Actor::System).await?;
        let row = store::load(&mut tx, id, true).await?.ok_or(AppError::NotFound)?;
        if row.status != "running" {
            tx.commit().await?;
            return Ok(row);
        }
        engine::run_batch(&mut tx, &row, dir, ctx.clock.now()).await?;
        tx.commit().await?;
    }
}
