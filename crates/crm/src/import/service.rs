//! The steps a person takes on an import, each with its audit event where it has one (upload,
//! run, revert): the one function the API and the pages both call.

use std::collections::BTreeMap;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use kernel::AppError;
use kernel::audit::AuditEvent;
use kernel::authz::Principal;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use super::jobs::{self, Payload};
use super::store::{self, NewImport};
use super::{DEFAULT_BATCH_ROWS, ImportCtx, ImportRow, engine, file, mapping, not_started, problem};
use crate::object::ObjectType;

/// Removes the files of an upload that did not complete, whatever stopped it: an error, a
/// refusal, a stalled or dropped connection (the handler's future is dropped), a panic. Disarmed
/// once the import's row is committed.
struct Leftovers(Vec<std::path::PathBuf>);

impl Leftovers {
    fn keep(mut self) {
        self.0.clear();
    }
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        for path in &self.0 {
            // Blocking, but a single unlink; a failure leaves the file to the sweeper.
            if let Err(error) = std::fs::remove_file(path)
                && error.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(error = %error, "an upload's partial file could not be removed");
            }
        }
    }
}

/// Stores an upload on disk and creates its `imports` row with the detected encoding and the
/// auto-matched mapping; audited `import.uploaded`. The stream is written as it arrives: memory
/// stays flat whatever the file size. Whatever ends the upload early, its partial file is removed
/// (and the sweeper job, queued here for the next day, removes anything a crash left behind).
pub async fn create_import<'a, S, E>(
    ctx: impl Into<ImportCtx<'a>>,
    principal: &Principal,
    object: ObjectType,
    file_name: String,
    mut body: S,
) -> Result<ImportRow, AppError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let ctx = ctx.into();
    let id = Uuid::now_v7();
    jobs::schedule_sweep(&ctx, principal).await?;
    let org_dir = ctx.dir.join(principal.org.0.to_string());
    tokio::fs::create_dir_all(&org_dir).await.map_err(anyhow::Error::from)?;
    let part = file::part_path_of(&ctx.dir, principal.org.0, id);
    let dest = file::path_of(&ctx.dir, principal.org.0, id);
    let mut out = tokio::fs::File::create(&part).await.map_err(anyhow::Error::from)?;
    let leftovers = Leftovers(vec![part.clone(), dest.clone()]);
    let mut detector = file::Detector::default();
    let mut size: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|error| AppError::BadRequest(format!("upload interrupted: {error}")))?;
        size += chunk.len() as u64;
        if size > file::MAX_BYTES {
            return Err(AppError::field("file", "too_large", "The file is larger than 4 GB."));
        }
        detector.feed(&chunk);
        out.write_all(&chunk).await.map_err(anyhow::Error::from)?;
    }
    out.flush().await.map_err(anyhow::Error::from)?;
    drop(out);
    let detection = detector.finish();
    if detection.not_text {
        return Err(AppError::field(
            "file",
            "not_text",
            "This is not a text CSV file (a binary file, a spreadsheet or UTF-16 text): save it as CSV (UTF-8).",
        ));
    }
    tokio::fs::rename(&part, &dest).await.map_err(anyhow::Error::from)?;
    let sniffed = sniff(&dest, detection.encoding).await?;
    if sniffed.headers.iter().all(|h| h.is_empty()) {
        return Err(AppError::field("file", "empty_file", "The file has no header row."));
    }
    let mut tx = principal.begin(ctx.db).await?;
    let defs = crate::custom_fields::definitions(&mut tx, object).await?;
    let auto = mapping::auto_match(object, &sniffed.headers, &defs);
    let auto: BTreeMap<String, String> = auto.into_iter().map(|(i, t)| (i.to_string(), t)).collect();
    let import = NewImport {
        import_id: id,
        object,
        file_name: &file_name,
        size_bytes: sniffed.size as i64,
        encoding: detection.encoding,
        invalid_utf8: detection.invalid_utf8 as i64,
        delimiter: file::delimiter_name(sniffed.delimiter),
        headers: &sniffed.headers,
        mapping: &auto,
        data_offset: sniffed.data_offset as i64,
        created_by: principal.user_id,
    };
    store::insert(&mut tx, &import, ctx.clock.now()).await?;
    let event = AuditEvent::new("import.uploaded")
        .target("import", id)
        .payload(json!({ "object": object.as_str(), "size_bytes": sniffed.size, "encoding": detection.encoding }));
    ctx.audit.record(&mut tx, event).await?;
    let row = store::load(&mut tx, id, false).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    leftovers.keep();
    Ok(row)
}

