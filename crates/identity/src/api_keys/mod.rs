//! API keys (issue #3 item 6; P1-14): long-lived credentials for integrations.
//!
//! * Owners and managers create them (`api_keys_manage`) with a name, a scope (a role no
//!   higher than their own) and an optional expiry. The key, `rk_<prefix>_<secret>`, is shown
//!   once; the database keeps its visible 12-hex-digit prefix and the SHA-256 of the whole key.
//! * A key acts for its creator with the lesser of its scope and the creator's *current* role;
//!   a deactivated creator, a revoked or an expired key authenticates nobody (401).
//! * Lists show prefix, name, scope, creator, creation, last use and expiry — never the secret.
//! * On the page `/settings/api-keys` (CSRF-checked forms) and the API `/api/v1/api-keys`.
//!
//! Files: `service.rs` (authenticating, creating, listing, revoking), `api.rs`, `pages.rs`.

pub mod api;
pub mod pages;
mod service;

pub use service::*;

use kernel::authz::Role;
use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use kernel::{AppError, FieldError, token};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Every key starts with this, so it is recognised (and secret scanners can find a leaked one).
pub const KEY_PREFIX: &str = "rk_";

const PREFIX_HEX_CHARS: usize = 12;

/// `rk_` + 12 + `_` + 43; anything much longer is not one of ours and is not hashed.
const MAX_KEY_CHARS: usize = 128;

const NAME_MAX_CHARS: usize = 100;

/// The data catalog entry of API keys.
pub const TABLES: &[TableEntry] = &[TableEntry {
    table: "api_keys",
    module: "identity",
    description: "API keys: name, visible prefix, hashed secret, scope, creator, expiry and when last used.",
    subject: Subject::AccountHolder,
    personal_columns: &["created_by", "name", "last_used_at"],
    purpose: "Authentication of integrations the organization sets up",
    legal_basis: LegalBasis::Contract,
    retention: Retention::AccountLifetimePlusDays { days: 30 },
    erasure: Erasure::Delete,
    tenant: true,
}];

/// A new key: the full secret (shown once) and its visible prefix.
struct NewKey {
    secret: SecretString,
    prefix: String,
}

fn generate_key() -> NewKey {
    // The prefix only names the key; the 256-bit secret part is what authenticates.
    let prefix: String = Uuid::new_v4().simple().to_string().chars().take(PREFIX_HEX_CHARS).collect();
    let secret = token::generate();
    NewKey { secret: SecretString::from(format!("{KEY_PREFIX}{prefix}_{}", secret.expose_secret())), prefix }
}

/// Whether `text` has the shape of a key (before it is hashed and looked up).
fn well_formed(text: &str) -> bool {
    let Some(rest) = text.strip_prefix(KEY_PREFIX) else { return false };
    text.len() <= MAX_KEY_CHARS
        && rest.len() > PREFIX_HEX_CHARS + 1
        && rest.as_bytes()[..PREFIX_HEX_CHARS].iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && rest.as_bytes()[PREFIX_HEX_CHARS] == b'_'
}

struct KeyHolder {
    created_by: Uuid,
    scope: String,
    expires_at: Option<OffsetDateTime>,
    revoked_at: Option<OffsetDateTime>,
    last_used_at: Option<OffsetDateTime>,
    org_role: String,
    status: String,
}

/// A new key as submitted (JSON).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewApiKeyInput {
    /// What the key is for, e.g. "Billing sync". 1–100 characters.
    #[serde(default)]
    pub name: String,
    /// The role the key acts with: `owner`, `manager` or `user`, no higher than yours.
    #[serde(default)]
    pub role: String,
    /// When the key stops working (RFC 3339). None: it works until revoked.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
}

#[derive(Debug)]
struct ValidKey {
    name: String,
    scope: Role,
    expires_at: Option<OffsetDateTime>,
}

