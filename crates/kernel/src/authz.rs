//! Who may do what: one declarative permission matrix (P0-12, P1-07, P2-07).
//!
//! Each module declares its [`Action`]s, each with the grant of every role; every route declares
//! an [`Access`]; the router enforces it before the handler runs, so no handler checks roles by
//! hand. `docs/permissions.md` is rendered from the modules' actions (a test keeps it current).

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

    pub fn symbol(&self) -> &'static str {
        match self {
            Self::Org => "✔ org",
            Self::Department => "✔ department",
            Self::Own => "✔ own",
            Self::Denied => "—",
        }
    }
}

/// Something a member can do that needs a permission, with the grant of each role. Each module
/// declares its own actions as constants (`crm::actions::RECORDS_VIEW`) and lists them in its
/// [`crate::module::Module`]; the kernel names none. Two actions are the same when their keys are.
#[derive(Debug, Clone, Copy)]
pub struct Action {
    /// Stable snake_case name, shown in `docs/permissions.md` (`records_view`).
    pub key: &'static str,
    pub description: &'static str,
    pub owner: Grant,
    pub manager: Grant,
    pub user: Grant,
}

impl Action {
    pub const fn new(key: &'static str, description: &'static str, owner: Grant, manager: Grant, user: Grant) -> Self {
        Self { key, description, owner, manager, user }
    }

    /// The grant `role` has for this action.
    pub fn grant(&self, role: Role) -> Grant {
        match role {
            Role::Owner => self.owner,
            Role::Manager => self.manager,
            Role::User => self.user,
        }
    }
}

impl PartialEq for Action {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Action {}

impl std::hash::Hash for Action {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

/// The grant `role` has for `action`.
pub fn grant(role: Role, action: Action) -> Grant {
    action.grant(role)
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

/// `docs/permissions.md`, rendered from every module's actions, in module order.
pub fn to_markdown(actions: &[(&str, &[Action])]) -> String {
    let mut out = String::from(
        "# Permissions\n\nGenerated by `relais permissions` from the actions each module declares \
         (`crates/<module>/src/actions.rs`); a test fails when this file is stale.\n\
         Every route declares the action it needs; the router enforces it before any handler runs.\n\n\
         | module | action | what it allows | owner | manager | user |\n|---|---|---|---|---|---|\n",
    );
    for (module, list) in actions {
        for action in *list {
            out.push_str(&format!(
                "| {module} | `{}` | {} | {} | {} | {} |\n",
                action.key,
                action.description,
                action.owner.symbol(),
                action.manager.symbol(),
                action.user.symbol()
            ));
        }
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
    fn the_lesser_role_is_the_more_restricted() {
        assert_eq!(Role::Owner.min(Role::User), Role::User);
        assert_eq!(Role::Manager.min(Role::Owner), Role::Manager);
    }

    #[test]
    fn an_action_grants_per_role() {
        const A: Action = Action::new("a", "", Grant::Org, Grant::Department, Grant::Denied);
        assert_eq!(A.grant(Role::Owner), Grant::Org);
        assert_eq!(grant(Role::Manager, A), Grant::Department);
        assert!(!A.grant(Role::User).allows());
    }
}
