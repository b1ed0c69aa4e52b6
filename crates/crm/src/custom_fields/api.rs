//! `/api/v1/custom-fields`.

use super::*;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kernel::AppError;
use kernel::authz::Principal;
use kernel::error::ApiJson;
use kernel::web::AppState;

use crate::custom_fields::{self, CustomField};
use crate::http::parse_id;
use crate::object::ObjectType;

pub async fn api_list_fields(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<CustomField>>, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let mut all = Vec::new();
    for object in ObjectType::ALL {
        all.extend(custom_fields::definitions(&mut tx, object).await?);
    }
    tx.commit().await?;
    Ok(Json(all))
}

pub async fn api_create_field(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<CustomFieldInput>,
) -> Result<(StatusCode, Json<CustomField>), AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let field = create_field(&mut tx, &state.audit, &input, state.clock.now()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(field)))
}

pub async fn api_delete_field(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    delete_field(&mut tx, &state.audit, id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
