//! The HTTP helpers identity's handlers share, in one place: a form's field errors, each shown next
//! to its field; the one-paragraph notice page; the answer to a page that follows or answers a
//! link carrying a token (never cached); and the default of a secret field.

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use kernel::AppResult;
use kernel::FieldError;
use kernel::web::{Page, render};
use secrecy::SecretString;

/// Field errors of a form, each shown next to its field (`kernel::web::field_error_text`).
#[derive(Debug, Default, Clone)]
pub struct FormErrors(pub Vec<FieldError>);

impl FormErrors {
    pub fn for_field(&self, page: &Page, field: &str) -> Option<String> {
        self.0.iter().find(|e| e.field == field).map(|e| kernel::web::field_error_text(page, e))
    }

    pub fn any(&self) -> bool {
        !self.0.is_empty()
    }
}

/// A page with a title and one paragraph, both message keys.
#[derive(Template)]
#[template(path = "notice.html")]
pub(crate) struct NoticePage {
    pub page: Page,
    pub title_key: &'static str,
    pub body_key: &'static str,
    pub link: Option<(&'static str, &'static str)>,
}

/// A page that must not be cached (it follows or answers a link carrying a token).
pub(crate) fn no_store(status: StatusCode, html: impl IntoResponse) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], html).into_response()
}

pub(crate) fn notice(
    page: &Page,
    status: StatusCode,
    title_key: &'static str,
    body_key: &'static str,
    link: Option<(&'static str, &'static str)>,
) -> AppResult<Response> {
    let view = NoticePage { page: page.clone(), title_key, body_key, link };
    Ok(no_store(status, render(&view)?))
}

/// The page for a link that is unknown, expired, used or withdrawn: one answer for all.
pub(crate) fn link_invalid(page: &Page) -> AppResult<Response> {
    notice(page, StatusCode::GONE, "link.invalid_title", "link.invalid", None)
}

/// A secret form or JSON field that was left out reads as empty: `#[serde(default = "empty_secret")]`.
pub(crate) fn empty_secret() -> SecretString {
    SecretString::from("")
}
