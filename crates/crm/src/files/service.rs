//! The file writes and downloads, each with its audit event, and the file store they use: what
//! the API and the record page both call.

use std::path::Path;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use kernel::AppError;
use kernel::audit::AuditEvent;
use kernel::authz::Principal;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{ObjectStoreExt, PutPayload};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::store::{self, NewFile};
use super::{FileCtx, FileRow, content_disposition, sniff, storage_key};
use crate::object::ObjectType;
use crate::records;

async fn blob_store(dir: &Path) -> Result<LocalFileSystem, AppError> {
    tokio::fs::create_dir_all(dir).await.map_err(anyhow::Error::from)?;
    let store = LocalFileSystem::new_with_prefix(dir).map_err(anyhow::Error::from)?;
    Ok(store.with_fsync(true))
}

/// Removes blobs, best effort: a failure is logged (the row is already gone).
pub async fn remove_blobs<'a>(ctx: impl Into<FileCtx<'a>>, keys: Vec<String>) {
    if keys.is_empty() {
        return;
    }
    let ctx = ctx.into();
    let store = match blob_store(&ctx.dir).await {
        Ok(store) => store,
        Err(error) => {
            tracing::warn!(error = %error, count = keys.len(), "file blobs left behind: no store");
            return;
        }
    };
    for key in keys {
        match store.delete(&StorePath::from(key.as_str())).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(error) => tracing::warn!(error = %error, key, "a file blob could not be removed"),
        }
    }
}

/// Attaches `bytes` (already within [`MAX_BYTES`](super::MAX_BYTES)) to a record the member can
/// see; audited `file.uploaded`.
pub async fn attach<'a>(
    ctx: impl Into<FileCtx<'a>>,
    principal: &Principal,
    object: ObjectType,
    record: Uuid,
    name: &str,
    bytes: Bytes,
) -> Result<FileRow, AppError> {
    let ctx = ctx.into();
    let content_type = sniff(&bytes, name)?;
    let sha256 = Sha256::digest(&bytes).to_vec();
    let size = bytes.len() as i64;
    let file_id = Uuid::now_v7();
    let key = storage_key(principal.org.0, file_id);
    let store = blob_store(&ctx.dir).await?;
    let mut tx = principal.begin(ctx.db).await?;
    records::get(&mut tx, object, record).await?;
    store.put(&StorePath::from(key.as_str()), PutPayload::from(bytes)).await.map_err(anyhow::Error::from)?;
    let result: Result<FileRow, AppError> = async {
        let file = NewFile {
            file_id,
            object,
            record,
            name,
            content_type,
            size_bytes: size,
            sha256: &sha256,
            storage_key: &key,
            uploaded_by: principal.user_id,
        };
        let row = store::insert(&mut tx, &file, ctx.clock.now()).await?;
        let event = AuditEvent::new("file.uploaded").target("file", file_id).payload(
            json!({ "object": object.as_str(), "record_id": record, "content_type": content_type, "size_bytes": size }),
        );
        ctx.audit.record(&mut tx, event).await?;
        tx.commit().await?;
        Ok(row)
    }
    .await;
    if result.is_err() {
        remove_blobs(ctx, vec![key]).await;
    }
    result
}

/// Opens a file for download: checks visibility, audits the download (`file.downloaded`), and
/// answers with the stream of its bytes as an attachment.
pub async fn open<'a>(ctx: impl Into<FileCtx<'a>>, principal: &Principal, id: Uuid) -> Result<Response, AppError> {
    let ctx = ctx.into();
    let store = blob_store(&ctx.dir).await?;
    let mut tx = principal.begin(ctx.db).await?;
    let row = store::load(&mut tx, id, false).await?;
    let blob = match store.get(&StorePath::from(row.storage_key.as_str())).await {
        Ok(blob) => blob,
        Err(object_store::Error::NotFound { .. }) => {
            tracing::warn!(file_id = %row.file_id, "the blob of a file is missing");
            return Err(AppError::NotFound);
        }
        Err(error) => return Err(anyhow::Error::from(error).into()),
    };
    let (object, record) = row.parent()?;
    let event = AuditEvent::new("file.downloaded")
        .target("file", row.file_id)
        .payload(json!({ "object": object.as_str(), "record_id": record }));
    ctx.audit.record(&mut tx, event).await?;
    tx.commit().await?;
    let content_type =
        HeaderValue::from_str(&row.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let disposition =
        HeaderValue::from_str(&content_disposition(&row.name)).unwrap_or(HeaderValue::from_static("attachment"));
    let mut response = Body::from_stream(blob.into_stream()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(row.size_bytes.max(0) as u64));
    headers.insert(header::CONTENT_DISPOSITION, disposition);
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(response)
}

/// Deletes a file of a record the member can see, audited `file.deleted`, then its blob; returns
/// the record it was on.
pub async fn delete<'a>(
    ctx: impl Into<FileCtx<'a>>,
    principal: &Principal,
    id: Uuid,
) -> Result<(ObjectType, Uuid), AppError> {
    let ctx = ctx.into();
    let mut tx = principal.begin(ctx.db).await?;
    let row = store::load(&mut tx, id, true).await?;
    let (object, record) = row.parent()?;
    store::delete(&mut tx, id).await?;
    let event = AuditEvent::new("file.deleted")
        .target("file", id)
        .payload(json!({ "object": object.as_str(), "record_id": record }));
    ctx.audit.record(&mut tx, event).await?;
    tx.commit().await?;
    remove_blobs(ctx, vec![row.storage_key]).await;
    Ok((object, record))
}
