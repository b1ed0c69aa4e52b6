//! Sessions (issue #3 item 7; P1-04, P1-10): what a member is signed in with, and ending it.
//!
//! * `/settings/sessions` (`sessions_manage_own`): the member's own live browser sessions
//!   (created, last seen, IP, a readable browser/system summary, the current one marked) and API
//!   refresh-token families (created, last used, expires). Each can be revoked by a CSRF-checked
//!   POST; revoking the current session logs out. Revoking a family ends its refresh token and its
//!   access tokens at once (`api_auth` refuses tokens of a revoked family).
//! * `/settings/members/{user_id}/sessions` (`sessions_manage_members`, owners): a member's
//!   sessions and API token families, and one button that deletes every session and revokes every
//!   API token of theirs (`api_auth::revoke_all_api_tokens`), audited `member.sessions_ended`.
//!   API keys are left alone: they belong to the organization's integrations (`/settings/api-keys`).
//! * Ids that are not the caller's (or not the organization's) answer 404, like ids that do not exist.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use kernel::audit::AuditEvent;
use kernel::web::{AppState, Page, PageError, render};
use kernel::{AppError, OrgTx};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::session::{SignedIn, expired_session_cookie};

// ------------------------------------------------------------------ the browser, in words

/// A short, readable name for a browser's `User-Agent`: `("Firefox", "Linux")`. Only well-known
/// names are recognised (order matters: Edge and Opera also say "Chrome", Chrome also says
/// "Safari"); anything else is `None` and shown as "unknown". Versions are left out on purpose.
pub fn device_summary(user_agent: &str) -> (Option<&'static str>, Option<&'static str>) {
    let ua = user_agent;
    let browser = if ua.contains("Edg/") || ua.contains("EdgA/") || ua.contains("EdgiOS/") {
        Some("Edge")
    } else if ua.contains("OPR/") || ua.contains("Opera") {
        Some("Opera")
    } else if ua.contains("SamsungBrowser/") {
        Some("Samsung Internet")
    } else if ua.contains("Firefox/") || ua.contains("FxiOS/") {
        Some("Firefox")
    } else if ua.contains("Chrome/") || ua.contains("Chromium/") || ua.contains("CriOS/") {
        Some("Chrome")
    } else if ua.contains("Safari/") && ua.contains("Version/") {
        Some("Safari")
    } else if ua.starts_with("curl/") {
        Some("curl")
    } else {
        None
    };
    let system = if ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iPod") {
        Some("iOS")
    } else if ua.contains("Android") {
        Some("Android")
    } else if ua.contains("CrOS") {
        Some("ChromeOS")
    } else if ua.contains("Windows") {
        Some("Windows")
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        Some("macOS")
    } else if ua.contains("Linux") || ua.contains("X11") {
        Some("Linux")
    } else {
        None
    };
    (browser, system)
}

/// `device_summary` for a page: "Firefox · Linux", with "unknown" in the page's language.
fn device_text(page: &Page, user_agent: Option<&str>) -> String {
    let unknown = page.t.get("sessions.unknown");
    let (browser, system) = user_agent.map(device_summary).unwrap_or((None, None));
    format!("{} · {}", browser.unwrap_or(unknown), system.unwrap_or(unknown))
}

fn when(at: &OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    at.format(&format).unwrap_or_default()
}

// ------------------------------------------------------------------ reading

#[derive(sqlx::FromRow)]
struct SessionRow {
    session_id: Uuid,
    created_at: OffsetDateTime,
    last_seen_at: OffsetDateTime,
    ip: Option<sqlx::types::ipnet::IpNet>,
    user_agent: Option<String>,
}

/// A browser session as the page shows it.
pub struct SessionView {
    pub id: Uuid,
    pub created: String,
    pub last_seen: String,
    pub ip: String,
    pub device: String,
    pub current: bool,
}

#[derive(sqlx::FromRow)]
struct FamilyRow {
    family_id: Uuid,
    created_at: OffsetDateTime,
    last_used_at: Option<OffsetDateTime>,
    expires_at: OffsetDateTime,
}

/// A live API refresh-token family (one API login) as the page shows it.
pub struct FamilyView {
    pub id: Uuid,
    pub created: String,
    pub last_used: String,
    pub expires: String,
}

async fn live_sessions(
    tx: &mut OrgTx,
    user: Uuid,
    now: OffsetDateTime,
    current: Option<Uuid>,
    page: &Page,
) -> Result<Vec<SessionView>, sqlx::Error> {
    let rows: Vec<SessionRow> = sqlx::query_as!(
        SessionRow,
        "select session_id, created_at, last_seen_at, ip, user_agent from sessions
         where org_id = $1 and user_id = $2 and expires_at > $3
         order by last_seen_at desc, session_id",
        tx.org().0,
        user,
        now
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| SessionView {
            id: row.session_id,
            created: when(&row.created_at),
            last_seen: when(&row.last_seen_at),
            ip: row.ip.map(|net| net.addr().to_string()).unwrap_or_default(),
            device: device_text(page, row.user_agent.as_deref()),
            current: Some(row.session_id) == current,
        })
        .collect())
}

