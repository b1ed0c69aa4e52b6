//! Profile self-service (`ProfileManage`, own; issue #3, ASVS 5.0 L2 V6/V7).
//!
//! `/settings/profile`: a member changes their name, job title and language; their password; and
//! their email address.
//! * Re-authentication: the password and email forms require the current password (checked
//!   against the per-account login rate limit, since a wrong one is a guess).
//! * A password change ends every **other** browser session and every API token family
//!   (`api_tokens::revoke_all_api_tokens`), keeps the current session, withdraws unused reset links
//!   and notifies the member by email. Audited `auth.password_changed`.
//! * An email change is re-verified: the new address gets a link (256-bit token, SHA-256 stored,
//!   single use, [`EMAIL_CHANGE_LIFETIME`]) and only following it, signed in as the same member,
//!   changes the address; the old address is told at once. Audited
//!   `profile.email_change_requested` and `profile.email_changed`; details `profile.updated`.
//!
//! The language switch (`POST /lang`) is here too: for a member it changes the profile's language.
//!
//! Files: `store.rs`, `service.rs` (each change, re-authenticated and audited), `pages.rs`.

pub mod pages;
mod service;
mod store;

pub use service::*;
use store::*;

use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use kernel::token;
use secrecy::SecretString;
use serde::Deserialize;
use time::Duration;

/// How long an email-change confirmation link works.
pub const EMAIL_CHANGE_LIFETIME: Duration = Duration::hours(24);

const MAX_TOKEN_CHARS: usize = 128;

const PROFILE_PATH: &str = "/settings/profile";

pub const TABLES: &[TableEntry] = &[TableEntry {
    table: "email_changes",
    module: "identity",
    description: "Pending changes of a member's email address: the new address, hashed single-use confirmation token, expiry, when used or withdrawn.",
    subject: Subject::AccountHolder,
    personal_columns: &["user_id", "new_email", "created_at", "used_at"],
    purpose: "Authentication and account security",
    legal_basis: LegalBasis::Contract,
    retention: Retention::UntilExpiry,
    erasure: Erasure::Delete,
    tenant: true,
}];

/// The member's own profile, as the profile's forms read and check it.
struct Me {
    email: String,
    first_name: String,
    last_name: String,
    job_title: String,
    language: String,
    time_zone: String,
    password_hash: String,
}

/// Name, job title and language, as submitted.
#[derive(Deserialize, Default)]
pub struct DetailsInput {
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub job_title: String,
    #[serde(default)]
    pub language: String,
    /// An IANA name (`Europe/Paris`); left out, the time zone is unchanged.
    #[serde(default)]
    pub time_zone: Option<String>,
}

fn live_token(secret: &str) -> Option<[u8; 32]> {
    (!secret.is_empty() && secret.len() <= MAX_TOKEN_CHARS).then(|| token::hash(&SecretString::from(secret)))
}
