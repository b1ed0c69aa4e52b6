//! API authentication (issue #3 item 6; P1-13, P1-14): short-lived JWT access tokens, rotating
//! refresh tokens with reuse detection, and bearer authentication of the JSON API.
//!
//! * `POST /api/v1/auth/token` checks email and password exactly as the login form does
//!   ([`crate::login::check_credentials`]: rate limits, lockout, one answer for every failure) and
//!   returns an access token and a refresh token. No browser session is opened.
//! * **Access token**: a JWT signed HS256 with an instance key derived from the master key
//!   (`MasterKey::jwt_key`), valid [`ACCESS_TOKEN_LIFETIME`]. Claims: `iss` (the public origin),
//!   `aud` ([`AUDIENCE`]), `sub` (member), `org`, `role`, `exp`, `nbf`, `iat`, `jti`, `fam` (its
//!   refresh family). Checking it: the algorithm allow-list is HS256 alone (so `alg: none` and
//!   algorithm switches are refused before any signature check), `iss`/`aud`/`exp`/`nbf` are
//!   required, `iss` and `aud` must match, and `exp`/`nbf` are checked against the application
//!   clock (the crate's own time checks read the system clock, so they are off). Then, in the
//!   tenant transaction: the member is active, the organization open, the family not revoked and
//!   the token not older than the member's `tokens_not_before` — so revocation takes effect at
//!   once, not at expiry. The role used is the lesser of the token's and the member's current one.
//! * **Refresh token**: opaque 256-bit (`kernel::token`), stored only as SHA-256. Every use
//!   rotates it: the old one is marked used, a new one issued in the same family. Presenting a
//!   used one again means it was copied: the whole family is revoked (its newest token and its
//!   access tokens stop working), the critical audit event `auth.refresh_reuse_detected` is
//!   written and the member is told by email ([`notify_refresh_reuse`]). A family lives at most
//!   [`REFRESH_FAMILY_LIFETIME`] from its login and dies after [`REFRESH_IDLE_TIMEOUT`] unused.
//! * **Which credential where**: the API (`/api/…`) accepts only `Authorization: Bearer` (an
//!   access token or an API key, see `api_keys`; the header is read by [`bearer`]); a session cookie does not authenticate it, so
//!   the API needs no CSRF defence. Pages accept only the session cookie. A request to the API
//!   whose `Authorization` header does not authenticate (malformed, expired, tampered, revoked) is
//!   answered 401 problem+json with `WWW-Authenticate: Bearer error="invalid_token"` — it is never
//!   served as anonymous.
//! * **Same-second revocation**: JWT times are whole seconds, so `tokens_not_before` is compared
//!   rounded up to the second: a token issued in the same second as a revocation is refused too.
//!
//! Files: `store.rs` (revoking), `service.rs` (issuing, refreshing, authenticating), `api.rs`
//! (`/api/v1/auth/…`, `/api/v1/me`), `bearer.rs` (the `Authorization` header of every API request).

pub mod api;
pub mod bearer;
mod service;
mod store;

pub use service::*;
pub use store::*;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use kernel::authz::Role;
use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use kernel::web::AppState;
use kernel::{AppError, OrgId};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::http::empty_secret;

/// How long an access token works. ASVS asks for short-lived bearer tokens: 15 minutes at most.
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::minutes(15);

/// A refresh family unused for this long is dead.
pub const REFRESH_IDLE_TIMEOUT: Duration = Duration::days(7);

/// A refresh family never outlives this, however often it is used: then the member logs in again.
pub const REFRESH_FAMILY_LIFETIME: Duration = Duration::days(30);

/// The `aud` of every access token; tokens for anything else are refused.
pub const AUDIENCE: &str = "relais-api";

/// Refresh tokens are 43 characters; anything much longer is not one of ours and is not hashed.
const MAX_TOKEN_CHARS: usize = 128;

/// The data catalog entry of API refresh tokens (API keys have theirs in `api_keys`).
pub const TABLES: &[TableEntry] = &[TableEntry {
    table: "refresh_tokens",
    module: "identity",
    description: "API refresh tokens: hashed token, its family, when issued, used, revoked and when it expires.",
    subject: Subject::AccountHolder,
    personal_columns: &["user_id", "created_at", "used_at"],
    purpose: "Authentication and account security",
    legal_basis: LegalBasis::Contract,
    retention: Retention::UntilExpiry,
    erasure: Erasure::Delete,
    tenant: true,
}];

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: Uuid,
    pub org: Uuid,
    pub role: Role,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: Uuid,
    pub fam: Uuid,
}

