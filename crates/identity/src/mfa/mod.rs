//! Multi-factor authentication (issue #3 item 4; P2-18 "MFA for administrators"; ASVS 5.0 L2 V6).
//!
//! * **TOTP** (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps, one step of clock skew either way —
//!   what authenticator apps expect). The 160-bit secret is sealed by the vault
//!   (`SecretContext { record_kind: "mfa_totp", record_id: member, field: "secret" }`) in
//!   `mfa_factors`; it is shown once, as an inline SVG QR code and in base32, on `/settings/mfa`,
//!   and the enrollment only completes with a valid code. Each time step is accepted at most once
//!   per member (`last_used_step`: only a later step passes), so a code seen over a shoulder or
//!   replayed within its 30 seconds is refused.
//! * **Recovery codes**: ten random 80-bit codes at enrollment (and on regeneration), shown once,
//!   stored as SHA-256 (they are high-entropy), each usable once.
//! * **Login second step**: a correct password ([`crate::login::check_credentials`]) for a member with
//!   MFA opens no session; it yields a pending login ([`PENDING_LIFETIME`], single use, its token
//!   only hashed, in `mfa_pending_logins` — a separate table so nothing that reads `sessions` can
//!   mistake it for one) and a redirect to `/login/mfa`, where a TOTP or recovery code opens the
//!   session. The password success does not reset the lockout count: only the full login does, so
//!   wrong codes count toward the same lockout (P1-17) as wrong passwords, plus their own rate
//!   limits (`ratelimit::MFA_CODE_PER_IP`, `MFA_CODE_PER_ACCOUNT`, P1-16).
//! * **API**: `/api/v1/auth/token` refuses a member with MFA unless the request carries a valid
//!   TOTP `otp` ([`second_factor_for_api`]).
//! * **Required** (P2-18): owners and managers must use MFA, and an owner may require it of every
//!   member (`organizations.require_mfa_all`, action `OrgSettingsManage`). A member for whom it is
//!   required and who has none is signed in but every page sends them to `/settings/mfa`
//!   ([`requirement`], checked once per request in `signed_in::attach_principal`). Owners and
//!   managers get [`ADMIN_ENROLLMENT_GRACE`] from their account's creation first.
//! * **Re-authentication**: regenerating recovery codes and disabling MFA need the current
//!   password or a current code in the same form; disabling is refused where MFA is required.
//! * **Audit**: `mfa.enrolled`, `mfa.disabled`, `mfa.recovery_codes_regenerated`,
//!   `mfa.recovery_code_used`, `auth.login.mfa_failed`, `org.require_mfa_all_changed`.
//!
//! Files: `store.rs` (factors, recovery codes, pending logins), `service.rs` (checking codes, the
//! login's second step, the requirement), `pages.rs` (`/login/mfa`, `/settings/mfa`).

pub mod pages;
mod service;
mod store;

pub use service::*;
pub use store::*;

use axum_extra::extract::cookie::{Cookie, SameSite};
use kernel::authz::Role;
use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use kernel::vault::SecretContext;
use kernel::web::AppState;
use kernel::{AppError, OrgId, token};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::login::NewSession;

/// How long the second step of a login may take.
pub const PENDING_LIFETIME: Duration = Duration::minutes(5);

/// Recovery codes per enrollment.
pub const RECOVERY_CODES: usize = 10;

/// Owners and managers without MFA may use Relais this long after their account was created; then
/// every page sends them to enroll. (A member of an organization that requires MFA of everyone
/// gets no grace.)
pub const ADMIN_ENROLLMENT_GRACE: Duration = Duration::days(14);

/// The issuer authenticator apps show next to the account.
const ISSUER: &str = "Relais";

const STEP_SECS: u64 = 30;

const PENDING_COOKIE: &str = "relais_mfa_pending";

