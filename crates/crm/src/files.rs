//! File attachments on records (issue #4): a quote in PDF, a signed contract, a business card
//! photo, a spreadsheet... on a lead, contact, company or deal.
//!
//! * **Storage.** The bytes go to an object store (`object_store`'s `LocalFileSystem` rooted at
//!   `<data dir>/files`, one object per file at `<org_id>/<file_id>`); the `files` row keeps the
//!   name, the sniffed content type, the size and the SHA-256. The blob is written before the row
//!   is inserted and removed if the transaction fails, so a committed row always has its blob.
//! * **What is accepted.** At most [`MAX_BYTES`] (25 MiB; a larger upload is refused with 413 and
//!   nothing is written). The type is sniffed from the bytes (`infer`), never taken from the
//!   client, and must be on the allow-list: PDF, PNG, JPEG, GIF, WebP, Office Open XML and
//!   OpenDocument files, ZIP, and plain text or CSV (valid UTF-8, no NUL byte, not markup).
//!   Anything else, an executable or an HTML page under a `.pdf` name included, is refused (422).
//! * **Who sees a file.** A file follows the visibility of its record: every read opens the
//!   member's transaction (row-level security applies the organization and the visibility rule)
//!   and reads the parent record first; a file of a record the member cannot see is a 404.
//! * **Download.** Always as an attachment, with the stored type, `X-Content-Type-Options:
//!   nosniff` and `Content-Security-Policy: sandbox`: even a file a browser could render runs
//!   nothing in the application's origin.
//! * **Deletion.** Deleting a file removes its row, then its blob (best effort, after commit; a
//!   failure is logged). Deleting a record through the API, its page or a bulk delete removes the
//!   blobs of its files the same way ([`blobs_of`], [`remove_blobs`]). Uploads, downloads and
//!   deletions are audited (`file.uploaded`, `file.downloaded`, `file.deleted`).

use std::path::PathBuf;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use identity::signed_in::SignedIn;
use kernel::audit::AuditEvent;
use kernel::authz::Principal;
use kernel::error::Problem;
use kernel::web::{AppState, PageError};
use kernel::{AppError, FieldError, OrgTx};
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{ObjectStoreExt, PutPayload};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::http::{Object, parse_id};
use crate::object::ObjectType;
use crate::records;

/// The largest file accepted: 25 MiB.
pub const MAX_BYTES: usize = 25 * 1024 * 1024;

/// Content types accepted as sniffed by `infer` (text is recognized separately).
const ALLOWED: &[&str] = &[
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "application/zip",
];

pub const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
pub const TEXT_CSV: &str = "text/csv; charset=utf-8";

// ---------------------------------------------------------------- checks

fn refused() -> AppError {
    AppError::field(
        "file",
        "file_type_refused",
        "This kind of file is not accepted: PDF, images (PNG, JPEG, GIF, WebP), office documents, ZIP, text or CSV.",
    )
}

/// Whether text starts like markup (`<html`, `<svg`, `<?xml`, `<!--`...): stored as plain text it
/// would be harmless, but nobody attaches a web page by mistake.
fn looks_like_markup(text: &str) -> bool {
    let mut chars = text.trim_start_matches('\u{feff}').trim_start().chars();
    chars.next() == Some('<') && chars.next().is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '!' | '?' | '/'))
}

/// The content type of `bytes`, sniffed from the bytes alone; `name` only tells CSV from plain text.
pub fn sniff(bytes: &[u8], name: &str) -> Result<&'static str, AppError> {
    if bytes.is_empty() {
        return Err(AppError::field("file", "file_empty", "The file is empty."));
    }
    if let Some(kind) = infer::get(bytes) {
        let mime = kind.mime_type();
        return ALLOWED.iter().find(|allowed| **allowed == mime).copied().ok_or_else(refused);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| refused())?;
    if text.contains('\0') || looks_like_markup(text) {
        return Err(refused());
    }
    Ok(if name.to_lowercase().ends_with(".csv") { TEXT_CSV } else { TEXT_PLAIN })
}

/// The file's name as given, without any directory part or control character, at most 255
/// characters.
pub fn clean_name(name: Option<&str>) -> String {
    let name = name.unwrap_or_default();
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(255).collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() { "file".into() } else { cleaned.to_string() }
}