/// Families none of whose tokens is revoked and whose newest token has not expired. "Last used"
/// is the last refresh; access-token use is not tracked.
async fn live_families(tx: &mut OrgTx, user: Uuid, now: OffsetDateTime) -> Result<Vec<FamilyView>, sqlx::Error> {
    let rows: Vec<FamilyRow> = sqlx::query_as!(
        FamilyRow,
        r#"select family_id as "family_id!", min(created_at) as "created_at!", max(used_at) as last_used_at,
                least(max(expires_at), max(family_expires_at)) as "expires_at!"
         from refresh_tokens
         where org_id = $1 and user_id = $2
         group by family_id
         having bool_and(revoked_at is null) and max(expires_at) > $3
         order by min(created_at) desc, family_id"#,
        tx.org().0,
        user,
        now
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| FamilyView {
            id: row.family_id,
            created: when(&row.created_at),
            last_used: row.last_used_at.as_ref().map(when).unwrap_or_else(|| "—".into()),
            expires: when(&row.expires_at),
        })
        .collect())
}

// ------------------------------------------------------------------ a member's own sessions

#[derive(Template)]
#[template(path = "sessions.html")]
struct OwnSessionsPage {
    page: Page,
    sessions: Vec<SessionView>,
    families: Vec<FamilyView>,
}

const OWN_PATH: &str = "/settings/sessions";

/// `GET /settings/sessions`.
pub async fn own_page(State(state): State<AppState>, signed_in: SignedIn) -> Result<Response, PageError> {
    let page = signed_in.page(&state, OWN_PATH);
    let fail = |e: sqlx::Error| PageError::new(e, &page);
    let now = state.clock.now();
    let mut tx = state.db.begin_org(signed_in.org, signed_in.actor()).await.map_err(fail)?;
    let sessions =
        live_sessions(&mut tx, signed_in.user_id, now, Some(signed_in.session_id), &page).await.map_err(fail)?;
    let families = live_families(&mut tx, signed_in.user_id, now).await.map_err(fail)?;
    tx.commit().await.map_err(fail)?;
    let view = OwnSessionsPage { page: page.clone(), sessions, families };
    let html = render(&view).map_err(|e| PageError::new(e, &page))?;
    Ok(([(header::CACHE_CONTROL, "no-store")], html).into_response())
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

fn parse_id(text: &str, page: &Page) -> Result<Uuid, PageError> {
    Uuid::parse_str(text).map_err(|_| PageError::new(AppError::NotFound, page))
}

/// Back to the login page with the session cookie removed (the session itself is already gone).
fn signed_out(state: &AppState) -> Response {
    (CookieJar::new().add(expired_session_cookie(state)), Redirect::to("/login")).into_response()
}

/// `POST /settings/sessions/{session_id}/revoke`: ends one of the caller's own browser sessions.
pub async fn revoke_own_session(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let page = signed_in.page(&state, OWN_PATH);
    signed_in.check_csrf(&state, &form.csrf)?;
    let session_id = parse_id(&id, &page)?;
    let fail = |e: sqlx::Error| PageError::new(e, &page);
    let mut tx = state.db.begin_org(signed_in.org, signed_in.actor()).await.map_err(fail)?;
    let deleted = sqlx::query!(
        "delete from sessions where org_id = $1 and session_id = $2 and user_id = $3",
        signed_in.org.0,
        session_id,
        signed_in.user_id
    )
    .execute(tx.conn())
    .await
    .map_err(fail)?
    .rows_affected();
    if deleted == 0 {
        return Err(PageError::new(AppError::NotFound, &page));
    }
    state
        .audit
        .record(&mut tx, AuditEvent::new("session.revoked").target("session", session_id))
        .await
        .map_err(fail)?;
    tx.commit().await.map_err(fail)?;
    if session_id == signed_in.session_id {
        return Ok(signed_out(&state));
    }
    Ok(Redirect::to(OWN_PATH).into_response())
}

/// `POST /settings/sessions/tokens/{family_id}/revoke`: ends one of the caller's own API logins.
pub async fn revoke_own_family(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let page = signed_in.page(&state, OWN_PATH);
    signed_in.check_csrf(&state, &form.csrf)?;
    let family = parse_id(&id, &page)?;
    let fail = |e: sqlx::Error| PageError::new(e, &page);
    let now = state.clock.now();
    let mut tx = state.db.begin_org(signed_in.org, signed_in.actor()).await.map_err(fail)?;
    let live: bool = sqlx::query_scalar!(
        r#"select exists (select from refresh_tokens
                        where org_id = $1 and family_id = $2 and user_id = $3 and revoked_at is null) as "exists!""#,
        signed_in.org.0,
        family,
        signed_in.user_id
    )
    .fetch_one(tx.conn())
    .await
    .map_err(fail)?;
    if !live {
        return Err(PageError::new(AppError::NotFound, &page));
    }
    crate::api_auth::revoke_family(&mut tx, family, now).await.map_err(fail)?;
    state
        .audit
        .record(&mut tx, AuditEvent::new("auth.api_token.revoked").target("token_family", family))
        .await
        .map_err(fail)?;
    tx.commit().await.map_err(fail)?;
    Ok(Redirect::to(OWN_PATH).into_response())
}

