//! Password login and logout (P0-03, P1-16, P1-17), and the one way every sign-in opens a browser
//! session.
//!
//! * [`check_credentials`] is the password check the login form and the API's token endpoint
//!   share: rate limits per client address and per email (P1-16), the same answer and the same
//!   bcrypt work for an unknown email, a wrong password, a deactivated and a locked account, the
//!   account lockout (P1-17, `throttle`), and each failure recorded.
//! * [`open_session`] opens a browser session (the cookie's token, only its SHA-256 stored) and
//!   records the login (`login_events`, P0-03) with its method: every way of signing in
//!   (password, second factor, invitation, emailed link or code, confirmed sign-up) ends there.
//! * A member with MFA gets the second step instead of a session (`mfa::log_in`).
//!
//! Files: `store.rs` (login events), `service.rs` (credentials, opening and ending sessions),
//! `pages.rs` (the login form and logout).

pub mod pages;
mod service;
mod store;

pub use service::*;
pub use store::*;

use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use kernel::ids::SessionId;
use kernel::{AppError, OrgId};
use secrecy::SecretString;
use time::Duration;
use uuid::Uuid;

/// The data catalog entry of the login history.
pub const TABLES: &[TableEntry] = &[TableEntry {
    table: "login_events",
    module: "identity",
    description: "Each login attempt on a known account: time, outcome, IP address, browser.",
    subject: Subject::AccountHolder,
    personal_columns: &["user_id", "ip", "user_agent"],
    purpose: "Security, fraud prevention and audit logging",
    legal_basis: LegalBasis::LegitimateInterest,
    retention: Retention::RollingMonths { months: 12 },
    erasure: Erasure::Delete,
    tenant: true,
}];

/// How long a browser session lasts at most.
pub const SESSION_LIFETIME: Duration = Duration::hours(12);

/// A new browser session. The token goes in the cookie; the database keeps its SHA-256.
pub struct NewSession {
    pub token: SecretString,
    pub session_id: SessionId,
}

pub struct LoginInput {
    pub email: String,
    pub password: SecretString,
    /// The organization to sign in to (the org switcher's login): only that organization's
    /// account of the email is tried. `None`: any of the email's accounts, as the plain login.
    pub org: Option<OrgId>,
}

/// The same answer for an unknown email, a wrong password, a deactivated and a locked account.
fn bad_credentials() -> AppError {
    AppError::field("email", "bad_credentials", "The email or password is incorrect.")
}

/// A member whose password was just checked: the open tenant transaction (their row locked, the
/// lockout count cleared) in which the caller creates its credential, records the login with
/// [`record_login_success`] and commits. Nothing is kept unless the caller commits.
pub struct Authenticated {
    pub tx: kernel::OrgTx,
    pub org_id: OrgId,
    pub user_id: Uuid,
    pub now: time::OffsetDateTime,
}