fn validation(state: &AppState) -> Validation {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.algorithms = vec![Algorithm::HS256];
    // Time is checked against the application clock in `verify_access_token`.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.leeway = 0;
    validation.validate_aud = true;
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    validation.set_issuer(&[state.config.public_url.origin()]);
    validation.set_audience(&[AUDIENCE]);
    validation
}

/// Signs an access token for `user` in `org` with `role`, in refresh family `family`.
pub fn issue_access_token(
    state: &AppState,
    org: OrgId,
    user: Uuid,
    role: Role,
    family: Uuid,
    now: OffsetDateTime,
) -> Result<SecretString, AppError> {
    let claims = Claims {
        iss: state.config.public_url.origin().to_owned(),
        aud: AUDIENCE.to_owned(),
        sub: user,
        org: org.0,
        role,
        exp: (now + ACCESS_TOKEN_LIFETIME).unix_timestamp(),
        nbf: now.unix_timestamp(),
        iat: now.unix_timestamp(),
        jti: Uuid::new_v4(),
        fam: family,
    };
    let key = state.jwt_key();
    let token =
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(key.expose_secret()))
            .map_err(|e| AppError::Internal(anyhow::anyhow!("signing an access token: {e}")))?;
    Ok(SecretString::from(token))
}

/// The claims of a well-formed, correctly signed, unexpired access token for this instance;
/// `None` for anything else. Says nothing about revocation: see [`authenticate_access_token`].
pub fn verify_access_token(state: &AppState, token: &str) -> Option<Claims> {
    let key = state.jwt_key();
    let data =
        jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(key.expose_secret()), &validation(state))
            .map_err(|e| tracing::debug!(kind = ?e.kind(), "access token refused"))
            .ok()?;
    let claims = data.claims;
    let now = state.clock.now().unix_timestamp();
    let lifetime = ACCESS_TOKEN_LIFETIME.whole_seconds();
    if now >= claims.exp || claims.nbf > now || claims.exp - claims.nbf > lifetime || claims.iat > claims.nbf {
        tracing::debug!("access token outside its validity window");
        return None;
    }
    Some(claims)
}

struct TokenHolder {
    org_role: String,
    status: String,
    tokens_not_before: Option<OffsetDateTime>,
    family_live: bool,
}

/// `tokens_not_before` in whole seconds, rounded up (see the module documentation).
fn not_before_secs(at: OffsetDateTime) -> i64 {
    at.unix_timestamp() + i64::from(at.nanosecond() > 0)
}

/// What the token and refresh endpoints return. Holds two bearer secrets: no `Debug`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    /// A JWT for `Authorization: Bearer`, valid `expires_in` seconds.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Opaque; exchange it at `/api/v1/auth/refresh` for a new pair. Works once.
    pub refresh_token: String,
}

struct RefreshRow {
    family_id: Uuid,
    user_id: Uuid,
    expires_at: OffsetDateTime,
    family_expires_at: OffsetDateTime,
    used_at: Option<OffsetDateTime>,
    revoked_at: Option<OffsetDateTime>,
    org_role: String,
    user_status: String,
}

/// Email and password, as on the login form.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct TokenRequest {
    #[serde(default)]
    pub email: String,
    #[schema(value_type = String, format = Password)]
    #[serde(default = "empty_secret")]
    pub password: SecretString,
    /// The current TOTP code: required when the account uses two-factor authentication.
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub otp: Option<SecretString>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RefreshRequest {
    #[schema(value_type = String)]
    #[serde(default = "empty_secret")]
    pub refresh_token: SecretString,
}

/// Who the bearer token authenticates.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    #[schema(value_type = String, format = Uuid)]
    pub user_id: Uuid,
    #[schema(value_type = String, format = Uuid)]
    pub organization_id: OrgId,
    /// The role this credential acts with (an API key's never exceeds its scope or its creator's role).
    pub role: Role,
    /// `access_token` or `api_key`.
    pub credential: &'static str,
}

/// Adds the `bearer` security scheme (an access token or an API key) to the OpenAPI document.
pub struct BearerSecurity;

impl utoipa::Modify for BearerSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT access token from /api/v1/auth/token, or an API key rk_…")
                    .build(),
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_before_rounds_up_to_the_second() {
        let at = time::macros::datetime!(2026-01-01 00:00:00.5 UTC);
        assert_eq!(not_before_secs(at), at.unix_timestamp() + 1);
        let whole = time::macros::datetime!(2026-01-01 00:00:00 UTC);
        assert_eq!(not_before_secs(whole), whole.unix_timestamp());
    }
}
