//! `POST /api/v1/leads/{id}/convert`.

use super::*;

use axum::Json;
use axum::extract::{Path, State};
use kernel::AppError;
use kernel::authz::Principal;
use kernel::error::ApiJson;
use kernel::web::AppState;

use crate::http::{parse_id, write_ctx};
use crate::records::Source;

pub async fn api_convert(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ConvertInput>,
) -> Result<Json<Converted>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let converted = convert(&mut tx, id, &input, &write_ctx(&state, &principal, Source::Api)).await?;
    tx.commit().await?;
    Ok(Json(converted))
}
