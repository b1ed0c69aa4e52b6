//! `/settings/activity`.

use super::*;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use kernel::audit::AuditEvent;
use kernel::authz::Principal;
use kernel::web::{AppState, Page, render};
use kernel::{AppError, AppResult};
use serde::Deserialize;
use serde_json::json;

use crate::signed_in::SignedIn;

pub struct LoginView {
    pub when: String,
    pub who: String,
    pub outcome: String,
    pub method: String,
    pub ip: String,
    pub device: String,
}

pub struct RequestView {
    pub when: String,
    pub who: String,
    pub method: String,
    pub route: String,
    pub status: i16,
    pub credential: String,
    pub key_prefix: Option<String>,
    pub ip: String,
}

#[derive(Template)]
#[template(path = "activity.html")]
struct ActivityPage {
    page: Page,
    logins: Vec<LoginView>,
    requests: Vec<RequestView>,
    /// Links to the next (older) page of each list, keeping the other list where it is.
    older_logins: Option<String>,
    older_requests: Option<String>,
    first_page: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct ActivityQuery {
    #[serde(default)]
    logins_before: Option<String>,
    #[serde(default)]
    requests_before: Option<String>,
}

fn ip_text(ip: Option<sqlx::types::ipnet::IpNet>) -> String {
    ip.map(|net| net.addr().to_string()).unwrap_or_default()
}

/// A cursor parameter: absent or empty is the first page; anything else must parse.
fn cursor_param(value: Option<&str>, field: &str) -> Result<Option<Cursor>, AppError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(text) => Cursor::parse(text).map(Some).ok_or_else(|| AppError::field(field, "invalid", "Invalid cursor.")),
    }
}

/// The cursor after a page of `rows` (fetched with one extra row), if there are older rows.
fn next_cursor<R>(rows: &mut Vec<R>, key: impl Fn(&R) -> Cursor) -> Option<Cursor> {
    if rows.len() > PAGE_SIZE {
        rows.truncate(PAGE_SIZE);
        rows.last().map(key)
    } else {
        None
    }
}

fn link(logins: Option<Cursor>, requests: Option<Cursor>) -> String {
    let mut params = Vec::new();
    if let Some(c) = logins {
        params.push(format!("logins_before={}", c.encode()));
    }
    if let Some(c) = requests {
        params.push(format!("requests_before={}", c.encode()));
    }
    format!("/settings/activity?{}", params.join("&"))
}

/// `GET /settings/activity`.
pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Query(query): Query<ActivityQuery>,
) -> AppResult<Response> {
    let page = signed_in.page(&state, "/settings/activity");
    let logins_before = cursor_param(query.logins_before.as_deref(), "logins_before");
    let requests_before = cursor_param(query.requests_before.as_deref(), "requests_before");
    let (logins_before, requests_before) = match (logins_before, requests_before) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => {
            let errors = [a.err(), b.err()].into_iter().flatten().flat_map(|e| e.field_errors().to_vec()).collect();
            return Err(AppError::Validation(errors));
        }
    };
    let mut tx = principal.begin(&state.db).await?;
    let mut logins = login_page(&mut tx, logins_before).await?;
    let mut requests = request_page(&mut tx, requests_before).await?;
    let older_logins = next_cursor(&mut logins, |r| Cursor { at: r.occurred_at, id: r.event_id });
    let older_requests = next_cursor(&mut requests, |r| Cursor { at: r.at, id: r.request_id });
    // The page shows IP addresses of members: each view is audited (P0-04, P1-04).
    state
        .audit
        .record(
            &mut tx,
            AuditEvent::new("activity.viewed").payload(json!({ "logins": logins.len(), "requests": requests.len() })),
        )
        .await?;
    tx.commit().await?;

    let unknown = page.t.get("sessions.unknown");
    let logins = logins
        .into_iter()
        .map(|r| {
            let (browser, system) =
                r.user_agent.as_deref().map(crate::sessions::device_summary).unwrap_or((None, None));
            LoginView {
                when: page.date_time(&r.occurred_at),
                who: format!("{} {}", r.first_name, r.last_name),
                outcome: r.outcome,
                method: r.method,
                ip: ip_text(r.ip),
                device: format!("{} · {}", browser.unwrap_or(unknown), system.unwrap_or(unknown)),
            }
        })
        .collect();
    let requests = requests
        .into_iter()
        .map(|r| RequestView {
            when: page.date_time(&r.at),
            who: format!("{} {}", r.first_name, r.last_name),
            method: r.method,
            route: r.route,
            status: r.status,
            credential: r.credential,
            key_prefix: r.key_prefix,
            ip: ip_text(r.ip),
        })
        .collect();
    let view = ActivityPage {
        page: page.clone(),
        logins,
        requests,
        older_logins: older_logins.map(|c| link(Some(c), requests_before)),
        older_requests: older_requests.map(|c| link(logins_before, Some(c))),
        first_page: logins_before.is_none() && requests_before.is_none(),
    };
    let html = render(&view)?;
    Ok(([(header::CACHE_CONTROL, "no-store")], html).into_response())
}
