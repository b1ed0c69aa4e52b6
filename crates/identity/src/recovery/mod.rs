//! Password reset by email (P1-05; ASVS 5.0 L2 V6.4).
//!
//! * Asking: `/password-reset` (page) or `POST /api/v1/auth/password-reset` (JSON). The answer is
//!   the same whether or not the address has an account (no enumeration). Each active account of
//!   that address gets a link, at most one mail per account per [`RESET_MAIL_INTERVAL`]; a new
//!   link replaces the account's older unused ones.
//! * The link `/reset/{token}` carries a 256-bit random token; the database keeps its SHA-256. It
//!   works once and for [`RESET_LIFETIME`]. Following it (GET) only shows a form: the token is
//!   spent by the form's POST, so a mail scanner that prefetches links consumes nothing.
//! * Setting the password ends **every** session of the account and is audited as
//!   `auth.password_reset`.
//!
//! Files: `service.rs` (asking, the link, setting the password), `api.rs`, `pages.rs`.

pub mod api;
pub mod pages;
mod service;

pub use service::*;

use kernel::OrgId;
use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use serde::{Deserialize, Serialize};
use time::Duration;
use uuid::Uuid;

/// How long a reset link works.
pub const RESET_LIFETIME: Duration = Duration::minutes(15);

/// At most one reset mail per account in this interval, whatever the number of requests.
pub const RESET_MAIL_INTERVAL: Duration = Duration::seconds(60);

/// Tokens are 43 characters; anything much longer is not one of ours and is not even hashed.
const MAX_TOKEN_CHARS: usize = 128;

pub const TABLES: &[TableEntry] = &[TableEntry {
    table: "password_resets",
    module: "identity",
    description: "Password-reset links sent by email: hashed single-use token, expiry, when used.",
    subject: Subject::AccountHolder,
    personal_columns: &["user_id", "created_at", "used_at"],
    purpose: "Authentication and account security",
    legal_basis: LegalBasis::Contract,
    retention: Retention::UntilExpiry,
    erasure: Erasure::Delete,
    tenant: true,
}];

/// A reset link that can still be used: its org, id and account.
struct LiveReset {
    org: OrgId,
    reset_id: Uuid,
    user: Uuid,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PasswordResetRequest {
    #[serde(default)]
    pub email: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PasswordResetAccepted {
    pub message: &'static str,
}

const ACCEPTED: &str = "If an account uses this address, a link to choose a new password is on its way. It works once and expires in 15 minutes.";
