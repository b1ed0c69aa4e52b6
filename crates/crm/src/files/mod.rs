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
//!   deletions are audited (`file.uploaded`, `file.downloaded`, `file.deleted`) inside [`service`],
//!   the one function each of the API and the record page calls, so neither surface can skip it.
//!
//! Layout: this file holds the types and rules (what is accepted, names, the multipart reading
//! both surfaces share); [`store`] the SQL, [`service`] the writes and the file store, [`api`] the
//! JSON handlers, [`pages`] the HTML handlers and the record page's list, [`openapi`] the
//! document.

pub mod api;
pub mod openapi;
pub mod pages;
pub mod service;
pub mod store;

use std::path::PathBuf;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kernel::audit::AuditLog;
use kernel::clock::Clock;
use kernel::db::Db;
use kernel::error::Problem;
use kernel::web::AppState;
use kernel::{AppError, FieldError};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::object::ObjectType;

// The paths other modules use (records delete, the record page, the CRM's OpenAPI document).
pub use openapi::openapi_paths;
pub use pages::{FileItem, human_size, items};
pub use service::remove_blobs;
pub use store::blobs_of;

/// The largest file accepted: 25 MiB.
pub const MAX_BYTES: usize = 25 * 1024 * 1024;

/// Content types accepted as sniffed by `infer` (text is recognized separately).
pub(crate) const ALLOWED: &[&str] = &[
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

// ---------------------------------------------------------------- context

/// What the file services use of the application, named rather than the whole state: the
/// database, the audit log, the clock and the file store's directory. `&AppState` converts into
/// it, so a handler passes its state as it is.
pub struct FileCtx<'a> {
    pub db: &'a Db,
    pub audit: &'a AuditLog,
    pub clock: &'a Clock,
    /// The root of the file store: `<data dir>/files`.
    pub dir: PathBuf,
}

impl<'a> From<&'a AppState> for FileCtx<'a> {
    fn from(state: &'a AppState) -> Self {
        Self { db: &state.db, audit: &state.audit, clock: &state.clock, dir: files_dir(state) }
    }
}

/// Where blobs are kept: `<data dir>/files`.
pub fn files_dir(state: &AppState) -> PathBuf {
    state.config.data_dir.join("files")
}

/// A blob's key in the file store: one object per file under its organization.
fn storage_key(org: Uuid, file: Uuid) -> String {
    format!("{org}/{file}")
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

/// Why an upload was refused before it reached [`service::attach`].
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
/// The bounds of an upload, on the API and the page alike: the file and a little room for the
/// other fields. A field one byte over [`MAX_BYTES`] is enough for [`read_file`] to say "too large".
pub struct UploadLimits;

/// The whole body: the file and a little room for the other fields.
const MAX_BODY: u64 = (MAX_BYTES + 64 * 1024) as u64;

impl kernel::web::MultipartLimits for UploadLimits {
    fn size_limit() -> multer::SizeLimit {
        multer::SizeLimit::new().whole_stream(MAX_BODY).per_field((MAX_BYTES + 1) as u64)
    }
}

/// Refuses an upload whose declared Content-Length is already over the bound, before reading it.
fn check_declared_length(declared: Option<u64>) -> Result<(), UploadError> {
    if declared.is_some_and(|declared| declared > MAX_BODY) { Err(UploadError::TooLarge) } else { Ok(()) }
}

/// The API's multipart body (bearer-authenticated, so no CSRF field), with [`UploadLimits`].
fn multipart(headers: &HeaderMap, body: Body) -> Result<multer::Multipart<'static>, UploadError> {
    use kernel::web::MultipartLimits;
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    check_declared_length(declared)?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let boundary = multer::parse_boundary(content_type).map_err(|_| AppError::UnsupportedMediaType)?;
    let limits = multer::Constraints::new().size_limit(UploadLimits::size_limit());
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
}
