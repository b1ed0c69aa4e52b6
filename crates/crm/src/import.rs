//! CSV import of leads, contacts and companies (issue #4 item 7): upload → mapping with header
//! auto-match and preview → dry run → run as background jobs, one batch per job → rejects CSV →
//! revert.
//!
//! Why one batch per job: a batch, its rejects, its counters and the checkpoint commit with the
//! job's completion in the job's own tenant transaction (kernel::jobs), and the job enqueues the
//! next batch in that same transaction. A crash anywhere loses only the batch in flight; the job
//! queue retries it from the committed checkpoint, so nothing is imported twice or left
//! half-written, and no handler runs longer than one batch.

pub mod engine;
pub mod file;
pub mod mapping;
pub mod openapi;
pub mod pages;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use kernel::audit::AuditEvent;
use kernel::authz::Principal;
use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use kernel::clock::Clock;
use kernel::error::ApiJson;
use kernel::jobs::{JobRun, NewJob, Registry};
use kernel::web::AppState;
use kernel::{AppError, OrgTx};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use crate::http::parse_id;
use crate::object::ObjectType;
use engine::ImportRow;

pub const DRY_RUN_JOB: &str = "crm.import.dry_run";
pub const RUN_JOB: &str = "crm.import.run";
pub const REVERT_JOB: &str = "crm.import.revert";
/// A batch that keeps failing is retried this many times, then the import is marked failed.
const MAX_ATTEMPTS: i32 = 5;
pub const DEFAULT_BATCH_ROWS: i32 = 5000;

/// Where uploaded files are kept: `<data dir>/imports/<org>/<import>.csv`.
pub fn imports_dir(state: &AppState) -> PathBuf {
    state.config.data_dir.join("imports")
}

fn importable(object: Option<&str>) -> Result<ObjectType, AppError> {
    match object.and_then(ObjectType::parse) {
        Some(t) => Ok(t),
        None => Err(AppError::field("object", "invalid_choice", "Choose contacts, leads, companies or deals.")),
    }
}

fn clean_file_name(name: Option<&str>) -> String {
    let name = name.unwrap_or_default();
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    if cleaned.trim().is_empty() { "import.csv".into() } else { cleaned.trim().to_string() }
}

/// Stores an upload on disk and creates its `imports` row with the auto-matched mapping. The
/// stream is written as it arrives: memory stays flat whatever the file size.
pub async fn create_import<S, E>(
    state: &AppState,
    principal: &Principal,
    object: ObjectType,
    file_name: String,
    mut body: S,
) -> Result<ImportRow, AppError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let id = Uuid::now_v7();
    let dir = imports_dir(state);
    let org_dir = dir.join(principal.org.0.to_string());
    tokio::fs::create_dir_all(&org_dir).await.map_err(anyhow::Error::from)?;
    let raw = org_dir.join(format!("{id}.raw"));
    let dest = file::path_of(&dir, principal.org.0, id);
    let mut out = tokio::fs::File::create(&raw).await.map_err(anyhow::Error::from)?;
    let mut check = file::Utf8Check::default();
    let mut size: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) => {
                let _ = tokio::fs::remove_file(&raw).await;
                return Err(AppError::BadRequest(format!("upload interrupted: {error}")));
            }
        };
        size += chunk.len() as u64;
        if size > file::MAX_BYTES {
            let _ = tokio::fs::remove_file(&raw).await;
            return Err(AppError::field("file", "too_large", "The file is larger than 4 GB."));
        }
        check.feed(&chunk);
        out.write_all(&chunk).await.map_err(anyhow::Error::from)?;
    }
    out.flush().await.map_err(anyhow::Error::from)?;
    drop(out);
    let valid = check.is_valid();
    let (raw2, dest2) = (raw.clone(), dest.clone());
    let sniffed = tokio::task::spawn_blocking(move || file::normalize(&raw2, &dest2, valid))
        .await
        .map_err(anyhow::Error::from)?
        .map_err(anyhow::Error::from)?;
    if sniffed.headers.iter().all(|h| h.is_empty()) {
        let _ = tokio::fs::remove_file(&dest).await;
        return Err(AppError::field("file", "empty_file", "The file has no header row."));
    }
    let mut tx = principal.begin(&state.db).await?;
    let defs = crate::custom_fields::definitions(&mut tx, object).await?;
    let auto = mapping::auto_match(object, &sniffed.headers, &defs);
    let auto: BTreeMap<String, String> = auto.into_iter().map(|(i, t)| (i.to_string(), t)).collect();
    let now = state.clock.now();
    sqlx::query(
        "insert into imports (org_id, import_id, object_type, file_name, size_bytes, encoding, delimiter, headers,
                              mapping, data_offset, next_offset, created_by, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $12)",
    )
    .bind(tx.org())
    .bind(id)
    .bind(object.as_str())
    .bind(&file_name)
    .bind(sniffed.size as i64)
    .bind(sniffed.encoding)
    .bind(file::delimiter_name(sniffed.delimiter))
    .bind(sqlx::types::Json(&sniffed.headers))
    .bind(sqlx::types::Json(&auto))
    .bind(sniffed.data_offset as i64)
    .bind(principal.user_id)
    .bind(now)
    .execute(tx.conn())
    .await?;
    let event = AuditEvent::new("import.uploaded")
        .target("import", id)
        .payload(json!({ "object": object.as_str(), "size_bytes": sniffed.size, "encoding": sniffed.encoding }));
    state.audit.record(&mut tx, event).await?;
    let row = engine::load(&mut tx, id, false).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(row)
}

