//! Login activity and the API request log (issue #3 item 7; P1-04): recorded, and visible to the
//! organization's owners.
//!
//! * Every request to the JSON API that carried a valid credential is recorded in
//!   `api_request_log` by a middleware of the `web` crate, through [`record_api_request`]: when, the
//!   method, the route *template* (never the concrete path, so ids and tokens in paths are not
//!   kept), the status, the member, the kind of credential, the API key if one was used, and the
//!   client's address. Never bodies, query strings, headers or secrets.
//! * `/settings/activity` (`login_activity_view`, owners): login events and API requests,
//!   newest first, each list paged by keyset (`?logins_before=` / `?requests_before=`, a cursor
//!   made of the last row's time and id — never OFFSET). Each view is audited (`activity.viewed`).

use std::net::IpAddr;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use kernel::audit::AuditEvent;
use kernel::authz::{Credential, Principal};
use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use kernel::web::{AppState, Page, PageError, render};
use kernel::{AppError, OrgTx};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::session::SignedIn;

/// The data catalog entry of the API request log.
pub const TABLES: &[TableEntry] = &[TableEntry {
    table: "api_request_log",
    module: "identity",
    description: "Each request to the API made with a credential: time, method, route template, status, member, kind of credential, API key, IP address.",
    subject: Subject::AccountHolder,
    personal_columns: &["user_id", "ip", "at"],
    purpose: "Security, fraud prevention and audit logging",
    legal_basis: LegalBasis::LegitimateInterest,
    retention: Retention::RollingMonths { months: 12 },
    erasure: Erasure::Delete,
    tenant: true,
}];

/// Rows per list and page.
pub const PAGE_SIZE: usize = 50;

// ------------------------------------------------------------------ recording

/// One API request, as it is recorded: nothing of its body, query string or headers.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: String,
    /// The route template (`MatchedPath`), e.g. `/api/v1/api-keys/{id}`.
    pub route: String,
    pub status: u16,
    pub ip: Option<IpAddr>,
}

/// Appends `request`, made by `principal`, to the organization's API request log, in its own
/// tenant transaction.
pub async fn record_api_request(state: &AppState, principal: &Principal, request: &ApiRequest) -> Result<(), AppError> {
    let api_key = match principal.credential {
        Credential::ApiKey { key_id } => Some(key_id),
        _ => None,
    };
    let method: String = request.method.chars().filter(char::is_ascii_alphabetic).take(10).collect();
    let method = if method.is_empty() { "OTHER".to_owned() } else { method.to_ascii_uppercase() };
    let route: String = request.route.chars().take(300).collect();
    let mut tx = state.db.begin_org(principal.org, principal.actor()).await?;
    sqlx::query!("insert into api_request_log (org_id, request_id, at, method, route, status, user_id, credential, api_key_id, ip)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", principal.org.0, Uuid::now_v7(), state.clock.now(), method, route, i16::try_from(request.status).unwrap_or(599), principal.user_id, principal.credential.kind(), api_key, request.ip.map(sqlx::types::ipnet::IpNet::from))
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(())
}

// ------------------------------------------------------------------ keyset cursors

/// Where a list resumes: strictly older than this (time, id). Written `<unix micros>_<uuid>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: OffsetDateTime,
    pub id: Uuid,
}

impl Cursor {
    pub fn parse(text: &str) -> Option<Self> {
        let (micros, id) = text.split_once('_')?;
        let micros: i128 = micros.parse().ok()?;
        let at = OffsetDateTime::from_unix_timestamp_nanos(micros.checked_mul(1000)?).ok()?;
        Some(Self { at, id: Uuid::parse_str(id).ok()? })
    }

    pub fn encode(&self) -> String {
        format!("{}_{}", self.at.unix_timestamp_nanos() / 1000, self.id)
    }
}

// ------------------------------------------------------------------ the page

#[derive(sqlx::FromRow)]
struct LoginRow {
    event_id: Uuid,
    occurred_at: OffsetDateTime,
    outcome: String,
    method: String,
    ip: Option<sqlx::types::ipnet::IpNet>,
    user_agent: Option<String>,
    first_name: String,
    last_name: String,
}

#[derive(sqlx::FromRow)]
struct RequestRow {
    request_id: Uuid,
    at: OffsetDateTime,
    method: String,
    route: String,
    status: i16,
    credential: String,
    key_prefix: Option<String>,
    ip: Option<sqlx::types::ipnet::IpNet>,
    first_name: String,
    last_name: String,
}

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

