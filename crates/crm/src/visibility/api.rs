//! `/api/v1/crm/visibility`.

use super::*;

use axum::Json;
use axum::extract::State;
use kernel::AppError;
use kernel::authz::Principal;
use kernel::error::ApiJson;
use kernel::web::AppState;

pub async fn api_get_visibility(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Visibility>, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let v = visibility(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(v))
}

pub async fn api_put_visibility(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<Visibility>,
) -> Result<Json<Visibility>, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    set_visibility(&mut tx, &state.audit, &input, state.clock.now()).await?;
    let v = visibility(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(v))
}
