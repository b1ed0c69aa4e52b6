//! One error type for everything a handler can fail with. On the API it becomes RFC 9457
//! problem+json naming the offending fields; on a page route, the route layer renders it as the
//! HTML error page (`web::RouteDef::mount`), so page handlers return `AppResult` and use `?`.
//! Internal details (SQL, I/O) are logged with the request id and never sent to the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub type AppResult<T> = Result<T, AppError>;

/// What a client is told of [`AppError::SecretRefused`] (the page says it in the visitor's language).
pub const SECRET_REFUSED: &str = "A stored secret could not be opened: it was not sealed for this record. \
     It was neither shown nor used. If this persists, tell your administrator.";

/// One problem with one input field. `code` is stable for clients; `message` is for people.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self { field: field.into(), code, message: message.into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    #[error("authentication required")]
    Unauthenticated,
    #[error("not allowed")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// A request body past its limit: 413, naming what was too large (`body`, `file`).
    #[error("payload too large")]
    PayloadTooLarge(FieldError),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("request refused: {0}")]
    BadRequest(String),
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A sealed secret that does not open where it was read (moved to another record, field or
    /// organization, or altered): refused, never used. The reason is logged, not sent.
    #[error("sealed secret refused: {0}")]
    SecretRefused(#[from] crate::vault::VaultError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        Self::Internal(anyhow::Error::new(error))
    }
}

impl AppError {
    pub fn field(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, code, message)])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            // The stored record is in a state the request cannot be served from; retrying will
            // not help, and it is no crash.
            Self::SecretRefused(_) => StatusCode::CONFLICT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable problem type slug, also the message-catalog key suffix for pages.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Validation(_) => "validation",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::PayloadTooLarge(_) => "payload-too-large",
            Self::Conflict(_) => "conflict",
            Self::TooManyRequests { .. } => "rate-limited",
            Self::BadRequest(_) => "bad-request",
            Self::Unavailable(_) => "unavailable",
            Self::SecretRefused(_) => "secret-refused",
            Self::Internal(_) => "internal",
        }
    }

    /// How long a refused client should wait, for a 429.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::TooManyRequests { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// Detail safe to show a client: never internal error text.
    pub fn public_detail(&self) -> Option<String> {
        match self {
            Self::Conflict(d) | Self::BadRequest(d) => Some(d.clone()),
            Self::TooManyRequests { retry_after_secs } => {
                Some(format!("Too many attempts: try again in {} min.", retry_after_secs.div_ceil(60).max(1)))
            }
            Self::Validation(_) => Some("One or more fields are invalid.".into()),
            Self::SecretRefused(_) => Some(SECRET_REFUSED.into()),
            Self::PayloadTooLarge(error) => Some(error.message.clone()),
            _ => None,
        }
    }

    /// What a page may show of this error (see [`PublicError`]).
    pub fn public(&self) -> PublicError {
        let reason = match self {
            Self::BadRequest(text) | Self::Conflict(text) if !text.is_empty() => Some(text.clone()),
            _ => None,
        };
        PublicError {
            status: self.status(),
            kind: self.kind(),
            retry_after_secs: self.retry_after_secs(),
            reason,
            errors: self.field_errors().to_vec(),
        }
    }

    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            Self::Validation(errors) => errors,
            Self::PayloadTooLarge(error) => std::slice::from_ref(error),
            _ => &[],
        }
    }

    /// Logs what the client must not see. Called once, where the error becomes a response.
    pub fn log(&self) {
        match self {
            Self::Internal(error) => tracing::error!(error = format!("{error:#}"), "internal error"),
            Self::Unavailable(what) => tracing::warn!(what, "unavailable"),
            Self::SecretRefused(reason) => {
                tracing::error!(reason = %reason, "a sealed secret was refused where it was read: it may have been moved or altered in the database")
            }
            _ => {}
        }
    }
}

/// RFC 9457 body.
/// What a response says about the error it carries, for the page layer (`web::RouteDef::mount`):
/// a page route turns it into the HTML error page in the visitor's language. Public parts only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicError {
    pub status: StatusCode,
    /// `AppError::kind`, e.g. `not-found`: the message key `error.<kind>`.
    pub kind: &'static str,
    pub retry_after_secs: Option<u64>,
    /// A refusal's own reason (`BadRequest`, `Conflict`), shown on the error page.
    pub reason: Option<String>,
    /// The field errors, shown on the error page in the visitor's language.
    pub errors: Vec<FieldError>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log();
        let status = self.status();
        let problem = Problem {
            kind: format!("/docs/problems#{}", self.kind()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.public_detail(),
            errors: self.field_errors().to_vec(),
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        let retry_after_secs = match self {
            Self::TooManyRequests { retry_after_secs } => Some(retry_after_secs),
            _ => None,
        };
        if let Some(secs) = retry_after_secs {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(self.public());
        response
    }
}

/// Maps a unique or check violation of a named constraint to a field error; anything else stays
/// internal. Keeps constraint names out of responses.
pub fn on_constraint(error: sqlx::Error, map: impl FnOnce(&str) -> Option<AppError>) -> AppError {
    if let sqlx::Error::Database(db) = &error
        && let Some(name) = db.constraint()
        && let Some(mapped) = map(name)
    {
        return mapped;
    }
    error.into()
}

/// `Json<T>` for the API whose rejections are problem+json like every other API error: a body that
/// is not JSON is a 400, one of the wrong shape (or not an object) a 422 naming the `body`, a wrong
/// content type a 415, one past the body limit a 413 ([`crate::extract::json_object`]).
pub struct ApiJson<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        crate::extract::json_object(request, state).await.map(Self)
    }
}
