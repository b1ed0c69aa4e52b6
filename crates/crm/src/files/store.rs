//! The `files` rows: SQL only, in the member's transaction (row-level security applies the
//! organization and the record's visibility).

use kernel::{AppError, OrgTx};
use time::OffsetDateTime;
use uuid::Uuid;

use super::FileRow;
use crate::object::ObjectType;
use crate::records;

const COLUMNS: &str = "file_id, lead_id, contact_id, company_id, deal_id, name, content_type, size_bytes, sha256, \
                       storage_key, uploaded_by, created_at";

/// The storage keys of the files of these records, read before the records are deleted (the
/// rows go by cascade; the caller removes the blobs after commit with
/// [`remove_blobs`](super::remove_blobs)).
pub async fn blobs_of(tx: &mut OrgTx, object: ObjectType, ids: &[Uuid]) -> Result<Vec<String>, AppError> {
    let sql = format!("select storage_key from files where org_id = $1 and {} = any($2)", object.id_column());
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(tx.org()).bind(ids).fetch_all(tx.conn()).await?)
}

/// The files of a record the member can see, newest first.
pub async fn list(tx: &mut OrgTx, object: ObjectType, id: Uuid) -> Result<Vec<FileRow>, AppError> {
    records::get(tx, object, id).await?;
    let sql = format!(
        "select {COLUMNS} from files where org_id = $1 and {} = $2 order by created_at desc, file_id desc limit 500",
        object.id_column()
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tx.org()).bind(id).fetch_all(tx.conn()).await?)
}

/// A file whose record the member can see (404 otherwise); `lock` holds the row until the end of
/// the transaction.
pub async fn load(tx: &mut OrgTx, id: Uuid, lock: bool) -> Result<FileRow, AppError> {
    // The two statements differ only by the lock; each is checked.
    let row = if lock {
        sqlx::query_as!(
            FileRow,
            "select file_id, lead_id, contact_id, company_id, deal_id, name, content_type, size_bytes, sha256,
                    storage_key, uploaded_by, created_at
               from files where org_id = $1 and file_id = $2 for update",
            tx.org().0,
            id
        )
        .fetch_optional(tx.conn())
        .await?
    } else {
        sqlx::query_as!(
            FileRow,
            "select file_id, lead_id, contact_id, company_id, deal_id, name, content_type, size_bytes, sha256,
                    storage_key, uploaded_by, created_at
               from files where org_id = $1 and file_id = $2",
            tx.org().0,
            id
        )
        .fetch_optional(tx.conn())
        .await?
    };
    let row: FileRow = row.ok_or(AppError::NotFound)?;
    let (object, parent) = row.parent()?;
    records::get(tx, object, parent).await?;
    Ok(row)
}

/// A file's row as [`insert`] writes it (its bytes are already in the file store).
pub struct NewFile<'a> {
    pub file_id: Uuid,
    pub object: ObjectType,
    pub record: Uuid,
    pub name: &'a str,
    pub content_type: &'a str,
    pub size_bytes: i64,
    pub sha256: &'a [u8],
    pub storage_key: &'a str,
    pub uploaded_by: Uuid,
}

pub async fn insert(tx: &mut OrgTx, file: &NewFile<'_>, now: OffsetDateTime) -> Result<FileRow, AppError> {
    let sql = format!(
        "insert into files (org_id, file_id, {}, name, content_type, size_bytes, sha256, storage_key, uploaded_by, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning {COLUMNS}",
        file.object.id_column()
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tx.org())
        .bind(file.file_id)
        .bind(file.record)
        .bind(file.name)
        .bind(file.content_type)
        .bind(file.size_bytes)
        .bind(file.sha256)
        .bind(file.storage_key)
        .bind(file.uploaded_by)
        .bind(now)
        .fetch_one(tx.conn())
        .await?)
}

pub async fn delete(tx: &mut OrgTx, id: Uuid) -> Result<(), AppError> {
    sqlx::query!("delete from files where org_id = $1 and file_id = $2", tx.org().0, id).execute(tx.conn()).await?;
    Ok(())
}