/// The data catalog entries of MFA.
pub const TABLES: &[TableEntry] = &[
    TableEntry {
        table: "mfa_factors",
        module: "identity",
        description: "Each member's TOTP factor: the secret sealed by the vault, when enrolled, the last accepted time step.",
        subject: Subject::AccountHolder,
        personal_columns: &["user_id", "secret_sealed", "enrolled_at", "last_used_step"],
        purpose: "Authentication and account security",
        legal_basis: LegalBasis::Contract,
        retention: Retention::AccountLifetimePlusDays { days: 30 },
        erasure: Erasure::Delete,
        tenant: true,
    },
    TableEntry {
        table: "mfa_recovery_codes",
        module: "identity",
        description: "Single-use MFA recovery codes, stored as SHA-256 hashes, and when each was used.",
        subject: Subject::AccountHolder,
        personal_columns: &["user_id", "used_at"],
        purpose: "Authentication and account security",
        legal_basis: LegalBasis::Contract,
        retention: Retention::AccountLifetimePlusDays { days: 30 },
        erasure: Erasure::Delete,
        tenant: true,
    },
    TableEntry {
        table: "mfa_pending_logins",
        module: "identity",
        description: "Logins waiting for their second factor: hashed token, member, five-minute expiry.",
        subject: Subject::AccountHolder,
        personal_columns: &["user_id", "created_at"],
        purpose: "Authentication and account security",
        legal_basis: LegalBasis::Contract,
        retention: Retention::UntilExpiry,
        erasure: Erasure::Delete,
        tenant: true,
    },
];

fn secret_context(org: OrgId, user: Uuid) -> SecretContext<'static> {
    SecretContext { org, record_kind: "mfa_totp", record_id: user, field: "secret" }
}

/// A fresh 160-bit secret, base32 (what authenticator apps take for manual entry).
pub(crate) fn new_secret() -> SecretString {
    let mut bytes = [0u8; 20];
    rand::rng().fill(&mut bytes[..]);
    SecretString::from(totp_rs::Secret::from(bytes).to_base32())
}

pub(crate) fn totp(secret: &SecretString, account: &str) -> Result<totp_rs::Totp, AppError> {
    let bytes = totp_rs::Secret::try_from_base32(secret.expose_secret())
        .map_err(|_| AppError::Internal(anyhow::anyhow!("stored TOTP secret is not base32")))?;
    let build = |account: &str| {
        totp_rs::Builder::new()
            .with_algorithm(totp_rs::Algorithm::SHA1)
            .with_digits(6)
            .with_skew(1)
            .with_step_duration(STEP_SECS)
            .with_secret(bytes.clone())
            .with_account_name(account)
            .with_issuer(Some(ISSUER))
            .build()
    };
    build(account)
        .or_else(|_| build("member"))
        .map_err(|e| AppError::Internal(anyhow::anyhow!("building the TOTP generator: {e}")))
}

pub(crate) fn unix_secs(now: OffsetDateTime) -> u64 {
    u64::try_from(now.unix_timestamp()).unwrap_or(0)
}

/// A code as typed: spaces and dashes dropped, lower-cased.
pub(crate) fn normalize(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace() && *c != '-').flat_map(char::to_lowercase).collect()
}

/// Recovery codes: 16 characters from a 32-letter alphabet without look-alikes (80 bits), shown
/// in groups of four.
fn new_recovery_code() -> SecretString {
    const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    let chars: Vec<char> = (0..16).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect();
    let groups: Vec<String> = chars.chunks(4).map(|c| c.iter().collect()).collect();
    SecretString::from(groups.join("-"))
}

fn recovery_hash(code: &str) -> [u8; 32] {
    token::hash(&SecretString::from(normalize(code)))
}

struct FactorRow {
    secret_sealed: Vec<u8>,
    enrolled_at: Option<OffsetDateTime>,
    last_used_step: Option<i64>,
}

/// Which second factor proved the login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FactorUsed {
    Totp,
    RecoveryCode,
}

impl FactorUsed {
    fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
        }
    }
}

fn bad_code() -> AppError {
    AppError::field("code", "mfa_code_invalid", "The code is incorrect or was already used.")
}