async fn data_offset(tx: &mut OrgTx, id: Uuid) -> Result<u64, AppError> {
    let offset: i64 = sqlx::query_scalar("select data_offset from imports where org_id = $1 and import_id = $2")
        .bind(tx.org())
        .bind(id)
        .fetch_one(tx.conn())
        .await?;
    Ok(offset as u64)
}

/// An import as the API shows it, with its progress.
#[derive(Debug, Serialize)]
pub struct ImportView {
    #[serde(flatten)]
    pub import: ImportRow,
    /// Percent of the file processed (by bytes), 0–100.
    pub progress: u8,
}

pub fn view(import: ImportRow) -> ImportView {
    let progress = match import.status.as_str() {
        "done" | "reverted" => 100,
        "reverting" if import.created_count > 0 => {
            ((import.revert_deleted as f64 / import.created_count as f64) * 100.0).floor().min(99.0) as u8
        }
        "running" | "failed" if import.size_bytes > 0 => {
            ((import.next_offset.max(0) as f64 / import.size_bytes as f64) * 100.0).floor().min(99.0) as u8
        }
        _ => 0,
    };
    ImportView { import, progress }
}

#[derive(Debug, Deserialize)]
pub struct UploadParams {
    pub object: Option<String>,
    pub filename: Option<String>,
}

/// `POST /api/v1/imports?object=contacts&filename=clients.csv` with the CSV file as the body.
pub async fn api_upload(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<UploadParams>,
    body: Body,
) -> Result<(StatusCode, Json<ImportView>), AppError> {
    let object = importable(params.object.as_deref())?;
    let row =
        create_import(&state, &principal, object, clean_file_name(params.filename.as_deref()), body.into_data_stream())
            .await?;
    Ok((StatusCode::CREATED, Json(view(row))))
}

pub async fn api_list(State(state): State<AppState>, principal: Principal) -> Result<Json<Vec<ImportView>>, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let rows = list(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(rows.into_iter().map(view).collect()))
}

pub async fn list(tx: &mut OrgTx) -> Result<Vec<ImportRow>, AppError> {
    let sql = format!("select {} from imports where org_id = $1 order by created_at desc limit 100", engine::COLUMNS);
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tx.org()).fetch_all(tx.conn()).await?)
}

pub async fn api_get(
    State(state): State<AppState>,
    principal: Principal,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<ImportView>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let row = engine::load(&mut tx, id, false).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(Json(view(row)))
}

pub async fn preview(state: &AppState, principal: &Principal, id: Uuid) -> Result<(ImportRow, Value), AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let row = engine::load(&mut tx, id, false).await?.ok_or(AppError::NotFound)?;
    let offset = data_offset(&mut tx, id).await?;
    let rows = engine::preview(&mut tx, &row, &imports_dir(state), offset).await?;
    tx.commit().await?;
    Ok((row, rows))
}

