//! `/api/v1/api-keys`.

use super::*;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use kernel::authz::Principal;
use kernel::error::ApiJson;
use kernel::web::AppState;

/// The organization's API keys (not revoked). Never includes a secret.
#[utoipa::path(
    get,
    path = "/api/v1/api-keys",
    tag = "api-keys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The keys", body = Vec<ApiKeySummary>),
        (status = 401, description = "No valid bearer token", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only owners and managers manage API keys", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn api_list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<ApiKeySummary>>, AppError> {
    Ok(Json(list(&state, &principal).await?))
}

/// Create an API key. The response holds the key: it is never shown again.
#[utoipa::path(
    post,
    path = "/api/v1/api-keys",
    tag = "api-keys",
    security(("bearer" = [])),
    request_body = NewApiKeyInput,
    responses(
        (status = 201, description = "Created; `key` is shown this once", body = CreatedApiKey),
        (status = 401, description = "No valid bearer token", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only owners and managers manage API keys", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (e.g. a role above the caller's)", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn api_create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<NewApiKeyInput>,
) -> Result<(StatusCode, [(header::HeaderName, &'static str); 1], Json<CreatedApiKey>), AppError> {
    let created = create(&state, &principal, input).await?;
    Ok((StatusCode::CREATED, [(header::CACHE_CONTROL, "no-store")], Json(created)))
}

/// Revoke an API key: it stops working at once.
#[utoipa::path(
    delete,
    path = "/api/v1/api-keys/{id}",
    tag = "api-keys",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No valid bearer token", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only owners and managers manage API keys", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key, or already revoked", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn api_revoke(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id = Uuid::parse_str(&id).map_err(|_| AppError::NotFound)?;
    revoke(&state, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