fn when(at: &OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    at.format(&format).unwrap_or_default()
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

async fn login_page(tx: &mut OrgTx, before: Option<Cursor>) -> Result<Vec<LoginRow>, sqlx::Error> {
    sqlx::query_as(
        "select e.event_id, e.occurred_at, e.outcome, e.method, e.ip, e.user_agent, u.first_name, u.last_name
         from login_events e join users u on u.org_id = e.org_id and u.user_id = e.user_id
         where e.org_id = $1 and ($2::timestamptz is null or (e.occurred_at, e.event_id) < ($2, $3))
         order by e.occurred_at desc, e.event_id desc
         limit $4",
    )
    .bind(tx.org())
    .bind(before.map(|c| c.at))
    .bind(before.map(|c| c.id))
    .bind(PAGE_SIZE as i64 + 1)
    .fetch_all(tx.conn())
    .await
}

async fn request_page(tx: &mut OrgTx, before: Option<Cursor>) -> Result<Vec<RequestRow>, sqlx::Error> {
    sqlx::query_as(
        "select r.request_id, r.at, r.method, r.route, r.status, r.credential, k.prefix as key_prefix, r.ip,
                u.first_name, u.last_name
         from api_request_log r
         join users u on u.org_id = r.org_id and u.user_id = r.user_id
         left join api_keys k on k.org_id = r.org_id and k.key_id = r.api_key_id
         where r.org_id = $1 and ($2::timestamptz is null or (r.at, r.request_id) < ($2, $3))
         order by r.at desc, r.request_id desc
         limit $4",
    )
    .bind(tx.org())
    .bind(before.map(|c| c.at))
    .bind(before.map(|c| c.id))
    .bind(PAGE_SIZE as i64 + 1)
    .fetch_all(tx.conn())
    .await
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
    Query(query): Query<ActivityQuery>,
) -> Result<Response, PageError> {
    let page = signed_in.page(&state, "/settings/activity");
    let fail = |e: AppError| PageError::new(e, &page);
    let logins_before = cursor_param(query.logins_before.as_deref(), "logins_before");
    let requests_before = cursor_param(query.requests_before.as_deref(), "requests_before");
    let (logins_before, requests_before) = match (logins_before, requests_before) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => {
            let errors = [a.err(), b.err()].into_iter().flatten().flat_map(|e| e.field_errors().to_vec()).collect();
            return Err(fail(AppError::Validation(errors)));
        }
    };
    let mut tx = state.db.begin_org(signed_in.org, signed_in.actor()).await.map_err(|e| fail(e.into()))?;
    let mut logins = login_page(&mut tx, logins_before).await.map_err(|e| fail(e.into()))?;
    let mut requests = request_page(&mut tx, requests_before).await.map_err(|e| fail(e.into()))?;
    let older_logins = next_cursor(&mut logins, |r| Cursor { at: r.occurred_at, id: r.event_id });
    let older_requests = next_cursor(&mut requests, |r| Cursor { at: r.at, id: r.request_id });
    // The page shows IP addresses of members: each view is audited (P0-04, P1-04).
    state
        .audit
        .record(
            &mut tx,
            AuditEvent::new("activity.viewed").payload(json!({ "logins": logins.len(), "requests": requests.len() })),
        )
        .await
        .map_err(|e| fail(e.into()))?;
    tx.commit().await.map_err(|e| fail(e.into()))?;

    let unknown = page.t.get("sessions.unknown");
    let logins = logins
        .into_iter()
        .map(|r| {
            let (browser, system) =
                r.user_agent.as_deref().map(crate::sessions::device_summary).unwrap_or((None, None));
            LoginView {
                when: when(&r.occurred_at),
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
            when: when(&r.at),
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
    let html = render(&view).map_err(|e| PageError::new(e, &page))?;
    Ok(([(header::CACHE_CONTROL, "no-store")], html).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let cursor = Cursor { at: time::macros::datetime!(2026-03-01 12:00:00.123456 UTC), id: Uuid::now_v7() };
        assert_eq!(Cursor::parse(&cursor.encode()), Some(cursor));
        for bad in ["", "x", "12_notauuid", "_", "abc_00000000-0000-0000-0000-000000000000"] {
            assert_eq!(Cursor::parse(bad), None, "{bad}");
        }
    }
}