/// The first five rows parsed with the current mapping.
pub async fn api_preview(
    State(state): State<AppState>,
    principal: Principal,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Value>, AppError> {
    let (row, rows) = preview(&state, &principal, parse_id(&id)?).await?;
    Ok(Json(json!({ "headers": row.headers.0, "mapping": row.mapping.0, "rows": rows })))
}

#[derive(Debug, Deserialize)]
pub struct MappingInput {
    /// Column index (as a string) → field key or `custom.<key>`; an empty target leaves it unmapped.
    pub mapping: BTreeMap<String, String>,
}

/// Sets the mapping; allowed before the run starts. A new mapping discards the dry run's findings.
pub async fn set_mapping(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    submitted: &BTreeMap<String, String>,
) -> Result<ImportRow, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let row = engine::load(&mut tx, id, true).await?.ok_or(AppError::NotFound)?;
    if !matches!(row.status.as_str(), "uploaded" | "dry_run_done") {
        return Err(AppError::Conflict("the import has already started".into()));
    }
    let object = row.object()?;
    let defs = crate::custom_fields::definitions(&mut tx, object).await?;
    let checked = mapping::check(object, &row.headers.0, &defs, submitted)?;
    let checked: BTreeMap<String, String> = checked.into_iter().map(|(i, t)| (i.to_string(), t)).collect();
    sqlx::query(
        "update imports set mapping = $3, dry_run = null, status = 'uploaded', updated_at = $4
          where org_id = $1 and import_id = $2",
    )
    .bind(tx.org())
    .bind(id)
    .bind(sqlx::types::Json(&checked))
    .bind(state.clock.now())
    .execute(tx.conn())
    .await?;
    let row = engine::load(&mut tx, id, false).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(row)
}

pub async fn api_mapping(
    State(state): State<AppState>,
    principal: Principal,
    UrlPath(id): UrlPath<String>,
    ApiJson(input): ApiJson<MappingInput>,
) -> Result<Json<ImportView>, AppError> {
    let row = set_mapping(&state, &principal, parse_id(&id)?, &input.mapping).await?;
    Ok(Json(view(row)))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Payload {
    import_id: Uuid,
    dir: PathBuf,
    seq: i32,
    /// The moment the person started the step: the time stamped on every record it writes (a job
    /// has no clock of its own, and one time for the whole import is what its history should say).
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
}

/// Starts the dry run as a job.
pub async fn start_dry_run(state: &AppState, principal: &Principal, id: Uuid) -> Result<ImportRow, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let row = engine::load(&mut tx, id, true).await?.ok_or(AppError::NotFound)?;
    if !matches!(row.status.as_str(), "uploaded" | "dry_run_done") {
        return Err(AppError::Conflict("the import has already started".into()));
    }
    let now = state.clock.now();
    sqlx::query("update imports set status = 'dry_running', dry_run = null, updated_at = $3 where org_id = $1 and import_id = $2")
        .bind(tx.org())
        .bind(id)
        .bind(now)
        .execute(tx.conn())
        .await?;
    let payload = Payload { import_id: id, dir: imports_dir(state), seq: 0, at: now };
    let mut job = NewJob::new(
        DRY_RUN_JOB,
        format!("{id}:dry:{}", Uuid::now_v7()),
        serde_json::to_value(&payload).map_err(anyhow::Error::from)?,
    );
    job.max_attempts = MAX_ATTEMPTS;
    kernel::jobs::enqueue(&mut tx, &state.clock, job).await?;
    let row = engine::load(&mut tx, id, false).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(row)
}

pub async fn api_dry_run(
    State(state): State<AppState>,
    principal: Principal,
    UrlPath(id): UrlPath<String>,
) -> Result<(StatusCode, Json<ImportView>), AppError> {
    let row = start_dry_run(&state, &principal, parse_id(&id)?).await?;
    Ok((StatusCode::ACCEPTED, Json(view(row))))
}

#[derive(Debug, Default, Deserialize)]
pub struct RunParams {
    /// Rows per batch (1–50,000; default 5,000). Each batch commits on its own.
    pub batch_rows: Option<i32>,
}

/// Starts the run: the first batch's job; each batch enqueues the next.
pub async fn start_run(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    batch_rows: Option<i32>,
) -> Result<ImportRow, AppError> {
    let batch_rows = batch_rows.unwrap_or(DEFAULT_BATCH_ROWS);
    if !(1..=50_000).contains(&batch_rows) {
        return Err(AppError::field("batch_rows", "out_of_range", "Use from 1 to 50000 rows per batch."));
    }
    let mut tx = principal.begin(&state.db).await?;
    let row = engine::load(&mut tx, id, true).await?.ok_or(AppError::NotFound)?;
    if !matches!(row.status.as_str(), "uploaded" | "dry_run_done") {
        return Err(AppError::Conflict("the import has already started".into()));
    }
    if row.mapping.0.is_empty() {
        return Err(AppError::field("mapping", "empty_mapping", "Map at least one column to a field."));
    }
    let now = state.clock.now();
    sqlx::query(
        "update imports set status = 'running', batch_rows = $3, next_offset = data_offset, next_row = 0,
                batches_done = 0, rows_done = 0, created_count = 0, updated_count = 0, duplicate_count = 0,
                error_count = 0, updated_at = $4
          where org_id = $1 and import_id = $2",
    )
    .bind(tx.org())
    .bind(id)
    .bind(batch_rows)
    .bind(now)
    .execute(tx.conn())
    .await?;
    enqueue_batch(&mut tx, &Payload { import_id: id, dir: imports_dir(state), seq: 0, at: now }).await?;
    let event = AuditEvent::new("import.started").target("import", id).payload(json!({ "object": row.object_type }));
    state.audit.record(&mut tx, event).await?;
    let row = engine::load(&mut tx, id, false).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(row)
}

