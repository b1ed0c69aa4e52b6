//! The identity module's pre-tenant doors: before the organization is known (a login, a session
//! cookie, an emailed link, an API credential), a narrow `SECURITY DEFINER` function maps the
//! email, or a secret's hash, to the ids needed to open the tenant transaction — and nothing
//! more. Expiry, single use and revocation are checked afterwards, in the tenant transaction,
//! against the application clock. Each function is declared in [`DOORS`] with its caller class;
//! the conformance test fails on a door in the schema that no module declares, or that a role
//! other than its caller's may execute.
//!
//! One door is a member's (`app.member_other_orgs`, the org switcher): inside the member's tenant
//! transaction, the organizations where their own email also holds an active account, by id and
//! name. It takes no argument, so it can name no other address's organizations.
//!
//! The super admin's doors (`app.platform_*`) are executable only on the platform admin path
//! (`relais_admin`, [`IdentityDoors::platform_door`]), never by the request role: before and
//! after the admin signs in, the backoffice reaches them through its own connection.

use kernel::module::{Door, DoorCaller};
use kernel::{Db, OrgId};
use sqlx::Postgres;
use sqlx::pool::PoolConnection;
use time::OffsetDateTime;
use uuid::Uuid;

pub const DOORS: &[Door] = &[
    door(
        "app.login_candidates",
        "the accounts an email could be (in one org when the login names it): org, user, password hash and status only",
    ),
    door("app.resolve_session", "a session cookie's hash to (org, session, user) while the session lives"),
    door("app.resolve_password_reset", "a password-reset link's hash to (org, reset, user)"),
    door("app.resolve_invitation", "an invitation link's hash to (org, invitation)"),
    door("app.resolve_refresh_token", "a refresh token's hash to (org, token)"),
    door("app.resolve_api_key", "an API key's hash to (org, key)"),
    door("app.resolve_mfa_pending", "a half-finished MFA sign-in's hash to (org, pending, user)"),
    door("app.resolve_magic_login", "an emailed sign-in link's hash to (org, link, user)"),
    door("app.pending_signup_put", "store a validated sign-up waiting for its address (hashes only)"),
    door("app.pending_signup_live", "whether a sign-up link still works, without spending it"),
    door("app.pending_signup_take", "spend a sign-up link, in the transaction creating the organization"),
    Door {
        function: "app.member_other_orgs",
        caller: DoorCaller::Member,
        purpose: "the signed-in member's other orgs (id, name) where their own email has an active account",
    },
    admin_door("app.platform_admin_setup_resolve", "a super admin's set-up link's hash to the admin"),
    admin_door("app.platform_admin_setup_complete", "finish a super admin's set-up (password and MFA)"),
    admin_door("app.platform_admin_login_candidate", "a super admin's login: id, hash and MFA secret (sealed)"),
    admin_door("app.platform_admin_open_session", "open a super admin session after login and MFA"),
    admin_door("app.platform_admin_resolve_session", "a super admin's session cookie's hash to the admin"),
    admin_door("app.platform_admin_end_session", "end a super admin session (sign out)"),
    admin_door("app.platform_audit_append", "append to the platform's own audit log"),
    admin_door("app.platform_audit_recent", "the platform audit log's latest events"),
    admin_door("app.platform_overview_orgs", "organizations: names, status, member counts (no tenant data)"),
    admin_door("app.platform_overview_jobs", "job queue counts per kind and state"),
    admin_door("app.platform_overview_migrations", "applied schema migrations"),
    admin_door("app.platform_overview_admins", "the super admins: names and MFA state"),
    admin_door("app.platform_set_org_status", "suspend or reactivate an organization"),
];

const fn door(function: &'static str, purpose: &'static str) -> Door {
    Door { function, caller: DoorCaller::BeforeTenant, purpose }
}

const fn admin_door(function: &'static str, purpose: &'static str) -> Door {
    Door { function, caller: DoorCaller::PlatformAdmin, purpose }
}

/// One account an email could belong to. The hash never reaches a `Debug` print.
pub struct LoginCandidate {
    pub org_id: OrgId,
    pub user_id: Uuid,
    pub password_hash: String,
    pub status: String,
}

impl std::fmt::Debug for LoginCandidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginCandidate")
            .field("org_id", &self.org_id)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// A validated sign-up waiting for its address to confirm it. Holds no secret in clear: the
