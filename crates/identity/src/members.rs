//! Member management, departments and department admins (issue #3: P0-12, P2-07).
//!
//! * **Members** (`MembersManage`, owners): change a member's role, deactivate them (their browser
//!   sessions are deleted and every API token family revoked in the same transaction, so they are
//!   out at once; their API keys stop working with them), reactivate, remove. One active owner
//!   must always remain: every change locks the organization's active owners (`select … for
//!   update`) first and refuses, inside that transaction, a change that would leave none — so two
//!   concurrent demotions of the last two owners cannot both pass. Audited: `member.role_changed`,
//!   `member.deactivated`, `member.reactivated`, `member.removed`.
//! * **Departments** (`DepartmentsManage`, owners): named groups of members, a member may be in
//!   several; a department member may be its `admin`. A manager who administers departments is a
//!   department admin: where the matrix grants managers [`Grant::Department`], they reach only
//!   the members of those departments (and themselves). A manager who administers none is an
//!   organization admin. Audited: `department.created`, `.renamed`, `.deleted`, `.member_added`,
//!   `.member_removed`.
//! * Pages: `/members/manage` (linked from `/members`); JSON API: `/api/v1/members`.

use crate::actions;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use kernel::audit::AuditEvent;
use kernel::authz::{Action, Credential, Grant, Principal, Role, grant};
use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use kernel::error::ApiJson;
use kernel::web::{AppState, Page, PageError, render};
use kernel::{AppError, FieldError, OrgTx};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::session::SignedIn;

pub const TABLES: &[TableEntry] = &[
    TableEntry {
        table: "departments",
        module: "identity",
        description: "Departments of an organization: name and when created.",
        subject: Subject::NoPerson,
        personal_columns: &[],
        purpose: "Account and organization management",
        legal_basis: LegalBasis::Contract,
        retention: Retention::AccountLifetimePlusDays { days: 30 },
        erasure: Erasure::Delete,
        tenant: true,
    },
    TableEntry {
        table: "department_members",
        module: "identity",
        description: "Which members belong to which departments, and who administers a department.",
        subject: Subject::AccountHolder,
        personal_columns: &["user_id", "role", "added_at"],
        purpose: "Account and organization management",
        legal_basis: LegalBasis::Contract,
        retention: Retention::AccountLifetimePlusDays { days: 30 },
        erasure: Erasure::Delete,
        tenant: true,
    },
];

// ------------------------------------------------------------------ reach (P2-07)

/// The members an acting member reaches for an action: all of the organization's, those of some
/// departments (plus themselves), only themselves, or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    Org,
    Departments(Vec<Uuid>),
    Own,
    Denied,
}

impl Reach {
    /// The departments filter for SQL: `None` for no filter; `Some(ids)` limits to members of
    /// `ids` and the acting member (an empty list: the acting member alone).
    pub fn department_filter(&self) -> Option<Vec<Uuid>> {
        match self {
            Self::Org => None,
            Self::Departments(ids) => Some(ids.clone()),
            Self::Own | Self::Denied => Some(Vec::new()),
        }
    }
}

/// What `user` (with `role`) reaches for `action`: the matrix's grant, narrowed for a
/// department-scoped grant to the departments `user` administers (none: the whole organization).
pub async fn reach(tx: &mut OrgTx, user: Uuid, role: Role, action: Action) -> Result<Reach, AppError> {
    Ok(match grant(role, action) {
        Grant::Org => Reach::Org,
        Grant::Own => Reach::Own,
        Grant::Denied => Reach::Denied,
        Grant::Department => {
            let ids: Vec<Uuid> = sqlx::query_scalar!(
                "select department_id from department_members where org_id = $1 and user_id = $2 and role = 'admin'
                 order by department_id",
                tx.org().0,
                user
            )
            .fetch_all(tx.conn())
            .await?;
            if ids.is_empty() { Reach::Org } else { Reach::Departments(ids) }
        }
    })
}

/// The SQL condition, on a `users u` row, that keeps the members within a reach whose filter is
/// bound as `$dept` (uuid[] or null) and whose acting member is `$me`.
pub fn reach_condition(dept: &str, me: &str) -> String {
    format!(
        "({dept}::uuid[] is null or u.user_id = {me} or exists (select from department_members dm
           where dm.org_id = u.org_id and dm.user_id = u.user_id and dm.department_id = any({dept}::uuid[])))"
    )
}