/// `Content-Disposition` for a download: always an attachment, with an ASCII fallback name and
/// the exact name percent-encoded (RFC 6266, RFC 8187).
pub fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '%' | ';') || c == ' ' { c } else { '_' })
        .collect();
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

// ---------------------------------------------------------------- storage

/// Where blobs are kept: `<data dir>/files`.
pub fn files_dir(state: &AppState) -> PathBuf {
    state.config.data_dir.join("files")
}

async fn store(state: &AppState) -> Result<LocalFileSystem, AppError> {
    let root = files_dir(state);
    tokio::fs::create_dir_all(&root).await.map_err(anyhow::Error::from)?;
    let store = LocalFileSystem::new_with_prefix(&root).map_err(anyhow::Error::from)?;
    Ok(store.with_fsync(true))
}

fn storage_key(org: Uuid, file: Uuid) -> String {
    format!("{org}/{file}")
}

/// Removes blobs, best effort: a failure is logged (the row is already gone).
pub async fn remove_blobs(state: &AppState, keys: Vec<String>) {
    if keys.is_empty() {
        return;
    }
    let store = match store(state).await {
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

/// The storage keys of the files of these records, read before the records are deleted (the
/// rows go by cascade; the caller removes the blobs after commit with [`remove_blobs`]).
pub async fn blobs_of(tx: &mut OrgTx, object: ObjectType, ids: &[Uuid]) -> Result<Vec<String>, AppError> {
    let sql = format!("select storage_key from files where org_id = $1 and {} = any($2)", object.id_column());
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(tx.org()).bind(ids).fetch_all(tx.conn()).await?)
}

// ---------------------------------------------------------------- rows

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FileRow {
    pub file_id: Uuid,
    pub lead_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
    pub name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: Vec<u8>,
    pub storage_key: String,
    pub uploaded_by: Option<Uuid>,
    pub created_at: OffsetDateTime,
}

const COLUMNS: &str = "file_id, lead_id, contact_id, company_id, deal_id, name, content_type, size_bytes, sha256, \
                       storage_key, uploaded_by, created_at";

impl FileRow {
    /// The record the file is attached to.
    pub fn parent(&self) -> Result<(ObjectType, Uuid), AppError> {
        [
            (ObjectType::Lead, self.lead_id),
            (ObjectType::Contact, self.contact_id),
            (ObjectType::Company, self.company_id),
            (ObjectType::Deal, self.deal_id),
        ]
        .into_iter()
        .find_map(|(object, id)| id.map(|id| (object, id)))
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("file {} has no record", self.file_id)))
    }
}

/// A file as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct FileView {
    pub id: Uuid,
    /// `lead`, `contact`, `company` or `deal`.
    pub object: &'static str,
    pub record_id: Uuid,
    pub name: String,
    /// Sniffed from the bytes on upload.
    pub content_type: String,
    pub size_bytes: i64,
    /// Hex SHA-256 of the stored bytes.
    pub sha256: String,
    pub uploaded_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub download_url: String,
}

pub fn view(row: &FileRow) -> Result<FileView, AppError> {
    let (object, record_id) = row.parent()?;
    Ok(FileView {
        id: row.file_id,
        object: object.as_str(),
        record_id,
        name: row.name.clone(),
        content_type: row.content_type.clone(),
        size_bytes: row.size_bytes,
        sha256: row.sha256.iter().map(|b| format!("{b:02x}")).collect(),
        uploaded_by: row.uploaded_by,
        created_at: row.created_at,
        download_url: format!("/api/v1/files/{}", row.file_id),
    })
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
async fn load(tx: &mut OrgTx, id: Uuid, lock: bool) -> Result<FileRow, AppError> {
    let sql = format!(
        "select {COLUMNS} from files where org_id = $1 and file_id = $2{}",
        if lock { " for update" } else { "" }
    );
    let row: FileRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tx.org())
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(AppError::NotFound)?;
    let (object, parent) = row.parent()?;
    records::get(tx, object, parent).await?;
    Ok(row)
}

// ---------------------------------------------------------------- operations

