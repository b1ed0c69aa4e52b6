//! Verified sign-up without email enumeration (OWASP ASVS 5.0 L2 V6.3.7, V6.4; issue #3).
//!
//! * Asking: `POST /signup` (page) or `POST /api/v1/signup`. Every field is validated as before
//!   (all errors at once, the P0-01 field set). A valid request always gets the same answer —
//!   `202 {"status":"verification_sent"}`, or the "check your inbox" page — and does the same work
//!   (a bcrypt hash of the password, one mail) whether or not the address already has an account:
//!   - unused address: a **pending sign-up** is stored (platform table `pending_signups`, written
//!     only through `app.pending_signup_put`; the link's token as its SHA-256, the password as its
//!     bcrypt hash, 24 hours, a new request for the address replaces the old one and purges expired
//!     rows) and the address gets a link `/signup/confirm?token=…`;
//!   - used address: the address gets a notice (log in, or reset the password); nothing is stored.
//! * Confirming: the link's GET only shows a button; its POST (`POST /signup/confirm`, or
//!   `POST /api/v1/signup/confirm {token}`) spends the pending row and creates the organization,
//!   its owner, the policy acceptance and the audit event ([`insert_organization`]) in one
//!   tenant transaction: the row is spent only if the organization is created, and only once.
//!   An expired, spent or unknown link, or an address that got an account meanwhile, gets one
//!   answer: "this link is no longer valid" (field `token`), and nothing is created.
//! * Rate-limited per client address and per email (P1-16).
//!
//! Why the two mails are sent from the request rather than queued as `mail.send` jobs: a job is a
//! row of the tenant table `jobs`, sealed to its org (kernel::mail), and a pending sign-up has no
//! org — creating one, or a "platform org", to hold the job would either create organizations for
//! unverified addresses or open a tenant door that belongs to nobody. Sending directly keeps RLS
//! and the sealed-envelope design as they are and is in fact stricter: the message (with its
//! bearer link) is never stored at all. Durability is not lost where it matters: if delivery fails
//! the person simply asks again (the answer cannot tell them, by design). Both branches send
//! exactly one message the same way, so the timing stays alike.
//!
//! Files: `service.rs` (validating, asking, confirming, creating the organization), `api.rs`,
//! `pages.rs` (the sign-up form and the link's landing page).

pub mod api;
pub mod pages;
mod service;

pub use service::*;

use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use kernel::{AppError, FieldError, OrgId, UserId};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use time::Duration;

use crate::http::empty_secret;
use crate::model::{EmailAddress, JobTitle, OrgName, Password, PersonName};

/// How long a sign-up link works.
pub const PENDING_LIFETIME: Duration = Duration::hours(24);

/// Tokens are 43 characters; anything much longer is not one of ours and is not even hashed.
const MAX_TOKEN_CHARS: usize = 128;

/// The one answer to every valid sign-up request.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct SignupAccepted {
    /// Always `verification_sent`: whether the address can be used is told only to its mailbox.
    #[schema(example = "verification_sent")]
    pub status: &'static str,
}

const ACCEPTED: SignupAccepted = SignupAccepted { status: "verification_sent" };

/// The token of a sign-up link.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct SignupConfirmInput {
    #[schema(value_type = String, format = Password)]
    #[serde(default = "empty_secret")]
    pub token: SecretString,
}

fn link_no_longer_valid() -> AppError {
    AppError::field("token", "signup_link_invalid", "This link is no longer valid.")
}

/// Sign-up fields as submitted (form or JSON). P0-01: exactly these, nothing more.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct SignupInput {
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub email: String,
    #[schema(value_type = String, format = Password)]
    #[serde(default = "empty_secret")]
    pub password: SecretString,
    #[serde(default)]
    pub organization_name: String,
    /// The person's role in the organization, e.g. "Head of sales".
    #[serde(default)]
    pub job_title: String,
    /// The person attests being 18 or older (P1-19).
    #[serde(default, deserialize_with = "checkbox")]
    pub adult: bool,
    /// The privacy-policy version the person accepted; must be the one in force.
    #[serde(default)]
    pub accepted_policy_version: String,
}

/// Accepts JSON booleans and HTML checkbox values ("on", "true").
fn checkbox<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Bool(b) => Ok(b),
        serde_json::Value::String(t) => Ok(matches!(t.as_str(), "on" | "true" | "yes" | "1")),
        _ => Err(serde::de::Error::custom("expected true or false")),
    }
}

pub(crate) struct ValidSignup {
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub email: EmailAddress,
    pub password: Password,
    pub organization_name: OrgName,
    pub job_title: JobTitle,
    pub policy_version: String,
}

/// Keeps the value, or files its error so every field's problem is reported together.
fn take<T>(errors: &mut Vec<FieldError>, result: Result<T, FieldError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
pub struct NewAccount {
    #[schema(value_type = String, format = Uuid)]
    pub organization_id: OrgId,
    #[schema(value_type = String, format = Uuid)]
    pub user_id: UserId,
}

/// A validated owner and organization, the password already hashed: what a confirmed sign-up
/// (or a demo seed) creates.
pub(crate) struct NewOwner {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub job_title: String,
    pub organization_name: String,
    pub password_hash: String,
    pub language: String,
    pub policy_version: String,
}

struct TakenSignup {
    email: String,
    first_name: String,
    last_name: String,
    job_title: String,
    organization_name: String,
    password_hash: String,
    language: String,
    policy_version: String,
}

/// A confirmed sign-up: the open tenant transaction of the new organization (the caller may open
/// a session in it) and the new ids. Nothing is kept unless the caller commits.
pub struct Confirmed {
    pub tx: kernel::OrgTx,
    pub account: NewAccount,
    pub now: time::OffsetDateTime,
}

/// The pending sign-ups table, for the data catalog.
pub const TABLES: &[TableEntry] = &[TableEntry {
    table: "pending_signups",
    module: "identity",
    description: "Sign-ups waiting for their address to be confirmed: the form as submitted (name, email, job title, organization name, language, policy version), the password as a bcrypt hash and the link's token as a SHA-256. Kept 24 hours at most: deleted on confirmation or expiry (purged by each new request).",
    subject: Subject::AccountHolder,
    personal_columns: &["email", "first_name", "last_name", "job_title", "organization_name", "password_hash"],
    purpose: "Account data: confirm the address before an organization exists (steps prior to a contract, at the person's request)",
    legal_basis: LegalBasis::Contract,
    retention: Retention::UntilExpiry,
    erasure: Erasure::Delete,
    tenant: false,
}];
