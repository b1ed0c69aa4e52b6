//! The `imports` rows and their rejects: SQL only, in the caller's tenant transaction (a member's
//! for the steps a person takes, a job's for the batches).

use std::collections::BTreeMap;

use kernel::{AppError, OrgTx};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::ImportRow;
use super::problem::Problem;
use crate::object::ObjectType;

/// An import of the organization; `lock` holds the row until the end of the transaction.
pub async fn load(tx: &mut OrgTx, id: Uuid, lock: bool) -> Result<Option<ImportRow>, AppError> {
    // The two statements differ only by the lock; each is checked.
    let row = if lock {
        sqlx::query_as!(
            ImportRow,
            r#"select import_id, object_type, status, file_name, size_bytes, encoding, detected_encoding, invalid_utf8, delimiter,
                headers as "headers: sqlx::types::Json<Vec<String>>",
                mapping as "mapping: sqlx::types::Json<BTreeMap<String, String>>",
                dry_run as "dry_run: sqlx::types::Json<Value>", next_offset, next_row, batches_done, batch_rows,
                rows_done, created_count, updated_count, duplicate_count, error_count, warning_count, mode, last_error, last_error_code, created_by,
                revert_restored_fields, revert_deleted, reverted_by, failed_step, retries, created_at, finished_at
                 from imports where org_id = $1 and import_id = $2 for update"#,
            tx.org().0,
            id
        )
        .fetch_optional(tx.conn())
        .await?
    } else {
        sqlx::query_as!(
            ImportRow,
            r#"select import_id, object_type, status, file_name, size_bytes, encoding, detected_encoding, invalid_utf8, delimiter,
                headers as "headers: sqlx::types::Json<Vec<String>>",
                mapping as "mapping: sqlx::types::Json<BTreeMap<String, String>>",
                dry_run as "dry_run: sqlx::types::Json<Value>", next_offset, next_row, batches_done, batch_rows,
                rows_done, created_count, updated_count, duplicate_count, error_count, warning_count, mode, last_error, last_error_code, created_by,
                revert_restored_fields, revert_deleted, reverted_by, failed_step, retries, created_at, finished_at
                 from imports where org_id = $1 and import_id = $2"#,
            tx.org().0,
            id
        )
        .fetch_optional(tx.conn())
        .await?
    };
    Ok(row)
}

/// The organization's last 100 imports, newest first.
pub async fn list(tx: &mut OrgTx) -> Result<Vec<ImportRow>, AppError> {
    Ok(sqlx::query_as!(
        ImportRow,
        r#"select import_id, object_type, status, file_name, size_bytes, encoding, detected_encoding, invalid_utf8, delimiter,
                headers as "headers: sqlx::types::Json<Vec<String>>",
                mapping as "mapping: sqlx::types::Json<BTreeMap<String, String>>",
                dry_run as "dry_run: sqlx::types::Json<Value>", next_offset, next_row, batches_done, batch_rows,
                rows_done, created_count, updated_count, duplicate_count, error_count, warning_count, mode, last_error, last_error_code, created_by,
                revert_restored_fields, revert_deleted, reverted_by, failed_step, retries, created_at, finished_at
             from imports where org_id = $1 order by created_at desc limit 100"#,
        tx.org().0
    )
    .fetch_all(tx.conn())
    .await?)
}

/// A new import as the upload found it: the file's shape and the auto-matched mapping.
pub struct NewImport<'a> {
    pub import_id: Uuid,
    pub object: ObjectType,
    pub file_name: &'a str,
    pub size_bytes: i64,
    pub encoding: &'a str,
    /// Invalid UTF-8 sequences the upload's detection found.
    pub invalid_utf8: i64,
    pub delimiter: &'a str,
    pub headers: &'a [String],
    pub mapping: &'a BTreeMap<String, String>,
    /// Byte offset of the first data row, after the header.
    pub data_offset: i64,
    pub created_by: Uuid,
}

