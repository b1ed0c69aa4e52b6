//! Rate limits on authentication and code-entry endpoints (P1-16). One call per limit:
//!
//! ```ignore
//! ratelimit::check(&state, &ratelimit::PASSWORD_RESET_PER_IP, Subject::Ip(&client)).await?;
//! ratelimit::check(&state, &ratelimit::PASSWORD_RESET_PER_ACCOUNT, Subject::Account(email.as_str())).await?;
//! ```
//!
//! A refusal is [`AppError::TooManyRequests`]: HTTP 429 with `Retry-After`, as problem+json on the
//! API and as the error page on pages.
//!
//! Two layers:
//! * **Counters in PostgreSQL** (`rate_limit_buckets`, written only through the SECURITY DEFINER
//!   function `app.rate_limit_hit`), so a limit holds across every node. A window starts at the first
//!   hit and lasts [`Rule::window`]; time is the app clock. The bucket name is the rule plus an
//!   HMAC-SHA256 of the subject under an instance key, so the table holds no email and no readable
//!   IP address, and cannot be tested against a list of emails without the master key.
//! * **An in-process flood guard** (`governor`, per client address) in front of the database, so a
//!   flood is refused without a query. Its quota is far above the per-rule limits: it only cuts
//!   floods, the rules decide.
//!
//! IPv6 clients are counted per /64 (one subscriber usually holds a whole /64, and could otherwise
//! rotate addresses within it to escape the limit).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::{Clock as _, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;
use time::Duration;

use crate::catalog::{Erasure, LegalBasis, Retention, Subject as DataSubject, TableEntry};
use crate::error::AppError;
use crate::web::{AppState, ClientInfo};

/// A limit: at most `limit` hits per `window` for one subject. `name` prefixes the bucket, so it
/// must be unique and stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub name: &'static str,
    pub limit: u32,
    pub window: Duration,
}

// Every limit in one place. Per-IP limits leave room for an office behind one address; per-account
// limits stop a password being guessed from many addresses (account lockout, P1-17, stacks on top).

/// Login attempts from one client address.
pub const LOGIN_PER_IP: Rule = Rule { name: "login-ip", limit: 20, window: Duration::minutes(5) };
/// Failed login attempts on one email address, whoever sends them (successful logins do not count:
/// see [`peek`] and [`count_failure`]).
pub const LOGIN_PER_ACCOUNT: Rule = Rule { name: "login-account", limit: 10, window: Duration::minutes(15) };
/// Sign-up attempts (valid or not) from one client address.
pub const SIGNUP_PER_IP: Rule = Rule { name: "signup-ip", limit: 10, window: Duration::hours(1) };
/// Sign-up requests for one email address, whoever sends them: each valid one mails that address.
pub const SIGNUP_PER_ACCOUNT: Rule = Rule { name: "signup-account", limit: 5, window: Duration::hours(1) };
/// Sign-up confirmations (link uses) from one client address.
pub const SIGNUP_CONFIRM_PER_IP: Rule = Rule { name: "signup-confirm-ip", limit: 20, window: Duration::hours(1) };
/// Password-reset requests and reset-code entries from one client address.
pub const PASSWORD_RESET_PER_IP: Rule = Rule { name: "reset-ip", limit: 10, window: Duration::hours(1) };
/// Password-reset requests for one email address.
pub const PASSWORD_RESET_PER_ACCOUNT: Rule = Rule { name: "reset-account", limit: 5, window: Duration::hours(1) };
/// Invitation acceptances (token entries) from one client address.
pub const INVITATION_ACCEPT_PER_IP: Rule = Rule { name: "invite-ip", limit: 20, window: Duration::hours(1) };
/// Token issuance (API tokens, magic links, access codes) from one client address.
pub const TOKEN_PER_IP: Rule = Rule { name: "token-ip", limit: 30, window: Duration::minutes(5) };
/// Token issuance for one account.
pub const TOKEN_PER_ACCOUNT: Rule = Rule { name: "token-account", limit: 10, window: Duration::minutes(15) };
/// Second-factor code entries (TOTP or recovery code, at login or when re-authenticating) from one
/// client address.
pub const MFA_CODE_PER_IP: Rule = Rule { name: "mfa-code-ip", limit: 20, window: Duration::minutes(5) };
/// Second-factor code entries for one account (counted by member id): a 6-digit code cannot be
/// guessed within the window (wrong codes also count toward the account lockout).
pub const MFA_CODE_PER_ACCOUNT: Rule = Rule { name: "mfa-code-account", limit: 10, window: Duration::minutes(15) };
/// Requests for a sign-in link and code by email, from one client address.
pub const EMAIL_LOGIN_REQUEST_PER_IP: Rule = Rule { name: "email-login-ip", limit: 10, window: Duration::hours(1) };
/// Requests for a sign-in link and code by email, for one email address (at most one mail a
/// minute is sent whatever this allows).
pub const EMAIL_LOGIN_REQUEST_PER_ACCOUNT: Rule =
    Rule { name: "email-login-account", limit: 5, window: Duration::hours(1) };
