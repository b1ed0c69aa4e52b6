//! `/api/v1/pipelines` and the board and move endpoints.

use super::*;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kernel::AppError;
use kernel::authz::Principal;
use kernel::error::ApiJson;
use kernel::web::AppState;
use serde_json::Value;

use crate::http::parse_id;
use crate::records::Source;
use kernel::extract::ApiQuery;

pub async fn api_list(State(state): State<AppState>, principal: Principal) -> Result<Json<Vec<Pipeline>>, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    ensure_default(&mut tx, state.clock.now()).await?;
    let pipelines = all(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(pipelines))
}

pub async fn api_create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<PipelineInput>,
) -> Result<(StatusCode, Json<Pipeline>), AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let id = create_pipeline(&mut tx, &state.audit, &input, state.clock.now()).await?;
    let pipeline = load(&mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(pipeline)))
}

pub async fn api_update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<PipelineUpdate>,
) -> Result<Json<Pipeline>, AppError> {
    let pipeline = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let current = load(&mut tx, pipeline).await?;
    update_pipeline(&mut tx, &state.audit, &current, &input).await?;
    let updated = load(&mut tx, pipeline).await?;
    tx.commit().await?;
    Ok(Json(updated))
}

pub async fn api_delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let pipeline = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    delete_pipeline(&mut tx, &state.audit, pipeline).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn api_board(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<BoardParams>,
) -> Result<Json<Board>, AppError> {
    let pipeline = parse_id(&id)?;
    let per_stage = kernel::extract::page_limit(params.per_stage.map(i64::from), 50, 200, "per_stage")?;
    let mut tx = principal.begin(&state.db).await?;
    let board = board(&mut tx, pipeline, per_stage).await?;
    tx.commit().await?;
    Ok(Json(board))
}

pub async fn api_move(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<MoveInput>,
) -> Result<Json<Value>, AppError> {
    let deal = parse_id(&id)?;
    Ok(Json(move_deal(&state, &principal, deal, input.stage_id, Source::Api).await?))
}