async fn enqueue_batch(tx: &mut OrgTx, payload: &Payload) -> Result<(), AppError> {
    // The job's clock is the step's start time: the job is due at once, also under a test's
    // manual clock.
    let clock = Clock::manual(payload.at);
    let mut job = NewJob::new(
        RUN_JOB,
        format!("{}:{}", payload.import_id, payload.seq),
        serde_json::to_value(payload).map_err(anyhow::Error::from)?,
    );
    job.max_attempts = MAX_ATTEMPTS;
    kernel::jobs::enqueue(tx, &clock, job).await?;
    Ok(())
}

pub async fn api_run(
    State(state): State<AppState>,
    principal: Principal,
    UrlPath(id): UrlPath<String>,
    Query(params): Query<RunParams>,
) -> Result<(StatusCode, Json<ImportView>), AppError> {
    let row = start_run(&state, &principal, parse_id(&id)?, params.batch_rows).await?;
    Ok((StatusCode::ACCEPTED, Json(view(row))))
}

/// Starts reverting a finished (or failed) import: the work runs as jobs, a batch at a time, and
/// the import shows `reverting` with its progress until it is `reverted`.
pub async fn revert(state: &AppState, principal: &Principal, id: Uuid) -> Result<ImportRow, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let row = engine::load(&mut tx, id, true).await?.ok_or(AppError::NotFound)?;
    if !matches!(row.status.as_str(), "done" | "failed") {
        return Err(AppError::Conflict("only a finished or failed import can be reverted".into()));
    }
    let now = state.clock.now();
    sqlx::query(
        "update imports set status = 'reverting', reverted_by = $3, last_error = null, updated_at = $4
          where org_id = $1 and import_id = $2",
    )
    .bind(tx.org())
    .bind(id)
    .bind(principal.user_id)
    .bind(now)
    .execute(tx.conn())
    .await?;
    enqueue_revert(&mut tx, &Payload { import_id: id, dir: imports_dir(state), seq: 0, at: now }).await?;
    let event = AuditEvent::new("import.reverted").target("import", id).payload(json!({ "object": row.object_type }));
    state.audit.record(&mut tx, event).await?;
    let row = engine::load(&mut tx, id, false).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(row)
}

pub async fn api_revert(
    State(state): State<AppState>,
    principal: Principal,
    UrlPath(id): UrlPath<String>,
) -> Result<(StatusCode, Json<ImportView>), AppError> {
    let row = revert(&state, &principal, parse_id(&id)?).await?;
    Ok((StatusCode::ACCEPTED, Json(view(row))))
}

async fn enqueue_revert(tx: &mut OrgTx, payload: &Payload) -> Result<(), AppError> {
    let mut job = NewJob::new(
        REVERT_JOB,
        format!("{}:revert:{}", payload.import_id, payload.seq),
        serde_json::to_value(payload).map_err(anyhow::Error::from)?,
    );
    job.max_attempts = MAX_ATTEMPTS;
    kernel::jobs::enqueue_at(tx, payload.at, job).await?;
    Ok(())
}

async fn revert_job(run: JobRun) -> anyhow::Result<OrgTx> {
    let payload: Payload = serde_json::from_value(run.payload)?;
    let mut tx = run.tx;
    sqlx::query("savepoint import_step").execute(tx.conn()).await?;
    let result = revert_step(&mut tx, &payload).await;
    settle(tx, payload.import_id, run.attempt, result).await
}

