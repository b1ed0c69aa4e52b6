//! API authentication (issue #3 item 6; P1-13, P1-14): short-lived JWT access tokens, rotating
//! refresh tokens with reuse detection, and bearer authentication of the JSON API.
//!
//! * `POST /api/v1/auth/token` checks email and password exactly as the login form does
//!   ([`service::check_credentials`]: rate limits, lockout, one answer for every failure) and
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
//!   access token or an API key, see `api_keys`); a session cookie does not authenticate it, so
//!   the API needs no CSRF defence. Pages accept only the session cookie. A request to the API
//!   whose `Authorization` header does not authenticate (malformed, expired, tampered, revoked) is
//!   answered 401 problem+json with `WWW-Authenticate: Bearer error="invalid_token"` — it is never
//!   served as anonymous.
//! * **Same-second revocation**: JWT times are whole seconds, so `tokens_not_before` is compared
//!   rounded up to the second: a token issued in the same second as a revocation is refused too.

use crate::doors::IdentityDoors;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use kernel::audit::AuditEvent;
use kernel::authz::{Credential, Principal, Role};
use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use kernel::db::Actor;
use kernel::error::ApiJson;
use kernel::web::{AppState, ClientInfo};
use kernel::{AppError, OrgId, OrgTx, ratelimit, token};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::service::{self, Authenticated, LoginInput};

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

/// The data catalog entries of API authentication (refresh tokens here, API keys in `api_keys`).
pub const TABLES: &[TableEntry] = &[
    TableEntry {
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
    },
    TableEntry {
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
    },
];

// ------------------------------------------------------------------ access tokens (JWT)

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

#[derive(sqlx::FromRow)]
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

/// The member behind an access token, or `None` if the token is invalid, revoked or its member or
/// organization no longer active.
pub async fn authenticate_access_token(state: &AppState, token: &str) -> Result<Option<Principal>, AppError> {
    let Some(claims) = verify_access_token(state, token) else { return Ok(None) };
    let org = OrgId(claims.org);
    let mut tx = state.db.begin_org(org, Actor::User(claims.sub)).await?;
    let holder: Option<TokenHolder> = sqlx::query_as!(
        TokenHolder,
        r#"select u.org_role as "org_role!", u.status as "status!", u.tokens_not_before,
                exists (select from refresh_tokens r
                        where r.org_id = u.org_id and r.family_id = $3 and r.user_id = u.user_id)
                and not exists (select from refresh_tokens r
                        where r.org_id = u.org_id and r.family_id = $3 and r.revoked_at is not null) as "family_live!"
         from users u join organizations o on o.org_id = u.org_id
         where u.org_id = $1 and u.user_id = $2 and o.status = 'active'"#,
        org.0,
        claims.sub,
        claims.fam
    )
    .fetch_optional(tx.conn())
    .await?;
    tx.commit().await?;
    let Some(holder) = holder else { return Ok(None) };
    if holder.status != "active" || !holder.family_live {
        return Ok(None);
    }
    if holder.tokens_not_before.is_some_and(|at| claims.iat < not_before_secs(at)) {
        return Ok(None);
    }
    let Some(current) = Role::parse(&holder.org_role) else { return Ok(None) };
    Ok(Some(Principal {
        org,
        user_id: claims.sub,
        role: claims.role.min(current),
        credential: Credential::AccessToken { family_id: claims.fam },
    }))
}

// ------------------------------------------------------------------ token pairs and refresh

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

/// Issues the first refresh token of a new family plus its access token, in `tx`.
async fn start_family(
    state: &AppState,
    tx: &mut OrgTx,
    user: Uuid,
    role: Role,
    now: OffsetDateTime,
) -> Result<(Uuid, TokenPair), AppError> {
    let family = Uuid::now_v7();
    let family_expires = now + REFRESH_FAMILY_LIFETIME;
    let pair = next_in_family(state, tx, user, role, family, family_expires, now).await?;
    Ok((family, pair))
}