async fn within_reach(tx: &mut OrgTx, reach: &Reach, me: Uuid, target: Uuid) -> Result<bool, AppError> {
    let sql = format!(
        "select exists (select from users u where u.org_id = $1 and u.user_id = $2 and {})",
        reach_condition("$3", "$4")
    );
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(tx.org())
        .bind(target)
        .bind(reach.department_filter())
        .bind(me)
        .fetch_one(tx.conn())
        .await?)
}

// ------------------------------------------------------------------ members

/// A member's account status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MemberStatus {
    Active,
    Deactivated,
}

impl MemberStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Deactivated => "deactivated",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(Self::Active),
            "deactivated" => Some(Self::Deactivated),
            _ => None,
        }
    }
}

/// A department a member belongs to.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MemberDepartment {
    pub department_id: Uuid,
    pub name: String,
    /// Whether the member administers this department.
    pub admin: bool,
}

/// A member as listed by `GET /api/v1/members`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MemberSummary {
    pub user_id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub job_title: String,
    pub role: Role,
    pub status: MemberStatus,
    pub departments: Vec<MemberDepartment>,
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    user_id: Uuid,
    first_name: String,
    last_name: String,
    email: String,
    job_title: String,
    org_role: String,
    status: String,
}

#[derive(sqlx::FromRow)]
struct MembershipRow {
    user_id: Uuid,
    department_id: Uuid,
    name: String,
    role: String,
}

/// The members `principal` may see (`MembersView`), with their departments.
pub async fn list(state: &AppState, principal: &Principal) -> Result<Vec<MemberSummary>, AppError> {
    let mut tx = state.db.begin_org(principal.org, principal.actor()).await?;
    let members = list_in(&mut tx, principal.user_id, principal.role, actions::MEMBERS_VIEW).await?;
    tx.commit().await?;
    Ok(members)
}

async fn list_in(tx: &mut OrgTx, me: Uuid, role: Role, action: Action) -> Result<Vec<MemberSummary>, AppError> {
    let reach = reach(tx, me, role, action).await?;
    if reach == Reach::Denied {
        return Err(AppError::Forbidden);
    }
    let sql = format!(
        "select u.user_id, u.first_name, u.last_name, u.email, u.job_title, u.org_role, u.status
         from users u where u.org_id = $1 and {}
         order by case u.org_role when 'owner' then 0 when 'manager' then 1 else 2 end, u.last_name, u.first_name",
        reach_condition("$2", "$3")
    );
    let rows: Vec<MemberRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tx.org())
        .bind(reach.department_filter())
        .bind(me)
        .fetch_all(tx.conn())
        .await?;
    let memberships: Vec<MembershipRow> = sqlx::query_as!(
        MembershipRow,
        "select dm.user_id, dm.department_id, d.name, dm.role
         from department_members dm join departments d on d.org_id = dm.org_id and d.department_id = dm.department_id
         where dm.org_id = $1 order by d.name",
        tx.org().0
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| MemberSummary {
            departments: memberships
                .iter()
                .filter(|m| m.user_id == row.user_id)
                .map(|m| MemberDepartment {
                    department_id: m.department_id,
                    name: m.name.clone(),
                    admin: m.role == "admin",
                })
                .collect(),
            user_id: row.user_id,
            first_name: row.first_name,
            last_name: row.last_name,
            email: row.email,
            job_title: row.job_title,
            role: Role::parse(&row.org_role).unwrap_or(Role::User),
            status: MemberStatus::parse(&row.status).unwrap_or(MemberStatus::Deactivated),
        })
        .collect())
}

/// A change to a member, as submitted (`PATCH /api/v1/members/{id}`): a new role, a new status, or both.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct MemberChangeInput {
    /// `owner`, `manager` or `user`.
    #[serde(default)]
    pub role: Option<String>,
    /// `active` or `deactivated`.
    #[serde(default)]
    pub status: Option<String>,
}

/// A checked change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberChange {
    pub role: Option<Role>,
    pub status: Option<MemberStatus>,
}

