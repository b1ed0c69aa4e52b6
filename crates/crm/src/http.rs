//! The HTTP helpers every CRM handler shares, in one place: the record-type marker of generic
//! handlers, path ids, the write context of a member's change, the pieces a page handler needs
//! from an `application/x-www-form-urlencoded` body, and the one way field errors become sentences
//! on a page.

use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use kernel::authz::Principal;
use kernel::web::AppState;
use kernel::web::Page;
use kernel::{AppError, FieldError};
use uuid::Uuid;

use crate::object::ObjectType;
use crate::records::{Source, WriteCtx};

/// Picks the object type of a generic handler.
pub trait Object: Send + Sync + 'static {
    const TYPE: ObjectType;
}

pub struct Leads;
pub struct Contacts;
pub struct Companies;
pub struct Deals;

impl Object for Leads {
    const TYPE: ObjectType = ObjectType::Lead;
}
impl Object for Contacts {
    const TYPE: ObjectType = ObjectType::Contact;
}
impl Object for Companies {
    const TYPE: ObjectType = ObjectType::Company;
}
impl Object for Deals {
    const TYPE: ObjectType = ObjectType::Deal;
}

pub fn parse_id(text: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(text).map_err(|_| AppError::NotFound)
}

/// Who writes, from where, now: the context of a member's change.
pub fn write_ctx(state: &AppState, principal: &Principal, source: Source) -> WriteCtx {
    WriteCtx { user: Some(principal.user_id), source, now: state.clock.now(), import_id: None }
}

/// The body's fields in order; a name may repeat (checkbox groups).
pub type Fields = Vec<(String, String)>;

pub fn parse(body: &Bytes) -> Fields {
    url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// The first value of `name`, or "".
pub fn value<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default()
}

/// Every value of `name` (a group of checkboxes), in order.
pub fn values(form: &[(String, String)], name: &str) -> Vec<String> {
    form.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
}

/// The CSRF token a signed-in form carries.
pub fn csrf(form: &[(String, String)]) -> &str {
    value(form, "csrf")
}

/// "field: message" lines in the page's language (`kernel::web::field_error_text`).
pub fn error_texts(page: &Page, errors: &[FieldError]) -> Vec<String> {
    errors
        .iter()
        .map(|e| {
            let message = kernel::web::field_error_text(page, e);
            // The field's label when it has one ("Last name: …"); never its key.
            let key = format!("crm.field.{}", e.field.strip_prefix("filter.").unwrap_or(&e.field));
            let label = page.t.get(&key);
            if label == key {
                message
            } else {
                page.t.fmt("crm.labelled_error", &[("label", label), ("message", &message)])
            }
        })
        .collect()
}

/// A rendered page with its status, never cached (pages carry the CSRF token and tenant data).
pub fn page_response(status: StatusCode, html: impl IntoResponse) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], html).into_response()
}