/// Entries of an emailed sign-in code, and uses of a sign-in link, from one client address.
pub const EMAIL_CODE_PER_IP: Rule = Rule { name: "email-code-ip", limit: 20, window: Duration::minutes(5) };
/// Entries of an emailed sign-in code for one email address (five wrong codes also burn the code).
pub const EMAIL_CODE_PER_ACCOUNT: Rule = Rule { name: "email-code-account", limit: 10, window: Duration::minutes(15) };

/// Landing-page form submissions from one client address (P1-11: spam).
pub const FORM_SUBMIT_PER_IP: Rule = Rule { name: "form-ip", limit: 10, window: Duration::minutes(10) };
/// Submissions to one landing-page form, from everywhere: caps a distributed flood.
pub const FORM_SUBMIT_PER_FORM: Rule = Rule { name: "form-form", limit: 300, window: Duration::hours(1) };

/// One-click unsubscribes (RFC 8058) from one client address. Generous on purpose: mail providers
/// post them from a few servers for all their users, and refusing one would keep writing to
/// somebody who asked us to stop. Forged tokens never reach it (refused before any database work).
pub const UNSUBSCRIBE_PER_IP: Rule = Rule { name: "unsubscribe-ip", limit: 1000, window: Duration::minutes(10) };

/// The in-process flood guard: per client address, bursts of [`FLOOD_BURST`] requests to limited
/// endpoints, refilled at [`FLOOD_PER_SECOND`] a second.
pub const FLOOD_BURST: u32 = 60;
pub const FLOOD_PER_SECOND: u32 = 10;

/// Who a limit counts.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// The client address (see `ClientInfo`: the peer, or behind a trusted proxy the forwarded one).
    Ip(&'a ClientInfo),
    /// An account, by email address (compared trimmed and lower-cased, known or not).
    Account(&'a str),
    /// Something else that is limited as a whole, such as one public form (`form:<public id>`).
    Named(&'a str),
}

/// Per-node state of the rate limiter: the bucket-naming key and the flood guard.
#[derive(Clone)]
pub struct RateLimits(Arc<Inner>);

struct Inner {
    key: SecretBox<[u8; 32]>,
    flood: RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, DefaultClock>,
    clock: DefaultClock,
    checks: AtomicU64,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RateLimits")
    }
}

impl RateLimits {
    pub fn new(key: SecretBox<[u8; 32]>) -> Self {
        Self::with_flood_quota(key, FLOOD_BURST, FLOOD_PER_SECOND)
    }

    fn with_flood_quota(key: SecretBox<[u8; 32]>, burst: u32, per_second: u32) -> Self {
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(per_second).allow_burst(burst);
        let clock = DefaultClock::default();
        let flood = RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock.clone());
        Self(Arc::new(Inner { key, flood, clock, checks: AtomicU64::new(0) }))
    }

    /// The flood guard's answer for one address: `Err(seconds to wait)` when it is flooding.
    fn flood_check(&self, ip: IpAddr) -> Result<(), u64> {
        let inner = &self.0;
        // Forget idle addresses now and then so the map stays small.
        if inner.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            inner.flood.retain_recent();
            inner.flood.shrink_to_fit();
        }
        inner.flood.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(inner.clock.now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    /// `<rule>:<hex HMAC-SHA256 of the subject>`.
    fn bucket(&self, rule: &Rule, subject_key: &str) -> String {
        let mut mac = match Hmac::<Sha256>::new_from_slice(self.0.key.expose_secret()) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC-SHA256 takes any key length"),
        };
        mac.update(rule.name.as_bytes());
        mac.update(&[0]);
        mac.update(subject_key.as_bytes());
        format!("{}:{}", rule.name, hex::encode(mac.finalize().into_bytes()))
    }
}