pub async fn insert(tx: &mut OrgTx, import: &NewImport<'_>, now: OffsetDateTime) -> Result<(), AppError> {
    sqlx::query!(
        "insert into imports (org_id, import_id, object_type, file_name, size_bytes, encoding, detected_encoding,
                              invalid_utf8, delimiter, headers, mapping, data_offset, next_offset, created_by,
                              created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $6, $13, $7, $8, $9, $10, $10, $11, $12, $12)",
        tx.org().0,
        import.import_id,
        import.object.as_str(),
        import.file_name,
        import.size_bytes,
        import.encoding,
        import.delimiter,
        sqlx::types::Json(import.headers) as _,
        sqlx::types::Json(import.mapping) as _,
        import.data_offset,
        import.created_by,
        now,
        import.invalid_utf8
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Reads the file with another encoding: its header row read again, the columns matched again
/// (`mapping`), and the dry run's findings discarded.
pub async fn set_encoding(
    tx: &mut OrgTx,
    id: Uuid,
    encoding: &str,
    headers: &[String],
    mapping: &BTreeMap<String, String>,
    data_offset: i64,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    sqlx::query!(
        "update imports set encoding = $3, headers = $4, mapping = $5, data_offset = $6, next_offset = $6,
                dry_run = null, status = 'uploaded', updated_at = $7
          where org_id = $1 and import_id = $2",
        tx.org().0,
        id,
        encoding,
        sqlx::types::Json(headers) as _,
        sqlx::types::Json(mapping) as _,
        data_offset,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Which of `ids` are imports of the organization (the sweeper keeps their files).
pub async fn existing_ids(tx: &mut OrgTx, ids: &[Uuid]) -> Result<Vec<Uuid>, AppError> {
    Ok(sqlx::query_scalar!("select import_id from imports where org_id = $1 and import_id = any($2)", tx.org().0, ids)
        .fetch_all(tx.conn())
        .await?)
}

/// Byte offset of the first data row of the file.
pub async fn data_offset(tx: &mut OrgTx, id: Uuid) -> Result<u64, AppError> {
    let offset: i64 =
        sqlx::query_scalar!("select data_offset from imports where org_id = $1 and import_id = $2", tx.org().0, id)
            .fetch_one(tx.conn())
            .await?;
    Ok(offset as u64)
}

/// A new mapping discards the dry run's findings.
pub async fn set_mapping(
    tx: &mut OrgTx,
    id: Uuid,
    mapping: &BTreeMap<String, String>,
    mode: &str,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    sqlx::query!(
        "update imports set mapping = $3, mode = $5, dry_run = null, status = 'uploaded', updated_at = $4
          where org_id = $1 and import_id = $2",
        tx.org().0,
        id,
        sqlx::types::Json(mapping) as _,
        now,
        mode
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn mark_dry_running(tx: &mut OrgTx, id: Uuid, now: OffsetDateTime) -> Result<(), AppError> {
    sqlx::query!(
        "update imports set status = 'dry_running', dry_run = null, updated_at = $3 where org_id = $1 and import_id = $2",
        tx.org().0,
        id,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn mark_dry_run_done(
    tx: &mut OrgTx,
    id: Uuid,
    findings: &Value,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    sqlx::query!(
        "update imports set status = 'dry_run_done', dry_run = $3, updated_at = $4 where org_id = $1 and import_id = $2",
        tx.org().0,
        id,
        findings,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Starts the run from the first data row with every counter at zero.
pub async fn mark_running(tx: &mut OrgTx, id: Uuid, batch_rows: i32, now: OffsetDateTime) -> Result<(), AppError> {
    sqlx::query!(
        "update imports set status = 'running', batch_rows = $3, next_offset = data_offset, next_row = 0,
                batches_done = 0, rows_done = 0, created_count = 0, updated_count = 0, duplicate_count = 0,
                error_count = 0, updated_at = $4
          where org_id = $1 and import_id = $2",
        tx.org().0,
        id,
        batch_rows,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn mark_reverting(tx: &mut OrgTx, id: Uuid, by: Uuid, now: OffsetDateTime) -> Result<(), AppError> {
    sqlx::query!(
        "update imports set status = 'reverting', reverted_by = $3, last_error = null, last_error_code = null, updated_at = $4
          where org_id = $1 and import_id = $2",
        tx.org().0,
        id,
        by,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The revert's first step is done: how many fields it restored.
pub async fn set_restored_fields(tx: &mut OrgTx, id: Uuid, restored: u64) -> Result<(), AppError> {
    sqlx::query!(
        "update imports set revert_restored_fields = $3 where org_id = $1 and import_id = $2",
        tx.org().0,
        id,
        i64::try_from(restored).unwrap_or(i64::MAX)
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Counts the records a revert step deleted.
pub async fn add_reverted(tx: &mut OrgTx, id: Uuid, deleted: u64, now: OffsetDateTime) -> Result<(), AppError> {
    sqlx::query!(
        "update imports set revert_deleted = revert_deleted + $3, updated_at = $4 where org_id = $1 and import_id = $2",
        tx.org().0,
        id,
        i64::try_from(deleted).unwrap_or(i64::MAX),
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A job step runs inside this savepoint, so a failed last attempt can be undone alone and the
/// failure recorded in the same transaction.
pub async fn begin_step(tx: &mut OrgTx) -> Result<(), AppError> {
    sqlx::query!("savepoint import_step").execute(tx.conn()).await?;
    Ok(())
}

/// Undoes the step begun with [`begin_step`] and marks the import failed at `step` with `code`
/// and `message`.
pub async fn fail_step(tx: &mut OrgTx, id: Uuid, step: &str, code: &str, message: &str) -> Result<(), AppError> {
    sqlx::query!("rollback to savepoint import_step").execute(tx.conn()).await?;
    fail(tx, id, step, code, message).await?;
    Ok(())
}

/// Marks the import failed at `step` (`dry_run`, `run` or `revert`) with a stable `code` (what
/// pages translate, see [`super::ImportRow::failure`]) and an English `message` (the API's), if it
/// is still in that step's status: `true` if it was.
pub async fn fail(tx: &mut OrgTx, id: Uuid, step: &str, code: &str, message: &str) -> Result<bool, AppError> {
    let done = sqlx::query!(
        "update imports set status = 'failed', failed_step = $3, last_error = $4, last_error_code = $5
          where org_id = $1 and import_id = $2
            and status = case $3 when 'dry_run' then 'dry_running' when 'run' then 'running' else 'reverting' end",
        tx.org().0,
        id,
        step,
        message,
        code
    )
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Puts a failed import back in its failed step's status for a retry, counting the retry.
pub async fn mark_retrying(tx: &mut OrgTx, id: Uuid, status: &str, now: OffsetDateTime) -> Result<i32, AppError> {
    Ok(sqlx::query_scalar!(
        "update imports set status = $3, failed_step = null, last_error = null, last_error_code = null,
                retries = retries + 1, updated_at = $4
          where org_id = $1 and import_id = $2 returning retries",
        tx.org().0,
        id,
        status,
        now
    )
    .fetch_one(tx.conn())
    .await?)
}

/// Closes a failed import: nothing more runs.
pub async fn mark_discarded(tx: &mut OrgTx, id: Uuid, now: OffsetDateTime) -> Result<(), AppError> {
    sqlx::query!(
        "update imports set status = 'discarded', finished_at = coalesce(finished_at, $3), updated_at = $3
          where org_id = $1 and import_id = $2",
        tx.org().0,
        id,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A rejected row (or a row kept with a warning) as the rejects file reads it.
pub struct StoredReject {
    pub row: i64,
    pub cells: Value,
    /// Its problems; read back from the English reason for a row stored before they had codes.
    pub problems: Vec<Problem>,
}

/// Up to 5,000 rejected rows after row `after`.
pub async fn rejects_after(tx: &mut OrgTx, id: Uuid, after: i64) -> Result<Vec<StoredReject>, AppError> {
    Ok(sqlx::query!(
        "select row_number, reason, cells, problems from import_rejects
          where org_id = $1 and import_id = $2 and row_number > $3 order by row_number limit 5000",
        tx.org().0,
        id,
        after
    )
    .fetch_all(tx.conn())
    .await?
    .into_iter()
    .map(|row| StoredReject {
        row: row.row_number,
        cells: row.cells,
        problems: row
            .problems
            .and_then(|p| serde_json::from_value(p).ok())
            .unwrap_or_else(|| super::problem::from_legacy(&row.reason)),
    })
    .collect())
}
