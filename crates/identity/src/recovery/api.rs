//! `POST /api/v1/auth/password-reset`.

use super::*;
use axum::extract::State;
use axum::http::StatusCode;
use kernel::AppError;
use kernel::error::ApiJson;
use kernel::web::AppState;

/// Ask for a password-reset link.
///
/// The answer is the same whether or not an account uses the address. Each account of the address
/// receives at most one mail a minute; the link works once and for 15 minutes.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password-reset",
    tag = "identity",
    request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "Accepted (whether or not the address has an account)", body = PasswordResetAccepted),
        (status = 422, description = "Not an email address", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn request_reset_api(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<PasswordResetRequest>,
) -> Result<(StatusCode, axum::Json<PasswordResetAccepted>), AppError> {
    request_reset(&state, &input.email).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(PasswordResetAccepted { message: ACCEPTED })))
}