fn parse_name(input: &str) -> Result<String, FieldError> {
    let name = input.trim();
    if name.is_empty() {
        return Err(FieldError::new("name", "required", "Name the key."));
    }
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(FieldError::new("name", "too_long", format!("Use at most {NAME_MAX_CHARS} characters.")));
    }
    if name.chars().any(char::is_control) {
        return Err(FieldError::new("name", "invalid_characters", "Remove line breaks and control characters."));
    }
    Ok(name.to_owned())
}

/// Checks every field and reports all problems at once. `creator` is the role of whoever creates
/// the key: a key's scope never exceeds it.
fn validate(input: &NewApiKeyInput, creator: Role, now: OffsetDateTime) -> Result<ValidKey, AppError> {
    let mut errors = Vec::new();
    let name = parse_name(&input.name).map_err(|e| errors.push(e)).ok();
    let scope = match Role::parse(input.role.trim()) {
        None => {
            errors.push(FieldError::new("role", "invalid", "Choose owner, manager or user."));
            None
        }
        Some(scope) if scope.min(creator) != scope => {
            errors.push(FieldError::new("role", "role_above_yours", "A key cannot have a higher role than yours."));
            None
        }
        Some(scope) => Some(scope),
    };
    if input.expires_at.is_some_and(|at| at <= now) {
        errors.push(FieldError::new("expires_at", "expiry_in_past", "Choose an expiry in the future."));
    }
    match (name, scope) {
        (Some(name), Some(scope)) if errors.is_empty() => Ok(ValidKey { name, scope, expires_at: input.expires_at }),
        _ => Err(AppError::Validation(errors)),
    }
}

/// A key just created: the only time its secret is shown.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedApiKey {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    /// The whole key. Shown this once: only its hash is kept.
    pub key: String,
    pub prefix: String,
    pub name: String,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
}

/// One key in a list: never its secret.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiKeySummary {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    pub prefix: String,
    pub name: String,
    #[schema(value_type = Role)]
    pub role: String,
    #[schema(value_type = String, format = Uuid)]
    pub created_by: Uuid,
    #[serde(skip)]
    pub created_by_name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
}

/// The roles a member may give a key: theirs and those below.
fn grantable(role: Role) -> Vec<&'static str> {
    Role::ALL.iter().filter(|r| Role::min(**r, role) == **r).map(Role::as_str).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_a_visible_prefix_and_are_well_formed() {
        let key = generate_key();
        let text = key.secret.expose_secret();
        assert!(text.starts_with(&format!("rk_{}_", key.prefix)), "{text}");
        assert_eq!(key.prefix.len(), PREFIX_HEX_CHARS);
        assert!(well_formed(text));
        assert!(!well_formed("rk_short"));
        assert!(!well_formed("rk_ABCDEF012345_secret"));
        assert!(!well_formed(&format!("rk_{}_{}", key.prefix, "x".repeat(200))));
        assert_ne!(generate_key().prefix, key.prefix);
    }

    #[test]
    fn a_key_scope_never_exceeds_its_creator() {
        let now = OffsetDateTime::now_utc();
        let input = |role: &str| NewApiKeyInput { name: "Sync".into(), role: role.into(), expires_at: None };
        assert!(validate(&input("user"), Role::Manager, now).is_ok());
        assert!(validate(&input("manager"), Role::Manager, now).is_ok());
        let refused = validate(&input("owner"), Role::Manager, now).unwrap_err();
        assert_eq!(refused.field_errors()[0].code, "role_above_yours");
        let all = validate(
            &NewApiKeyInput { name: " ".into(), role: "boss".into(), expires_at: Some(now - time::Duration::hours(1)) },
            Role::Owner,
            now,
        )
        .unwrap_err();
        let codes: Vec<_> = all.field_errors().iter().map(|e| e.code).collect();
        assert_eq!(codes, ["required", "invalid", "expiry_in_past"]);
        assert_eq!(grantable(Role::Manager), ["manager", "user"]);
    }
}
