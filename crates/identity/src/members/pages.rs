//! `/members/manage` and its forms: roles, status, removal, departments.

use super::*;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use kernel::AppResult;
use kernel::web::{AppState, CsrfForm, Page, render};
use serde::de::IgnoredAny;

use crate::signed_in::SignedIn;

const MANAGE_PATH: &str = "/members/manage";

#[derive(Template)]
#[template(path = "members_manage.html")]
struct ManagePage {
    page: Page,
    members: Vec<MemberSummary>,
    departments: Vec<DepartmentView>,
    me: Uuid,
    roles: [&'static str; 3],
    can_departments: bool,
    /// A message key shown as an alert (e.g. the last-owner refusal).
    alert: Option<&'static str>,
    /// Per member: the last sign-in as read, and until when they are locked out (if they are).
    sign_ins: std::collections::HashMap<Uuid, (String, Option<String>)>,
}

impl ManagePage {
    fn last_sign_in(&self, member: &Uuid) -> &str {
        self.sign_ins.get(member).map_or("—", |(last, _)| last.as_str())
    }

    fn locked_until(&self, member: &Uuid) -> Option<&str> {
        self.sign_ins.get(member).and_then(|(_, locked)| locked.as_deref())
    }
}

async fn render_manage(
    state: &AppState,
    signed_in: &SignedIn,
    principal: &Principal,
    status: StatusCode,
    alert: Option<&'static str>,
) -> AppResult<Response> {
    let page = signed_in.page(state, MANAGE_PATH);
    let mut tx = principal.begin(&state.db).await?;
    let members = list_in(&mut tx, principal.user_id, principal.role, actions::MEMBERS_MANAGE).await?;
    let departments = departments(&mut tx).await?;
    let now = state.clock.now();
    let lang = signed_in.lang;
    let moment = |at: time::OffsetDateTime| kernel::dates::short_moment(at, page.tz, lang, now);
    let sign_ins = sign_in_states(&mut tx, now)
        .await?
        .into_iter()
        .map(|s| (s.user_id, (s.last_login_at.map_or_else(|| "—".to_string(), moment), s.locked_until.map(moment))))
        .collect();
    tx.commit().await?;
    let view = ManagePage {
        page,
        members,
        departments,
        me: principal.user_id,
        roles: [Role::Owner.as_str(), Role::Manager.as_str(), Role::User.as_str()],
        can_departments: grant(principal.role, actions::DEPARTMENTS_MANAGE).allows(),
        alert,
        sign_ins,
    };
    Ok((status, [(header::CACHE_CONTROL, "no-store")], render(&view)?).into_response())
}

/// `GET /members/manage`: roles, status, removal, departments.
pub async fn manage_page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
) -> AppResult<Response> {
    render_manage(&state, &signed_in, &principal, StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

#[derive(Deserialize)]
pub struct NameForm {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    admin: Option<String>,
}

fn path_id(id: &str) -> AppResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| AppError::NotFound)
}

/// The page's answer to a service result: back to the page, the page with an alert, or an error page.
async fn after(
    state: &AppState,
    signed_in: &SignedIn,
    principal: &Principal,
    result: Result<(), AppError>,
) -> AppResult<Response> {
    match result {
        Ok(()) => Ok(Redirect::to(MANAGE_PATH).into_response()),
        Err(AppError::Conflict(reason)) if reason == "last_owner" => {
            render_manage(state, signed_in, principal, StatusCode::CONFLICT, Some("members.last_owner")).await
        }
        Err(AppError::Validation(errors)) => {
            let key = match errors.first().map(|e| e.code) {
                Some("department_name_taken") => "field_error.department_name_taken",
                _ => "form.fix_errors",
            };
            render_manage(state, signed_in, principal, StatusCode::UNPROCESSABLE_ENTITY, Some(key)).await
        }
        Err(other) => Err(other),
    }
}

async fn member_change(
    state: AppState,
    signed_in: SignedIn,
    principal: Principal,
    id: String,
    input: MemberChangeInput,
) -> AppResult<Response> {
    let id = path_id(&id)?;
    let result = match MemberChange::parse(&input) {
        Ok(change) => update(&state, &principal, id, change).await,
        Err(e) => Err(e),
    };
    after(&state, &signed_in, &principal, result).await
}

/// `POST /members/{user_id}/role`.
pub async fn role_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<RoleForm>,
) -> AppResult<Response> {
    let input = MemberChangeInput { role: Some(form.role), status: None };
    member_change(state, signed_in, principal, id, input).await
}

/// `POST /members/{user_id}/deactivate`.
pub async fn deactivate_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<IgnoredAny>,
) -> AppResult<Response> {
    let input = MemberChangeInput { role: None, status: Some("deactivated".into()) };
    member_change(state, signed_in, principal, id, input).await
}

/// `POST /members/{user_id}/reactivate`.
pub async fn reactivate_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<IgnoredAny>,
) -> AppResult<Response> {
    let input = MemberChangeInput { role: None, status: Some("active".into()) };
    member_change(state, signed_in, principal, id, input).await
}

/// `POST /members/{user_id}/remove`.
pub async fn remove_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<IgnoredAny>,
) -> AppResult<Response> {
    let id = path_id(&id)?;
    let result = remove(&state, &principal, id).await;
    after(&state, &signed_in, &principal, result).await
}

/// `POST /departments`.
pub async fn department_create(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    CsrfForm(form): CsrfForm<NameForm>,
) -> AppResult<Response> {
    let result = create_department(&state, &principal, &form.name).await.map(|_| ());
    after(&state, &signed_in, &principal, result).await
}

/// `POST /departments/{department_id}/rename`.
pub async fn department_rename(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<NameForm>,
) -> AppResult<Response> {
    let id = path_id(&id)?;
    let result = rename_department(&state, &principal, id, &form.name).await;
    after(&state, &signed_in, &principal, result).await
}

/// `POST /departments/{department_id}/delete`.
pub async fn department_delete(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<IgnoredAny>,
) -> AppResult<Response> {
    let id = path_id(&id)?;
    let result = delete_department(&state, &principal, id).await;
    after(&state, &signed_in, &principal, result).await
}

/// `POST /departments/{department_id}/members`: adds a member (or changes their admin flag).
pub async fn department_assign(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<AssignForm>,
) -> AppResult<Response> {
    let id = path_id(&id)?;
    let admin = form.admin.as_deref().is_some_and(|v| matches!(v, "on" | "true" | "yes" | "1"));
    let result = match Uuid::parse_str(form.user_id.trim()) {
        Ok(user) => assign(&state, &principal, id, user, admin).await,
        Err(_) => Err(AppError::field("user_id", "invalid", "Choose a member.")),
    };
    after(&state, &signed_in, &principal, result).await
}

/// `POST /departments/{department_id}/members/{user_id}/remove`.
pub async fn department_unassign(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path((id, user)): Path<(String, String)>,
    CsrfForm(_): CsrfForm<IgnoredAny>,
) -> AppResult<Response> {
    let id = path_id(&id)?;
    let user = path_id(&user)?;
    let result = unassign(&state, &principal, id, user).await;
    after(&state, &signed_in, &principal, result).await
}
