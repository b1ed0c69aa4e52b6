//! The JSON API of records: `/api/v1/{leads,contacts,companies,deals}`. One generic handler per
//! operation serves the four object types (the type is a marker parameter), so they cannot drift.

use super::*;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kernel::AppError;
use kernel::authz::Principal;
use kernel::error::ApiJson;
use kernel::web::AppState;
use serde_json::{Map, Value, json};

use crate::http::{Object, parse_id, write_ctx};
use crate::idempotency::{self, Claim};
use crate::records::{self, Source};

pub(crate) fn object_body(body: Value) -> Result<Map<String, Value>, AppError> {
    match body {
        Value::Object(map) => Ok(map),
        _ => Err(AppError::field("body", "invalid_type", "Send a JSON object of fields.")),
    }
}

/// Creates a record; honours `Idempotency-Key`.
pub async fn create<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let route = format!("POST /api/v1/{}", O::TYPE.plural());
    let key = match idempotency::claim(&mut tx, &headers, principal.user_id, &route, &body, state.clock.now()).await? {
        Claim::Replay(status, response) => return Ok((status, Json(response)).into_response()),
        Claim::Fresh(key) => Some(key),
        Claim::None => None,
    };
    let input = object_body(body)?;
    let created = records::create(&mut tx, O::TYPE, &input, &write_ctx(&state, &principal, Source::Api)).await?;
    let response = serde_json::to_value(&created).map_err(anyhow::Error::from)?;
    if let Some(key) = key {
        idempotency::store(&mut tx, principal.user_id, &key, StatusCode::CREATED, &response).await?;
    }
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(response)).into_response())
}

pub async fn get<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let record = records::read(&mut tx, &state.audit, O::TYPE, id).await?;
    tx.commit().await?;
    Ok(Json(record))
}

pub async fn update<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, AppError> {
    let id = parse_id(&id)?;
    let patch = object_body(body)?;
    let mut tx = principal.begin(&state.db).await?;
    let record = records::update(&mut tx, O::TYPE, id, &patch, &write_ctx(&state, &principal, Source::Api)).await?;
    tx.commit().await?;
    Ok(Json(record))
}

pub async fn delete<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    delete_record(&state, &principal, O::TYPE, parse_id(&id)?, Source::Api).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Records that look like duplicates of this one.
pub async fn duplicates<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Vec<records::DuplicateHint>>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    records::get(&mut tx, O::TYPE, id).await?;
    let hints = records::duplicates_of(&mut tx, O::TYPE, id).await?;
    tx.commit().await?;
    Ok(Json(hints))
}

pub async fn bulk<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<BulkInput>,
) -> Result<Json<Value>, AppError> {
    let count = bulk_apply(&state, &principal, O::TYPE, input, Source::Api).await?;
    Ok(Json(json!({ "count": count })))
}
