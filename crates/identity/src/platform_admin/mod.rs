//! The platform super admin (issue #3 item 2; P2-18; ASVS 5.0 L2 V6–V8): manages the instance, never
//! reads tenant secrets.
//!
//! * **Created only from the CLI**: `relais admin create --email` ([`create_admin`], platform scope)
//!   prints a one-time setup link `/admin/setup/{token}` ([`SETUP_LINK_LIFETIME`], single use, the
//!   token stored only as SHA-256). No HTTP route creates an admin. `relais admin list` and
//!   `relais admin disable` ([`disable_admin`], ends their sessions at once) complete the set.
//! * **Setup** (`/admin/setup/{token}`): a password (the members' rules, [`Password`]) and a TOTP
//!   factor (the secret sealed by the vault at creation; the QR code and code check are `mfa`'s).
//! * **Login** (`/admin/login`): email, password and TOTP code, all mandatory (P2-18); each time
//!   step once. Per-IP and per-account rate limits (429 + `Retry-After`); one answer for an unknown
//!   email, a wrong password, a wrong code and a disabled admin.
//! * **Sessions**: their own table and cookie (`__Host-` behind HTTPS, Secure, HttpOnly,
//!   SameSite=Strict), [`SESSION_IDLE_TIMEOUT`] idle and [`SESSION_LIFETIME`] absolute. The admin
//!   cookie is only read under `/admin` and yields a [`PlatformAdminPrincipal`], never a
//!   `Principal`: it grants nothing on tenant routes, and no member role reaches `Access::PlatformAdmin`.
//! * **Backoffice** (`/admin`): organizations (name, created, member count, last login), job-queue
//!   health, migrations, admins and the last 50 platform audit entries; suspend / reactivate an
//!   organization (its members' sessions end at once; its bearer credentials stop with it).
//! * **Data access**: the backoffice reads nothing of these tables or of tenant tables directly;
//!   everything goes through SECURITY DEFINER doors (migration 0010) that return aggregates and
//!   organization names only, on the platform admin path's own connection (`relais_admin`,
//!   `IdentityDoors::platform_door`). The members' request role may not call them (migration 0020).
//! * **Audit**: `platform_audit_events` (append-only; pseudonymous payloads): `platform.admin.created`,
//!   `.disabled`, `.setup_completed`, `.login.succeeded`, `.login.failed`, `.logout`,
//!   `platform.org.suspended`, `platform.org.reactivated`.
//!
//! Files: `store.rs` (the platform audit log), `service.rs` (the CLI's commands, checking a login),
//! `pages.rs` (setup, login, logout, the backoffice). The admin's cookie and middleware are here.

pub mod pages;
mod service;
mod store;

pub use service::*;
use store::*;

use crate::doors::IdentityDoors;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use kernel::authz::PlatformAdminPrincipal;
use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use kernel::i18n::{Lang, T};
use kernel::ratelimit::Rule;
use kernel::vault::SecretContext;
use kernel::web::{AppState, Page};
use kernel::{AppError, OrgId, token};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// How long a setup link printed by `relais admin create` works.
pub const SETUP_LINK_LIFETIME: Duration = Duration::minutes(30);

/// An admin session unused this long ends.
pub const SESSION_IDLE_TIMEOUT: Duration = Duration::minutes(30);

/// An admin session ends this long after login, used or not.
pub const SESSION_LIFETIME: Duration = Duration::hours(8);

/// Platform audit entries shown on the backoffice.
pub const AUDIT_SHOWN: i32 = 50;

/// Admin login attempts from one client address.
pub const LOGIN_PER_IP: Rule = Rule { name: "admin-login-ip", limit: 10, window: Duration::minutes(15) };

/// Admin login attempts on one email address.
pub const LOGIN_PER_ACCOUNT: Rule = Rule { name: "admin-login-account", limit: 5, window: Duration::minutes(15) };

/// Setup-link submissions from one client address.
pub const SETUP_PER_IP: Rule = Rule { name: "admin-setup-ip", limit: 10, window: Duration::minutes(15) };

/// The data catalog entries of the super admin.
pub const TABLES: &[TableEntry] = &[
    TableEntry {
        table: "platform_admins",
        module: "identity",
        description: "Platform super admins (the operator's staff): email, password hash, TOTP secret sealed by the vault, status, last login.",
        subject: Subject::AccountHolder,
        personal_columns: &[
            "email",
            "password_hash",
            "totp_secret_sealed",
            "totp_last_step",
            "last_login_at",
            "activated_at",
            "disabled_at",
        ],
        purpose: "Operating the instance: account data of the operator's staff",
        legal_basis: LegalBasis::LegitimateInterest,
        retention: Retention::UntilRevoked,
        erasure: Erasure::Delete,
        tenant: false,
    },
    TableEntry {
        table: "platform_admin_setup_tokens",
        module: "identity",
        description: "One-time setup links of super admins: SHA-256 of the token, 30-minute expiry, when used.",
        subject: Subject::AccountHolder,
        personal_columns: &["admin_id", "used_at"],
        purpose: "Authentication and account security",
        legal_basis: LegalBasis::LegitimateInterest,
        retention: Retention::UntilExpiry,
        erasure: Erasure::Delete,
        tenant: false,
    },
    TableEntry {
        table: "platform_admin_sessions",
        module: "identity",
        description: "Super admin sessions: hashed token, admin, times (30-minute idle timeout, 8-hour lifetime).",
        subject: Subject::AccountHolder,
        personal_columns: &["admin_id", "created_at", "last_seen_at"],
        purpose: "Authentication and account security",
        legal_basis: LegalBasis::LegitimateInterest,
        retention: Retention::UntilExpiry,
        erasure: Erasure::Delete,
        tenant: false,
    },
    TableEntry {
        table: "platform_audit_events",
        module: "identity",
        description: "Append-only log of super admin actions (CLI and backoffice): pseudonymous ids only.",
        subject: Subject::AccountHolder,
        personal_columns: &["actor_id", "target_id"],
        purpose: "Security, fraud prevention and audit logging",
        legal_basis: LegalBasis::LegitimateInterest,
        retention: Retention::RollingMonths { months: 12 },
        erasure: Erasure::Delete,
        tenant: false,
    },
];

