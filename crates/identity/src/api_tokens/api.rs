//! `/api/v1/auth/token`, `/refresh`, `/logout`, `/logout-all` and `/api/v1/me`.

use super::*;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kernel::authz::{Credential, Principal};
use kernel::error::ApiJson;
use kernel::web::ClientInfo;

use crate::login::LoginInput;

/// Exchange email and password for an access token and a refresh token.
///
/// The same checks as the login form: rate limits, account lockout, and one answer (422 naming
/// `email`, code `bad_credentials`) for every kind of failure. No browser session is opened.
#[utoipa::path(
    post,
    path = "/api/v1/auth/token",
    tag = "auth",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "Tokens issued", body = TokenPair),
        (status = 422, description = "Wrong email or password", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts; see Retry-After", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn token(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(input): ApiJson<TokenRequest>,
) -> Result<([(axum::http::HeaderName, &'static str); 2], Json<TokenPair>), AppError> {
    let login = LoginInput { email: input.email, password: input.password, org: None };
    let pair = issue_tokens_with_otp(&state, login, input.otp.as_ref(), &client).await?;
    Ok((no_store(), Json(pair)))
}

/// Responses carrying tokens must not be cached (RFC 6749 §5.1).
fn no_store() -> [(axum::http::HeaderName, &'static str); 2] {
    [(axum::http::header::CACHE_CONTROL, "no-store"), (axum::http::header::PRAGMA, "no-cache")]
}

/// Exchange a refresh token for a new pair. The refresh token works once.
///
/// Presenting a refresh token that was already used revokes its whole family (every token
/// descended from the same login), records `auth.refresh_reuse_detected` and emails the member.
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair; the presented refresh token is spent", body = TokenPair),
        (status = 401, description = "Unknown, used, revoked or expired refresh token", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn refresh_handler(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<RefreshRequest>,
) -> Result<([(axum::http::HeaderName, &'static str); 2], Json<TokenPair>), AppError> {
    let pair = refresh(&state, &input.refresh_token).await?;
    Ok((no_store(), Json(pair)))
}

/// End this API login: revokes the refresh family of the access token used for this request.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The family is revoked: its refresh and access tokens stop working"),
        (status = 400, description = "Not called with an access token (API keys are revoked on their own)", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn logout(State(state): State<AppState>, principal: Principal) -> Result<StatusCode, AppError> {
    let Credential::AccessToken { family_id } = principal.credential else {
        return Err(AppError::BadRequest("Log out with the access token of the login to end.".into()));
    };
    log_out_api(&state, &principal, family_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Log out everywhere: every API token and every browser session of the caller ends.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout-all",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every access token, refresh token and browser session of the caller is revoked"),
        (status = 400, description = "Called with an API key", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn logout_all(State(state): State<AppState>, principal: Principal) -> Result<StatusCode, AppError> {
    // An API key belongs to an integration, not to a person's login: it may not sign its creator
    // out everywhere (keys are revoked on the API-keys page instead).
    if !matches!(principal.credential, Credential::AccessToken { .. }) {
        return Err(AppError::BadRequest("Log out everywhere with an access token, not an API key.".into()));
    }
    log_out_everywhere(&state, &principal).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The member and organization the bearer token acts for, and with which role.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "No valid bearer token", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn me(principal: Principal) -> Json<Me> {
    Json(Me {
        user_id: principal.user_id,
        organization_id: principal.org,
        role: principal.role,
        credential: principal.credential.kind(),
    })
}