/// The stored file's delimiter and header row read with `encoding`, off the async threads.
async fn sniff(path: &std::path::Path, encoding: &str) -> Result<file::Sniffed, AppError> {
    let (path, encoding) = (path.to_path_buf(), encoding.to_string());
    tokio::task::spawn_blocking(move || file::sniff(&path, &encoding))
        .await
        .map_err(anyhow::Error::from)?
        .map_err(|error| AppError::Internal(error.into()))
}

/// Reads the file with another encoding (one of [`file::ENCODINGS`]); allowed before the run
/// starts. The header row is read again and the columns matched again; the dry run's findings are
/// discarded.
pub async fn set_encoding<'a>(
    ctx: impl Into<ImportCtx<'a>>,
    principal: &Principal,
    id: Uuid,
    encoding: &str,
) -> Result<ImportRow, AppError> {
    let ctx = ctx.into();
    let Some(encoding) = file::ENCODINGS.iter().copied().find(|e| *e == encoding.trim()) else {
        return Err(AppError::field(
            "encoding",
            "unknown_encoding",
            "Choose utf-8, windows-1252, iso-8859-15 or macintosh.",
        ));
    };
    let mut tx = principal.begin(ctx.db).await?;
    let row = store::load(&mut tx, id, true).await?.ok_or(AppError::NotFound)?;
    not_started(&row)?;
    let object = row.object()?;
    let sniffed = sniff(&file::path_of(&ctx.dir, principal.org.0, id), encoding).await?;
    let defs = crate::custom_fields::definitions(&mut tx, object).await?;
    let auto = mapping::auto_match(object, &sniffed.headers, &defs);
    let auto: BTreeMap<String, String> = auto.into_iter().map(|(i, t)| (i.to_string(), t)).collect();
    let offset = sniffed.data_offset as i64;
    store::set_encoding(&mut tx, id, encoding, &sniffed.headers, &auto, offset, ctx.clock.now()).await?;
    let row = store::load(&mut tx, id, false).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(row)
}

/// The import and its first five rows parsed with the current mapping.
pub async fn preview<'a>(
    ctx: impl Into<ImportCtx<'a>>,
    principal: &Principal,
    id: Uuid,
) -> Result<(ImportRow, Value), AppError> {
    let ctx = ctx.into();
    let mut tx = principal.begin(ctx.db).await?;
    let row = store::load(&mut tx, id, false).await?.ok_or(AppError::NotFound)?;
    let offset = store::data_offset(&mut tx, id).await?;
    let rows = engine::preview(&mut tx, &row, &ctx.dir, offset).await?;
    tx.commit().await?;
    Ok((row, rows))
}

/// Sets the mapping and, when given, the mode (what happens to records that already have the
/// row's key: `create_only`, `fill_empty`, `overwrite`); allowed before the run starts. A new
/// mapping discards the dry run's findings.
pub async fn set_mapping<'a>(
    ctx: impl Into<ImportCtx<'a>>,
    principal: &Principal,
    id: Uuid,
    submitted: &BTreeMap<String, String>,
    mode: Option<&str>,
) -> Result<ImportRow, AppError> {
    let ctx = ctx.into();
    let mode = match mode.map(str::trim) {
        None => None,
        Some(text) => Some(engine::Mode::parse(text).ok_or_else(|| {
            AppError::field("mode", "invalid_choice", "Choose create_only, fill_empty or overwrite.")
        })?),
    };
    let mut tx = principal.begin(ctx.db).await?;
    let row = store::load(&mut tx, id, true).await?.ok_or(AppError::NotFound)?;
    not_started(&row)?;
    let mode = match mode {
        Some(mode) => mode,
        None => row.mode()?,
    };
    let object = row.object()?;
    let defs = crate::custom_fields::definitions(&mut tx, object).await?;
    let checked = mapping::check(object, &row.headers.0, &defs, submitted)?;
    let checked: BTreeMap<String, String> = checked.into_iter().map(|(i, t)| (i.to_string(), t)).collect();
    store::set_mapping(&mut tx, id, &checked, mode.as_str(), ctx.clock.now()).await?;
    let row = store::load(&mut tx, id, false).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(row)
}

/// Starts the dry run as a job.
pub async fn start_dry_run<'a>(
    ctx: impl Into<ImportCtx<'a>>,
    principal: &Principal,
    id: Uuid,
) -> Result<ImportRow, AppError> {
    let ctx = ctx.into();
    let mut tx = principal.begin(ctx.db).await?;
    let row = store::load(&mut tx, id, true).await?.ok_or(AppError::NotFound)?;
    not_started(&row)?;
    let now = ctx.clock.now();
    store::mark_dry_running(&mut tx, id, now).await?;
    let payload = Payload { import_id: id, dir: ctx.dir.clone(), seq: 0, at: now, round: row.retries };
    jobs::enqueue_dry_run(&mut tx, &payload).await?;
    let row = store::load(&mut tx, id, false).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(row)
}