fn secret_context(admin: Uuid) -> SecretContext<'static> {
    SecretContext { org: OrgId(Uuid::nil()), record_kind: "platform_admin_totp", record_id: admin, field: "secret" }
}

/// The accepted time step of `code` for the admin's sealed secret, if any (replay is refused by
/// the caller's door, which only accepts a later step than the last one).
fn totp_step(state: &AppState, admin: Uuid, sealed: &[u8], code: &str) -> Result<Option<u64>, AppError> {
    let code = crate::mfa::normalize(code);
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return Ok(None);
    }
    let secret = state.vault.open(&secret_context(admin), sealed)?;
    let generator = crate::mfa::totp(&secret, "admin")?;
    Ok(generator.check(&code, crate::mfa::unix_secs(state.clock.now())))
}

fn step_i64(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}

/// What `relais admin create` prints: the new admin and their one-time setup link.
pub struct CreatedAdmin {
    pub admin_id: Uuid,
    pub setup_url: SecretString,
    pub expires_at: OffsetDateTime,
}

/// One line of `relais admin list`.
#[derive(Debug, Clone)]
pub struct AdminSummary {
    pub admin_id: Uuid,
    pub email: String,
    pub status: String,
    pub created_at: OffsetDateTime,
    pub last_login_at: Option<OffsetDateTime>,
}

/// The signed-in super admin, for handlers behind `Access::PlatformAdmin`.
#[derive(Debug, Clone)]
pub struct AdminSignedIn {
    pub admin_id: Uuid,
    pub session_id: Uuid,
    pub email: String,
}

impl AdminSignedIn {
    fn page(&self, state: &AppState, lang: Lang, path: &str) -> Page {
        Page {
            t: T(lang),
            csrf: state.csrf_token(self.session_id),
            nav: None,
            path: path.to_owned(),
            tz: kernel::dates::DEFAULT_ZONE,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AdminSignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<AdminSignedIn>().cloned().ok_or_else(|| Redirect::to("/admin/login").into_response())
    }
}

/// The admin cookie's name: `__Host-` prefixed behind HTTPS, like the members' one.
pub fn cookie_name(state: &AppState) -> &'static str {
    if state.config.public_url.is_https() { "__Host-relais_admin" } else { "relais_admin" }
}

fn admin_cookie(state: &AppState, token: &SecretString) -> Cookie<'static> {
    Cookie::build((cookie_name(state), token.expose_secret().to_owned()))
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .path("/")
        .build()
}

fn expired_admin_cookie(state: &AppState) -> Cookie<'static> {
    let mut cookie = Cookie::build((cookie_name(state), ""))
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .path("/")
        .build();
    cookie.make_removal();
    cookie
}

struct SessionRow {
    session_id: Uuid,
    admin_id: Uuid,
    email: String,
}

/// Middleware: under `/admin` only, resolves the admin cookie and attaches the admin. Nothing
/// else ever reads that cookie, so an admin session is nobody on tenant routes.
pub async fn attach_platform_admin(
    State(state): State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    if path == "/admin" || path.starts_with("/admin/") {
        let jar = CookieJar::from_headers(request.headers());
        if let Some(cookie) = jar.get(cookie_name(&state)) {
            let hash = token::hash(&SecretString::from(cookie.value()));
            let idle = i32::try_from(SESSION_IDLE_TIMEOUT.whole_seconds()).unwrap_or(i32::MAX);
            let mut conn = match state.db.platform_door().await {
                Ok(conn) => conn,
                Err(error) => return AppError::from(error).into_response(),
            };
            let row = resolve_session(&mut conn, &hash, state.clock.now(), idle).await;
            match row {
                Ok(Some(row)) => {
                    request
                        .extensions_mut()
                        .insert(PlatformAdminPrincipal { admin_id: row.admin_id, session_id: row.session_id });
                    request.extensions_mut().insert(AdminSignedIn {
                        admin_id: row.admin_id,
                        session_id: row.session_id,
                        email: row.email,
                    });
                }
                Ok(None) => {}
                Err(error) => return AppError::from(error).into_response(),
            }
        }
    }
    next.run(request).await
}

struct SetupRow {
    admin_id: Uuid,
    email: String,
    totp_secret_sealed: Vec<u8>,
}

struct Candidate {
    admin_id: Uuid,
    status: String,
    password_hash: Option<String>,
    totp_secret_sealed: Vec<u8>,
}

struct OrgRow {
    org_id: Uuid,
    name: String,
    status: String,
    created_at: OffsetDateTime,
    member_count: i64,
    last_login_at: Option<OffsetDateTime>,
}

struct JobRow {
    kind: String,
    status: String,
    jobs: i64,
    oldest_waiting: Option<OffsetDateTime>,
}

struct MigrationRow {
    version: i64,
    description: String,
    installed_on: OffsetDateTime,
    success: bool,
}

struct AdminRow {
    email: String,
    status: String,
    created_at: OffsetDateTime,
    last_login_at: Option<OffsetDateTime>,
}

struct AuditRow {
    occurred_at: OffsetDateTime,
    actor_kind: String,
    actor_id: Option<Uuid>,
    action: String,
    target_kind: Option<String>,
    target_id: Option<Uuid>,
    payload: Value,
}