/// Attaches `bytes` (already within [`MAX_BYTES`]) to a record the member can see.
pub async fn attach(
    state: &AppState,
    principal: &Principal,
    object: ObjectType,
    record: Uuid,
    name: &str,
    bytes: Bytes,
) -> Result<FileRow, AppError> {
    let content_type = sniff(&bytes, name)?;
    let sha256 = Sha256::digest(&bytes).to_vec();
    let size = bytes.len() as i64;
    let file_id = Uuid::now_v7();
    let key = storage_key(principal.org.0, file_id);
    let store = store(state).await?;
    let mut tx = principal.begin(&state.db).await?;
    records::get(&mut tx, object, record).await?;
    store.put(&StorePath::from(key.as_str()), PutPayload::from(bytes)).await.map_err(anyhow::Error::from)?;
    let result: Result<FileRow, AppError> = async {
        let sql = format!(
            "insert into files (org_id, file_id, {}, name, content_type, size_bytes, sha256, storage_key, uploaded_by, created_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning {COLUMNS}",
            object.id_column()
        );
        let row: FileRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tx.org())
            .bind(file_id)
            .bind(record)
            .bind(name)
            .bind(content_type)
            .bind(size)
            .bind(&sha256)
            .bind(&key)
            .bind(principal.user_id)
            .bind(state.clock.now())
            .fetch_one(tx.conn())
            .await?;
        let event = AuditEvent::new("file.uploaded").target("file", file_id).payload(
            json!({ "object": object.as_str(), "record_id": record, "content_type": content_type, "size_bytes": size }),
        );
        state.audit.record(&mut tx, event).await?;
        tx.commit().await?;
        Ok(row)
    }
    .await;
    if result.is_err() {
        remove_blobs(state, vec![key]).await;
    }
    result
}

/// Opens a file for download: checks visibility, audits the download, and returns the row with
/// the stream of its bytes.
pub async fn open(state: &AppState, principal: &Principal, id: Uuid) -> Result<Response, AppError> {
    let store = store(state).await?;
    let mut tx = principal.begin(&state.db).await?;
    let row = load(&mut tx, id, false).await?;
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
    state.audit.record(&mut tx, event).await?;
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

/// Deletes a file of a record the member can see; returns the record it was on.
pub async fn delete(state: &AppState, principal: &Principal, id: Uuid) -> Result<(ObjectType, Uuid), AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let row = load(&mut tx, id, true).await?;
    let (object, record) = row.parent()?;
    sqlx::query("delete from files where org_id = $1 and file_id = $2")
        .bind(tx.org())
        .bind(id)
        .execute(tx.conn())
        .await?;
    let event = AuditEvent::new("file.deleted")
        .target("file", id)
        .payload(json!({ "object": object.as_str(), "record_id": record }));
    state.audit.record(&mut tx, event).await?;
    tx.commit().await?;
    remove_blobs(state, vec![row.storage_key]).await;
    Ok((object, record))
}

// ---------------------------------------------------------------- uploads

/// Why an upload was refused before it reached [`attach`].
#[derive(Debug)]
pub enum UploadError {
    /// Larger than [`MAX_BYTES`]: 413, nothing written.
    TooLarge,
    Other(AppError),
}

impl From<AppError> for UploadError {
    fn from(error: AppError) -> Self {
        Self::Other(error)
    }
}

fn too_large_error() -> FieldError {
    FieldError::new("file", "too_large", "The file is larger than 25 MiB.")
}

impl IntoResponse for UploadError {
    fn into_response(self) -> Response {
        match self {
            Self::Other(error) => error.into_response(),
            Self::TooLarge => {
                let status = StatusCode::PAYLOAD_TOO_LARGE;
                let problem = Problem {
                    kind: "/docs/problems#payload-too-large".into(),
                    title: status.canonical_reason().unwrap_or("Payload Too Large").into(),
                    status: status.as_u16(),
                    detail: Some("The file is larger than 25 MiB.".into()),
                    errors: vec![too_large_error()],
                };
                let body = serde_json::to_vec(&problem).unwrap_or_default();
                (status, [(header::CONTENT_TYPE, "application/problem+json")], body).into_response()
            }
        }
    }
}

/// Refuses at once a request whose declared length cannot hold a file within the limit (with
/// room for the multipart framing and a form field or two).
fn check_declared_length(headers: &HeaderMap) -> Result<(), UploadError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    if declared > (MAX_BYTES + 64 * 1024) as u64 { Err(UploadError::TooLarge) } else { Ok(()) }
}

