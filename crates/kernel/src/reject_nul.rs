//! NUL characters in what a client sends, refused in one place for every route.
//!
//! PostgreSQL text cannot hold U+0000: a NUL that reached a query failed it, and the request
//! answered 500. Rather than each field checking, one layer (mounted by the web crate on every
//! route) looks at the path, the query string and every JSON or urlencoded form body before any
//! extractor runs, and refuses a NUL with 422 naming the field: the query parameter or form field
//! name, or the JSON path (`filters.0.value`, `custom.tier`). So no field added later can miss it.
//! Multipart uploads are not inspected here: their text fields are checked by the handlers that
//! read them, and CSV import cells have their own rule (the row is rejected, see the CRM's import).

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use futures_util::StreamExt;
use serde_json::Value;

use crate::error::AppError;
use crate::i18n::{LANG_COOKIE, Lang};
use crate::web::{Page, PageError, SignedInPage};

/// Bodies up to this size are inspected. Larger ones are passed on unread past this point: every
/// JSON and form extractor refuses them anyway (the web crate's body limit is 1 MiB).
const INSPECTED: usize = 4 * 1024 * 1024;

/// The error for a NUL in `field`.
pub fn nul_error(field: impl Into<String>) -> AppError {
    AppError::field(field, "contains_nul", "This value contains a NUL character (\\0), which cannot be stored.")
}

/// The first name or value of `application/x-www-form-urlencoded` text (a query string or a form
/// body) holding a NUL: the field's name.
pub fn nul_in_form(text: &[u8]) -> Option<String> {
    if !text.contains(&0) && !text.windows(3).any(|w| w == b"%00") {
        return None;
    }
    url::form_urlencoded::parse(text)
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        .map(|(name, _)| name.replace('\0', ""))
}

/// The path (`notes`, `filters.0.value`) of the first string or key of a JSON body holding a NUL.
pub fn nul_in_json(body: &[u8]) -> Option<String> {
    // JSON can only carry a NUL as the escape `\u0000`: no need to parse a body without one.
    if !body.windows(6).any(|w| w == b"\\u0000") {
        return None;
    }
    let value: Value = serde_json::from_slice(body).ok()?;
    find_in_value(&value, "")
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

fn find_in_value(value: &Value, path: &str) -> Option<String> {
    match value {
        Value::String(text) if text.contains('\0') => Some(if path.is_empty() { "body".into() } else { path.into() }),
        Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, item)| find_in_value(item, &join(path, &i.to_string())))
        }
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            let here = join(path, &key.replace('\0', ""));
            if key.contains('\0') { Some(here) } else { find_in_value(item, &here) }
        }),
        _ => None,
    }
}

enum Kind {
    Json,
    Form,
}

fn body_kind(request: &Request) -> Option<Kind> {
    let content_type = request.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        Some(Kind::Json)
    } else if essence == "application/x-www-form-urlencoded" {
        Some(Kind::Form)
    } else {
        None
    }
}

/// The refusal, as problem+json on the API and as the error page elsewhere.
fn refuse(request: &Request, field: String) -> Response {
    let error = nul_error(field);
    if request.uri().path().starts_with("/api/") {
        return error.into_response();
    }
    let page = match request.extensions().get::<SignedInPage>() {
        Some(SignedInPage(page)) => Page { path: request.uri().path().to_owned(), ..page.clone() },
        None => {
            let jar = CookieJar::from_headers(request.headers());
            let accept = request.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
            Page::anonymous(Lang::negotiate(jar.get(LANG_COOKIE).map(|c| c.value()), accept), request.uri().path())
        }
    };
    PageError::new(error, &page).into_response()
}

/// The layer: refuses a NUL in the path, the query string, or a JSON or form body.
pub async fn reject_nul(request: Request, next: Next) -> Response {
    let raw_path = request.uri().path();
    if raw_path.contains("%00") {
        return refuse(&request, "path".into());
    }
    if let Some(field) = request.uri().query().and_then(|q| nul_in_form(q.as_bytes())) {
        return refuse(&request, field);
    }
    let Some(kind) = body_kind(&request) else { return next.run(request).await };
    let (parts, body) = request.into_parts();
    let mut stream = body.into_data_stream();
    let mut buffer: Vec<u8> = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                buffer.extend_from_slice(&chunk);
                if buffer.len() > INSPECTED {
                    // Too large to inspect: passed on whole, for the extractor to refuse.
                    let head = futures_util::stream::once(async move { Ok::<_, axum::Error>(Bytes::from(buffer)) });
                    let body = Body::from_stream(head.chain(stream));
                    return next.run(Request::from_parts(parts, body)).await;
                }
            }
            Err(error) => {
                let head = futures_util::stream::iter([Ok(Bytes::from(buffer)), Err(error)]);
                return next.run(Request::from_parts(parts, Body::from_stream(head))).await;
            }
        }
    }
    let found = match kind {
        Kind::Json => nul_in_json(&buffer),
        Kind::Form => nul_in_form(&buffer),
    };
    let request = Request::from_parts(parts, Body::from(buffer));
    match found {
        Some(field) => refuse(&request, field),
        None => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_found_with_the_field_it_is_in() {
        assert_eq!(nul_in_form(b"q=a%00b&x=1"), Some("q".into()));
        assert_eq!(nul_in_form(b"q=ab&x=1"), None);
        assert_eq!(nul_in_form(b"csrf=t&name=%00"), Some("name".into()));
        assert_eq!(nul_in_json(br#"{"body":"a\u0000"}"#), Some("body".into()));
        assert_eq!(nul_in_json(br#"{"filters":[{"field":"x","value":"a\u0000"}]}"#), Some("filters.0.value".into()));
        assert_eq!(nul_in_json(br#"{"custom":{"k\u0000":"v"}}"#), Some("custom.k".into()));
        assert_eq!(nul_in_json(br#"{"note":"a\\u0000 is fine"}"#), None);
        assert_eq!(nul_in_json(br#""\u0000""#), Some("body".into()));
    }
}