impl MemberChange {
    /// Every field checked, every problem reported at once.
    pub fn parse(input: &MemberChangeInput) -> Result<Self, AppError> {
        let mut errors = Vec::new();
        let role = match input.role.as_deref() {
            None => None,
            Some(text) => {
                let role = Role::parse(text.trim());
                if role.is_none() {
                    errors.push(FieldError::new("role", "invalid", "Choose owner, manager or user."));
                }
                role
            }
        };
        let status = match input.status.as_deref() {
            None => None,
            Some(text) => {
                let status = MemberStatus::parse(text.trim());
                if status.is_none() {
                    errors.push(FieldError::new("status", "invalid", "Choose active or deactivated."));
                }
                status
            }
        };
        if input.role.is_none() && input.status.is_none() {
            errors.push(FieldError::new("body", "required", "Give a role, a status, or both."));
        }
        if errors.is_empty() { Ok(Self { role, status }) } else { Err(AppError::Validation(errors)) }
    }
}

fn last_owner() -> AppError {
    AppError::Conflict("last_owner".into())
}

/// Locks the organization's active owners (in a stable order, so concurrent changes queue rather
/// than deadlock) and returns them. Every change that could remove an owner calls this first.
async fn lock_active_owners(tx: &mut OrgTx) -> Result<Vec<Uuid>, AppError> {
    Ok(sqlx::query_scalar!(
        "select user_id from users where org_id = $1 and org_role = 'owner' and status = 'active'
         order by user_id for update",
        tx.org().0
    )
    .fetch_all(tx.conn())
    .await?)
}

/// Locks the target member and returns their role and status; `NotFound` outside the acting
/// member's reach (including another organization's members, whom RLS hides anyway).
async fn lock_target(tx: &mut OrgTx, principal: &Principal, target: Uuid) -> Result<(Role, MemberStatus), AppError> {
    let reach = reach(tx, principal.user_id, principal.role, actions::MEMBERS_MANAGE).await?;
    if reach == Reach::Denied {
        return Err(AppError::Forbidden);
    }
    if !within_reach(tx, &reach, principal.user_id, target).await? {
        return Err(AppError::NotFound);
    }
    let row: Option<(String, String)> =
        sqlx::query_as("select org_role, status from users where org_id = $1 and user_id = $2 for update")
            .bind(tx.org())
            .bind(target)
            .fetch_optional(tx.conn())
            .await?;
    let (role, status) = row.ok_or(AppError::NotFound)?;
    Ok((Role::parse(&role).unwrap_or(Role::User), MemberStatus::parse(&status).unwrap_or(MemberStatus::Deactivated)))
}

/// Ends every browser session and API token family of `user` at once.
async fn end_access(tx: &mut OrgTx, user: Uuid, now: time::OffsetDateTime) -> Result<(), AppError> {
    sqlx::query!("delete from sessions where org_id = $1 and user_id = $2", tx.org().0, user)
        .execute(tx.conn())
        .await?;
    crate::api_auth::revoke_all_api_tokens(tx, user, now).await?;
    Ok(())
}