/// What a correct password leads to: a session, or (MFA enrolled) the second step.
pub enum LoginStep {
    Session(NewSession),
    SecondFactor { token: SecretString },
}

struct Pending {
    org: OrgId,
    pending_id: Uuid,
    user: Uuid,
}

struct RequirementRow {
    require_mfa_all: bool,
    created_at: OffsetDateTime,
    enrolled: bool,
}

fn required(role: Role, require_all: bool, created_at: OffsetDateTime, now: OffsetDateTime) -> bool {
    let admin = matches!(role, Role::Owner | Role::Manager);
    require_all || (admin && now >= created_at + ADMIN_ENROLLMENT_GRACE)
}

/// Pages a member who must enroll may still reach: the enrollment page itself, logging out,
/// the language switch, the privacy policy, static files and health checks.
pub fn reachable_without_mfa(path: &str) -> bool {
    path == "/settings/mfa"
        || path.starts_with("/settings/mfa/")
        || matches!(path, "/logout" | "/lang" | "/privacy" | "/healthz" | "/readyz" | "/favicon.ico")
        || path.starts_with("/static/")
}

/// The QR code of `text` as an inline SVG (no image service, no script): one path of dark modules.
pub(crate) fn qr_svg(text: &str) -> Result<String, AppError> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("QR code: {e}")))?;
    let width = code.width();
    let quiet = 4;
    let size = width + 2 * quiet;
    let mut path = String::new();
    for (i, color) in code.to_colors().iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (x, y) = (i % width + quiet, i / width + quiet);
            path.push_str(&format!("M{x} {y}h1v1h-1z"));
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" width=\"220\" height=\"220\" \
         shape-rendering=\"crispEdges\" role=\"img\" aria-labelledby=\"mfa-qr-title\"><title id=\"mfa-qr-title\">QR</title>\
         <rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/><path fill=\"#000\" d=\"{path}\"/></svg>"
    ))
}

fn pending_cookie_name(state: &AppState) -> &'static str {
    if state.config.public_url.is_https() { "__Host-relais_mfa_pending" } else { PENDING_COOKIE }
}

/// The short-lived cookie that carries a pending login to `/login/mfa`.
pub fn pending_cookie(state: &AppState, token: &SecretString) -> Cookie<'static> {
    Cookie::build((pending_cookie_name(state), token.expose_secret().to_owned()))
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(PENDING_LIFETIME)
        .build()
}

fn expired_pending_cookie(state: &AppState) -> Cookie<'static> {
    let mut cookie = Cookie::build((pending_cookie_name(state), "")).http_only(true).secure(true).path("/").build();
    cookie.make_removal();
    cookie
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_80_bits_and_normalize() {
        let code = new_recovery_code();
        let text = code.expose_secret();
        assert_eq!(text.len(), 19, "{text}");
        assert_eq!(normalize(text).len(), 16);
        assert_eq!(recovery_hash(text), recovery_hash(&text.to_uppercase().replace('-', " ")));
        assert_ne!(new_recovery_code().expose_secret(), text);
    }

    /// P2-18: owners and managers need MFA after the grace period; users only when the org says.
    #[test]
    fn p2_18_mfa_is_required_of_owners_and_managers() {
        let created = OffsetDateTime::UNIX_EPOCH;
        let later = created + ADMIN_ENROLLMENT_GRACE;
        assert!(required(Role::Owner, false, created, later));
        assert!(required(Role::Manager, false, created, later));
        assert!(!required(Role::User, false, created, later));
        assert!(required(Role::User, true, created, created));
        assert!(!required(Role::Owner, false, created, later - Duration::seconds(1)));
    }

    #[test]
    fn the_qr_code_is_an_inline_svg() {
        let svg = qr_svg("otpauth://totp/Relais:a%40b.eu?secret=JBSWY3DPEHPK3PXP&issuer=Relais").unwrap();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("<path fill=\"#000\" d=\"M"));
        assert!(!svg.contains("<script"));
    }
}