/// One step of a revert: first restore the updated fields, then delete created records a batch
/// at a time; each step commits with its counters and queues the next.
async fn revert_step(tx: &mut OrgTx, payload: &Payload) -> Result<(), AppError> {
    let Some(row) = engine::load(tx, payload.import_id, true).await? else { return Ok(()) };
    if row.status != "reverting" {
        return Ok(());
    }
    let next = Payload { seq: payload.seq + 1, ..payload.clone() };
    if row.revert_restored_fields.is_none() {
        let restored = engine::restore_updated(tx, &row, row.reverted_by, payload.at).await?;
        sqlx::query("update imports set revert_restored_fields = $3 where org_id = $1 and import_id = $2")
            .bind(tx.org())
            .bind(row.import_id)
            .bind(i64::try_from(restored).unwrap_or(i64::MAX))
            .execute(tx.conn())
            .await?;
        return enqueue_revert(tx, &next).await;
    }
    // As many records per step as the import wrote per batch: a step stays well inside a job's
    // time limit whatever the size of the import.
    let batch = i64::from(row.batch_rows.max(1));
    let deleted = engine::delete_created(tx, &row, batch).await?;
    sqlx::query(
        "update imports set revert_deleted = revert_deleted + $3, updated_at = $4 where org_id = $1 and import_id = $2",
    )
    .bind(tx.org())
    .bind(row.import_id)
    .bind(i64::try_from(deleted).unwrap_or(i64::MAX))
    .bind(payload.at)
    .execute(tx.conn())
    .await?;
    if i64::try_from(deleted).unwrap_or(i64::MAX) < batch {
        engine::finish_revert(tx, &row, payload.at).await
    } else {
        enqueue_revert(tx, &next).await
    }
}

/// The rejected rows as CSV: the file's columns, then `row` and `error`. Streamed by pages of
/// 5,000 rows, so a file of a million rejects costs no more memory than one page.
pub async fn rejects_csv(state: &AppState, principal: &Principal, id: Uuid) -> Result<Response, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let row = engine::load(&mut tx, id, false).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    let mut header = row.headers.0.clone();
    header.push("row".into());
    header.push("error".into());
    let first = crate::export::csv_line(header.iter().map(String::as_str));
    let state = state.clone();
    let principal = principal.clone();
    let stream = futures_util::stream::unfold(Some(0i64), move |after| {
        let (state, principal) = (state.clone(), principal.clone());
        async move {
            let after = after?;
            let page: Result<Vec<(i64, String, Value)>, AppError> = async {
                let mut tx = principal.begin(&state.db).await?;
                let rows = sqlx::query_as(
                    "select row_number, reason, cells from import_rejects
                      where org_id = $1 and import_id = $2 and row_number > $3 order by row_number limit 5000",
                )
                .bind(tx.org())
                .bind(id)
                .bind(after)
                .fetch_all(tx.conn())
                .await?;
                tx.commit().await?;
                Ok(rows)
            }
            .await;
            match page {
                Err(error) => {
                    error.log();
                    Some((Err(std::io::Error::other("export interrupted")), None))
                }
                Ok(rows) if rows.is_empty() => None,
                Ok(rows) => {
                    let last = rows.last().map(|r| r.0);
                    let mut out = Vec::new();
                    for (number, reason, cells) in rows {
                        let mut fields: Vec<String> = match cells {
                            Value::Array(items) => {
                                items.into_iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect()
                            }
                            _ => Vec::new(),
                        };
                        fields.push(number.to_string());
                        fields.push(reason);
                        out.extend(crate::export::csv_line(fields.iter().map(String::as_str)));
                    }
                    Some((Ok(Bytes::from(out)), last))
                }
            }
        }
    });
    let body = futures_util::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(first)) }).chain(stream);
    let name = format!("rejects-{}.csv", id);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

