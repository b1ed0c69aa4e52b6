//! `POST /api/v1/signup` and `POST /api/v1/signup/confirm`.

use super::*;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kernel::error::ApiJson;
use kernel::ratelimit;
use kernel::web::{AppState, ClientInfo, LangPref};

/// Ask to create an organization and its owner account.
///
/// Every field is checked; all problems come back at once as problem+json naming each field,
/// and nothing is written unless the whole request is valid. A valid request always gets the same
/// `202`: the address receives either a link to confirm it (`POST /api/v1/signup/confirm`) within
/// 24 hours, or, if it already has an account, a notice — the answer never says which (no email
/// enumeration). The owner's language is taken from `Accept-Language` (English by default).
#[utoipa::path(
    post,
    path = "/api/v1/signup",
    tag = "identity",
    request_body = SignupInput,
    responses(
        (status = 202, description = "Valid: a confirmation link (or, for an address with an account, a notice) was mailed", body = SignupAccepted),
        (status = 422, description = "Invalid fields", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many sign-ups from this address or for this email; see Retry-After", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "This instance cannot send mail", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn api_request(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    client: ClientInfo,
    ApiJson(input): ApiJson<SignupInput>,
) -> Result<(StatusCode, Json<SignupAccepted>), AppError> {
    request_signup(&state, input, lang, &client).await?;
    Ok((StatusCode::ACCEPTED, Json(ACCEPTED)))
}

/// Confirm a sign-up with the token of its mailed link: creates the organization and its owner.
///
/// The link works once, for 24 hours. An expired, used or unknown token — or an address that has
/// an account by now — is refused with one error on the field `token`, and nothing is created.
#[utoipa::path(
    post,
    path = "/api/v1/signup/confirm",
    tag = "identity",
    request_body = SignupConfirmInput,
    responses(
        (status = 201, description = "Organization and owner created", body = NewAccount),
        (status = 422, description = "The link is no longer valid (field token)", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address; see Retry-After", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn api_confirm(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(input): ApiJson<SignupConfirmInput>,
) -> Result<(StatusCode, Json<NewAccount>), AppError> {
    ratelimit::check(&state, &ratelimit::SIGNUP_CONFIRM_PER_IP, ratelimit::Subject::Ip(&client)).await?;
    let confirmed = confirm_signup(&state, &input.token).await?;
    confirmed.tx.commit().await?;
    Ok((StatusCode::CREATED, Json(confirmed.account)))
}
