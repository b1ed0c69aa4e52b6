//! `GET /api/v1/search`.

use axum::Json;
use axum::extract::State;
use kernel::AppError;
use kernel::authz::Principal;
use kernel::extract::ApiQuery;
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
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<Vec<crate::search::SearchHit>>, AppError> {
    let limit = kernel::extract::page_limit(params.limit.map(i64::from), 20, crate::search::MAX_HITS, "limit")?;
    let mut tx = principal.begin(&state.db).await?;
    let hits = crate::search::search(&mut tx, &params.q, limit).await?;
    tx.commit().await?;
    Ok(Json(hits))
}
