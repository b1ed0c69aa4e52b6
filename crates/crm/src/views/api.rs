//! Saved views' JSON API.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kernel::AppError;
use kernel::authz::Principal;
use kernel::error::ApiJson;
use kernel::web::AppState;

use super::{SavedView, ViewInput, service, store};
use crate::http::parse_id;

pub async fn list(State(state): State<AppState>, principal: Principal) -> Result<Json<Vec<SavedView>>, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let views = store::visible(&mut tx, principal.user_id, None).await?;
    tx.commit().await?;
    Ok(Json(views))
}

pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<ViewInput>,
) -> Result<(StatusCode, Json<SavedView>), AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let view = service::create(&mut tx, &principal, &input, state.clock.now()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(view)))
}

pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ViewInput>,
) -> Result<Json<SavedView>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let view = service::update(&mut tx, &principal, id, &input, state.clock.now()).await?;
    tx.commit().await?;
    Ok(Json(view))
}

pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    service::delete(&mut tx, &principal, id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
