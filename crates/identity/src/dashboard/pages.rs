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

use crate::actions;
use crate::signed_in::{MaybeSignedIn, SignedIn};

pub async fn home(MaybeSignedIn(signed_in): MaybeSignedIn) -> Redirect {
    Redirect::to(if signed_in.is_some() { "/dashboard" } else { "/login" })
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    user_id: uuid::Uuid,
    first_name: String,
    last_name: String,
    email: String,
    job_title: String,
    org_role: String,
    last_login_at: Option<time::OffsetDateTime>,
    /// Until when the account is locked after failed logins (P1-17), if it is now.
    locked_until: Option<time::OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct LoginRow {
    occurred_at: time::OffsetDateTime,
    outcome: String,
    ip: Option<sqlx::types::ipnet::IpNet>,
    user_agent: Option<String>,
    first_name: String,
    last_name: String,
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

fn when(at: &time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    at.format(&format).unwrap_or_default()
}

impl MemberRow {
    fn last_login(&self) -> String {
        self.last_login_at.as_ref().map(when).unwrap_or_else(|| "—".into())
    }

    fn locked_until_text(&self) -> Option<String> {
        self.locked_until.as_ref().map(when)
    }
}

impl LoginRow {
    fn when(&self) -> String {
        when(&self.occurred_at)
    }

    fn ip_text(&self) -> String {
        self.ip.map(|net| net.addr().to_string()).unwrap_or_default()
    }
}

pub async fn dashboard(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
) -> AppResult<Response> {
    let page = signed_in.page(&state, "/dashboard");
    let mut tx = principal.begin(&state.db).await?;
    let members: Vec<MemberRow> = sqlx::query_as(
        "select user_id, first_name, last_name, email, job_title, org_role, last_login_at,
                case when locked_until > $2 then locked_until end as locked_until
         from users where org_id = $1
         order by case org_role when 'owner' then 0 when 'manager' then 1 else 2 end, last_name, first_name",
    )
    .bind(signed_in.org)
    .bind(state.clock.now())
    .fetch_all(tx.conn())
    .await?;
    // Sign-in history holds IP addresses: owners only, and each view is audited (P0-04, P1-04).
    let logins = if kernel::authz::grant(signed_in.role, actions::LOGIN_ACTIVITY_VIEW).allows() {
        let rows: Vec<LoginRow> = sqlx::query_as(
            "select e.occurred_at, e.outcome, e.ip, e.user_agent, u.first_name, u.last_name
             from login_events e join users u on u.org_id = e.org_id and u.user_id = e.user_id
             where e.org_id = $1
             order by e.occurred_at desc limit 20",
        )
        .bind(signed_in.org)
        .fetch_all(tx.conn())
        .await?;
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
