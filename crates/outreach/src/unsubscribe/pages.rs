//! The public unsubscribe page, `/u/{token}`: what a recipient reaches from the link in an email,
//! and what their mail client POSTs to for RFC 8058 one-click unsubscribe.
//!
//! * `GET` only shows a confirmation page with one button: link checkers and mail scanners open
//!   every link of a message, and must not unsubscribe anybody.
//! * `POST` unsubscribes at once, with no login, no CSRF token (the mail client posting has none;
//!   the token itself is the proof) and no redirect, as RFC 8058 asks, and answers with a page
//!   saying it is done. Posting twice says it is done twice.
//!
//! A token that does not verify is a 404 before any database work, so a flood of made-up tokens
//! costs nothing but a MAC.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kernel::db::Actor;
use kernel::i18n::Lang;
use kernel::ratelimit::{self, Subject, UNSUBSCRIBE_PER_IP};
use kernel::web::{AppState, ClientInfo, Page, render};
use kernel::{AppError, AppResult, OrgId};
use uuid::Uuid;

use crate::suppression::{service, store};

#[derive(Template)]
#[template(path = "outreach_unsubscribe.html")]
struct UnsubscribeView {
    page: Page,
    /// The address, partly hidden: the link may have been forwarded.
    masked_email: String,
    from_address: String,
    /// The form posts here (the same address).
    action: String,
    /// Done (or already done): the page says so and offers no button.
    done: bool,
}

/// `lea.dubois@example.eu` → `l•••@example.eu`.
fn mask(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••@{domain}")
        }
        None => "•••".into(),
    }
}

fn lang(headers: &HeaderMap) -> Lang {
    Lang::negotiate(None, headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))
}

fn verified(state: &AppState, token: &str) -> Result<(OrgId, Uuid), AppError> {
    if token.len() > 128 {
        return Err(AppError::NotFound);
    }
    super::verify(&state.vault, token).ok_or(AppError::NotFound)
}

fn respond(view: &UnsubscribeView) -> AppResult<Response> {
    let html = render(view)?;
    Ok((StatusCode::OK, [(header::CACHE_CONTROL, "no-store")], html).into_response())
}

/// `GET /u/{token}`: the confirmation page.
pub async fn confirm_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let (org, message) = verified(&state, &token)?;
    let mut tx = state.db.begin_org(org, Actor::Anonymous).await?;
    let (email, from_address) = store::message_recipient(&mut tx, message).await?.ok_or(AppError::NotFound)?;
    let done = store::is_suppressed(&mut tx, &email.to_lowercase()).await?;
    tx.commit().await?;
    let path = format!("/u/{token}");
    respond(&UnsubscribeView {
        page: Page::anonymous(lang(&headers), "/u"),
        masked_email: mask(&email),
        from_address: from_address.unwrap_or_default(),
        action: path,
        done,
    })
}

/// `POST /u/{token}`: one click from the mail client (`List-Unsubscribe=One-Click`) or the
/// confirmation page's button. The body is not read: RFC 8058's is always the same.
pub async fn unsubscribe(
    State(state): State<AppState>,
    Path(token): Path<String>,
    client: ClientInfo,
    headers: HeaderMap,
) -> AppResult<Response> {
    let (org, message) = verified(&state, &token)?;
    ratelimit::check(&state, &UNSUBSCRIBE_PER_IP, Subject::Ip(&client)).await?;
    let mut tx = state.db.begin_org(org, Actor::Anonymous).await?;
    let outcome =
        service::unsubscribe(&mut tx, &state.audit, state.clock.now(), message).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    respond(&UnsubscribeView {
        page: Page::anonymous(lang(&headers), "/u"),
        masked_email: mask(&outcome.email),
        from_address: outcome.from_address.unwrap_or_default(),
        action: format!("/u/{token}"),
        done: true,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_address_is_masked_but_its_domain_stays() {
        assert_eq!(super::mask("lea.dubois@example.eu"), "l•••@example.eu");
        assert_eq!(super::mask("x"), "•••");
    }
}