fn multipart(headers: &HeaderMap, body: Body) -> Result<multer::Multipart<'static>, UploadError> {
    check_declared_length(headers)?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let boundary = multer::parse_boundary(content_type).map_err(|_| AppError::UnsupportedMediaType)?;
    // The whole stream and every field are bounded while they are read: a chunked upload has no
    // Content-Length to check first, and the CSRF field is read before its token is verified.
    let limits = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream((MAX_BYTES + 64 * 1024) as u64)
            .per_field((MAX_BYTES + 1) as u64)
            .for_field("csrf", 1024),
    );
    Ok(multer::Multipart::with_constraints(body.into_data_stream(), boundary, limits))
}

fn malformed() -> UploadError {
    UploadError::Other(AppError::BadRequest("malformed multipart upload".into()))
}

/// Reads the `file` field whole, refusing it as soon as it passes [`MAX_BYTES`].
async fn read_file(mut field: multer::Field<'static>) -> Result<(String, Bytes), UploadError> {
    let name = clean_name(field.file_name());
    let mut buffer: Vec<u8> = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|_| malformed())? {
        if buffer.len() + chunk.len() > MAX_BYTES {
            return Err(UploadError::TooLarge);
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok((name, Bytes::from(buffer)))
}

fn required() -> AppError {
    AppError::field("file", "required", "Choose a file.")
}

// ---------------------------------------------------------------- API

/// `POST /api/v1/{type}/{id}/files`: multipart with the field `file`.
pub async fn api_upload<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<FileView>), UploadError> {
    let id = parse_id(&id)?;
    let mut form = multipart(&headers, body)?;
    loop {
        let field = form.next_field().await.map_err(|_| malformed())?;
        let Some(field) = field else { return Err(required().into()) };
        if field.name() == Some("file") {
            let (name, bytes) = read_file(field).await?;
            let row = attach(&state, &principal, O::TYPE, id, &name, bytes).await?;
            return Ok((StatusCode::CREATED, Json(view(&row)?)));
        }
    }
}

/// `GET /api/v1/{type}/{id}/files`.
pub async fn api_list<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Vec<FileView>>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let rows = list(&mut tx, O::TYPE, id).await?;
    tx.commit().await?;
    Ok(Json(rows.iter().map(view).collect::<Result<_, _>>()?))
}

/// `GET /api/v1/files/{id}`: the bytes.
pub async fn api_download(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    open(&state, &principal, parse_id(&id)?).await
}

/// `DELETE /api/v1/files/{id}`.
pub async fn api_delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    delete(&state, &principal, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- pages

/// `POST /crm/{type}/{id}/files`: the record page's form (`csrf` before `file`); back to the
/// record page with a notice.
pub async fn page_upload<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, PageError> {
    let object = O::TYPE;
    let page = signed_in.page(&state, &format!("/crm/{}/{id}", object.plural()));
    let fail = |e: AppError| PageError::new(e, &page);
    let id = parse_id(&id).map_err(fail)?;
    let back =
        |notice: &str| Redirect::to(&format!("/crm/{}/{id}?notice={notice}#files", object.plural())).into_response();
    let refusal = |error: UploadError| match error {
        UploadError::TooLarge => Ok(back("file_too_large")),
        UploadError::Other(AppError::Validation(errors)) => {
            let code = errors.first().map(|e| e.code).unwrap_or("required");
            Ok(back(if code == "required" { "file_required" } else { "file_refused" }))
        }
        UploadError::Other(other) => Err(fail(other)),
    };
    let mut form = match multipart(&headers, body) {
        Ok(form) => form,
        Err(error) => return refusal(error),
    };
    let mut csrf_ok = false;
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(_) => return refusal(malformed()),
        };
        match field.name().unwrap_or_default() {
            "csrf" => {
                let token = field.text().await.unwrap_or_default();
                signed_in.check_csrf(&state, &token)?;
                csrf_ok = true;
            }
            "file" if csrf_ok => {
                let (name, bytes) = match read_file(field).await {
                    Ok(file) => file,
                    Err(error) => return refusal(error),
                };
                return match attach(&state, &principal, object, id, &name, bytes).await {
                    Ok(_) => Ok(back("file_uploaded")),
                    Err(error) => refusal(error.into()),
                };
            }
            _ => {}
        }
    }
    if !csrf_ok {
        signed_in.check_csrf(&state, "")?;
    }
    refusal(required().into())
}