/// Applies `change` to `target`. `Conflict("last_owner")` if it would leave no active owner.
pub async fn update(
    state: &AppState,
    principal: &Principal,
    target: Uuid,
    change: MemberChange,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let mut tx = state.db.begin_org(principal.org, principal.actor()).await?;
    let owners = lock_active_owners(&mut tx).await?;
    let (role, status) = lock_target(&mut tx, principal, target).await?;
    let new_role = change.role.unwrap_or(role);
    let new_status = change.status.unwrap_or(status);
    let stays_owner = new_role == Role::Owner && new_status == MemberStatus::Active;
    if owners.contains(&target) && !stays_owner && owners.len() <= 1 {
        return Err(last_owner());
    }
    if new_role != role {
        sqlx::query!(
            "update users set org_role = $3, updated_at = $4 where org_id = $1 and user_id = $2",
            principal.org.0,
            target,
            new_role.as_str(),
            now
        )
        .execute(tx.conn())
        .await?;
        state
            .audit
            .record(
                &mut tx,
                AuditEvent::new("member.role_changed")
                    .target("user", target)
                    .payload(json!({ "from": role.as_str(), "to": new_role.as_str() })),
            )
            .await?;
    }
    if new_status != status {
        sqlx::query!(
            "update users set status = $3, updated_at = $4 where org_id = $1 and user_id = $2",
            principal.org.0,
            target,
            new_status.as_str(),
            now
        )
        .execute(tx.conn())
        .await?;
        let action = match new_status {
            MemberStatus::Deactivated => {
                end_access(&mut tx, target, now).await?;
                "member.deactivated"
            }
            MemberStatus::Active => "member.reactivated",
        };
        state.audit.record(&mut tx, AuditEvent::new(action).target("user", target)).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Removes `target` from the organization: their account and everything that hangs off it.
pub async fn remove(state: &AppState, principal: &Principal, target: Uuid) -> Result<(), AppError> {
    let mut tx = state.db.begin_org(principal.org, principal.actor()).await?;
    let owners = lock_active_owners(&mut tx).await?;
    let (role, _) = lock_target(&mut tx, principal, target).await?;
    if owners.contains(&target) && owners.len() <= 1 {
        return Err(last_owner());
    }
    state
        .audit
        .record(
            &mut tx,
            AuditEvent::new("member.removed").target("user", target).payload(json!({ "role": role.as_str() })),
        )
        .await?;
    sqlx::query!("delete from users where org_id = $1 and user_id = $2", principal.org.0, target)
        .execute(tx.conn())
        .await
        .map_err(|e| kernel::error::on_constraint(e, |_| Some(AppError::Conflict("member_has_records".into()))))?;
    tx.commit().await?;
    Ok(())
}

// ------------------------------------------------------------------ departments

/// A department name: trimmed, 1..=100 characters, no control characters.
fn department_name(input: &str) -> Result<String, AppError> {
    let name = input.trim();
    let error = |code, message: &str| AppError::Validation(vec![FieldError::new("name", code, message)]);
    if name.is_empty() {
        return Err(error("required", "Name the department."));
    }
    if name.chars().count() > 100 {
        return Err(error("too_long", "Use at most 100 characters."));
    }
    if name.chars().any(char::is_control) {
        return Err(error("invalid_characters", "Remove line breaks and control characters."));
    }
    Ok(name.to_owned())
}

fn name_taken(error: sqlx::Error) -> AppError {
    kernel::error::on_constraint(error, |name| {
        (name == "departments_name_key")
            .then(|| AppError::field("name", "department_name_taken", "A department with this name already exists."))
    })
}

/// A department with its members, for the management page.
#[derive(Debug, Clone)]
pub struct DepartmentView {
    pub department_id: Uuid,
    pub name: String,
    /// (member id, display name, admin)
    pub members: Vec<(Uuid, String, bool)>,
}

pub async fn create_department(state: &AppState, principal: &Principal, name: &str) -> Result<Uuid, AppError> {
    let name = department_name(name)?;
    let id = Uuid::now_v7();
    let mut tx = state.db.begin_org(principal.org, principal.actor()).await?;
    sqlx::query!(
        "insert into departments (org_id, department_id, name, created_at) values ($1, $2, $3, $4)",
        principal.org.0,
        id,
        &name,
        state.clock.now()
    )
    .execute(tx.conn())
    .await
    .map_err(name_taken)?;
    state.audit.record(&mut tx, AuditEvent::new("department.created").target("department", id)).await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn rename_department(state: &AppState, principal: &Principal, id: Uuid, name: &str) -> Result<(), AppError> {
    let name = department_name(name)?;
    let mut tx = state.db.begin_org(principal.org, principal.actor()).await?;
    let done = sqlx::query!(
        "update departments set name = $3 where org_id = $1 and department_id = $2",
        principal.org.0,
        id,
        &name
    )
    .execute(tx.conn())
    .await
    .map_err(name_taken)?
    .rows_affected();
    if done == 0 {
        return Err(AppError::NotFound);
    }
    state.audit.record(&mut tx, AuditEvent::new("department.renamed").target("department", id)).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn delete_department(state: &AppState, principal: &Principal, id: Uuid) -> Result<(), AppError> {
    let mut tx = state.db.begin_org(principal.org, principal.actor()).await?;
    let done = sqlx::query!("delete from departments where org_id = $1 and department_id = $2", principal.org.0, id)
        .execute(tx.conn())
        .await?
        .rows_affected();
    if done == 0 {
        return Err(AppError::NotFound);
    }
    state.audit.record(&mut tx, AuditEvent::new("department.deleted").target("department", id)).await?;
    tx.commit().await?;
    Ok(())
}

/// Puts `user` in department `id` (or changes whether they administer it).
pub async fn assign(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    user: Uuid,
    admin: bool,
) -> Result<(), AppError> {
    let mut tx = state.db.begin_org(principal.org, principal.actor()).await?;
    let found: (bool, bool) = sqlx::query_as(
        "select exists (select from departments where org_id = $1 and department_id = $2),
                exists (select from users where org_id = $1 and user_id = $3)",
    )
    .bind(principal.org)
    .bind(id)
    .bind(user)
    .fetch_one(tx.conn())
    .await?;
    match found {
        (false, _) => return Err(AppError::NotFound),
        (true, false) => return Err(AppError::field("user_id", "invalid", "Choose a member.")),
        (true, true) => {}
    }
    let role = if admin { "admin" } else { "member" };
    sqlx::query!(
        "insert into department_members (org_id, department_id, user_id, role, added_at) values ($1, $2, $3, $4, $5)
         on conflict (org_id, department_id, user_id) do update set role = excluded.role",
        principal.org.0,
        id,
        user,
        role,
        state.clock.now()
    )
    .execute(tx.conn())
    .await?;
    state
        .audit
        .record(
            &mut tx,
            AuditEvent::new("department.member_added")
                .target("department", id)
                .payload(json!({ "user_id": user, "role": role })),
        )
        .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn unassign(state: &AppState, principal: &Principal, id: Uuid, user: Uuid) -> Result<(), AppError> {
    let mut tx = state.db.begin_org(principal.org, principal.actor()).await?;
    let done = sqlx::query!(
        "delete from department_members where org_id = $1 and department_id = $2 and user_id = $3",
        principal.org.0,
        id,
        user
    )
    .execute(tx.conn())
    .await?
    .rows_affected();
    if done == 0 {
        return Err(AppError::NotFound);
    }
    state
        .audit
        .record(
            &mut tx,
            AuditEvent::new("department.member_removed").target("department", id).payload(json!({ "user_id": user })),
        )
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn departments(tx: &mut OrgTx) -> Result<Vec<DepartmentView>, AppError> {
    let rows: Vec<(Uuid, String)> =
        sqlx::query_as("select department_id, name from departments where org_id = $1 order by lower(name)")
            .bind(tx.org())
            .fetch_all(tx.conn())
            .await?;
    let members: Vec<(Uuid, Uuid, String, String)> = sqlx::query_as(
        "select dm.department_id, dm.user_id, u.first_name || ' ' || u.last_name, dm.role
         from department_members dm join users u on u.org_id = dm.org_id and u.user_id = dm.user_id
         where dm.org_id = $1 order by u.last_name, u.first_name",
    )
    .bind(tx.org())
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(department_id, name)| DepartmentView {
            members: members
                .iter()
                .filter(|m| m.0 == department_id)
                .map(|m| (m.1, m.2.clone(), m.3 == "admin"))
                .collect(),
            department_id,
            name,
        })
        .collect())
}

// ------------------------------------------------------------------ JSON API

/// The members the caller may see. A department admin sees only their departments' members (P2-07).
#[utoipa::path(
    get,
    path = "/api/v1/members",
    tag = "members",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The members", body = Vec<MemberSummary>),
        (status = 401, description = "No valid bearer token", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn api_list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<MemberSummary>>, AppError> {
    Ok(Json(list(&state, &principal).await?))
}

/// Change a member's role and/or status. Deactivating ends their sessions and API tokens at once.
#[utoipa::path(
    patch,
    path = "/api/v1/members/{id}",
    tag = "members",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The member's id")),
    request_body = MemberChangeInput,
    responses(
        (status = 204, description = "Changed"),
        (status = 401, description = "No valid bearer token", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only owners manage members", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such member", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The organization would have no active owner left", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn api_update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<MemberChangeInput>,
) -> Result<StatusCode, AppError> {
    let id = Uuid::parse_str(&id).map_err(|_| AppError::NotFound)?;
    let change = MemberChange::parse(&input)?;
    update(&state, &principal, id, change).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a member from the organization.
#[utoipa::path(
    delete,
    path = "/api/v1/members/{id}",
    tag = "members",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The member's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid bearer token", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only owners manage members", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such member", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The organization would have no active owner left", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn api_remove(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id = Uuid::parse_str(&id).map_err(|_| AppError::NotFound)?;
    remove(&state, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------ pages

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
}

fn principal_of(signed_in: &SignedIn) -> Principal {
    Principal {
        org: signed_in.org,
        user_id: signed_in.user_id,
        role: signed_in.role,
        credential: Credential::Session { session_id: signed_in.session_id },
    }
}

async fn render_manage(
    state: &AppState,
    signed_in: &SignedIn,
    status: StatusCode,
    alert: Option<&'static str>,
) -> Result<Response, PageError> {
    let page = signed_in.page(state, MANAGE_PATH);
    let load = async {
        let mut tx = state.db.begin_org(signed_in.org, signed_in.actor()).await?;
        let members = list_in(&mut tx, signed_in.user_id, signed_in.role, actions::MEMBERS_MANAGE).await?;
        let departments = departments(&mut tx).await?;
        tx.commit().await?;
        Ok::<_, AppError>((members, departments))
    };
    let (members, departments) = load.await.map_err(|e| PageError::new(e, &page))?;
    let view = ManagePage {
        page: page.clone(),
        members,
        departments,
        me: signed_in.user_id,
        roles: [Role::Owner.as_str(), Role::Manager.as_str(), Role::User.as_str()],
        can_departments: grant(signed_in.role, actions::DEPARTMENTS_MANAGE).allows(),
        alert,
    };
    let html = render(&view).map_err(|e| PageError::new(e, &page))?;
    Ok((status, [(header::CACHE_CONTROL, "no-store")], html).into_response())
}

/// `GET /members/manage`: roles, status, removal, departments.
pub async fn manage_page(State(state): State<AppState>, signed_in: SignedIn) -> Result<Response, PageError> {
    render_manage(&state, &signed_in, StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

impl CsrfForm {
    pub fn csrf(&self) -> &str {
        &self.csrf
    }
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    role: String,
}

#[derive(Deserialize)]
pub struct NameForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    admin: Option<String>,
}

fn path_id(state: &AppState, signed_in: &SignedIn, id: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(id).map_err(|_| PageError::new(AppError::NotFound, &signed_in.page(state, MANAGE_PATH)))
}

/// The page's answer to a service result: back to the page, the page with an alert, or an error page.
async fn after(state: &AppState, signed_in: &SignedIn, result: Result<(), AppError>) -> Result<Response, PageError> {
    match result {
        Ok(()) => Ok(Redirect::to(MANAGE_PATH).into_response()),
        Err(AppError::Conflict(reason)) if reason == "last_owner" => {
            render_manage(state, signed_in, StatusCode::CONFLICT, Some("members.last_owner")).await
        }
        Err(AppError::Validation(errors)) => {
            let key = match errors.first().map(|e| e.code) {
                Some("department_name_taken") => "field_error.department_name_taken",
                _ => "form.fix_errors",
            };
            render_manage(state, signed_in, StatusCode::UNPROCESSABLE_ENTITY, Some(key)).await
        }
        Err(other) => Err(PageError::new(other, &signed_in.page(state, MANAGE_PATH))),
    }
}

async fn member_change(
    state: AppState,
    signed_in: SignedIn,
    id: String,
    csrf: &str,
    input: MemberChangeInput,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&state, csrf)?;
    let id = path_id(&state, &signed_in, &id)?;
    let result = match MemberChange::parse(&input) {
        Ok(change) => update(&state, &principal_of(&signed_in), id, change).await,
        Err(e) => Err(e),
    };
    after(&state, &signed_in, result).await
}

/// `POST /members/{user_id}/role`.
pub async fn role_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<RoleForm>,
) -> Result<Response, PageError> {
    let input = MemberChangeInput { role: Some(form.role), status: None };
    member_change(state, signed_in, id, &form.csrf, input).await
}

/// `POST /members/{user_id}/deactivate`.
pub async fn deactivate_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let input = MemberChangeInput { role: None, status: Some("deactivated".into()) };
    member_change(state, signed_in, id, &form.csrf, input).await
}

/// `POST /members/{user_id}/reactivate`.
pub async fn reactivate_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let input = MemberChangeInput { role: None, status: Some("active".into()) };
    member_change(state, signed_in, id, &form.csrf, input).await
}

/// `POST /members/{user_id}/remove`.
pub async fn remove_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&state, &form.csrf)?;
    let id = path_id(&state, &signed_in, &id)?;
    let result = remove(&state, &principal_of(&signed_in), id).await;
    after(&state, &signed_in, result).await
}

/// `POST /departments`.
pub async fn department_create(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Form(form): Form<NameForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&state, &form.csrf)?;
    let result = create_department(&state, &principal_of(&signed_in), &form.name).await.map(|_| ());
    after(&state, &signed_in, result).await
}

/// `POST /departments/{department_id}/rename`.
pub async fn department_rename(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<NameForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&state, &form.csrf)?;
    let id = path_id(&state, &signed_in, &id)?;
    let result = rename_department(&state, &principal_of(&signed_in), id, &form.name).await;
    after(&state, &signed_in, result).await
}

