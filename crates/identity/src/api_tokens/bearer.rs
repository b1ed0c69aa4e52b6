//! The bearer door: the `Authorization` header of an API request becomes its `Principal` — an
//! access token (JWT) or an API key — and a header that authenticates nobody is answered 401.

use super::*;
use axum::http::StatusCode;
use kernel::authz::Principal;

/// What an `Authorization` header proved.
pub enum Bearer {
    /// No `Authorization` header.
    Absent,
    /// A valid access token or API key.
    Valid(Principal),
    /// A header that authenticates nobody: wrong scheme, malformed, expired, tampered, revoked.
    Invalid,
}

/// Reads `Authorization: Bearer <token>`: an API key (`rk_…`) or an access token (JWT).
pub async fn authenticate_bearer(state: &AppState, headers: &axum::http::HeaderMap) -> Result<Bearer, AppError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else { return Ok(Bearer::Absent) };
    let Some(token) = value.to_str().ok().and_then(bearer_token) else { return Ok(Bearer::Invalid) };
    let principal = if token.starts_with(crate::api_keys::KEY_PREFIX) {
        crate::api_keys::authenticate_api_key(state, token).await?
    } else {
        authenticate_access_token(state, token).await?
    };
    Ok(principal.map(Bearer::Valid).unwrap_or(Bearer::Invalid))
}

/// The API's half of `signed_in::attach_principal`: the bearer credential, if any, becomes the
/// request's `Principal`; one that authenticates nobody is answered 401 at once. Every 401 of the
/// API says how to authenticate (`WWW-Authenticate`, RFC 6750 §3).
pub async fn attach_bearer(
    state: AppState,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let invalid = match authenticate_bearer(&state, request.headers()).await {
        Ok(Bearer::Absent) => false,
        Ok(Bearer::Valid(principal)) => {
            request.extensions_mut().insert(principal);
            false
        }
        Ok(Bearer::Invalid) => true,
        Err(error) => return error.into_response(),
    };
    let mut response = if invalid { AppError::Unauthenticated.into_response() } else { next.run(request).await };
    if response.status() == StatusCode::UNAUTHORIZED {
        let challenge = if invalid {
            r#"Bearer realm="relais-api", error="invalid_token""#
        } else {
            r#"Bearer realm="relais-api""#
        };
        response
            .headers_mut()
            .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static(challenge));
    }
    response
}

/// The token of a `Bearer` credential (the scheme is case-insensitive, RFC 9110 §11.1).
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= 4096).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_required() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }
}
