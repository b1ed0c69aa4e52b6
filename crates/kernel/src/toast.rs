//! One-shot confirmations after an action ("Saved.", "The lead was converted."), shown as a toast
//! by the layout. A handler answers with [`redirect_with_toast`]: the response carries a message
//! KEY (never text), which [`layer`] turns into a short-lived cookie; the next page drawn with the
//! layout asks [`crate::web::Page::toast`] for it, and [`layer`] clears the cookie in that same
//! response. So a reload does not show it again, the address stays clean, and nothing a visitor
//! types into a URL is ever shown: only a key the message catalog knows becomes a toast.
//!
//! The cookie is strictly necessary (it carries the answer to the action the member just asked
//! for), lives 60 seconds at most, and holds nothing about the person.

use std::cell::{Cell, RefCell};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};

use crate::web::AppState;

/// How long a toast waits for its page: the redirect is followed at once; a minute covers a slow
/// line without letting a forgotten toast show up on a page opened much later.
const MAX_AGE_SECS: i64 = 60;

/// Whether a toast confirms something done or reports something that was not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToastKind {
    Success,
    Error,
}

/// A toast ready to show: its text in the page's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toast {
    pub text: String,
    pub kind: ToastKind,
}

impl Toast {
    pub fn is_error(&self) -> bool {
        self.kind == ToastKind::Error
    }
}

/// The toast a response asks for, turned into the cookie by [`layer`] (which knows whether the
/// site is served over HTTPS, hence the cookie's name).
#[derive(Debug, Clone, Copy)]
struct SetToast {
    kind: ToastKind,
    key: &'static str,
}

/// A redirect (303) to `to` whose next page shows the message `key` as a confirmation toast.
pub fn redirect_with_toast(to: &str, key: &'static str) -> Response {
    with_toast(Redirect::to(to).into_response(), ToastKind::Success, key)
}

/// A redirect (303) to `to` whose next page shows the message `key` as an error toast: for an
/// action that could not be done and has no form to show the error in (an upload refused).
/// Validation errors of a form are never toasts: the form is drawn again with them in place.
pub fn redirect_with_error_toast(to: &str, key: &'static str) -> Response {
    with_toast(Redirect::to(to).into_response(), ToastKind::Error, key)
}

fn with_toast(mut response: Response, kind: ToastKind, key: &'static str) -> Response {
    response.extensions_mut().insert(SetToast { kind, key });
    response
}

/// The cookie's name: `__Host-` prefixed behind HTTPS, like the session cookie.
fn cookie_name(state: &AppState) -> &'static str {
    if state.config.public_url.is_https() { "__Host-relais_toast" } else { "relais_toast" }
}

/// A key as it may come back from the cookie: dotted lower-case words, nothing else. Whether the
/// catalog knows it is checked when it is shown.
fn parse(value: &str) -> Option<(ToastKind, String)> {
    let (kind, key) = match value.split_once(':')? {
        ("s", key) => (ToastKind::Success, key),
        ("e", key) => (ToastKind::Error, key),
        _ => return None,
    };
    let well_formed = !key.is_empty()
        && key.len() <= 100
        && key.contains('.')
        && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
    well_formed.then(|| (kind, key.to_owned()))
}

fn encode(kind: ToastKind, key: &str) -> String {
    let prefix = match kind {
        ToastKind::Success => "s",
        ToastKind::Error => "e",
    };
    format!("{prefix}:{key}")
}

/// The toast waiting for this request's page, whether it came from the cookie, and whether the
/// page showed it.
struct Pending {
    toast: RefCell<Option<(ToastKind, String)>>,
    from_cookie: bool,
    shown: Cell<bool>,
}

tokio::task_local! {
    static PENDING: Pending;
}

/// The waiting toast, for the layout (see [`crate::web::Page::toast`]): `None` outside a request,
/// when there is none, or when the catalog does not know its key. Marks it shown, so [`layer`]
/// clears the cookie.
pub(crate) fn take(t: &crate::i18n::T) -> Option<Toast> {
    PENDING
        .try_with(|pending| {
            let toast = pending.toast.borrow();
            let (kind, key) = toast.as_ref()?;
            let text = t.get(key);
            if text == key.as_str() {
                return None;
            }
            pending.shown.set(true);
            Some(Toast { text: text.to_string(), kind: *kind })
        })
        .ok()
        .flatten()
}

/// Shows the message `key` as a confirmation toast on the page this request draws: for a POST
/// that answers with a page instead of a redirect (what it shows can be seen only once).
pub fn show_now(key: &'static str) {
    let _ = PENDING.try_with(|pending| pending.toast.replace(Some((ToastKind::Success, key.to_owned()))));
}

/// Middleware: makes the cookie's toast available to the page drawn for this request, clears the
/// cookie once a page showed it, and sets it when a handler asked for one.
pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let jar = CookieJar::from_headers(request.headers());
    let name = cookie_name(&state);
    let toast = jar.get(name).and_then(|cookie| parse(cookie.value()));
    let pending = Pending { from_cookie: toast.is_some(), toast: RefCell::new(toast), shown: Cell::new(false) };
    let (mut response, shown) = PENDING
        .scope(pending, async {
            let response = next.run(request).await;
            (response, PENDING.with(|p| p.from_cookie && p.shown.get()))
        })
        .await;
    let cookie = match response.extensions_mut().remove::<SetToast>() {
        Some(set) => Cookie::build((name, encode(set.kind, set.key)))
            .http_only(true)
            .secure(true)
            .same_site(SameSite::Strict)
            .path("/")
            .max_age(time::Duration::seconds(MAX_AGE_SECS))
            .build(),
        None if shown => {
            let mut cookie = Cookie::build((name, "")).http_only(true).secure(true).path("/").build();
            cookie.make_removal();
            cookie
        }
        None => return response,
    };
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_keys_come_back_from_the_cookie() {
        assert_eq!(parse("s:crm.notice.saved"), Some((ToastKind::Success, "crm.notice.saved".into())));
        assert_eq!(parse("e:crm.notice.file_refused"), Some((ToastKind::Error, "crm.notice.file_refused".into())));
        for forged in
            ["crm.notice.saved", "x:crm.notice.saved", "s:", "s:saved", "s:<b>hi</b>.x", "s:Hello world.", "s:a.b c"]
        {
            assert_eq!(parse(forged), None, "{forged:?}");
        }
        assert_eq!(parse(&encode(ToastKind::Error, "profile.saved")), Some((ToastKind::Error, "profile.saved".into())));
    }
}
