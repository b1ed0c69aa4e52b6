//! What members can do in the identity module, with each role's grant (P0-12, P1-07, P2-07).
//! Routes name these in their `Access::Can`; `docs/permissions.md` is rendered from them.
use kernel::authz::Action;
use kernel::authz::Grant::{Denied, Department, Org, Own};

pub const DASHBOARD_VIEW: Action = Action::new(
    "dashboard_view",
    "See the home page: one's tasks, deals and recent activity (what each panel shows follows the member's own grants)",
    Org,
    Org,
    Org,
);

pub const MEMBERS_VIEW: Action = Action::new(
    "members_view",
    "See the organization's members (names, emails, roles); a department admin sees only their departments' members",
    Org,
    Department,
    Org,
);

pub const MEMBERS_INVITE: Action =
    Action::new("members_invite", "Invite people (managers may invite users only)", Org, Org, Denied);

pub const MEMBERS_MANAGE: Action =
    Action::new("members_manage", "Change roles, deactivate, unlock or remove members", Org, Denied, Denied);

pub const DEPARTMENTS_MANAGE: Action = Action::new(
    "departments_manage",
    "Create, rename and delete departments; assign members and department admins",
    Org,
    Denied,
    Denied,
);

pub const LOGIN_ACTIVITY_VIEW: Action = Action::new(
    "login_activity_view",
    "See sign-in history and API request logs, with IP addresses (audited)",
    Org,
    Denied,
    Denied,
);

pub const PROFILE_MANAGE: Action =
    Action::new("profile_manage", "Change one's own name, email, password and language", Own, Own, Own);

pub const SESSIONS_MANAGE_OWN: Action =
    Action::new("sessions_manage_own", "List and revoke one's own sessions", Own, Own, Own);

pub const SESSIONS_MANAGE_MEMBERS: Action =
    Action::new("sessions_manage_members", "End any member's sessions", Org, Denied, Denied);

pub const API_KEYS_MANAGE: Action = Action::new(
    "api_keys_manage",
    "Create, list and revoke the organization's API keys (a key's scope never exceeds its creator's role)",
    Org,
    Org,
    Denied,
);

pub const ORG_SETTINGS_MANAGE: Action = Action::new(
    "org_settings_manage",
    "Change the organization's security settings (e.g. require MFA of every member)",
    Org,
    Denied,
    Denied,
);

/// Every action of this module, in the order `docs/permissions.md` lists them.
pub const ALL: &[Action] = &[
    DASHBOARD_VIEW,
    MEMBERS_VIEW,
    MEMBERS_INVITE,
    MEMBERS_MANAGE,
    DEPARTMENTS_MANAGE,
    LOGIN_ACTIVITY_VIEW,
    PROFILE_MANAGE,
    SESSIONS_MANAGE_OWN,
    SESSIONS_MANAGE_MEMBERS,
    API_KEYS_MANAGE,
    ORG_SETTINGS_MANAGE,
];
