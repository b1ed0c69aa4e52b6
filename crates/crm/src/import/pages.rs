//! The import pages: `/crm/imports` (list and upload) and `/crm/imports/{id}` (mapping with a
//! select per column prefilled by auto-match, preview, dry-run findings, run with a live progress
//! bar polled by htmx, rejects download, revert).

use crate::http::Fields;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use futures_util::StreamExt;
use identity::signed_in::SignedIn;
use kernel::AppResult;
use kernel::authz::Principal;
use kernel::web::{AppState, Page, render};
use kernel::web::{CsrfForm, CsrfMultipart};
use kernel::{AppError, FieldError};
use serde_json::Value;
use uuid::Uuid;

use super::problem::{self, Problem};
use super::{ImportRow, ImportView, clean_file_name, importable, service, store, view};
use crate::http::parse_id;
use crate::object::ObjectType;

#[derive(Template)]
#[template(path = "import_list.html")]
struct ListView {
    page: Page,
    imports: Vec<ImportView>,
    errors: Vec<String>,
}

/// One column of the file on the mapping screen.
struct Column {
    index: usize,
    header: String,
    chosen: String,
}

/// A field an update would change, on the dry run's report: (field label, now, after).
type FieldChange = (String, String, String);

struct PreviewRow {
    row: i64,
    cells: Vec<String>,
    error: String,
}

#[derive(Template)]
#[template(path = "import_show.html")]
struct ShowView {
    page: Page,
    item: ImportView,
    columns: Vec<Column>,
    /// (target, label) choices for every column.
    targets: Vec<(String, String)>,
    preview: Vec<PreviewRow>,
    dry_counts: Vec<(String, i64)>,
    /// (row, kind, reason): errors, duplicates and warnings.
    dry_rejects: Vec<(i64, String, String)>,
    /// The modes offered for records already in the organization: (code, label, chosen).
    modes: Vec<(&'static str, String, bool)>,
    /// A sample of updated records: (row, key, changes).
    dry_updates: Vec<(i64, String, Vec<FieldChange>)>,
    editable: bool,
    /// The encodings the person can choose, and the one chosen.
    /// (name, selected); a file with a byte-order mark has `utf-8` selected.
    encodings: Vec<(&'static str, bool)>,
    /// The file's line under the title: "delimiter “;” · 12.5 KB" in the page's language.
    delimiter_text: String,
    size: String,
    /// "3 invalid UTF-8 sequences…", or empty.
    invalid_note: String,
    errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "import_progress.html")]
struct ProgressView {
    page: Page,
    item: ImportView,
}

fn no_store(status: StatusCode, html: axum::response::Html<String>) -> Response {
    crate::http::page_response(status, html)
}

async fn list_page(state: &AppState, principal: &Principal, page: Page, errors: Vec<String>) -> AppResult<Response> {
    let result: Result<Vec<ImportRow>, AppError> = async {
        let mut tx = principal.begin(&state.db).await?;
        let rows = store::list(&mut tx).await?;
        tx.commit().await?;
        Ok(rows)
    }
    .await;
    let rows = result?;
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let v = ListView { page: page.clone(), imports: rows.into_iter().map(view).collect(), errors };
    Ok(no_store(status, render(&v)?))
}

pub async fn list(State(state): State<AppState>, signed_in: SignedIn, principal: Principal) -> AppResult<Response> {
    let page = signed_in.page(&state, "/crm/imports");
    list_page(&state, &principal, page, Vec::new()).await
}

/// The bounds of the upload form: the file is streamed to disk as it arrives and bounded there
/// (`file::MAX_BYTES`, with a clear field error), so only the small field before it is bounded here.
pub struct ImportUploadLimits;

impl kernel::web::MultipartLimits for ImportUploadLimits {
    fn size_limit() -> multer::SizeLimit {
        multer::SizeLimit::new().for_field("object", 64)
    }
}

/// The upload form posts `multipart/form-data` with `csrf` (checked by [`CsrfMultipart`]) and
/// `object` before `file`; the file is streamed to disk as it arrives, never buffered whole.
pub async fn upload(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    CsrfMultipart { mut fields, .. }: CsrfMultipart<ImportUploadLimits>,
) -> AppResult<Response> {
    let page = signed_in.page(&state, "/crm/imports");
    let mut object = None;
    loop {
        let field = match fields.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(_) => return Err(AppError::BadRequest("malformed upload".into())),
        };
        match field.name().unwrap_or_default() {
            "object" => object = Some(field.text().await.unwrap_or_default()),
            "file" => {
                let object = match importable(object.as_deref()) {
                    Ok(object) => object,
                    Err(AppError::Validation(errors)) => {
                        return list_page(&state, &principal, page.clone(), crate::http::error_texts(&page, &errors))
                            .await;
                    }
                    Err(other) => return Err(other),
                };
                let name = clean_file_name(field.file_name());
                let stream = Box::pin(field.map(|chunk| chunk.map_err(|e| e.to_string())));
                return match service::create_import(&state, &principal, object, name, stream).await {
                    Ok(row) => Ok(Redirect::to(&format!("/crm/imports/{}", row.import_id)).into_response()),
                    Err(AppError::Validation(errors)) => {
                        list_page(&state, &principal, page.clone(), crate::http::error_texts(&page, &errors)).await
                    }
                    Err(other) => Err(other),
                };
            }
            _ => {}
        }
    }
    let errors = vec![FieldError::new("file", "required", "Choose a CSV file.")];
    list_page(&state, &principal, page.clone(), crate::http::error_texts(&page, &errors)).await
}