/// `GET /crm/files/{id}`: the bytes, for a signed-in member.
pub async fn page_download(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let page = signed_in.page(&state, "/crm");
    let fail = |e: AppError| PageError::new(e, &page);
    let id = parse_id(&id).map_err(fail)?;
    open(&state, &principal, id).await.map_err(fail)
}

/// `POST /crm/files/{id}/delete`, then back to the record page.
pub async fn page_delete(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let page = signed_in.page(&state, "/crm");
    let csrf = url::form_urlencoded::parse(&body).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned());
    signed_in.check_csrf(&state, csrf.as_deref().unwrap_or_default())?;
    let fail = |e: AppError| PageError::new(e, &page);
    let id = parse_id(&id).map_err(fail)?;
    let (object, record) = delete(&state, &principal, id).await.map_err(fail)?;
    Ok(Redirect::to(&format!("/crm/{}/{record}?notice=file_deleted#files", object.plural())).into_response())
}

// ---------------------------------------------------------------- record page

/// A file on the record page.
pub struct FileItem {
    pub id: String,
    pub name: String,
    pub size: String,
    pub at: String,
    pub uploader: String,
}

/// A size for people: `512 B`, `12.5 KB`, `3.2 MB` (`Ko`, `Mo` and a decimal comma in French).
pub fn human_size(t: &kernel::i18n::T, bytes: i64) -> String {
    let (value, key) = match bytes {
        b if b < 1024 => return t.fmt("crm.files.size_b", &[("n", &b.to_string())]),
        b if b < 1024 * 1024 => (b as f64 / 1024.0, "crm.files.size_kb"),
        b => (b as f64 / (1024.0 * 1024.0), "crm.files.size_mb"),
    };
    let number = format!("{value:.1}");
    let number = if t.lang() == "fr" { number.replace('.', ",") } else { number };
    t.fmt(key, &[("n", &number)])
}

/// The files of a record for its page (the record was read, so it is visible).
pub async fn items(
    tx: &mut OrgTx,
    t: &kernel::i18n::T,
    object: ObjectType,
    id: Uuid,
    members: &[(Uuid, String)],
) -> Result<Vec<FileItem>, AppError> {
    let rows = list(tx, object, id).await?;
    Ok(rows
        .into_iter()
        .map(|row| FileItem {
            id: row.file_id.to_string(),
            size: human_size(t, row.size_bytes),
            at: row
                .created_at
                .format(&time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]"))
                .unwrap_or_default(),
            uploader: row
                .uploaded_by
                .and_then(|u| members.iter().find(|(m, _)| *m == u).map(|(_, n)| n.clone()))
                .unwrap_or_default(),
            name: row.name,
        })
        .collect())
}

// ---------------------------------------------------------------- routes and documentation