/// Starts the run, audited `import.started`: the first batch's job; each batch enqueues the next.
pub async fn start_run<'a>(
    ctx: impl Into<ImportCtx<'a>>,
    principal: &Principal,
    id: Uuid,
    batch_rows: Option<i32>,
) -> Result<ImportRow, AppError> {
    let ctx = ctx.into();
    let batch_rows = batch_rows.unwrap_or(DEFAULT_BATCH_ROWS);
    if !(1..=50_000).contains(&batch_rows) {
        return Err(AppError::field("batch_rows", "out_of_range", "Use from 1 to 50000 rows per batch."));
    }
    let mut tx = principal.begin(ctx.db).await?;
    let row = store::load(&mut tx, id, true).await?.ok_or(AppError::NotFound)?;
    not_started(&row)?;
    if row.mapping.0.is_empty() {
        return Err(AppError::field("mapping", "empty_mapping", "Map at least one column to a field."));
    }
    let now = ctx.clock.now();
    store::mark_running(&mut tx, id, batch_rows, now).await?;
    let payload = Payload { import_id: id, dir: ctx.dir.clone(), seq: 0, at: now, round: row.retries };
    jobs::enqueue_batch(&mut tx, &payload).await?;
    let event = AuditEvent::new("import.started").target("import", id).payload(json!({ "object": row.object_type }));
    ctx.audit.record(&mut tx, event).await?;
    let row = store::load(&mut tx, id, false).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(row)
}

/// Starts reverting a finished (or failed) import, audited `import.reverted`: the work runs as
/// jobs, a batch at a time, and the import shows `reverting` with its progress until it is
/// `reverted`.
pub async fn revert<'a>(ctx: impl Into<ImportCtx<'a>>, principal: &Principal, id: Uuid) -> Result<ImportRow, AppError> {
    let ctx = ctx.into();
    let mut tx = principal.begin(ctx.db).await?;
    let row = store::load(&mut tx, id, true).await?.ok_or(AppError::NotFound)?;
    if !matches!(row.status.as_str(), "done" | "failed" | "discarded") {
        return Err(AppError::Conflict("only a finished, failed or discarded import can be reverted".into()));
    }
    let now = ctx.clock.now();
    store::mark_reverting(&mut tx, id, principal.user_id, now).await?;
    let payload = Payload { import_id: id, dir: ctx.dir.clone(), seq: 0, at: now, round: row.retries };
    jobs::enqueue_revert(&mut tx, &payload).await?;
    let event = AuditEvent::new("import.reverted").target("import", id).payload(json!({ "object": row.object_type }));
    ctx.audit.record(&mut tx, event).await?;
    let row = store::load(&mut tx, id, false).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(row)
}

/// Retries the step a failed import failed at, from its last committed checkpoint, audited
/// `import.retried`: a dry run starts over, a run resumes at the first batch not done, a revert
/// resumes where it stopped.
pub async fn retry<'a>(ctx: impl Into<ImportCtx<'a>>, principal: &Principal, id: Uuid) -> Result<ImportRow, AppError> {
    let ctx = ctx.into();
    let mut tx = principal.begin(ctx.db).await?;
    let row = store::load(&mut tx, id, true).await?.ok_or(AppError::NotFound)?;
    let step = match (row.status.as_str(), row.failed_step.as_deref()) {
        ("failed", Some(step @ ("dry_run" | "run" | "revert"))) => step,
        _ => return Err(AppError::Conflict("only a failed import can be retried".into())),
    };
    let now = ctx.clock.now();
    let status = match step {
        "dry_run" => "dry_running",
        "run" => "running",
        _ => "reverting",
    };
    let round = store::mark_retrying(&mut tx, id, status, now).await?;
    let payload = Payload { import_id: id, dir: ctx.dir.clone(), seq: 0, at: now, round };
    match step {
        "dry_run" => jobs::enqueue_dry_run(&mut tx, &payload).await?,
        "run" => jobs::enqueue_batch(&mut tx, &Payload { seq: row.batches_done, ..payload }).await?,
        _ => jobs::enqueue_revert(&mut tx, &payload).await?,
    }
    let event = AuditEvent::new("import.retried")
        .target("import", id)
        .payload(json!({ "object": row.object_type, "step": step, "retries": round }));
    ctx.audit.record(&mut tx, event).await?;
    let row = store::load(&mut tx, id, false).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(row)
}

