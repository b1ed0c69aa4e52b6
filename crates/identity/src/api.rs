//! Identity's JSON API.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kernel::AppError;
use kernel::error::ApiJson;
use kernel::ratelimit;
use kernel::web::{AppState, ClientInfo, LangPref};

use crate::service::{self, NewAccount, SignupInput};

/// Create an organization and its owner account.
///
/// Every field is checked; all problems come back at once as problem+json naming each field,
/// and nothing is written unless the whole request is valid. The owner's language is taken from
/// `Accept-Language` (English by default) and can be changed later.
#[utoipa::path(
    post,
    path = "/api/v1/signup",
    tag = "identity",
    request_body = SignupInput,
    responses(
        (status = 201, description = "Organization and owner created", body = NewAccount),
        (status = 422, description = "Invalid fields", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many sign-ups from this address; see Retry-After", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn signup(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    client: ClientInfo,
    ApiJson(input): ApiJson<SignupInput>,
) -> Result<(StatusCode, Json<NewAccount>), AppError> {
    ratelimit::check(&state, &ratelimit::SIGNUP_PER_IP, ratelimit::Subject::Ip(&client)).await?;
    let account = service::sign_up(&state, input, lang).await?;
    Ok((StatusCode::CREATED, Json(account)))
}