/// The OpenAPI paths of the file endpoints, merged into the CRM's document.
pub fn openapi_paths() -> Map<String, Value> {
    let id = json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } });
    let file = json!({ "type": "object", "properties": {
        "id": { "type": "string", "format": "uuid" },
        "object": { "type": "string", "enum": ["lead", "contact", "company", "deal"] },
        "record_id": { "type": "string", "format": "uuid" },
        "name": { "type": "string", "maxLength": 255 },
        "content_type": { "type": "string", "description": "Sniffed from the bytes on upload, never taken from the client" },
        "size_bytes": { "type": "integer" },
        "sha256": { "type": "string", "description": "Hex SHA-256 of the stored bytes" },
        "uploaded_by": { "type": ["string", "null"], "format": "uuid" },
        "created_at": { "type": "string", "format": "date-time" },
        "download_url": { "type": "string" } } });
    let mut paths = Map::new();
    for plural in ["leads", "contacts", "companies", "deals"] {
        paths.insert(format!("/api/v1/{plural}/{{id}}/files"), json!({
            "post": crate::openapi::operation(plural, "Attach a file (multipart/form-data, field `file`; at most 25 MiB; PDF, PNG, JPEG, GIF, WebP, Office Open XML, OpenDocument, ZIP, plain text or CSV, recognized from the bytes)", json!({
                "parameters": [id.clone()],
                "requestBody": { "required": true, "content": { "multipart/form-data": { "schema": { "type": "object",
                    "properties": { "file": { "type": "string", "format": "binary" } }, "required": ["file"] } } } },
                "responses": {
                    "201": { "description": "Stored (audited)", "content": { "application/json": { "schema": file.clone() } } },
                    "404": crate::openapi::problem("No such record, or not visible to the caller"),
                    "413": crate::openapi::problem("The file is larger than 25 MiB (error on `file`); nothing was stored"),
                    "415": crate::openapi::problem("Not a multipart/form-data request"),
                    "422": crate::openapi::problem("No file, an empty file, or a kind of file that is not accepted (error on `file`)") } })),
            "get": crate::openapi::operation(plural, "The files attached to the record, newest first", json!({
                "parameters": [id.clone()],
                "responses": {
                    "200": { "description": "Files", "content": { "application/json": { "schema": { "type": "array", "items": file.clone() } } } },
                    "404": crate::openapi::problem("No such record, or not visible to the caller") } })),
        }));
    }
    paths.insert("/api/v1/files/{id}".into(), json!({
        "get": crate::openapi::operation("files", "Download a file: always an attachment, with its sniffed type, nosniff and a sandbox CSP (audited)", json!({
            "parameters": [id.clone()],
            "responses": {
                "200": { "description": "The bytes", "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } },
                "404": crate::openapi::problem("No such file, or its record is not visible to the caller") } })),
        "delete": crate::openapi::operation("files", "Delete a file and its stored bytes (audited)", json!({
            "parameters": [id],
            "responses": { "204": { "description": "Deleted" }, "404": crate::openapi::problem("No such file, or its record is not visible to the caller") } })),
    }));
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_uses_the_bytes_and_the_allow_list() {
        assert_eq!(sniff(b"%PDF-1.7\n...", "x.pdf").ok(), Some("application/pdf"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "photo.pdf").ok(), Some("image/png"));
        assert_eq!(sniff("nom;ville\nÉlodie;Paris\n".as_bytes(), "export.CSV").ok(), Some(TEXT_CSV));
        assert_eq!(sniff(b"hello", "notes").ok(), Some(TEXT_PLAIN));
        for (bytes, name) in [
            (&b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff"[..], "invoice.pdf"),
            (b"\x7fELF\x02\x01\x01\0", "a.txt"),
            (b"<!DOCTYPE html><script>alert(1)</script>", "a.pdf"),
            (b"  <svg onload=alert(1)>", "a.txt"),
            (b"\xef\xbb\xbf<html>", "a.txt"),
            (b"text with a \0 NUL", "a.txt"),
            (b"\xff\xfe\x00\x00 not utf-8 \xc3", "a.txt"),
        ] {
            assert!(sniff(bytes, name).is_err(), "{name}: {bytes:?} was accepted");
        }
        assert!(sniff(b"", "empty.txt").is_err());
        assert!(!looks_like_markup("<3 the product"));
    }

    #[test]
    fn names_are_cleaned_and_encoded_for_download() {
        assert_eq!(clean_name(Some("C:\\Users\\me\\Devis n°1.pdf")), "Devis n°1.pdf");
        assert_eq!(clean_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(clean_name(Some("a\r\nb")), "ab");
        assert_eq!(clean_name(None), "file");
        assert_eq!(clean_name(Some(&"é".repeat(300))).chars().count(), 255);
        assert_eq!(
            content_disposition("Devis \"n°1\";.pdf"),
            "attachment; filename=\"Devis _n_1__.pdf\"; filename*=UTF-8''Devis%20%22n%C2%B01%22%3B.pdf"
        );
    }

    #[test]
    fn sizes_read_well_in_both_languages() {
        let en = kernel::i18n::T(kernel::i18n::Lang::En);
        let fr = kernel::i18n::T(kernel::i18n::Lang::Fr);
        assert_eq!(human_size(&en, 512), "512 B");
        assert_eq!(human_size(&en, 1536), "1.5 KB");
        assert_eq!(human_size(&fr, 3 * 1024 * 1024 + 200 * 1024), "3,2 Mo");
    }
}