pub async fn api_rejects(
    State(state): State<AppState>,
    principal: Principal,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, AppError> {
    rejects_csv(&state, &principal, parse_id(&id)?).await
}

/// Registers the import jobs (one line in `web::job_registry`).
pub fn register(registry: &mut Registry) {
    registry.register(DRY_RUN_JOB, dry_run_job);
    registry.register(RUN_JOB, run_job);
    registry.register(REVERT_JOB, revert_job);
}

/// Settles a step that ran inside the savepoint `import_step`: on failure at the last attempt,
/// rolls the step back and marks the import failed with the reason (so it is never left "running"
/// with no explanation); before that, fails the job so the queue retries from the committed
/// checkpoint.
async fn settle(mut tx: OrgTx, import_id: Uuid, attempt: i32, result: Result<(), AppError>) -> anyhow::Result<OrgTx> {
    match result {
        Ok(()) => Ok(tx),
        Err(error) if attempt >= MAX_ATTEMPTS => {
            error.log();
            sqlx::query("rollback to savepoint import_step").execute(tx.conn()).await?;
            let message: String = format!("{error}").chars().take(500).collect();
            sqlx::query("update imports set status = 'failed', last_error = $3 where org_id = $1 and import_id = $2")
                .bind(tx.org())
                .bind(import_id)
                .bind(message)
                .execute(tx.conn())
                .await?;
            Ok(tx)
        }
        Err(error) => Err(anyhow::anyhow!("import step failed: {error}")),
    }
}

async fn dry_run_job(run: JobRun) -> anyhow::Result<OrgTx> {
    let payload: Payload = serde_json::from_value(run.payload)?;
    let mut tx = run.tx;
    sqlx::query("savepoint import_step").execute(tx.conn()).await?;
    let result = dry_run_step(&mut tx, &payload).await;
    settle(tx, payload.import_id, run.attempt, result).await
}

async fn dry_run_step(tx: &mut OrgTx, payload: &Payload) -> Result<(), AppError> {
    let Some(row) = engine::load(tx, payload.import_id, true).await? else { return Ok(()) };
    if row.status != "dry_running" {
        return Ok(());
    }
    let offset = data_offset(tx, row.import_id).await?;
    let findings = engine::dry_run(tx, &row, &payload.dir, offset).await?;
    sqlx::query(
        "update imports set status = 'dry_run_done', dry_run = $3, updated_at = $4 where org_id = $1 and import_id = $2",
    )
    .bind(tx.org())
    .bind(row.import_id)
    .bind(&findings)
    .bind(payload.at)
    .execute(tx.conn())
    .await?;
    Ok(())
}

async fn run_job(run: JobRun) -> anyhow::Result<OrgTx> {
    let payload: Payload = serde_json::from_value(run.payload)?;
    let mut tx = run.tx;
    sqlx::query("savepoint import_step").execute(tx.conn()).await?;
    let result = run_step(&mut tx, &payload).await;
    settle(tx, payload.import_id, run.attempt, result).await
}

async fn run_step(tx: &mut OrgTx, payload: &Payload) -> Result<(), AppError> {
    let Some(row) = engine::load(tx, payload.import_id, true).await? else { return Ok(()) };
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

/// Runs every remaining batch of a running import in this process, each in its own committed
/// transaction — what the jobs do, without the queue. Used by `relais bench crm`.
pub async fn run_to_end(state: &AppState, org: kernel::OrgId, id: Uuid, dir: &Path) -> Result<ImportRow, AppError> {
    loop {
        let mut tx = state.db.begin_org(org, kernel::db::Actor::System).await?;
        let row = engine::load(&mut tx, id, true).await?.ok_or(AppError::NotFound)?;
        if row.status != "running" {
            tx.commit().await?;
            return Ok(row);
        }
        engine::run_batch(&mut tx, &row, dir, state.clock.now()).await?;
        tx.commit().await?;
    }
}

pub const TABLES: &[TableEntry] = &[
    TableEntry {
        table: "imports",
        module: "crm",
        description: "CSV imports: object type, file name and size, detected encoding and delimiter, header row, \
                      column mapping, dry-run findings, progress checkpoint and counters, who started it.",
        subject: Subject::NoPerson,
        personal_columns: &["headers", "dry_run", "created_by"],
        purpose: "CRM: importing the customer organization's records from spreadsheets (issue #4)",
        legal_basis: LegalBasis::Contract,
        retention: Retention::AccountLifetimePlusDays { days: 30 },
        erasure: Erasure::Delete,
        tenant: true,
    },
    TableEntry {
        table: "import_rejects",
        module: "crm",
        description: "Rows an import refused or skipped as duplicates: row number, reason and the original cells.",
        subject: Subject::CrmContact,
        personal_columns: &["cells", "reason"],
        purpose: "CRM: importing the customer organization's records from spreadsheets (issue #4)",
        legal_basis: LegalBasis::Contract,
        retention: Retention::AccountLifetimePlusDays { days: 30 },
        erasure: Erasure::Delete,
        tenant: true,
    },
    TableEntry {
        table: "import_touched",
        module: "crm",
        description: "Dedupe keys (normalized email or domain) of existing records an import updated.",
        subject: Subject::CrmContact,
        personal_columns: &["key"],
        purpose: "CRM: importing the customer organization's records from spreadsheets (issue #4)",
        legal_basis: LegalBasis::Contract,
        retention: Retention::AccountLifetimePlusDays { days: 30 },
        erasure: Erasure::Delete,
        tenant: true,
    },
];
