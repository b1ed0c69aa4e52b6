//! The HTML side of file attachments: the record page's upload form, download link and delete
//! button, and the files listed on the record page.

use crate::http::Fields;
use axum::extract::{Path, State};
use axum::response::Response;
use kernel::AppResult;
use kernel::authz::Principal;
use kernel::web::AppState;
use kernel::web::{CsrfForm, CsrfMultipart};
use kernel::{AppError, OrgTx};
use uuid::Uuid;

use super::{UploadError, UploadLimits, check_declared_length, malformed, read_file, required, service, store};
use crate::http::{Object, parse_id};
use crate::object::ObjectType;

/// `POST /crm/{type}/{id}/files`: the record page's form (`csrf`, checked by [`CsrfMultipart`],
/// then `file`); back to the record page with a toast.
pub async fn upload<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    CsrfMultipart { mut fields, declared_length, .. }: CsrfMultipart<UploadLimits>,
) -> AppResult<Response> {
    let object = O::TYPE;
    let id = parse_id(&id)?;
    let to = format!("/crm/{}/{id}#files", object.plural());
    let back = |key: &'static str| kernel::web::redirect_with_error_toast(&to, key);
    let refusal = |error: UploadError| match error {
        UploadError::TooLarge => Ok(back("crm.notice.file_too_large")),
        UploadError::Other(AppError::Validation(errors)) => {
            let code = errors.first().map(|e| e.code).unwrap_or("required");
            Ok(back(if code == "required" { "crm.notice.file_required" } else { "crm.notice.file_refused" }))
        }
        UploadError::Other(other) => Err(other),
    };
    if let Err(error) = check_declared_length(declared_length) {
        return refusal(error);
    }
    loop {
        let field = match fields.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(_) => return refusal(malformed()),
        };
        if field.name() == Some("file") {
            let (name, bytes) = match read_file(field).await {
                Ok(file) => file,
                Err(error) => return refusal(error),
            };
            return match service::attach(&state, &principal, object, id, &name, bytes).await {
                Ok(_) => Ok(kernel::web::redirect_with_toast(&to, "crm.notice.file_uploaded")),
                Err(error) => refusal(error.into()),
            };
        }
    }
    refusal(required().into())
}

/// `GET /crm/files/{id}`: the bytes, for a signed-in member.
pub async fn download(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    service::open(&state, &principal, id).await
}

/// `POST /crm/files/{id}/delete`, then back to the record page.
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(_form): CsrfForm<Fields>,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    let (object, record) = service::delete(&state, &principal, id).await?;
    Ok(kernel::web::redirect_with_toast(&format!("/crm/{}/{record}#files", object.plural()), "crm.notice.file_deleted"))
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
    page: &kernel::web::Page,
    object: ObjectType,
    id: Uuid,
    members: &[(Uuid, String)],
) -> Result<Vec<FileItem>, AppError> {
    let rows = store::list(tx, object, id).await?;
    Ok(rows
        .into_iter()
        .map(|row| FileItem {
            id: row.file_id.to_string(),
            size: human_size(&page.t, row.size_bytes),
            at: crate::display::minute(page, &row.created_at),
            uploader: row
                .uploaded_by
                .and_then(|u| members.iter().find(|(m, _)| *m == u).map(|(_, n)| n.clone()))
                .unwrap_or_default(),
            name: row.name,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well_in_both_languages() {
        kernel::i18n::install(crate::module().locales);
        let en = kernel::i18n::T(kernel::i18n::Lang::En);
        let fr = kernel::i18n::T(kernel::i18n::Lang::Fr);
        assert_eq!(human_size(&en, 512), "512 B");
        assert_eq!(human_size(&en, 1536), "1.5 KB");
        assert_eq!(human_size(&fr, 3 * 1024 * 1024 + 200 * 1024), "3,2 Mo");
    }
}