fn targets(page: &Page, object: ObjectType, defs: &[crate::custom_fields::CustomField]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = object
        .fields()
        .iter()
        .map(|f| (f.key.to_string(), page.t.get(&format!("crm.field.{}", f.key)).to_string()))
        .collect();
    out.extend(defs.iter().map(|d| (format!("custom.{}", d.key), d.label.clone())));
    out
}

async fn show_view(
    state: &AppState,
    principal: &Principal,
    page: &Page,
    id: Uuid,
    errors: Vec<String>,
) -> Result<ShowView, AppError> {
    let (row, preview) = service::preview(state, principal, id).await?;
    let object = row.object()?;
    let mut tx = principal.begin(&state.db).await?;
    let defs = crate::custom_fields::definitions(&mut tx, object).await?;
    tx.commit().await?;
    let columns = row
        .headers
        .0
        .iter()
        .enumerate()
        .map(|(index, header)| Column {
            index,
            header: header.clone(),
            chosen: row.mapping.0.get(&index.to_string()).cloned().unwrap_or_default(),
        })
        .collect();
    let label_of = |field: &str| match field.strip_prefix("custom.") {
        Some(key) => defs.iter().find(|d| d.key == key).map(|d| d.label.clone()).unwrap_or_else(|| key.to_string()),
        None => problem::builtin_label(page.t, field),
    };
    // The problems in the page's language; findings stored before problems had codes are read
    // back from their English text.
    let problems_text = |value: &Value, english: &Value| {
        let problems: Vec<Problem> = match serde_json::from_value(value.clone()) {
            Ok(problems) => problems,
            Err(_) => english.as_str().filter(|e| !e.is_empty()).map(problem::from_legacy).unwrap_or_default(),
        };
        problem::render(page.t, &problems, &label_of)
    };
    let preview = preview
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| PreviewRow {
                    row: r["row"].as_i64().unwrap_or_default(),
                    cells: r["cells"]
                        .as_array()
                        .map(|c| c.iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect())
                        .unwrap_or_default(),
                    error: problems_text(&r["problems"], &r["error"]),
                })
                .collect()
        })
        .unwrap_or_default();
    let dry = row.dry_run.as_ref().map(|d| d.0.clone()).unwrap_or(Value::Null);
    let dry_counts = ["rows", "to_create", "to_update", "unchanged", "skipped", "duplicates", "errors", "warnings"]
        .iter()
        .filter_map(|k| dry["counts"][k].as_i64().map(|n| (k.to_string(), n)))
        .collect();
    let dry_rejects = dry["rejects"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|r| {
                    (
                        r["row"].as_i64().unwrap_or_default(),
                        r["kind"].as_str().unwrap_or("error").to_string(),
                        problems_text(&r["problems"], &r["reason"]),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let shown = |value: &Value| match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let dry_updates = dry["updates"]
        .as_array()
        .map(|updates| {
            updates
                .iter()
                .map(|u| {
                    let changes = u["changes"]
                        .as_array()
                        .map(|c| {
                            c.iter()
                                .map(|c| {
                                    (
                                        label_of(c["field"].as_str().unwrap_or_default()),
                                        shown(&c["old"]),
                                        shown(&c["new"]),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    (u["row"].as_i64().unwrap_or_default(), u["key"].as_str().unwrap_or_default().to_string(), changes)
                })
                .collect()
        })
        .unwrap_or_default();
    let modes = super::engine::Mode::ALL
        .iter()
        .map(|m| {
            (m.as_str(), page.t.get(&format!("crm.import.mode_{}", m.as_str())).to_string(), m.as_str() == row.mode)
        })
        .collect();
    let editable = matches!(row.status.as_str(), "uploaded" | "dry_run_done");
    let row_encoding = row.encoding.clone();
    // The invalid sequences only matter while the file is read as UTF-8 (they become �).
    let invalid_note = if row.invalid_utf8 > 0 && row.encoding.starts_with("utf-8") {
        page.t.fmt("crm.import.invalid_utf8", &[("n", &row.invalid_utf8.to_string())])
    } else {
        String::new()
    };
    let delimiter_text = page.t.fmt("crm.import.delimiter_is", &[("d", &row.delimiter)]);
    let size = crate::files::human_size(&page.t, row.size_bytes);
    Ok(ShowView {
        page: page.clone(),
        targets: targets(page, object, &defs),
        delimiter_text,
        size,
        item: view(row),
        columns,
        preview,
        dry_counts,
        dry_rejects,
        modes,
        dry_updates,
        editable,
        encodings: super::file::ENCODINGS
            .iter()
            .map(|e| (*e, *e == row_encoding || (*e == "utf-8" && row_encoding == "utf-8-bom")))
            .collect(),
        invalid_note,
        errors,
    })
}

async fn show_page(
    state: &AppState,
    principal: &Principal,
    page: &Page,
    id: Uuid,
    errors: Vec<String>,
) -> AppResult<Response> {
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let v = show_view(state, principal, page, id, errors).await?;
    Ok(no_store(status, render(&v)?))
}

pub async fn show(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let page = signed_in.page(&state, "/crm/imports");
    let id = parse_id(&id)?;
    show_page(&state, &principal, &page, id, Vec::new()).await
}

/// The progress bar alone, polled by htmx while the import runs.
pub async fn progress(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let page = signed_in.page(&state, "/crm/imports");
    let id = parse_id(&id)?;
    let result: Result<ImportRow, AppError> = async {
        let mut tx = principal.begin(&state.db).await?;
        let row = store::load(&mut tx, id, false).await?.ok_or(AppError::NotFound)?;
        tx.commit().await?;
        Ok(row)
    }
    .await;
    let row = result?;
    let settled = !matches!(row.status.as_str(), "running" | "dry_running" | "reverting");
    let v = ProgressView { page: page.clone(), item: view(row) };
    let mut response = no_store(StatusCode::OK, render(&v)?);
    if settled {
        // The step the box was polling has ended: what comes next (the dry run's findings and
        // the Import button, the rejects, Retry) lives on the rest of the page, so reload it.
        response.headers_mut().insert("hx-refresh", axum::http::HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Runs a step; a refusal re-renders the page with the reason.
async fn step(
    state: &AppState,
    signed_in: &SignedIn,
    principal: &Principal,
    id: &str,
    fields: Fields,
    work: impl AsyncFnOnce(Uuid, Vec<(String, String)>) -> Result<(), AppError>,
) -> AppResult<Response> {
    let page = signed_in.page(state, "/crm/imports");
    let id = parse_id(id)?;
    match work(id, fields).await {
        Ok(()) => Ok(Redirect::to(&format!("/crm/imports/{id}")).into_response()),
        Err(AppError::Validation(errors)) => {
            show_page(state, principal, &page, id, crate::http::error_texts(&page, &errors)).await
        }
        Err(AppError::Conflict(_)) => {
            show_page(state, principal, &page, id, vec![page.t.get("crm.import.conflict").to_string()]).await
        }
        Err(other) => Err(other),
    }
}

pub async fn mapping(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> AppResult<Response> {
    step(&state, &signed_in, &principal, &id, fields, async |id, fields| {
        let mode = fields.iter().find(|(k, _)| k == "mode").map(|(_, v)| v.clone());
        let submitted =
            fields.into_iter().filter_map(|(k, v)| k.strip_prefix("col.").map(|c| (c.to_string(), v))).collect();
        service::set_mapping(&state, &principal, id, &submitted, mode.as_deref()).await.map(|_| ())
    })
    .await
}

pub async fn encoding(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> AppResult<Response> {
    step(&state, &signed_in, &principal, &id, fields, async |id, fields| {
        let chosen = fields.into_iter().find(|(k, _)| k == "encoding").map(|(_, v)| v).unwrap_or_default();
        service::set_encoding(&state, &principal, id, &chosen).await.map(|_| ())
    })
    .await
}

pub async fn dry_run(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> AppResult<Response> {
    step(&state, &signed_in, &principal, &id, fields, async |id, _| {
        service::start_dry_run(&state, &principal, id).await.map(|_| ())
    })
    .await
}

pub async fn run(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> AppResult<Response> {
    step(&state, &signed_in, &principal, &id, fields, async |id, _| {
        service::start_run(&state, &principal, id, None).await.map(|_| ())
    })
    .await
}

pub async fn revert(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> AppResult<Response> {
    step(&state, &signed_in, &principal, &id, fields, async |id, _| {
        service::revert(&state, &principal, id).await.map(|_| ())
    })
    .await
}

pub async fn retry(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> AppResult<Response> {
    step(&state, &signed_in, &principal, &id, fields, async |id, _| {
        service::retry(&state, &principal, id).await.map(|_| ())
    })
    .await
}

pub async fn discard(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> AppResult<Response> {
    step(&state, &signed_in, &principal, &id, fields, async |id, _| {
        service::discard(&state, &principal, id).await.map(|_| ())
    })
    .await
}

/// The page's download is for people: it opens cleanly in Excel in their language.
pub async fn rejects(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    let excel = crate::export::Excel::new(signed_in.lang, signed_in.tz);
    service::rejects_file(&state, &principal, id, Some(excel)).await
}
