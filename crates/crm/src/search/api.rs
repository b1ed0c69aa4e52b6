//! `GET /api/v1/search`.

use axum::Json;
use axum::extract::{Query, State};
use kernel::AppError;
use kernel::authz::Principal;
use kernel::web::AppState;
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SearchParams {
    pub q: String,
    pub limit: Option<u32>,
}

pub async fn search(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<SearchParams>,
) -> Result<Json<Vec<crate::search::SearchHit>>, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let hits = crate::search::search(&mut tx, &params.q, params.limit.unwrap_or(20)).await?;
    tx.commit().await?;
    Ok(Json(hits))
}
