//! `/api/v1/members`.

use super::*;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kernel::error::ApiJson;
use kernel::web::AppState;

/// The members the caller may see. A department admin sees only their departments' members (P2-07).
#[utoipa::path(
    get,
    path = "/api/v1/members",
    tag = "members",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The members", body = Vec<MemberSummary>),
        (status = 401, description = "No valid bearer token", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn api_list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<MemberSummary>>, AppError> {
    Ok(Json(list(&state, &principal).await?))
}

/// Change a member's role and/or status. Deactivating ends their sessions and API tokens at once.
#[utoipa::path(
    patch,
    path = "/api/v1/members/{id}",
    tag = "members",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The member's id")),
    request_body = MemberChangeInput,
    responses(
        (status = 204, description = "Changed"),
        (status = 401, description = "No valid bearer token", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only owners manage members", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such member", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The organization would have no active owner left", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn api_update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<MemberChangeInput>,
) -> Result<StatusCode, AppError> {
    let id = Uuid::parse_str(&id).map_err(|_| AppError::NotFound)?;
    let change = MemberChange::parse(&input)?;
    update(&state, &principal, id, change).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a member from the organization.
#[utoipa::path(
    delete,
    path = "/api/v1/members/{id}",
    tag = "members",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The member's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid bearer token", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only owners manage members", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such member", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The organization would have no active owner left", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn api_remove(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id = Uuid::parse_str(&id).map_err(|_| AppError::NotFound)?;
    remove(&state, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
