//! Who may do what: one declarative permission matrix (P0-12, P1-07, P2-07).
//!
//! Every route declares an [`Access`]; the router enforces it before the handler runs, from this
//! table alone, so no handler checks roles by hand. `docs/permissions.md` is rendered from the same
//! table (a test keeps it current), and the permission-matrix test derives the expected answer of
//! every route for every role from it.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::OrgId;

/// Organization roles. For training, "organization admin" is a manager without a department scope
/// and "department admin" a manager scoped to departments (P2-07).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Manager,
    User,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Owner, Role::Manager, Role::User];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Manager => "manager",
            Self::User => "user",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "owner" => Some(Self::Owner),
            "manager" => Some(Self::Manager),
            "user" => Some(Self::User),
            _ => None,
        }
    }

    /// The lesser of two roles (an API key never acts above its creator).
    pub fn min(self, other: Role) -> Role {
        std::cmp::max(self, other)
    }
}

/// How far a grant reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// Everything in the organization.
    Org,
    /// Only what belongs to the member's own departments (department-scoped managers).
    Department,
    /// Only the member's own records (their profile, their sessions).
    Own,
    Denied,
}

impl Grant {
    pub fn allows(&self) -> bool {
        !matches!(self, Grant::Denied)
    }

    fn symbol(&self) -> &'static str {
        match self {
            Self::Org => "✔ org",
            Self::Department => "✔ department",
            Self::Own => "✔ own",
            Self::Denied => "—",
        }
    }
}

/// Everything a member can do that needs a permission. Add a variant and its row in [`MATRIX`]
/// together; a test fails if a variant has no row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    DashboardView,
    MembersView,
    MembersInvite,
    MembersManage,
    DepartmentsManage,
    LoginActivityView,
    ProfileManage,
    SessionsManageOwn,
    SessionsManageMembers,
    ApiKeysManage,
    OrgSettingsManage,
    RecordsView,
    RecordsEdit,
    RecordsDelete,
    RecordsBulkEdit,
    RecordsMerge,
    RecordsExport,
    RecordsImport,
    CrmConfigure,
}

pub struct Rule {
    pub action: Action,
    pub description: &'static str,
    pub owner: Grant,
    pub manager: Grant,
    pub user: Grant,
}

use Grant::{Denied, Department, Org, Own};

pub const MATRIX: &[Rule] = &[
    Rule {
        action: Action::DashboardView,
        description: "See the organization's dashboard",
        owner: Org,
        manager: Org,
        user: Org,
    },
    Rule {
        action: Action::MembersView,
        description: "See the organization's members (names, emails, roles); a department admin sees only their departments' members",
        owner: Org,
        manager: Department,
        user: Org,
    },
    Rule {
        action: Action::MembersInvite,
        description: "Invite people (managers may invite users only)",
        owner: Org,
        manager: Org,
        user: Denied,
    },
    Rule {
        action: Action::MembersManage,
        description: "Change roles, deactivate, unlock or remove members",
        owner: Org,
        manager: Denied,
        user: Denied,
    },
    Rule {
        action: Action::DepartmentsManage,
        description: "Create, rename and delete departments; assign members and department admins",
        owner: Org,
        manager: Denied,
        user: Denied,
    },
    Rule {
        action: Action::LoginActivityView,
        description: "See sign-in history and API request logs, with IP addresses (audited)",
        owner: Org,
        manager: Denied,
        user: Denied,
    },
    Rule {
        action: Action::ProfileManage,
        description: "Change one's own name, email, password and language",
        owner: Own,
        manager: Own,
        user: Own,
    },
    Rule {
        action: Action::SessionsManageOwn,
        description: "List and revoke one's own sessions",
        owner: Own,
        manager: Own,
        user: Own,
    },
    Rule {
        action: Action::SessionsManageMembers,
        description: "End any member's sessions",
        owner: Org,
        manager: Denied,
        user: Denied,
    },
    Rule {
        action: Action::ApiKeysManage,
        description: "Create, list and revoke the organization's API keys (a key's scope never exceeds its creator's role)",
        owner: Org,
        manager: Org,
        user: Denied,
    },
    Rule {
        action: Action::OrgSettingsManage,
        description: "Change the organization's security settings (e.g. require MFA of every member)",
        owner: Org,
        manager: Denied,
        user: Denied,
    },
    Rule {
        action: Action::RecordsView,
        description: "See leads, contacts, companies and deals, their timelines and search them; where the organization limits visibility, users see only records they own or that are shared with their departments (enforced by row-level security)",
        owner: Org,
        manager: Org,
        user: Org,
    },
    Rule {
        action: Action::RecordsEdit,
        description: "Create and edit the records one sees; add notes, tasks and activities; move deals between stages",
        owner: Org,
        manager: Org,
        user: Org,
    },
    Rule {
        action: Action::RecordsDelete,
        description: "Delete a record (users: only records they own)",
        owner: Org,
        manager: Org,
        user: Own,
    },
    Rule {
        action: Action::RecordsBulkEdit,
        description: "Edit, assign or delete many records at once",
        owner: Org,
        manager: Org,
        user: Denied,
    },
    Rule {
        action: Action::RecordsMerge,
        description: "Merge duplicate records (audited)",
        owner: Org,
        manager: Org,
        user: Denied,
    },
    Rule {
        action: Action::RecordsExport,
        description: "Export lists to CSV or JSON (audited)",
        owner: Org,
        manager: Org,
        user: Denied,
    },
    Rule {
        action: Action::RecordsImport,
        description: "Import records from CSV files, and revert an import",
        owner: Org,
        manager: Org,
        user: Denied,
    },
    Rule {
        action: Action::CrmConfigure,
        description: "Configure the CRM: pipelines and stages, custom fields, record visibility, landing-page forms, webhooks",
        owner: Org,
        manager: Org,
        user: Denied,
    },
];