/// `POST /departments/{department_id}/delete`.
pub async fn department_delete(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&state, &form.csrf)?;
    let id = path_id(&state, &signed_in, &id)?;
    let result = delete_department(&state, &principal_of(&signed_in), id).await;
    after(&state, &signed_in, result).await
}

/// `POST /departments/{department_id}/members`: adds a member (or changes their admin flag).
pub async fn department_assign(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<AssignForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&state, &form.csrf)?;
    let id = path_id(&state, &signed_in, &id)?;
    let admin = form.admin.as_deref().is_some_and(|v| matches!(v, "on" | "true" | "yes" | "1"));
    let result = match Uuid::parse_str(form.user_id.trim()) {
        Ok(user) => assign(&state, &principal_of(&signed_in), id, user, admin).await,
        Err(_) => Err(AppError::field("user_id", "invalid", "Choose a member.")),
    };
    after(&state, &signed_in, result).await
}

/// `POST /departments/{department_id}/members/{user_id}/remove`.
pub async fn department_unassign(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((id, user)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&state, &form.csrf)?;
    let id = path_id(&state, &signed_in, &id)?;
    let user = path_id(&state, &signed_in, &user)?;
    let result = unassign(&state, &principal_of(&signed_in), id, user).await;
    after(&state, &signed_in, result).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_report_every_problem_at_once() {
        let input = MemberChangeInput { role: Some("boss".into()), status: Some("asleep".into()) };
        let codes: Vec<_> =
            MemberChange::parse(&input).unwrap_err().field_errors().iter().map(|e| e.field.clone()).collect();
        assert_eq!(codes, ["role", "status"]);
        assert!(MemberChange::parse(&MemberChangeInput::default()).is_err());
        let ok = MemberChange::parse(&MemberChangeInput { role: Some("manager".into()), status: None }).unwrap();
        assert_eq!(ok, MemberChange { role: Some(Role::Manager), status: None });
    }

    #[test]
    fn department_names_are_checked() {
        assert_eq!(department_name("  Sales ").unwrap(), "Sales");
        assert!(department_name(" ").is_err());
        assert!(department_name(&"x".repeat(101)).is_err());
        assert!(department_name("a\nb").is_err());
    }

    /// P2-07: a manager's view of members is department-scoped in the matrix; owners see all.
    #[test]
    fn p2_07_members_view_is_department_scoped_for_managers() {
        assert_eq!(grant(Role::Manager, actions::MEMBERS_VIEW), Grant::Department);
        assert_eq!(grant(Role::Owner, actions::MEMBERS_VIEW), Grant::Org);
        assert_eq!(grant(Role::Manager, actions::DEPARTMENTS_MANAGE), Grant::Denied);
    }
}