/// link's token as its SHA-256, the password as its bcrypt hash.
pub struct PendingSignup<'a> {
    pub signup_id: Uuid,
    pub email: &'a str,
    pub token_hash: [u8; 32],
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub job_title: &'a str,
    pub organization_name: &'a str,
    pub password_hash: &'a str,
    pub language: &'a str,
    pub policy_version: &'a str,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for PendingSignup<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingSignup").field("signup_id", &self.signup_id).finish_non_exhaustive()
    }
}

/// The identity doors, called on the database handle: `state.db.resolve_session(…)`.
#[allow(async_fn_in_trait)]
pub trait IdentityDoors {
    /// Login: the accounts an email could be (`app.login_candidates`).
    async fn login_candidates(&self, email: &str) -> Result<Vec<LoginCandidate>, sqlx::Error>;
    /// Login to a named organization (the org switcher's form): that organization's account of the
    /// email, if it has one (`app.login_candidates` with its organization).
    async fn login_candidates_in(&self, email: &str, org: OrgId) -> Result<Vec<LoginCandidate>, sqlx::Error>;
    /// Session cookie to (org, session, user) (`app.resolve_session`).
    async fn resolve_session(
        &self,
        token_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<(OrgId, Uuid, Uuid)>, sqlx::Error>;
    /// A password-reset link to (org, reset id, user) (`app.resolve_password_reset`).
    async fn resolve_password_reset(&self, token_hash: &[u8; 32]) -> Result<Option<(OrgId, Uuid, Uuid)>, sqlx::Error>;
    /// An invitation link to (org, invitation id) (`app.resolve_invitation`).
    async fn resolve_invitation(&self, token_hash: &[u8; 32]) -> Result<Option<(OrgId, Uuid)>, sqlx::Error>;
    /// A refresh token to (org, token id) (`app.resolve_refresh_token`).
    async fn resolve_refresh_token(&self, token_hash: &[u8; 32]) -> Result<Option<(OrgId, Uuid)>, sqlx::Error>;
    /// An API key to (org, key id) (`app.resolve_api_key`).
    async fn resolve_api_key(&self, key_hash: &[u8; 32]) -> Result<Option<(OrgId, Uuid)>, sqlx::Error>;
    /// A pending MFA step to (org, pending id, user) (`app.resolve_mfa_pending`).
    async fn resolve_mfa_pending(&self, token_hash: &[u8; 32]) -> Result<Option<(OrgId, Uuid, Uuid)>, sqlx::Error>;
    /// An emailed sign-in link to (org, link id, user) (`app.resolve_magic_login`).
    async fn resolve_magic_login(&self, token_hash: &[u8; 32]) -> Result<Option<(OrgId, Uuid, Uuid)>, sqlx::Error>;
    /// Stores `pending` (`app.pending_signup_put`), replacing any pending sign-up of the same
    /// address and purging expired ones.
    async fn put_pending_signup(&self, pending: &PendingSignup<'_>) -> Result<(), sqlx::Error>;
    /// Whether a sign-up link still works at `now`, without spending it (`app.pending_signup_live`).
    async fn pending_signup_live(&self, token_hash: &[u8; 32], now: OffsetDateTime) -> Result<bool, sqlx::Error>;
    /// The platform admin path's connection (`relais_admin`, see `Db::platform_admin`), the only
    /// one that may open the `app.platform_*` doors of the backoffice (see `platform_admin`).
    async fn platform_door(&self) -> Result<PoolConnection<Postgres>, sqlx::Error>;
}

impl IdentityDoors for Db {
    async fn login_candidates(&self, email: &str) -> Result<Vec<LoginCandidate>, sqlx::Error> {
        sqlx::query_as!(
            LoginCandidate,
            r#"select org_id as "org_id!", user_id as "user_id!", password_hash as "password_hash!", status as "status!"
               from app.login_candidates($1)"#,
            email
        )
        .fetch_all(self.before_tenant())
        .await
    }

    async fn login_candidates_in(&self, email: &str, org: OrgId) -> Result<Vec<LoginCandidate>, sqlx::Error> {
        sqlx::query_as!(
            LoginCandidate,
            r#"select org_id as "org_id!", user_id as "user_id!", password_hash as "password_hash!", status as "status!"
               from app.login_candidates($1, $2)"#,
            email,
            org.0
        )
        .fetch_all(self.before_tenant())
        .await
    }

    async fn resolve_session(
        &self,
        token_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<(OrgId, Uuid, Uuid)>, sqlx::Error> {
        let row = sqlx::query!(
            r#"select org_id as "org_id!", session_id as "session_id!", user_id as "user_id!"
               from app.resolve_session($1, $2)"#,
            token_hash.as_slice(),
            now
        )
        .fetch_optional(self.before_tenant())
        .await?;
        Ok(row.map(|r| (OrgId(r.org_id), r.session_id, r.user_id)))
    }

    async fn resolve_password_reset(&self, token_hash: &[u8; 32]) -> Result<Option<(OrgId, Uuid, Uuid)>, sqlx::Error> {
        let row = sqlx::query!(
            r#"select org_id as "org_id!", reset_id as "reset_id!", user_id as "user_id!"
               from app.resolve_password_reset($1)"#,
            token_hash.as_slice()
        )
        .fetch_optional(self.before_tenant())
        .await?;
        Ok(row.map(|r| (OrgId(r.org_id), r.reset_id, r.user_id)))
    }

    async fn resolve_invitation(&self, token_hash: &[u8; 32]) -> Result<Option<(OrgId, Uuid)>, sqlx::Error> {
        let row = sqlx::query!(
            r#"select org_id as "org_id!", invitation_id as "invitation_id!"
               from app.resolve_invitation($1)"#,
            token_hash.as_slice()
        )
        .fetch_optional(self.before_tenant())
        .await?;
        Ok(row.map(|r| (OrgId(r.org_id), r.invitation_id)))
    }

    async fn resolve_refresh_token(&self, token_hash: &[u8; 32]) -> Result<Option<(OrgId, Uuid)>, sqlx::Error> {
        let row = sqlx::query!(
            r#"select org_id as "org_id!", token_id as "token_id!"
               from app.resolve_refresh_token($1)"#,
            token_hash.as_slice()
        )
        .fetch_optional(self.before_tenant())
        .await?;
        Ok(row.map(|r| (OrgId(r.org_id), r.token_id)))
    }

    async fn resolve_api_key(&self, key_hash: &[u8; 32]) -> Result<Option<(OrgId, Uuid)>, sqlx::Error> {
        let row = sqlx::query!(
            r#"select org_id as "org_id!", key_id as "key_id!"
               from app.resolve_api_key($1)"#,
            key_hash.as_slice()
        )
        .fetch_optional(self.before_tenant())
        .await?;
        Ok(row.map(|r| (OrgId(r.org_id), r.key_id)))
    }

    async fn resolve_mfa_pending(&self, token_hash: &[u8; 32]) -> Result<Option<(OrgId, Uuid, Uuid)>, sqlx::Error> {
        let row = sqlx::query!(
            r#"select org_id as "org_id!", pending_id as "pending_id!", user_id as "user_id!"
               from app.resolve_mfa_pending($1)"#,
            token_hash.as_slice()
        )
        .fetch_optional(self.before_tenant())
        .await?;
        Ok(row.map(|r| (OrgId(r.org_id), r.pending_id, r.user_id)))
    }

    async fn resolve_magic_login(&self, token_hash: &[u8; 32]) -> Result<Option<(OrgId, Uuid, Uuid)>, sqlx::Error> {
        let row = sqlx::query!(
            r#"select org_id as "org_id!", magic_id as "magic_id!", user_id as "user_id!"
               from app.resolve_magic_login($1)"#,
            token_hash.as_slice()
        )
        .fetch_optional(self.before_tenant())
        .await?;
        Ok(row.map(|r| (OrgId(r.org_id), r.magic_id, r.user_id)))
    }

    async fn put_pending_signup(&self, pending: &PendingSignup<'_>) -> Result<(), sqlx::Error> {
        sqlx::query!(
            "select app.pending_signup_put($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            pending.signup_id,
            pending.email,
            pending.token_hash.as_slice(),
            pending.first_name,
            pending.last_name,
            pending.job_title,
            pending.organization_name,
            pending.password_hash,
            pending.language,
            pending.policy_version,
            pending.created_at,
            pending.expires_at
        )
        .execute(self.before_tenant())
        .await?;
        Ok(())
    }

    async fn pending_signup_live(&self, token_hash: &[u8; 32], now: OffsetDateTime) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar!(
            r#"select app.pending_signup_live($1, $2) as "pending_signup_live!""#,
            token_hash.as_slice(),
            now
        )
        .fetch_one(self.before_tenant())
        .await
    }

    async fn platform_door(&self) -> Result<PoolConnection<Postgres>, sqlx::Error> {
        self.platform_admin().await
    }
}
