//! Sign-in by email: a magic link and a one-time code (issue #3 item 5; P2-07, P2-12; ASVS 5.0 L2
//! V6.6 "out-of-band authentication").
//!
//! * Asking: `/login/email`. The answer is the same page whether or not the address has an
//!   account (no enumeration). Each active account of the address gets **one** mail holding both a
//!   link `/login/link/{token}` and a six-digit code, at most one mail per account per
//!   [`MAIL_INTERVAL`]; a new mail replaces the account's older unused link and code. Requests are
//!   rate-limited per client address and per email (P1-16).
//! * The link carries a 256-bit random token (the database keeps its SHA-256). The code has only
//!   10^6 values, so the database keeps an HMAC-SHA256 of it under an instance key derived from
//!   the master key, bound to the row: a copy of the database cannot be searched for the code.
//!   [`MAX_WRONG_CODES`] wrong codes burn it, and code entry is rate-limited.
//! * Link and code are one credential: using either spends both. It works once, for
//!   [`SIGN_IN_LIFETIME`]. Following the link (GET) only shows a confirmation page: the button's
//!   POST spends it, so a mail scanner that prefetches links signs nobody in.
//! * Each request and sign-in keeps its time and client address (P2-07): on the row
//!   (`requested_at`, `requested_ip`, `used_at`, `used_ip`) and as a `login_events` row with method
//!   `magic_link` or `email_otp`. Audited as `auth.magic_link.requested` and
//!   `auth.login.succeeded` (with the method).
//! * Account lockout (P1-17) guards passwords: it does not stop a sign-in by email, which proves
//!   control of the mailbox (as a password reset does), and it is left as it is.
//!
//! Files: `store.rs` (spending a link or code), `service.rs` (asking, signing in), `pages.rs`.

pub mod pages;
mod service;
mod store;

pub use service::*;
use store::*;

use hmac::{Hmac, KeyInit, Mac};
use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use kernel::web::AppState;
use kernel::{AppError, OrgId};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use time::Duration;
use uuid::Uuid;

/// How long an emailed link and code work.
pub const SIGN_IN_LIFETIME: Duration = Duration::minutes(10);

/// At most one sign-in mail per account in this interval, whatever the number of requests.
pub const MAIL_INTERVAL: Duration = Duration::seconds(60);

/// Wrong codes after which the code (and its link) stop working.
pub const MAX_WRONG_CODES: i32 = 5;

/// Tokens are 43 characters; anything much longer is not one of ours and is not even hashed.
const MAX_TOKEN_CHARS: usize = 128;

pub const TABLES: &[TableEntry] = &[TableEntry {
    table: "magic_logins",
    module: "identity",
    description: "Sign-in links and codes sent by email: hashed link token, keyed hash of the code, wrong-code count, when and from which IP address each was requested and used.",
    subject: Subject::AccountHolder,
    personal_columns: &["user_id", "requested_at", "requested_ip", "used_at", "used_ip"],
    purpose: "Authentication and account security",
    legal_basis: LegalBasis::LegitimateInterest,
    retention: Retention::RollingMonths { months: 12 },
    erasure: Erasure::Delete,
    tenant: true,
}];

/// How a member proved control of their mailbox; the `login_events.method` it is recorded under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    MagicLink,
    EmailOtp,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MagicLink => "magic_link",
            Self::EmailOtp => "email_otp",
        }
    }
}

/// A uniformly random six-digit code from the thread-local CSPRNG.
fn generate_code() -> SecretString {
    let n: u32 = rand::rng().random_range(0..1_000_000);
    SecretString::from(format!("{n:06}"))
}

/// HMAC-SHA256 of the code under the instance key, bound to its row so a MAC says nothing about
/// another row's code.
fn code_mac(state: &AppState, magic_id: Uuid, code: &str) -> Hmac<Sha256> {
    let key = state.email_otp_key();
    let mut mac = match Hmac::<Sha256>::new_from_slice(key.expose_secret()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 takes any key length"),
    };
    mac.update(magic_id.as_bytes());
    mac.update(code.as_bytes());
    mac
}

/// A sign-in link that still works: its org, id and account.
struct LiveLink {
    org: OrgId,
    magic_id: Uuid,
    user: Uuid,
}

/// The condition, on `magic_logins m` joined to `users u`, of a link and code that still work at `$3`.
const LIVE: &str = "m.used_at is null and m.burned_at is null and m.expires_at > $3 and m.failed_attempts < 5
                    and u.status = 'active'";

/// One answer for an unknown address, a wrong, expired, used or burned code.
fn bad_code() -> AppError {
    AppError::field("code", "bad_code", "The code is incorrect or has expired. Check it, or ask for a new one.")
}

/// The digits of a submitted code (spaces and dashes ignored), if it has the shape of one.
fn parse_code(input: &str) -> Option<String> {
    let digits: String = input.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

#[derive(sqlx::FromRow)]
struct PendingCode {
    magic_id: Uuid,
    code_mac: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..200 {
            let code = generate_code();
            assert_eq!(code.expose_secret().len(), 6);
            assert!(code.expose_secret().bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn submitted_codes_are_parsed_leniently_but_strictly_shaped() {
        assert_eq!(parse_code(" 123 456 ").as_deref(), Some("123456"));
        assert_eq!(parse_code("123-456").as_deref(), Some("123456"));
        assert_eq!(parse_code("12345"), None);
        assert_eq!(parse_code("1234567"), None);
        assert_eq!(parse_code("12345a"), None);
        assert_eq!(parse_code("١٢٣٤٥٦"), None, "only ASCII digits");
    }
}
