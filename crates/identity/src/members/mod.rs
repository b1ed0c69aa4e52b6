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
//!
//! Files: `store.rs` (reach, listing, locking), `service.rs` (changes, each audited), `api.rs`,
//! `pages.rs` (`/members/manage` and its forms).

pub mod api;
pub mod pages;
mod service;
mod store;

pub use service::*;
pub use store::*;

use kernel::authz::{Action, Grant, Principal, Role, grant};
use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use kernel::{AppError, FieldError, OrgTx};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::actions;

/// The data catalog entries of the accounts: the members and the privacy policy each accepted.
pub const ACCOUNT_TABLES: &[TableEntry] = &[
    TableEntry {
        table: "users",
        module: "identity",
        description: "Members of an organization: account data.",
        subject: Subject::AccountHolder,
        personal_columns: &[
            "email",
            "first_name",
            "last_name",
            "job_title",
            "password_hash",
            "last_login_at",
            "failed_logins",
            "locked_until",
        ],
        purpose: "Account and organization management",
        legal_basis: LegalBasis::Contract,
        retention: Retention::AccountLifetimePlusDays { days: 30 },
        erasure: Erasure::Delete,
        tenant: true,
    },
    TableEntry {
        table: "policy_acceptances",
        module: "identity",
        description: "Which privacy-policy version each member accepted, and when.",
        subject: Subject::AccountHolder,
        personal_columns: &["user_id", "accepted_at"],
        purpose: "Compliance with legal obligations",
        legal_basis: LegalBasis::LegalObligation,
        retention: Retention::AccountLifetimePlusDays { days: 30 },
        erasure: Erasure::Delete,
        tenant: true,
    },
];

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

/// The SQL condition, on a `users u` row, that keeps the members within a reach whose filter is
/// bound as `$dept` (uuid[] or null) and whose acting member is `$me`.
pub fn reach_condition(dept: &str, me: &str) -> String {
    format!(
        "({dept}::uuid[] is null or u.user_id = {me} or exists (select from department_members dm
           where dm.org_id = u.org_id and dm.user_id = u.user_id and dm.department_id = any({dept}::uuid[])))"
    )
}

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

/// A member's last sign-in and running lockout, as the administration page shows them.
pub(crate) struct SignInState {
    user_id: Uuid,
    last_login_at: Option<time::OffsetDateTime>,
    locked_until: Option<time::OffsetDateTime>,
}

/// A member as [`list_in`] reads them (a dynamic query).
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

struct MembershipRow {
    user_id: Uuid,
    department_id: Uuid,
    name: String,
    role: String,
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
