//! `/` and `/dashboard`.

use askama::Template;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use kernel::AppResult;
use kernel::audit::AuditEvent;
use kernel::authz::Principal;
use kernel::web::{AppState, Page, render};
use serde_json::json;

use super::*;
use crate::actions;
use crate::signed_in::{MaybeSignedIn, SignedIn};

pub async fn home(MaybeSignedIn(signed_in): MaybeSignedIn) -> Redirect {
    Redirect::to(if signed_in.is_some() { "/dashboard" } else { "/login" })
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    page: Page,
    org_name: String,
    members: Vec<MemberRow>,
    logins: Option<Vec<LoginRow>>,
    /// Whether the viewer may unlock locked members (owners).
    can_unlock: bool,
}

pub async fn dashboard(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
) -> AppResult<Response> {
    let page = signed_in.page(&state, "/dashboard");
    let mut tx = principal.begin(&state.db).await?;
    let members = members(&mut tx, state.clock.now()).await?;
    // Sign-in history holds IP addresses: owners only, and each view is audited (P0-04, P1-04).
    let logins = if kernel::authz::grant(signed_in.role, actions::LOGIN_ACTIVITY_VIEW).allows() {
        let rows = latest_logins(&mut tx).await?;
        state
            .audit
            .record(&mut tx, AuditEvent::new("login_events.viewed").payload(json!({ "rows": rows.len() })))
            .await?;
        Some(rows)
    } else {
        None
    };
    tx.commit().await?;
    let can_unlock = kernel::authz::grant(signed_in.role, actions::MEMBERS_MANAGE).allows();
    let view = DashboardPage { page: page.clone(), org_name: signed_in.org_name.clone(), members, logins, can_unlock };
    let html = render(&view)?;
    Ok(([(header::CACHE_CONTROL, "no-store")], html).into_response())
}