/// Discards a failed import, audited `import.discarded`: it is closed and nothing more runs; the
/// records it already wrote stay (a revert can still remove them).
pub async fn discard<'a>(
    ctx: impl Into<ImportCtx<'a>>,
    principal: &Principal,
    id: Uuid,
) -> Result<ImportRow, AppError> {
    let ctx = ctx.into();
    let mut tx = principal.begin(ctx.db).await?;
    let row = store::load(&mut tx, id, true).await?.ok_or(AppError::NotFound)?;
    if row.status != "failed" {
        return Err(AppError::Conflict("only a failed import can be discarded".into()));
    }
    store::mark_discarded(&mut tx, id, ctx.clock.now()).await?;
    let event = AuditEvent::new("import.discarded")
        .target("import", id)
        .payload(json!({ "object": row.object_type, "step": row.failed_step }));
    ctx.audit.record(&mut tx, event).await?;
    let row = store::load(&mut tx, id, false).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(row)
}

/// The rejected rows as CSV: the file's columns, then `row`, `error` (the problems in English) and
/// `code` (their stable codes, `field:code` separated by `; `). Streamed by pages of 5,000 rows,
/// so a file of a million rejects costs no more memory than one page.
pub async fn rejects_csv<'a>(
    ctx: impl Into<ImportCtx<'a>>,
    principal: &Principal,
    id: Uuid,
) -> Result<Response, AppError> {
    rejects_file(ctx, principal, id, None).await
}

/// [`rejects_csv`] for a person (the import page's link) when `excel` is given: the byte-order
/// mark, `;` in French, and the row and its reason in their language (no code column), so the
/// file opens cleanly in Excel (see [`crate::export::Excel`]).
pub async fn rejects_file<'a>(
    ctx: impl Into<ImportCtx<'a>>,
    principal: &Principal,
    id: Uuid,
    excel: Option<crate::export::Excel>,
) -> Result<Response, AppError> {
    let ctx = ctx.into();
    let mut tx = principal.begin(ctx.db).await?;
    let row = store::load(&mut tx, id, false).await?.ok_or(AppError::NotFound)?;
    let defs = crate::custom_fields::definitions(&mut tx, row.object()?).await?;
    tx.commit().await?;
    // The reason as a person reads it, or the English one and the codes for the API.
    let t = excel.as_ref().map(|e| e.page.t);
    let reason = move |problems: &[problem::Problem]| -> Vec<String> {
        match t {
            Some(t) => {
                let label_of = |field: &str| match field.strip_prefix("custom.") {
                    Some(key) => {
                        defs.iter().find(|d| d.key == key).map(|d| d.label.clone()).unwrap_or_else(|| key.to_string())
                    }
                    None => problem::builtin_label(t, field),
                };
                vec![problem::render(t, problems, &label_of)]
            }
            None => vec![problem::english(problems), problem::codes(problems)],
        }
    };
    let reason = std::sync::Arc::new(reason);
    let mut header = row.headers.0.clone();
    let delimiter = excel.as_ref().map_or(b',', |e| e.delimiter);
    let first = match &excel {
        Some(excel) => {
            header.push(excel.page.t.get("crm.import.row").to_string());
            header.push(excel.page.t.get("crm.import.reason").to_string());
            [crate::export::BOM, &excel.line(header.iter().map(String::as_str))].concat()
        }
        None => {
            header.push("row".into());
            header.push("error".into());
            header.push("code".into());
            crate::export::csv_line(header.iter().map(String::as_str))
        }
    };
    let db = ctx.db.clone();
    let principal = principal.clone();
    let stream = futures_util::stream::unfold(Some(0i64), move |after| {
        let (db, principal, reason) = (db.clone(), principal.clone(), reason.clone());
        async move {
            let after = after?;
            let page: Result<Vec<store::StoredReject>, AppError> = async {
                let mut tx = principal.begin(&db).await?;
                let rows = store::rejects_after(&mut tx, id, after).await?;
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
                    let last = rows.last().map(|r| r.row);
                    let mut out = Vec::new();
                    for reject in rows {
                        let mut fields: Vec<String> = match reject.cells {
                            Value::Array(items) => {
                                items.into_iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect()
                            }
                            _ => Vec::new(),
                        };
                        fields.push(reject.row.to_string());
                        fields.extend(reason(&reject.problems));
                        out.extend(crate::export::csv_line_with(fields.iter().map(String::as_str), delimiter));
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