async fn next_in_family(
    state: &AppState,
    tx: &mut OrgTx,
    user: Uuid,
    role: Role,
    family: Uuid,
    family_expires: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<TokenPair, AppError> {
    let refresh = token::generate();
    sqlx::query!("insert into refresh_tokens (org_id, token_id, family_id, user_id, token_hash, created_at, expires_at, family_expires_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)", tx.org().0, Uuid::now_v7(), family, user, &token::hash(&refresh)[..], now, std::cmp::min(now + REFRESH_IDLE_TIMEOUT, family_expires), family_expires)
    .execute(tx.conn())
    .await?;
    let access = issue_access_token(state, tx.org(), user, role, family, now)?;
    Ok(TokenPair {
        access_token: access.expose_secret().to_owned(),
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_LIFETIME.whole_seconds(),
        refresh_token: refresh.expose_secret().to_owned(),
    })
}

/// Email and password to a token pair: the login form's checks, then a new refresh family.
pub async fn issue_tokens(state: &AppState, input: LoginInput, client: &ClientInfo) -> Result<TokenPair, AppError> {
    issue_tokens_with_otp(state, input, None, client).await
}

/// [`issue_tokens`] with the second factor: a member with MFA must send a valid TOTP `otp` (mfa.rs).
pub async fn issue_tokens_with_otp(
    state: &AppState,
    input: LoginInput,
    otp: Option<&SecretString>,
    client: &ClientInfo,
) -> Result<TokenPair, AppError> {
    ratelimit::check(state, &ratelimit::TOKEN_PER_IP, ratelimit::Subject::Ip(client)).await?;
    let authenticated = service::check_credentials(state, &input, client).await?;
    let Authenticated { mut tx, user_id, now, .. } =
        crate::mfa::second_factor_for_api(state, authenticated, otp, client).await?;
    let role: String =
        sqlx::query_scalar!("select org_role from users where org_id = $1 and user_id = $2", tx.org().0, user_id)
            .fetch_one(tx.conn())
            .await?;
    let role = Role::parse(&role).ok_or_else(|| AppError::Internal(anyhow::anyhow!("unknown role {role}")))?;
    let (family, pair) = start_family(state, &mut tx, user_id, role, now).await?;
    service::record_login_success(&mut tx, user_id, "password", client, now).await?;
    state.audit.record(&mut tx, AuditEvent::new("auth.api_token.issued").target("token_family", family)).await?;
    tx.commit().await?;
    Ok(pair)
}

#[derive(sqlx::FromRow)]
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

/// A refresh token to a new pair (rotation). Reuse of a used token revokes its family.
pub async fn refresh(state: &AppState, presented: &SecretString) -> Result<TokenPair, AppError> {
    let text = presented.expose_secret();
    if text.is_empty() || text.len() > MAX_TOKEN_CHARS {
        return Err(AppError::Unauthenticated);
    }
    let Some((org, token_id)) = state.db.resolve_refresh_token(&token::hash(presented)).await? else {
        return Err(AppError::Unauthenticated);
    };
    let now = state.clock.now();
    // Whoever presents the token is not known yet (it may be a thief): anonymous until proven.
    let mut tx = state.db.begin_org(org, Actor::Anonymous).await?;
    let row: Option<RefreshRow> = sqlx::query_as!(
        RefreshRow,
        "select r.family_id, r.user_id, r.expires_at, r.family_expires_at, r.used_at, r.revoked_at,
                u.org_role, u.status as user_status
         from refresh_tokens r join users u on u.org_id = r.org_id and u.user_id = r.user_id
         where r.org_id = $1 and r.token_id = $2
         for update of r",
        org.0,
        token_id
    )
    .fetch_optional(tx.conn())
    .await?;
    let Some(row) = row else { return Err(AppError::Unauthenticated) };
    if row.revoked_at.is_some() {
        return Err(AppError::Unauthenticated);
    }
    if row.used_at.is_some() {
        revoke_family(&mut tx, row.family_id, now).await?;
        state
            .audit
            .record(
                &mut tx,
                AuditEvent::new("auth.refresh_reuse_detected")
                    .target("token_family", row.family_id)
                    .payload(json!({ "severity": "critical", "user_id": row.user_id, "token_id": token_id })),
            )
            .await?;
        notify_refresh_reuse(state, &mut tx, row.user_id).await?;
        tx.commit().await?;
        tracing::warn!(org = %org, family = %row.family_id, "refresh token reused: family revoked");
        return Err(AppError::Unauthenticated);
    }
    let role = Role::parse(&row.org_role);
    let (Some(role), true) = (role, row.user_status == "active") else {
        return Err(AppError::Unauthenticated);
    };
    if row.expires_at <= now || row.family_expires_at <= now {
        return Err(AppError::Unauthenticated);
    }
    sqlx::query!("update refresh_tokens set used_at = $3 where org_id = $1 and token_id = $2", org.0, token_id, now)
        .execute(tx.conn())
        .await?;
    let pair = next_in_family(state, &mut tx, row.user_id, role, row.family_id, row.family_expires_at, now).await?;
    tx.commit().await?;
    Ok(pair)
}

/// Revokes every token of a refresh family (and so the family's access tokens).
pub async fn revoke_family(tx: &mut OrgTx, family: Uuid, now: OffsetDateTime) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update refresh_tokens set revoked_at = $3 where org_id = $1 and family_id = $2 and revoked_at is null",
        tx.org().0,
        family,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Ends every API token of a member at once: access tokens issued until now are refused
/// (`tokens_not_before`) and every refresh family is revoked. For a password change or reset and
/// "log out everywhere"; call it in the transaction that makes that change. API keys are not
/// touched: they are revoked one by one on the API-keys page.
pub async fn revoke_all_api_tokens(tx: &mut OrgTx, user: Uuid, now: OffsetDateTime) -> Result<(), sqlx::Error> {
    sqlx::query!("update users set tokens_not_before = $3 where org_id = $1 and user_id = $2", tx.org().0, user, now)
        .execute(tx.conn())
        .await?;
    sqlx::query!(
        "update refresh_tokens set revoked_at = $3 where org_id = $1 and user_id = $2 and revoked_at is null",
        tx.org().0,
        user,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Tells a member that one of their refresh tokens was used twice — someone else may hold a copy
/// — and that every device signed in with it through the API was signed out. Queued in the
/// caller's transaction (`kernel::mail`), so the notice goes out exactly when the revocation
/// commits. A deactivated member gets no mail.
pub async fn notify_refresh_reuse(state: &AppState, tx: &mut OrgTx, user: Uuid) -> Result<(), AppError> {
    crate::notify::security_notice(state, tx, user, "mail.refresh_reuse", &[]).await
}

// ------------------------------------------------------------------ handlers

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

fn empty_secret() -> SecretString {
    SecretString::from("")
}

/// Exchange email and password for an access token and a refresh token.
///
/// The same checks as the login form: rate limits, account lockout, and one answer (422 naming
/// `email`, code `bad_credentials`) for every kind of failure. No browser session is opened.
#[utoipa::path(
    post,
    path = "/api/v1/auth/token",
    tag = "auth",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "Tokens issued", body = TokenPair),
        (status = 422, description = "Wrong email or password", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts; see Retry-After", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn token(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(input): ApiJson<TokenRequest>,
) -> Result<([(axum::http::HeaderName, &'static str); 2], Json<TokenPair>), AppError> {
    let login = LoginInput { email: input.email, password: input.password };
    let pair = issue_tokens_with_otp(&state, login, input.otp.as_ref(), &client).await?;
    Ok((no_store(), Json(pair)))
}

/// Responses carrying tokens must not be cached (RFC 6749 §5.1).
fn no_store() -> [(axum::http::HeaderName, &'static str); 2] {
    [(axum::http::header::CACHE_CONTROL, "no-store"), (axum::http::header::PRAGMA, "no-cache")]
}

/// Exchange a refresh token for a new pair. The refresh token works once.
///
/// Presenting a refresh token that was already used revokes its whole family (every token
/// descended from the same login), records `auth.refresh_reuse_detected` and emails the member.
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair; the presented refresh token is spent", body = TokenPair),
        (status = 401, description = "Unknown, used, revoked or expired refresh token", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn refresh_handler(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<RefreshRequest>,
) -> Result<([(axum::http::HeaderName, &'static str); 2], Json<TokenPair>), AppError> {
    let pair = refresh(&state, &input.refresh_token).await?;
    Ok((no_store(), Json(pair)))
}

/// End this API login: revokes the refresh family of the access token used for this request.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The family is revoked: its refresh and access tokens stop working"),
        (status = 400, description = "Not called with an access token (API keys are revoked on their own)", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn logout(State(state): State<AppState>, principal: Principal) -> Result<StatusCode, AppError> {
    let Credential::AccessToken { family_id } = principal.credential else {
        return Err(AppError::BadRequest("Log out with the access token of the login to end.".into()));
    };
    let mut tx = principal.begin(&state.db).await?;
    revoke_family(&mut tx, family_id, state.clock.now()).await?;
    state.audit.record(&mut tx, AuditEvent::new("auth.api_logout").target("token_family", family_id)).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Log out everywhere: every API token and every browser session of the caller ends.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout-all",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every access token, refresh token and browser session of the caller is revoked"),
        (status = 400, description = "Called with an API key", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn logout_all(State(state): State<AppState>, principal: Principal) -> Result<StatusCode, AppError> {
    // An API key belongs to an integration, not to a person's login: it may not sign its creator
    // out everywhere (keys are revoked on the API-keys page instead).
    if !matches!(principal.credential, Credential::AccessToken { .. }) {
        return Err(AppError::BadRequest("Log out everywhere with an access token, not an API key.".into()));
    }
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
    revoke_all_api_tokens(&mut tx, principal.user_id, now).await?;
    sqlx::query!("delete from sessions where org_id = $1 and user_id = $2", principal.org.0, principal.user_id)
        .execute(tx.conn())
        .await?;
    state.audit.record(&mut tx, AuditEvent::new("auth.logout_everywhere").target("user", principal.user_id)).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
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

/// The member and organization the bearer token acts for, and with which role.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "No valid bearer token", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn me(principal: Principal) -> Json<Me> {
    Json(Me {
        user_id: principal.user_id,
        organization_id: principal.org,
        role: principal.role,
        credential: principal.credential.kind(),
    })
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

// ------------------------------------------------------------------ the bearer door

/// What an `Authorization` header proved.
pub enum Bearer {
    /// No `Authorization` header.
    Absent,
    /// A valid access token or API key.
    Valid(Principal),
    /// A header that authenticates nobody: wrong scheme, malformed, expired, tampered, revoked.
    Invalid,
}

/// Reads `Authorization: Bearer <token>`: an API key (`rk_…`) or an access token (JWT).
pub async fn authenticate_bearer(state: &AppState, headers: &axum::http::HeaderMap) -> Result<Bearer, AppError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else { return Ok(Bearer::Absent) };
    let Some(token) = value.to_str().ok().and_then(bearer_token) else { return Ok(Bearer::Invalid) };
    let principal = if token.starts_with(crate::api_keys::KEY_PREFIX) {
        crate::api_keys::authenticate_api_key(state, token).await?
    } else {
        authenticate_access_token(state, token).await?
    };
    Ok(principal.map(Bearer::Valid).unwrap_or(Bearer::Invalid))
}

/// The API's half of `signed_in::attach_principal`: the bearer credential, if any, becomes the
/// request's `Principal`; one that authenticates nobody is answered 401 at once. Every 401 of the
/// API says how to authenticate (`WWW-Authenticate`, RFC 6750 §3).
pub async fn attach_bearer(
    state: AppState,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let invalid = match authenticate_bearer(&state, request.headers()).await {
        Ok(Bearer::Absent) => false,
        Ok(Bearer::Valid(principal)) => {
            request.extensions_mut().insert(principal);
            false
        }
        Ok(Bearer::Invalid) => true,
        Err(error) => return error.into_response(),
    };
    let mut response = if invalid { AppError::Unauthenticated.into_response() } else { next.run(request).await };
    if response.status() == StatusCode::UNAUTHORIZED {
        let challenge = if invalid {
            r#"Bearer realm="relais-api", error="invalid_token""#
        } else {
            r#"Bearer realm="relais-api""#
        };
        response
            .headers_mut()
            .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static(challenge));
    }
    response
}

/// The token of a `Bearer` credential (the scheme is case-insensitive, RFC 9110 §11.1).
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= 4096).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_required() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }

    #[test]
    fn not_before_rounds_up_to_the_second() {
        let at = time::macros::datetime!(2026-01-01 00:00:00.5 UTC);
        assert_eq!(not_before_secs(at), at.unix_timestamp() + 1);
        let whole = time::macros::datetime!(2026-01-01 00:00:00 UTC);
        assert_eq!(not_before_secs(whole), whole.unix_timestamp());
    }
}
