//! `/settings/sessions` (one's own) and `/settings/members/{user_id}/sessions` (owners).

use super::*;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use kernel::authz::Principal;
use kernel::web::{AppState, CsrfForm, render};
use kernel::{AppError, AppResult};
use serde::de::IgnoredAny;

use crate::signed_in::{SignedIn, expired_session_cookie};

#[derive(Template)]
#[template(path = "sessions.html")]
struct OwnSessionsPage {
    page: Page,
    sessions: Vec<SessionView>,
    families: Vec<FamilyView>,
}

const OWN_PATH: &str = "/settings/sessions";

/// `GET /settings/sessions`.
pub async fn own_page(State(state): State<AppState>, signed_in: SignedIn, principal: Principal) -> AppResult<Response> {
    let page = signed_in.page(&state, OWN_PATH);
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
    let sessions = live_sessions(&mut tx, signed_in.user_id, now, Some(signed_in.session_id), &page).await?;
    let families = live_families(&mut tx, signed_in.user_id, now, &page).await?;
    tx.commit().await?;
    let view = OwnSessionsPage { page, sessions, families };
    Ok(([(header::CACHE_CONTROL, "no-store")], render(&view)?).into_response())
}

fn parse_id(text: &str) -> AppResult<Uuid> {
    Uuid::parse_str(text).map_err(|_| AppError::NotFound)
}

/// Back to the login page with the session cookie removed (the session itself is already gone).
fn signed_out(state: &AppState) -> Response {
    (CookieJar::new().add(expired_session_cookie(state)), Redirect::to("/login")).into_response()
}

/// `POST /settings/sessions/{session_id}/revoke`: ends one of the caller's own browser sessions.
pub async fn revoke_own_session(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<IgnoredAny>,
) -> AppResult<Response> {
    let session_id = parse_id(&id)?;
    end_own_session(&state, &principal, session_id).await?;
    if session_id == signed_in.session_id {
        return Ok(signed_out(&state));
    }
    Ok(Redirect::to(OWN_PATH).into_response())
}

/// `POST /settings/sessions/tokens/{family_id}/revoke`: ends one of the caller's own API logins.
pub async fn revoke_own_family(
    State(state): State<AppState>,
    // Extracted for what it does on its own: a visitor without a session gets the login page.
    _signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<IgnoredAny>,
) -> AppResult<Response> {
    let family = parse_id(&id)?;
    end_own_api_login(&state, &principal, family, state.clock.now()).await?;
    Ok(Redirect::to(OWN_PATH).into_response())
}

#[derive(Template)]
#[template(path = "member_sessions.html")]
struct MemberSessionsPage {
    page: Page,
    member_id: Uuid,
    member_name: String,
    sessions: Vec<SessionView>,
    families: Vec<FamilyView>,
}

/// `GET /settings/members/{user_id}/sessions`.
pub async fn member_page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let member = parse_id(&id)?;
    let page = signed_in.page(&state, &format!("/settings/members/{member}/sessions"));
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
    let Some(name) = member_name(&mut tx, member).await? else {
        return Err(AppError::NotFound);
    };
    let current = (member == signed_in.user_id).then_some(signed_in.session_id);
    let sessions = live_sessions(&mut tx, member, now, current, &page).await?;
    let families = live_families(&mut tx, member, now, &page).await?;
    tx.commit().await?;
    let view = MemberSessionsPage {
        page,
        member_id: member,
        member_name: format!("{} {}", name.first_name, name.last_name),
        sessions,
        families,
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], render(&view)?).into_response())
}

/// `POST /settings/members/{user_id}/sessions/end`: signs the member out everywhere.
pub async fn end_member_sessions(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<IgnoredAny>,
) -> AppResult<Response> {
    let member = parse_id(&id)?;
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
    if member_name(&mut tx, member).await?.is_none() {
        return Err(AppError::NotFound);
    }
    end_all_sessions(&state, &mut tx, member, now).await?;
    tx.commit().await?;
    if member == signed_in.user_id {
        return Ok(signed_out(&state));
    }
    Ok(Redirect::to(&format!("/settings/members/{member}/sessions")).into_response())
}
