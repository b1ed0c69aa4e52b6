//! The JSON API of file attachments: upload, list, download, delete.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use kernel::AppError;
use kernel::authz::Principal;
use kernel::web::AppState;

use super::{FileView, UploadError, malformed, multipart, read_file, required, service, store, view};
use crate::http::{Object, parse_id};

/// `POST /api/v1/{type}/{id}/files`: multipart with the field `file`.
pub async fn upload<O: Object>(
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
            let row = service::attach(&state, &principal, O::TYPE, id, &name, bytes).await?;
            return Ok((StatusCode::CREATED, Json(view(&row)?)));
        }
    }
}

/// `GET /api/v1/{type}/{id}/files`.
pub async fn list<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Vec<FileView>>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let rows = store::list(&mut tx, O::TYPE, id).await?;
    tx.commit().await?;
    Ok(Json(rows.iter().map(view).collect::<Result<_, _>>()?))
}

/// `GET /api/v1/files/{id}`: the bytes.
pub async fn download(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    service::open(&state, &principal, parse_id(&id)?).await
}

/// `DELETE /api/v1/files/{id}`.
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    service::delete(&state, &principal, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