/// The address a limit counts: IPv4 as is, IPv6 by its /64.
fn ip_key(ip: Option<IpAddr>) -> String {
    match ip.map(|ip| ip.to_canonical()) {
        None => "ip:unknown".to_owned(),
        Some(IpAddr::V4(v4)) => format!("ip:{v4}"),
        Some(IpAddr::V6(v6)) => {
            let segments = v6.segments();
            format!("ip:{:x}:{:x}:{:x}:{:x}::/64", segments[0], segments[1], segments[2], segments[3])
        }
    }
}

/// Refuses with 429 (`Retry-After`) if `subject` has already reached `rule`'s limit in the current
/// window, without counting this request: for a limit on failures, counted by [`count_failure`].
pub async fn peek(state: &AppState, rule: &Rule, subject: Subject<'_>) -> Result<(), AppError> {
    let bucket = state.rate_limits.bucket(rule, &subject_key(state, rule, subject)?);
    let limit = i32::try_from(rule.limit).unwrap_or(i32::MAX).max(1);
    let (allowed, retry_after) = state.db.rate_limit_peek(&bucket, limit, state.clock.now()).await?;
    if allowed {
        Ok(())
    } else {
        tracing::info!(rule = rule.name, "rate limit reached");
        Err(AppError::TooManyRequests { retry_after_secs: u64::try_from(retry_after).unwrap_or(1).max(1) })
    }
}

/// Counts one failure of `subject` against `rule` (a limit checked with [`peek`]); never refuses
/// the request it counts.
pub async fn count_failure(state: &AppState, rule: &Rule, subject: Subject<'_>) -> Result<(), AppError> {
    match check(state, rule, subject).await {
        Err(AppError::TooManyRequests { .. }) => Ok(()),
        other => other,
    }
}

fn subject_key(state: &AppState, rule: &Rule, subject: Subject<'_>) -> Result<String, AppError> {
    Ok(match subject {
        Subject::Ip(client) => {
            if let Some(ip) = client.ip
                && let Err(wait) = state.rate_limits.flood_check(ip.to_canonical())
            {
                tracing::warn!(rule = rule.name, "flood guard refused a request");
                return Err(AppError::TooManyRequests { retry_after_secs: wait.max(1) });
            }
            ip_key(client.ip)
        }
        Subject::Account(email) => format!("account:{}", email.trim().to_lowercase()),
        Subject::Named(name) => format!("named:{name}"),
    })
}

/// Counts one hit of `subject` against `rule`; refuses with 429 (`Retry-After`) past the limit.
pub async fn check(state: &AppState, rule: &Rule, subject: Subject<'_>) -> Result<(), AppError> {
    let subject_key = subject_key(state, rule, subject)?;
    let bucket = state.rate_limits.bucket(rule, &subject_key);
    let window_secs = i32::try_from(rule.window.whole_seconds()).unwrap_or(i32::MAX).max(1);
    let limit = i32::try_from(rule.limit).unwrap_or(i32::MAX).max(1);
    let (allowed, retry_after) = state.db.rate_limit_hit(&bucket, window_secs, limit, state.clock.now()).await?;
    if allowed {
        Ok(())
    } else {
        tracing::info!(rule = rule.name, "rate limit reached");
        Err(AppError::TooManyRequests { retry_after_secs: u64::try_from(retry_after).unwrap_or(1).max(1) })
    }
}

