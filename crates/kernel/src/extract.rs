//! Request extractors whose rejections are the one [`AppError`], so every refusal of a request's
//! query string, path or body is RFC 9457 problem+json on the API (and the HTML error page on a
//! page), never axum's plain-text 400:
//!
//! * [`ApiQuery`]: a query value of the wrong type is a 422 naming the parameter;
//! * [`crate::error::ApiJson`] ([`json_object`]): 400 for a body that is not JSON, 413 past the
//!   body limit, 415 for another content type, 422 naming `body` for the wrong shape or a body
//!   that is not an object;
//! * [`problem_rejections`]: the safety net on every route, for the extractors not listed here
//!   (axum's `Path`, `Form`, `Query` or `Json` used directly): their plain-text 4xx answer
//!   becomes the same problem with the same status.
//!
//! [`page_limit`] refuses a page size past its maximum rather than clamping it.

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::error::{AppError, FieldError, PublicError};

/// The body size every route accepts (JSON and forms; file uploads have their own limit).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// `Query<T>` for the API: a value that does not parse is a 422 naming its parameter (code
/// `invalid_parameter`); a query string that is not `key=value` pairs a 400.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or_default()).map(Self)
    }
}

/// Parses a query string into `T`, naming the parameter that does not fit.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, AppError> {
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner().to_string();
        if path.is_empty() || path == "." {
            // serde names no field for a missing one: it says "missing field `q`".
            match inner.strip_prefix("missing field `").and_then(|rest| rest.strip_suffix('`')) {
                Some(field) => AppError::field(field, "required", "This parameter is required."),
                None => AppError::field("query", "invalid_parameter", format!("The query string is invalid: {inner}")),
            }
        } else {
            AppError::field(path, "invalid_parameter", format!("Invalid value: {inner}."))
        }
    })
}

/// The body of an API request as `T`, for [`crate::error::ApiJson`]: 415 unless it says JSON, 413
/// past the body limit, 400 unless it is JSON, 422 naming `body` unless it is a JSON object of
/// `T`'s shape. (serde would read a struct from an array, `[null, null]`: every API body is an
/// object, so anything else is refused.)
pub async fn json_object<T, S>(request: Request, state: &S) -> Result<T, AppError>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    use axum::extract::FromRequest;
    use axum::extract::rejection::JsonRejection;
    let headers = request.headers().clone();
    let bytes = axum::body::Bytes::from_request(request, state)
        .await
        .map_err(|rejection| from_rejection(rejection.status(), &rejection.body_text()))?;
    let mut again = Request::new(axum::body::Body::from(bytes.clone()));
    *again.headers_mut() = headers;
    let value = match axum::Json::<T>::from_request(again, &()).await {
        Ok(axum::Json(value)) => value,
        Err(JsonRejection::MissingJsonContentType(_)) => return Err(AppError::UnsupportedMediaType),
        Err(JsonRejection::JsonSyntaxError(_)) => {
            return Err(AppError::BadRequest("The request body is not valid JSON.".into()));
        }
        Err(JsonRejection::JsonDataError(error)) => {
            return Err(AppError::field(
                "body",
                "invalid_shape",
                // serde says which field and what it expected; the value itself is not repeated.
                format!("The request body does not match the schema: {}", error.body_text()),
            ));
        }
        Err(other) => return Err(from_rejection(other.status(), &other.body_text())),
    };
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(AppError::field("body", "invalid_shape", "The request body must be a JSON object."));
    }
    Ok(value)
}

/// A page size given by a client: `default` when absent, refused (422 naming `field`, code
/// `out_of_range`) outside `1..=max`: a client asking for more than the maximum learns it instead
/// of silently getting fewer rows.
pub fn page_limit(value: Option<i64>, default: u32, max: u32, field: &str) -> Result<u32, AppError> {
    match value {
        None => Ok(default),
        Some(n) if n >= 1 && n <= i64::from(max) => Ok(u32::try_from(n).unwrap_or(default)),
        Some(_) => Err(AppError::field(field, "out_of_range", format!("Between 1 and {max}."))),
    }
}

/// The problem for a refused request body larger than [`MAX_BODY_BYTES`].
pub fn body_too_large() -> AppError {
    AppError::PayloadTooLarge(FieldError::new("body", "payload_too_large", "The request body is larger than 1 MiB."))
}

/// Maps a plain-text 4xx rejection of an axum extractor to the [`AppError`] of the same meaning.
pub fn from_rejection(status: StatusCode, text: &str) -> AppError {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => body_too_large(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => AppError::UnsupportedMediaType,
        StatusCode::UNPROCESSABLE_ENTITY => {
            AppError::field("body", "invalid_shape", format!("The request does not match the schema: {text}"))
        }
        StatusCode::METHOD_NOT_ALLOWED => AppError::MethodNotAllowed,
        StatusCode::NOT_FOUND => AppError::NotFound,
        _ => AppError::BadRequest(if text.is_empty() { "The request could not be read.".into() } else { text.into() }),
    }
}

/// The safety net on every route (see the module's documentation): a 4xx answer in plain text that
/// no [`AppError`] made — an axum extractor's rejection — is answered again as that error, so the
/// API says problem+json and a page shows its error page.
pub async fn problem_rejections(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if !response.status().is_client_error() || response.extensions().get::<PublicError>().is_some() {
        return response;
    }
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !plain {
        return response;
    }
    let status = response.status();
    // A rejection's text is one short sentence; read at most a little of it.
    let text = match axum::body::to_bytes(response.into_body(), 4096).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        Err(_) => String::new(),
    };
    from_rejection(status, &text).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Params {
        #[allow(dead_code)]
        q: String,
        #[allow(dead_code)]
        limit: Option<u32>,
    }

    #[test]
    fn a_bad_query_value_names_its_parameter() {
        let error = parse_query::<Params>("q=ab&limit=x").unwrap_err();
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error.field_errors()[0].field, "limit");
        assert_eq!(error.field_errors()[0].code, "invalid_parameter");
        let error = parse_query::<Params>("limit=3").unwrap_err();
        assert_eq!(error.field_errors()[0].field, "q");
        assert_eq!(error.field_errors()[0].code, "required");
        assert!(parse_query::<Params>("q=ab&limit=3&other=1").is_ok());
    }

    #[test]
    fn page_limits_are_refused_past_the_maximum() {
        assert_eq!(page_limit(None, 50, 200, "limit").unwrap(), 50);
        assert_eq!(page_limit(Some(200), 50, 200, "limit").unwrap(), 200);
        for bad in [0, -1, 201, i64::MAX] {
            let error = page_limit(Some(bad), 50, 200, "limit").unwrap_err();
            assert_eq!(error.field_errors()[0].field, "limit", "{bad}");
        }
    }
}