// ------------------------------------------------------------------ owners: a member's sessions

#[derive(Template)]
#[template(path = "member_sessions.html")]
struct MemberSessionsPage {
    page: Page,
    member_id: Uuid,
    member_name: String,
    sessions: Vec<SessionView>,
    families: Vec<FamilyView>,
}

#[derive(sqlx::FromRow)]
struct MemberName {
    first_name: String,
    last_name: String,
}

async fn member_name(tx: &mut OrgTx, user: Uuid) -> Result<Option<MemberName>, sqlx::Error> {
    sqlx::query_as("select first_name, last_name from users where org_id = $1 and user_id = $2")
        .bind(tx.org())
        .bind(user)
        .fetch_optional(tx.conn())
        .await
}

/// `GET /settings/members/{user_id}/sessions`.
pub async fn member_page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let member = parse_id(&id, &signed_in.page(&state, "/members"))?;
    let page = signed_in.page(&state, &format!("/settings/members/{member}/sessions"));
    let fail = |e: sqlx::Error| PageError::new(e, &page);
    let now = state.clock.now();
    let mut tx = state.db.begin_org(signed_in.org, signed_in.actor()).await.map_err(fail)?;
    let Some(name) = member_name(&mut tx, member).await.map_err(fail)? else {
        return Err(PageError::new(AppError::NotFound, &page));
    };
    let current = (member == signed_in.user_id).then_some(signed_in.session_id);
    let sessions = live_sessions(&mut tx, member, now, current, &page).await.map_err(fail)?;
    let families = live_families(&mut tx, member, now).await.map_err(fail)?;
    tx.commit().await.map_err(fail)?;
    let view = MemberSessionsPage {
        page: page.clone(),
        member_id: member,
        member_name: format!("{} {}", name.first_name, name.last_name),
        sessions,
        families,
    };
    let html = render(&view).map_err(|e| PageError::new(e, &page))?;
    Ok(([(header::CACHE_CONTROL, "no-store")], html).into_response())
}

/// Deletes every browser session of `member` and revokes every API token of theirs, in `tx`;
/// audited `member.sessions_ended`. Returns how many browser sessions ended.
pub async fn end_all_sessions(
    state: &AppState,
    tx: &mut OrgTx,
    member: Uuid,
    now: OffsetDateTime,
) -> Result<u64, AppError> {
    let ended = sqlx::query!("delete from sessions where org_id = $1 and user_id = $2", tx.org().0, member)
        .execute(tx.conn())
        .await?
        .rows_affected();
    crate::api_auth::revoke_all_api_tokens(tx, member, now).await?;
    state
        .audit
        .record(
            tx,
            AuditEvent::new("member.sessions_ended").target("user", member).payload(json!({ "sessions": ended })),
        )
        .await?;
    Ok(ended)
}

/// `POST /settings/members/{user_id}/sessions/end`: signs the member out everywhere.
pub async fn end_member_sessions(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let page = signed_in.page(&state, "/settings/members");
    signed_in.check_csrf(&state, &form.csrf)?;
    let member = parse_id(&id, &page)?;
    let now = state.clock.now();
    let mut tx = state.db.begin_org(signed_in.org, signed_in.actor()).await.map_err(|e| PageError::new(e, &page))?;
    if member_name(&mut tx, member).await.map_err(|e| PageError::new(e, &page))?.is_none() {
        return Err(PageError::new(AppError::NotFound, &page));
    }
    end_all_sessions(&state, &mut tx, member, now).await.map_err(|e| PageError::new(e, &page))?;
    tx.commit().await.map_err(|e| PageError::new(e, &page))?;
    if member == signed_in.user_id {
        return Ok(signed_out(&state));
    }
    Ok(Redirect::to(&format!("/settings/members/{member}/sessions")).into_response())
}

#[cfg(test)]
mod tests {
    use super::device_summary;

    #[test]
    fn common_browsers_are_named() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                (Some("Firefox"), Some("Linux")),
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
                (Some("Edge"), Some("Windows")),
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
                (Some("Safari"), Some("macOS")),
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                (Some("Safari"), Some("iOS")),
            ),
            (
                "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
                (Some("Chrome"), Some("Android")),
            ),
            ("curl/8.5.0", (Some("curl"), None)),
            ("something else", (None, None)),
        ];
        for (ua, expected) in cases {
            assert_eq!(device_summary(ua), expected, "{ua}");
        }
    }
}
