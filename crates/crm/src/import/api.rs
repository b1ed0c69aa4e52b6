//! The JSON API of CSV imports.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use kernel::AppError;
use kernel::authz::Principal;
use kernel::error::ApiJson;
use kernel::web::AppState;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ImportView, clean_file_name, importable, service, store, view};
use crate::http::parse_id;
use kernel::extract::ApiQuery;

#[derive(Debug, Deserialize)]
pub struct UploadParams {
    pub object: Option<String>,
    pub filename: Option<String>,
}

/// `POST /api/v1/imports?object=contacts&filename=clients.csv` with the CSV file as the body.
pub async fn upload(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<UploadParams>,
    body: Body,
) -> Result<(StatusCode, Json<ImportView>), AppError> {
    let object = importable(params.object.as_deref())?;
    let name = clean_file_name(params.filename.as_deref());
    let row = service::create_import(&state, &principal, object, name, body.into_data_stream()).await?;
    Ok((StatusCode::CREATED, Json(view(row))))
}

pub async fn list(State(state): State<AppState>, principal: Principal) -> Result<Json<Vec<ImportView>>, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let rows = store::list(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(rows.into_iter().map(view).collect()))
}

pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ImportView>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let row = store::load(&mut tx, id, false).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(Json(view(row)))
}

/// The first five rows parsed with the current mapping.
pub async fn preview(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let (row, rows) = service::preview(&state, &principal, parse_id(&id)?).await?;
    Ok(Json(json!({ "headers": row.headers.0, "mapping": row.mapping.0, "rows": rows })))
}

#[derive(Debug, Deserialize)]
pub struct MappingInput {
    /// Column index (as a string) → field key or `custom.<key>`; an empty target leaves it unmapped.
    pub mapping: BTreeMap<String, String>,
    /// What to do with a record that already has the row's key (email or domain):
    /// `create_only` (leave it), `fill_empty` (fill its empty fields; the default) or `overwrite`.
    /// Left out: unchanged.
    #[serde(default)]
    pub mode: Option<String>,
}

pub async fn mapping(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<MappingInput>,
) -> Result<Json<ImportView>, AppError> {
    let row = service::set_mapping(&state, &principal, parse_id(&id)?, &input.mapping, input.mode.as_deref()).await?;
    Ok(Json(view(row)))
}

#[derive(Debug, Deserialize)]
pub struct EncodingInput {
    /// `utf-8`, `windows-1252`, `iso-8859-15` or `macintosh`.
    pub encoding: String,
}

/// Reads the file with another encoding: the header row is read again and the columns matched
/// again.
pub async fn encoding(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<EncodingInput>,
) -> Result<Json<ImportView>, AppError> {
    let row = service::set_encoding(&state, &principal, parse_id(&id)?, &input.encoding).await?;
    Ok(Json(view(row)))
}

pub async fn dry_run(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<ImportView>), AppError> {
    let row = service::start_dry_run(&state, &principal, parse_id(&id)?).await?;
    Ok((StatusCode::ACCEPTED, Json(view(row))))
}

#[derive(Debug, Default, Deserialize)]
pub struct RunParams {
    /// Rows per batch (1–50,000; default 5,000). Each batch commits on its own.
    pub batch_rows: Option<i32>,
}

pub async fn run(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<RunParams>,
) -> Result<(StatusCode, Json<ImportView>), AppError> {
    let row = service::start_run(&state, &principal, parse_id(&id)?, params.batch_rows).await?;
    Ok((StatusCode::ACCEPTED, Json(view(row))))
}

pub async fn revert(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<ImportView>), AppError> {
    let row = service::revert(&state, &principal, parse_id(&id)?).await?;
    Ok((StatusCode::ACCEPTED, Json(view(row))))
}

/// Retries the failed step of a failed import (409 unless it is failed).
pub async fn retry(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<ImportView>), AppError> {
    let row = service::retry(&state, &principal, parse_id(&id)?).await?;
    Ok((StatusCode::ACCEPTED, Json(view(row))))
}

/// Discards a failed import (409 unless it is failed).
pub async fn discard(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ImportView>, AppError> {
    let row = service::discard(&state, &principal, parse_id(&id)?).await?;
    Ok(Json(view(row)))
}

pub async fn rejects(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    service::rejects_csv(&state, &principal, parse_id(&id)?).await
}
