//! `/`, `/dashboard` (the home page) and identity's team panel on it.

use askama::Template;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use kernel::AppResult;
use kernel::authz::{Principal, grant};
use kernel::module::{HomeCtx, PanelFuture};
use kernel::web::{AppState, Page, render};

use super::store;
use crate::actions;
use crate::signed_in::{MaybeSignedIn, SignedIn};

pub async fn home(MaybeSignedIn(signed_in): MaybeSignedIn) -> Redirect {
    Redirect::to(if signed_in.is_some() { "/dashboard" } else { "/login" })
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct HomePage {
    page: Page,
    greeting: String,
    org_name: String,
    today: String,
    /// Each panel's HTML, rendered (and escaped) by its module's own template.
    panels: Vec<String>,
}

/// `GET /dashboard`: the home page. Every module's panels, in order, read in one tenant
/// transaction (so under the member's visibility); a panel that is not for this member is left out.
pub async fn dashboard(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
) -> AppResult<Response> {
    let page = signed_in.page(&state, "/dashboard");
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
    let mut panels = Vec::with_capacity(state.home_panels.len());
    for panel in state.home_panels.iter() {
        let ctx = HomeCtx { tx: &mut tx, principal: &principal, page: &page, now };
        if let Some(html) = (panel.render)(ctx).await? {
            panels.push(html);
        }
    }
    tx.commit().await?;
    let view = HomePage {
        greeting: page.t.fmt("dashboard.greeting", &[("name", &signed_in.first_name)]),
        org_name: signed_in.org_name.clone(),
        today: kernel::dates::long_day(kernel::dates::local(now, signed_in.tz).date(), signed_in.lang),
        page,
        panels,
    };
    let html = render(&view)?;
    Ok(([(header::CACHE_CONTROL, "no-store")], html).into_response())
}

#[derive(Template)]
#[template(path = "home_team.html")]
struct TeamPanel<'a> {
    page: &'a Page,
    active: String,
    locked: Option<String>,
    can_manage: bool,
    can_see_logins: bool,
}

/// The team panel, for those who invite members (owners, managers): how many members, how many
/// locked out, and the ways to the members administration that used to fill this page.
pub fn team_panel(ctx: HomeCtx<'_>) -> PanelFuture<'_> {
    Box::pin(async move {
        if !grant(ctx.principal.role, actions::MEMBERS_INVITE).allows() {
            return Ok(None);
        }
        let (active, locked) = store::member_counts(ctx.tx, ctx.now).await?;
        let view = TeamPanel {
            page: ctx.page,
            active: ctx.page.t.fmt("home.team.active", &[("count", &active.to_string())]),
            locked: (locked > 0).then(|| ctx.page.t.fmt("home.team.locked", &[("count", &locked.to_string())])),
            can_manage: grant(ctx.principal.role, actions::MEMBERS_MANAGE).allows(),
            can_see_logins: grant(ctx.principal.role, actions::LOGIN_ACTIVITY_VIEW).allows(),
        };
        Ok(Some(render(&view)?.0))
    })
}
