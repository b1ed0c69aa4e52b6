//! `POST /api/v1/{type}/{id}/merge`.

use super::*;

use axum::Json;
use axum::extract::{Path, State};
use kernel::AppError;
use kernel::authz::Principal;
use kernel::error::ApiJson;
use kernel::web::AppState;
use serde_json::Value;

use crate::http::{Object, parse_id, write_ctx};
use crate::records::Source;

pub async fn api_merge<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<MergeInput>,
) -> Result<Json<Value>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let merged = merge(&mut tx, &state.audit, O::TYPE, id, &input, &write_ctx(&state, &principal, Source::Api)).await?;
    tx.commit().await?;
    Ok(Json(merged))
}