/// The rate limiter's table, for the data catalog.
pub const TABLES: &[TableEntry] = &[TableEntry {
    table: "rate_limit_buckets",
    module: "kernel",
    description: "Rate-limit counters for login, sign-up and code entry: a keyed hash of the client address or account email, a window and a count.",
    subject: DataSubject::AccountHolder,
    personal_columns: &["bucket"],
    purpose: "Security: protecting accounts against password guessing and abuse",
    legal_basis: LegalBasis::LegitimateInterest,
    retention: Retention::UntilExpiry,
    erasure: Erasure::Delete,
    tenant: false,
}];

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(burst: u32, per_second: u32) -> RateLimits {
        RateLimits::with_flood_quota(SecretBox::new(Box::new([7u8; 32])), burst, per_second)
    }

    #[test]
    fn ipv6_is_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_key(Some(a)), ip_key(Some(b)));
        assert_ne!(ip_key(Some(a)), ip_key(Some(c)));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(ip_key(Some(mapped)), "ip:192.0.2.7");
        assert_eq!(ip_key(None), "ip:unknown");
    }

    #[test]
    fn buckets_hide_the_subject_and_depend_on_rule_and_key() {
        let limits = limits(1, 1);
        let bucket = limits.bucket(&LOGIN_PER_ACCOUNT, "account:ada@example.eu");
        assert!(bucket.starts_with("login-account:"), "{bucket}");
        assert!(!bucket.contains("ada"), "{bucket}");
        assert_eq!(bucket.len(), "login-account:".len() + 64);
        assert_ne!(bucket, limits.bucket(&TOKEN_PER_ACCOUNT, "account:ada@example.eu"));
        let other_key = RateLimits::new(SecretBox::new(Box::new([8u8; 32])));
        assert_ne!(bucket, other_key.bucket(&LOGIN_PER_ACCOUNT, "account:ada@example.eu"));
    }

    #[test]
    fn rule_names_are_unique() {
        let rules = [
            LOGIN_PER_IP,
            LOGIN_PER_ACCOUNT,
            SIGNUP_PER_IP,
            SIGNUP_PER_ACCOUNT,
            SIGNUP_CONFIRM_PER_IP,
            PASSWORD_RESET_PER_IP,
            PASSWORD_RESET_PER_ACCOUNT,
            INVITATION_ACCEPT_PER_IP,
            TOKEN_PER_IP,
            TOKEN_PER_ACCOUNT,
            MFA_CODE_PER_IP,
            MFA_CODE_PER_ACCOUNT,
            EMAIL_LOGIN_REQUEST_PER_IP,
            EMAIL_LOGIN_REQUEST_PER_ACCOUNT,
            EMAIL_CODE_PER_IP,
            EMAIL_CODE_PER_ACCOUNT,
        ];
        let names: std::collections::BTreeSet<_> = rules.iter().map(|r| r.name).collect();
        assert_eq!(names.len(), rules.len());
        assert!(rules.iter().all(|r| r.limit > 0 && r.window.is_positive()));
    }

    /// P1-16: the flood guard lets a burst through, then refuses that address (with a wait of at
    /// least a second) while another address still passes.
    #[test]
    fn p1_16_flood_guard_cuts_one_address_after_its_burst() {
        let limits = limits(5, 1);
        let flooder: IpAddr = "192.0.2.1".parse().unwrap();
        for i in 0..5 {
            assert_eq!(limits.flood_check(flooder), Ok(()), "request {i} of the burst");
        }
        let wait = limits.flood_check(flooder).unwrap_err();
        assert!((1..=2).contains(&wait), "{wait}");
        assert_eq!(limits.flood_check("192.0.2.2".parse().unwrap()), Ok(()));
    }
}