pub fn rule(action: Action) -> Option<&'static Rule> {
    MATRIX.iter().find(|r| r.action == action)
}

/// The grant `role` has for `action`; an action missing from the matrix is denied.
pub fn grant(role: Role, action: Action) -> Grant {
    match rule(action) {
        None => Denied,
        Some(rule) => match role {
            Role::Owner => rule.owner,
            Role::Manager => rule.manager,
            Role::User => rule.user,
        },
    }
}

/// What a route requires. Declared next to every route; enforced by the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (sign-up, login, the privacy policy, health checks).
    Public,
    /// Any signed-in member of an active organization.
    SignedIn,
    /// A signed-in member whose role grants this action.
    Can(Action),
    /// A signed-in platform super admin (`/admin`, its own session and cookie). No member role
    /// reaches these routes, and an admin session reaches no other route.
    PlatformAdmin,
}

/// A signed-in platform super admin, attached to `/admin` requests by the identity module's
/// admin-session middleware. It is never a [`Principal`]: it grants nothing on tenant routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlatformAdminPrincipal {
    pub admin_id: Uuid,
    pub session_id: Uuid,
}

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// The browser session cookie (pages only).
    Session { session_id: Uuid },
    /// A JWT access token (API only), issued with the refresh-token family `family_id`.
    AccessToken { family_id: Uuid },
    /// An API key (API only), acting for its creator with at most the key's scope.
    ApiKey { key_id: Uuid },
}

impl Credential {
    /// A stable name for the kind of credential: `session`, `access_token` or `api_key`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Session { .. } => "session",
            Self::AccessToken { .. } => "access_token",
            Self::ApiKey { .. } => "api_key",
        }
    }
}

/// The authenticated member behind a request, resolved once per request by the identity module.
#[derive(Debug, Clone)]
pub struct Principal {
    pub org: OrgId,
    pub user_id: Uuid,
    pub role: Role,
    pub credential: Credential,
}

impl Principal {
    pub fn grant(&self, action: Action) -> Grant {
        grant(self.role, action)
    }

    pub fn actor(&self) -> crate::db::Actor {
        crate::db::Actor::User(self.user_id)
    }

    /// The tenant transaction acting as this member with their effective role (row-level
    /// policies such as CRM visibility read it).
    pub async fn begin(&self, db: &crate::db::Db) -> Result<crate::db::OrgTx, sqlx::Error> {
        db.begin_member(self.org, self.user_id, self.role).await
    }
}

/// `docs/permissions.md`, rendered from [`MATRIX`].
pub fn to_markdown() -> String {
    let mut out = String::from(
        "# Permissions\n\nGenerated from `crates/kernel/src/authz.rs` (`MATRIX`); a test fails when this file is stale.\n\
         Every route declares the action it needs; the router enforces it before any handler runs.\n\n\
         | action | what it allows | owner | manager | user |\n|---|---|---|---|---|\n",
    );
    for rule in MATRIX {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            serde_json::to_value(rule.action).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
            rule.description,
            rule.owner.symbol(),
            rule.manager.symbol(),
            rule.user.symbol()
        ));
    }
    out.push_str(
        "\nRoutes under `/admin` require `platform_admin`: a platform super admin signed in with their own \
         session (created only from the CLI, MFA mandatory). No organization role reaches them, and an admin \
         session reaches no organization page or API route.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_exactly_one_rule() {
        let all = [
            Action::DashboardView,
            Action::MembersView,
            Action::MembersInvite,
            Action::MembersManage,
            Action::DepartmentsManage,
            Action::LoginActivityView,
            Action::ProfileManage,
            Action::SessionsManageOwn,
            Action::SessionsManageMembers,
            Action::ApiKeysManage,
            Action::OrgSettingsManage,
            Action::RecordsView,
            Action::RecordsEdit,
            Action::RecordsDelete,
            Action::RecordsBulkEdit,
            Action::RecordsMerge,
            Action::RecordsExport,
            Action::RecordsImport,
            Action::CrmConfigure,
        ];
        for action in all {
            assert_eq!(MATRIX.iter().filter(|r| r.action == action).count(), 1, "{action:?}");
        }
        assert_eq!(MATRIX.len(), all.len());
    }

    /// P0-12: owners can do everything managers can; managers everything users can.
    #[test]
    fn p0_12_roles_are_ordered() {
        for rule in MATRIX {
            assert!(rule.owner.allows() || !rule.manager.allows(), "{:?}", rule.action);
            assert!(rule.manager.allows() || !rule.user.allows(), "{:?}", rule.action);
        }
        assert_eq!(Role::Owner.min(Role::User), Role::User);
        assert_eq!(Role::Manager.min(Role::Owner), Role::Manager);
    }

    #[test]
    fn permissions_document_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/permissions.md");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(committed, to_markdown(), "docs/permissions.md is stale: regenerate it with `relais permissions`");
    }
}
