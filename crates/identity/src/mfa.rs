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
//! * **Login second step**: a correct password ([`service::check_credentials`]) for a member with
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
//!   ([`requirement_unmet`], checked once per request in `session::attach_principal`). Owners and
//!   managers get [`ADMIN_ENROLLMENT_GRACE`] from their account's creation first.
//! * **Re-authentication**: regenerating recovery codes and disabling MFA need the current
//!   password or a current code in the same form; disabling is refused where MFA is required.
//! * **Audit**: `mfa.enrolled`, `mfa.disabled`, `mfa.recovery_codes_regenerated`,
//!   `mfa.recovery_code_used`, `auth.login.mfa_failed`, `org.require_mfa_all_changed`.

use crate::actions;
use crate::doors::IdentityDoors;
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use kernel::audit::AuditEvent;
use kernel::authz::Role;
use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use kernel::db::Actor;
use kernel::vault::SecretContext;
use kernel::web::{AppState, ClientInfo, LangPref, Page, PageError, render};
use kernel::{AppError, FieldError, OrgId, OrgTx, ratelimit, token};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::model::verify_password;
use crate::pages::FormErrors;
use crate::service::{self, Authenticated, LoginInput, NewSession};
use crate::session::{SignedIn, session_cookie};
use crate::throttle;

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

// ------------------------------------------------------------------ TOTP and recovery codes

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

#[derive(sqlx::FromRow)]
struct FactorRow {
    secret_sealed: Vec<u8>,
    enrolled_at: Option<OffsetDateTime>,
    last_used_step: Option<i64>,
}

async fn factor(tx: &mut OrgTx, user: Uuid, lock: bool) -> Result<Option<FactorRow>, sqlx::Error> {
    let sql = if lock {
        "select secret_sealed, enrolled_at, last_used_step from mfa_factors where org_id = $1 and user_id = $2 for update"
    } else {
        "select secret_sealed, enrolled_at, last_used_step from mfa_factors where org_id = $1 and user_id = $2"
    };
    sqlx::query_as(sql).bind(tx.org()).bind(user).fetch_optional(tx.conn()).await
}

/// Whether the member has completed MFA enrollment.
pub async fn is_enrolled(tx: &mut OrgTx, user: Uuid) -> Result<bool, sqlx::Error> {
    Ok(factor(tx, user, false).await?.is_some_and(|f| f.enrolled_at.is_some()))
}

async fn account_name(tx: &mut OrgTx, user: Uuid) -> Result<String, sqlx::Error> {
    let email: Option<String> =
        sqlx::query_scalar!("select email from users where org_id = $1 and user_id = $2", tx.org().0, user)
            .fetch_optional(tx.conn())
            .await?;
    Ok(email.unwrap_or_default())
}

/// Checks a TOTP code against the member's factor (enrolled or, with `enrolling`, in progress)
/// and spends its time step: `Some(step)` when accepted.
async fn spend_totp(
    state: &AppState,
    tx: &mut OrgTx,
    user: Uuid,
    code: &str,
    enrolling: bool,
) -> Result<Option<u64>, AppError> {
    let code = normalize(code);
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return Ok(None);
    }
    let Some(row) = factor(tx, user, true).await? else { return Ok(None) };
    if row.enrolled_at.is_some() == enrolling {
        return Ok(None);
    }
    let secret = state
        .vault
        .open(&secret_context(tx.org(), user), &row.secret_sealed)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("opening a TOTP secret: {e}")))?;
    let generator = totp(&secret, "member")?;
    let Some(step) = generator.check(&code, unix_secs(state.clock.now())) else { return Ok(None) };
    // Each step once: only a step after the last accepted one passes.
    if row.last_used_step.is_some_and(|last| i64::try_from(step).unwrap_or(i64::MAX) <= last) {
        return Ok(None);
    }
    sqlx::query!(
        "update mfa_factors set last_used_step = $3 where org_id = $1 and user_id = $2",
        tx.org().0,
        user,
        i64::try_from(step).unwrap_or(i64::MAX)
    )
    .execute(tx.conn())
    .await?;
    Ok(Some(step))
}

/// Spends a recovery code: true if it was one of the member's unused codes.
async fn spend_recovery_code(
    state: &AppState,
    tx: &mut OrgTx,
    user: Uuid,
    code: &str,
    now: OffsetDateTime,
) -> Result<bool, AppError> {
    let normalized = normalize(code);
    if normalized.len() != 16 {
        return Ok(false);
    }
    let used: Option<Uuid> = sqlx::query_scalar!(
        "update mfa_recovery_codes set used_at = $4
         where org_id = $1 and user_id = $2 and code_hash = $3 and used_at is null
         returning code_id",
        tx.org().0,
        user,
        &recovery_hash(code)[..],
        now
    )
    .fetch_optional(tx.conn())
    .await?;
    let Some(code_id) = used else { return Ok(false) };
    let left: i64 = sqlx::query_scalar!(
        r#"select count(*) as "count!" from mfa_recovery_codes where org_id = $1 and user_id = $2 and used_at is null"#,
        tx.org().0,
        user
    )
    .fetch_one(tx.conn())
    .await?;
    state
        .audit
        .record(
            tx,
            AuditEvent::new("mfa.recovery_code_used").target("user", user).payload(json!({
                "code_id": code_id,
                "codes_left": left,
            })),
        )
        .await?;
    Ok(true)
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

async fn spend_any(
    state: &AppState,
    tx: &mut OrgTx,
    user: Uuid,
    code: &str,
    now: OffsetDateTime,
) -> Result<Option<FactorUsed>, AppError> {
    if spend_totp(state, tx, user, code, false).await?.is_some() {
        return Ok(Some(FactorUsed::Totp));
    }
    if spend_recovery_code(state, tx, user, code, now).await? {
        return Ok(Some(FactorUsed::RecoveryCode));
    }
    Ok(None)
}

/// Counts a code attempt against the client's and the member's MFA rate limits (P1-16).
async fn rate_limit_codes(state: &AppState, client: &ClientInfo, user: Uuid) -> Result<(), AppError> {
    ratelimit::check(state, &ratelimit::MFA_CODE_PER_IP, ratelimit::Subject::Ip(client)).await?;
    ratelimit::check(state, &ratelimit::MFA_CODE_PER_ACCOUNT, ratelimit::Subject::Account(&format!("user:{user}")))
        .await
}

/// A wrong second factor: audited and counted toward the account lockout (P1-17), in its own
/// transaction so it is kept whatever the caller does next.
async fn record_code_failure(state: &AppState, org: OrgId, user: Uuid, context: &str) -> Result<(), AppError> {
    let mut tx = state.db.begin_org(org, Actor::Anonymous).await?;
    state
        .audit
        .record(
            &mut tx,
            AuditEvent::new("auth.login.mfa_failed").target("user", user).payload(json!({ "step": context })),
        )
        .await?;
    throttle::count_failure(state, &mut tx, user).await?;
    tx.commit().await?;
    Ok(())
}

fn bad_code() -> AppError {
    AppError::field("code", "mfa_code_invalid", "The code is incorrect or was already used.")
}

// ------------------------------------------------------------------ login

/// What a correct password leads to: a session, or (MFA enrolled) the second step.
pub enum LoginStep {
    Session(NewSession),
    SecondFactor { token: SecretString },
}

async fn open_session(
    state: &AppState,
    tx: &mut OrgTx,
    user: Uuid,
    client: &ClientInfo,
    now: OffsetDateTime,
    factor: Option<FactorUsed>,
) -> Result<NewSession, AppError> {
    let payload = match factor {
        Some(factor) => json!({ "mfa": factor.as_str() }),
        None => json!({}),
    };
    service::open_session(state, tx, user, "password", payload, client, now).await
}

/// The login form's core: the password check, then a session — or, for a member with MFA, a
/// pending login that only a second factor turns into a session.
pub async fn log_in(state: &AppState, input: LoginInput, client: &ClientInfo) -> Result<LoginStep, AppError> {
    let Authenticated { mut tx, org_id, user_id, now } = service::check_credentials(state, &input, client).await?;
    if !is_enrolled(&mut tx, user_id).await? {
        let session = open_session(state, &mut tx, user_id, client, now, None).await?;
        tx.commit().await?;
        return Ok(LoginStep::Session(session));
    }
    // Not committed: the lockout count is reset by the whole login, not by the password alone.
    drop(tx);
    let token = start_second_step(state, org_id, user_id, now).await?;
    Ok(LoginStep::SecondFactor { token })
}

/// Opens a pending login for a member whose first factor just succeeded: the token for
/// [`pending_cookie`], then a redirect to `/login/mfa`. Any other way in that proves only one factor
/// (a magic link, say) must go through this for members with MFA ([`is_enrolled`]).
pub async fn start_second_step(
    state: &AppState,
    org_id: OrgId,
    user_id: Uuid,
    now: OffsetDateTime,
) -> Result<SecretString, AppError> {
    let mut tx = state.db.begin_org(org_id, Actor::User(user_id)).await?;
    let token = begin_second_step(&mut tx, user_id, now).await?;
    tx.commit().await?;
    Ok(token)
}

/// [`start_second_step`] inside the caller's transaction, for a first factor spent in it.
pub async fn begin_second_step(tx: &mut OrgTx, user_id: Uuid, now: OffsetDateTime) -> Result<SecretString, AppError> {
    let token = token::generate();
    sqlx::query!(
        "insert into mfa_pending_logins (org_id, pending_id, user_id, token_hash, created_at, expires_at)
         values ($1, $2, $3, $4, $5, $6)",
        tx.org().0,
        Uuid::now_v7(),
        user_id,
        &token::hash(&token)[..],
        now,
        now + PENDING_LIFETIME
    )
    .execute(tx.conn())
    .await?;
    // Old pending logins of this member are of no use any more.
    sqlx::query!(
        "delete from mfa_pending_logins where org_id = $1 and user_id = $2 and expires_at <= $3",
        tx.org().0,
        user_id,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(token)
}

/// The second factor for `/api/v1/auth/token`: a member with MFA must send a valid TOTP `otp`.
/// On success the same authenticated transaction goes on; otherwise the failure is counted.
pub async fn second_factor_for_api(
    state: &AppState,
    auth: Authenticated,
    otp: Option<&SecretString>,
    client: &ClientInfo,
) -> Result<Authenticated, AppError> {
    let Authenticated { mut tx, org_id, user_id, now } = auth;
    if !is_enrolled(&mut tx, user_id).await? {
        return Ok(Authenticated { tx, org_id, user_id, now });
    }
    let Some(otp) = otp.filter(|o| !o.expose_secret().trim().is_empty()) else {
        return Err(AppError::field("otp", "otp_required", "This account uses two-factor authentication: send `otp`."));
    };
    rate_limit_codes(state, client, user_id).await?;
    if spend_totp(state, &mut tx, user_id, otp.expose_secret(), false).await?.is_some() {
        return Ok(Authenticated { tx, org_id, user_id, now });
    }
    drop(tx);
    record_code_failure(state, org_id, user_id, "api_token").await?;
    Err(AppError::field("otp", "mfa_code_invalid", "The code is incorrect or was already used."))
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

#[derive(Template)]
#[template(path = "mfa_login.html")]
struct MfaLoginPage {
    page: Page,
    errors: FormErrors,
}

impl MfaLoginPage {
    fn error(&self, field: &str) -> Option<String> {
        self.errors.for_field(&self.page, field)
    }
}

struct Pending {
    org: OrgId,
    pending_id: Uuid,
    user: Uuid,
}

/// The live pending login the cookie names, if any.
async fn pending(state: &AppState, jar: &CookieJar) -> Result<Option<Pending>, AppError> {
    let Some(cookie) = jar.get(pending_cookie_name(state)) else { return Ok(None) };
    if cookie.value().is_empty() || cookie.value().len() > 128 {
        return Ok(None);
    }
    let hash = token::hash(&SecretString::from(cookie.value()));
    let Some((org, pending_id, user)) = state.db.resolve_mfa_pending(&hash).await? else { return Ok(None) };
    let mut tx = state.db.begin_org(org, Actor::Anonymous).await?;
    let live: Option<bool> = sqlx::query_scalar!(
        r#"select used_at is null and expires_at > $3 as "live!" from mfa_pending_logins where org_id = $1 and pending_id = $2"#,
        org.0,
        pending_id,
        state.clock.now()
    )
    .fetch_optional(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(live.filter(|live| *live).map(|_| Pending { org, pending_id, user }))
}

/// `GET /login/mfa`: the code form of a pending login; without one, back to the login page.
pub async fn login_mfa_form(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let page = Page::anonymous(lang, "/login/mfa");
    if pending(&state, &jar).await.map_err(|e| PageError::new(e, &page))?.is_none() {
        return Ok(Redirect::to("/login").into_response());
    }
    let view = MfaLoginPage { page: page.clone(), errors: FormErrors::default() };
    let html = render(&view).map_err(|e| PageError::new(e, &page))?;
    Ok(([(header::CACHE_CONTROL, "no-store")], html).into_response())
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default = "empty_secret")]
    code: SecretString,
}

fn empty_secret() -> SecretString {
    SecretString::from("")
}

/// `POST /login/mfa`: a TOTP or recovery code finishes the login and opens the session.
pub async fn login_mfa_submit(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    client: ClientInfo,
    jar: CookieJar,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    let page = Page::anonymous(lang, "/login/mfa");
    let fail = |e: AppError| PageError::new(e, &page);
    let Some(Pending { org, pending_id, user }) = pending(&state, &jar).await.map_err(fail)? else {
        return Ok((CookieJar::new().add(expired_pending_cookie(&state)), Redirect::to("/login")).into_response());
    };
    rate_limit_codes(&state, &client, user).await.map_err(fail)?;
    let now = state.clock.now();
    let mut tx = state.db.begin_org(org, Actor::User(user)).await.map_err(|e| fail(e.into()))?;
    // Spend the pending login first (row lock): two concurrent submissions cannot both win.
    let claimed: Option<Uuid> = sqlx::query_scalar!(
        "update mfa_pending_logins set used_at = $3
         where org_id = $1 and pending_id = $2 and used_at is null and expires_at > $3
         returning user_id",
        org.0,
        pending_id,
        now
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(|e| fail(e.into()))?;
    if claimed.is_none() {
        return Ok((CookieJar::new().add(expired_pending_cookie(&state)), Redirect::to("/login")).into_response());
    }
    let locked = throttle::locked_until(&mut tx, user, now).await.map_err(|e| fail(e.into()))?.is_some();
    let used = if locked {
        None
    } else {
        spend_any(&state, &mut tx, user, form.code.expose_secret(), now).await.map_err(fail)?
    };
    let Some(factor) = used else {
        // The pending login stays usable (until it expires) for another try: roll back its use.
        drop(tx);
        record_code_failure(&state, org, user, "login").await.map_err(fail)?;
        let view = MfaLoginPage { page: page.clone(), errors: FormErrors(vec![field_error(bad_code())]) };
        let html = render(&view).map_err(fail)?;
        return Ok((StatusCode::UNAUTHORIZED, [(header::CACHE_CONTROL, "no-store")], html).into_response());
    };
    throttle::reset(&mut tx, user).await.map_err(|e| fail(e.into()))?;
    let session = open_session(&state, &mut tx, user, &client, now, Some(factor)).await.map_err(fail)?;
    tx.commit().await.map_err(|e| fail(e.into()))?;
    let jar = CookieJar::new().add(expired_pending_cookie(&state)).add(session_cookie(&state, &session.token));
    Ok((jar, Redirect::to("/dashboard")).into_response())
}

fn field_error(error: AppError) -> FieldError {
    match error {
        AppError::Validation(mut errors) if !errors.is_empty() => errors.remove(0),
        _ => FieldError::new("code", "mfa_code_invalid", "The code is incorrect or was already used."),
    }
}

// ------------------------------------------------------------------ required MFA (P2-18)

#[derive(sqlx::FromRow)]
struct RequirementRow {
    require_mfa_all: bool,
    created_at: OffsetDateTime,
    enrolled: bool,
}

/// Whether MFA is required of this member and they have none: owners and managers always (after
/// [`ADMIN_ENROLLMENT_GRACE`]), everyone when the organization requires it.
pub async fn requirement_unmet(state: &AppState, org: OrgId, user: Uuid, role: Role) -> Result<bool, sqlx::Error> {
    let mut tx = state.db.begin_org(org, Actor::User(user)).await?;
    let row: Option<RequirementRow> = sqlx::query_as!(
        RequirementRow,
        r#"select o.require_mfa_all as "require_mfa_all!", u.created_at as "created_at!",
                exists (select from mfa_factors f
                        where f.org_id = u.org_id and f.user_id = u.user_id and f.enrolled_at is not null) as "enrolled!"
         from users u join organizations o on o.org_id = u.org_id
         where u.org_id = $1 and u.user_id = $2"#,
        org.0,
        user
    )
    .fetch_optional(tx.conn())
    .await?;
    tx.commit().await?;
    let Some(row) = row else { return Ok(false) };
    Ok(!row.enrolled && required(role, row.require_mfa_all, row.created_at, state.clock.now()))
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

// ------------------------------------------------------------------ /settings/mfa

#[derive(Template)]
#[template(path = "mfa_settings.html")]
struct SettingsPage {
    page: Page,
    errors: FormErrors,
    enrolled: bool,
    /// While enrolling: the QR code (inline SVG, drawn here) and the secret for manual entry.
    qr_svg: String,
    secret: String,
    /// Recovery codes, shown once right after they are generated.
    new_codes: Vec<String>,
    codes_left: i64,
    /// MFA is required of this member (owners, managers, or everyone by org setting).
    required: bool,
    can_manage_org: bool,
    require_mfa_all: bool,
    notice: Option<&'static str>,
}

impl SettingsPage {
    fn error(&self, field: &str) -> Option<String> {
        self.errors.for_field(&self.page, field)
    }
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

async fn settings_view(
    state: &AppState,
    signed_in: &SignedIn,
    tx: &mut OrgTx,
    page: &Page,
) -> Result<SettingsPage, AppError> {
    let require_all: bool =
        sqlx::query_scalar!("select require_mfa_all from organizations where org_id = $1", signed_in.org.0)
            .fetch_one(tx.conn())
            .await?;
    let admin = matches!(signed_in.role, Role::Owner | Role::Manager);
    let mut view = SettingsPage {
        page: page.clone(),
        errors: FormErrors::default(),
        enrolled: false,
        qr_svg: String::new(),
        secret: String::new(),
        new_codes: Vec::new(),
        codes_left: 0,
        required: admin || require_all,
        can_manage_org: kernel::authz::grant(signed_in.role, actions::ORG_SETTINGS_MANAGE).allows(),
        require_mfa_all: require_all,
        notice: None,
    };
    let row = factor(tx, signed_in.user_id, false).await?;
    if row.as_ref().is_some_and(|f| f.enrolled_at.is_some()) {
        view.enrolled = true;
        view.codes_left = sqlx::query_scalar!(
            r#"select count(*) as "count!" from mfa_recovery_codes where org_id = $1 and user_id = $2 and used_at is null"#,
            signed_in.org.0,
            signed_in.user_id
        )
        .fetch_one(tx.conn())
        .await?;
        return Ok(view);
    }
    // Enrolling: reuse the secret already shown (the member may have scanned it), else a new one.
    let context = secret_context(signed_in.org, signed_in.user_id);
    let secret = match row {
        Some(row) => state
            .vault
            .open(&context, &row.secret_sealed)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("opening a TOTP secret: {e}")))?,
        None => {
            let secret = new_secret();
            sqlx::query!(
                "insert into mfa_factors (org_id, user_id, secret_sealed, created_at) values ($1, $2, $3, $4)",
                signed_in.org.0,
                signed_in.user_id,
                state.vault.seal(&context, &secret),
                state.clock.now()
            )
            .execute(tx.conn())
            .await?;
            secret
        }
    };
    let account = account_name(tx, signed_in.user_id).await?;
    let url = totp(&secret, &account)?.to_url().map_err(|e| AppError::Internal(anyhow::anyhow!("otpauth URL: {e}")))?;
    view.qr_svg = qr_svg(&url)?;
    view.secret = secret.expose_secret().to_owned();
    Ok(view)
}

fn respond(status: StatusCode, view: &SettingsPage) -> Result<Response, AppError> {
    let html = render(view)?;
    Ok((status, [(header::CACHE_CONTROL, "no-store")], html).into_response())
}

/// `GET /settings/mfa`: enroll (QR code and secret), or manage an enrolled factor.
pub async fn settings(State(state): State<AppState>, signed_in: SignedIn) -> Result<Response, PageError> {
    let page = signed_in.page(&state, "/settings/mfa");
    let fail = |e: AppError| PageError::new(e, &page);
    let mut tx = state.db.begin_org(signed_in.org, signed_in.actor()).await.map_err(|e| fail(e.into()))?;
    let view = settings_view(&state, &signed_in, &mut tx, &page).await.map_err(fail)?;
    tx.commit().await.map_err(|e| fail(e.into()))?;
    respond(StatusCode::OK, &view).map_err(fail)
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default = "empty_secret")]
    code: SecretString,
    #[serde(default = "empty_secret")]
    password: SecretString,
    #[serde(default)]
    require_mfa_all: Option<String>,
}

/// Generates a new set of recovery codes (the old ones stop working) and returns them, once.
async fn regenerate_codes(tx: &mut OrgTx, user: Uuid, now: OffsetDateTime) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query!("delete from mfa_recovery_codes where org_id = $1 and user_id = $2", tx.org().0, user)
        .execute(tx.conn())
        .await?;
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    while codes.len() < RECOVERY_CODES {
        let code = new_recovery_code();
        let inserted = sqlx::query!(
            "insert into mfa_recovery_codes (org_id, code_id, user_id, code_hash, created_at)
             values ($1, $2, $3, $4, $5) on conflict do nothing",
            tx.org().0,
            Uuid::now_v7(),
            user,
            &recovery_hash(code.expose_secret())[..],
            now
        )
        .execute(tx.conn())
        .await?;
        if inserted.rows_affected() == 1 {
            codes.push(code.expose_secret().to_owned());
        }
    }
    Ok(codes)
}

/// Re-form the settings page with one field error (422).
async fn refuse(
    state: &AppState,
    signed_in: &SignedIn,
    page: &Page,
    status: StatusCode,
    error: FieldError,
) -> Result<Response, AppError> {
    let mut tx = state.db.begin_org(signed_in.org, signed_in.actor()).await?;
    let mut view = settings_view(state, signed_in, &mut tx, page).await?;
    tx.commit().await?;
    view.errors = FormErrors(vec![error]);
    respond(status, &view)
}

/// `POST /settings/mfa/enroll`: the first valid code completes the enrollment and shows the
/// recovery codes, once.
pub async fn enroll_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    client: ClientInfo,
    Form(form): Form<SettingsForm>,
) -> Result<Response, PageError> {
    let page = signed_in.page(&state, "/settings/mfa");
    signed_in.check_csrf(&state, &form.csrf)?;
    let fail = |e: AppError| PageError::new(e, &page);
    rate_limit_codes(&state, &client, signed_in.user_id).await.map_err(fail)?;
    let now = state.clock.now();
    let mut tx = state.db.begin_org(signed_in.org, signed_in.actor()).await.map_err(|e| fail(e.into()))?;
    if spend_totp(&state, &mut tx, signed_in.user_id, form.code.expose_secret(), true).await.map_err(fail)?.is_none() {
        drop(tx);
        return refuse(&state, &signed_in, &page, StatusCode::UNPROCESSABLE_ENTITY, field_error(bad_code()))
            .await
            .map_err(fail);
    }
    sqlx::query!(
        "update mfa_factors set enrolled_at = $3 where org_id = $1 and user_id = $2",
        signed_in.org.0,
        signed_in.user_id,
        now
    )
    .execute(tx.conn())
    .await
    .map_err(|e| fail(e.into()))?;
    let codes = regenerate_codes(&mut tx, signed_in.user_id, now).await.map_err(|e| fail(e.into()))?;
    state
        .audit
        .record(
            &mut tx,
            AuditEvent::new("mfa.enrolled")
                .target("user", signed_in.user_id)
                .payload(json!({ "factor": "totp", "recovery_codes": codes.len() })),
        )
        .await
        .map_err(|e| fail(e.into()))?;
    let mut view = settings_view(&state, &signed_in, &mut tx, &page).await.map_err(fail)?;
    tx.commit().await.map_err(|e| fail(e.into()))?;
    view.new_codes = codes;
    view.notice = Some("mfa.enrolled_notice");
    respond(StatusCode::OK, &view).map_err(fail)
}

/// Re-authentication for changes to MFA: the current password or a current TOTP code.
async fn reauthenticate(
    state: &AppState,
    tx: &mut OrgTx,
    signed_in: &SignedIn,
    form: &SettingsForm,
) -> Result<bool, AppError> {
    if !form.code.expose_secret().trim().is_empty() {
        return Ok(spend_totp(state, tx, signed_in.user_id, form.code.expose_secret(), false).await?.is_some());
    }
    if form.password.expose_secret().is_empty() {
        return Ok(false);
    }
    let hash: String = sqlx::query_scalar!(
        "select password_hash from users where org_id = $1 and user_id = $2",
        signed_in.org.0,
        signed_in.user_id
    )
    .fetch_one(tx.conn())
    .await?;
    Ok(verify_password(form.password.clone(), hash).await)
}

fn reauth_failed() -> FieldError {
    FieldError::new("reauth", "reauth_failed", "Enter your current password or a current code.")
}

/// `POST /settings/mfa/recovery-codes`: new recovery codes (re-authenticated); the old ones die.
pub async fn regenerate_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    client: ClientInfo,
    Form(form): Form<SettingsForm>,
) -> Result<Response, PageError> {
    let page = signed_in.page(&state, "/settings/mfa");
    signed_in.check_csrf(&state, &form.csrf)?;
    let fail = |e: AppError| PageError::new(e, &page);
    rate_limit_codes(&state, &client, signed_in.user_id).await.map_err(fail)?;
    let now = state.clock.now();
    let mut tx = state.db.begin_org(signed_in.org, signed_in.actor()).await.map_err(|e| fail(e.into()))?;
    if !is_enrolled(&mut tx, signed_in.user_id).await.map_err(|e| fail(e.into()))? {
        return Err(fail(AppError::NotFound));
    }
    if !reauthenticate(&state, &mut tx, &signed_in, &form).await.map_err(fail)? {
        drop(tx);
        record_code_failure(&state, signed_in.org, signed_in.user_id, "reauthenticate").await.map_err(fail)?;
        return refuse(&state, &signed_in, &page, StatusCode::UNPROCESSABLE_ENTITY, reauth_failed())
            .await
            .map_err(fail);
    }
    let codes = regenerate_codes(&mut tx, signed_in.user_id, now).await.map_err(|e| fail(e.into()))?;
    state
        .audit
        .record(&mut tx, AuditEvent::new("mfa.recovery_codes_regenerated").target("user", signed_in.user_id))
        .await
        .map_err(|e| fail(e.into()))?;
    let mut view = settings_view(&state, &signed_in, &mut tx, &page).await.map_err(fail)?;
    tx.commit().await.map_err(|e| fail(e.into()))?;
    view.new_codes = codes;
    respond(StatusCode::OK, &view).map_err(fail)
}

/// `POST /settings/mfa/disable`: turns MFA off (re-authenticated) — refused where it is required.
pub async fn disable_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    client: ClientInfo,
    Form(form): Form<SettingsForm>,
) -> Result<Response, PageError> {
    let page = signed_in.page(&state, "/settings/mfa");
    signed_in.check_csrf(&state, &form.csrf)?;
    let fail = |e: AppError| PageError::new(e, &page);
    let mut tx = state.db.begin_org(signed_in.org, signed_in.actor()).await.map_err(|e| fail(e.into()))?;
    if !is_enrolled(&mut tx, signed_in.user_id).await.map_err(|e| fail(e.into()))? {
        return Err(fail(AppError::NotFound));
    }
    let require_all: bool =
        sqlx::query_scalar!("select require_mfa_all from organizations where org_id = $1", signed_in.org.0)
            .fetch_one(tx.conn())
            .await
            .map_err(|e| fail(e.into()))?;
    if require_all || matches!(signed_in.role, Role::Owner | Role::Manager) {
        drop(tx);
        let error = FieldError::new("reauth", "mfa_required", "Two-factor authentication is required for you.");
        return refuse(&state, &signed_in, &page, StatusCode::FORBIDDEN, error).await.map_err(fail);
    }
    rate_limit_codes(&state, &client, signed_in.user_id).await.map_err(fail)?;
    if !reauthenticate(&state, &mut tx, &signed_in, &form).await.map_err(fail)? {
        drop(tx);
        record_code_failure(&state, signed_in.org, signed_in.user_id, "reauthenticate").await.map_err(fail)?;
        return refuse(&state, &signed_in, &page, StatusCode::UNPROCESSABLE_ENTITY, reauth_failed())
            .await
            .map_err(fail);
    }
    for sql in [
        "delete from mfa_recovery_codes where org_id = $1 and user_id = $2",
        "delete from mfa_factors where org_id = $1 and user_id = $2",
    ] {
        sqlx::query(sql)
            .bind(signed_in.org)
            .bind(signed_in.user_id)
            .execute(tx.conn())
            .await
            .map_err(|e| fail(e.into()))?;
    }
    state
        .audit
        .record(&mut tx, AuditEvent::new("mfa.disabled").target("user", signed_in.user_id))
        .await
        .map_err(|e| fail(e.into()))?;
    tx.commit().await.map_err(|e| fail(e.into()))?;
    Ok(Redirect::to("/settings/mfa").into_response())
}

/// `POST /settings/mfa/organization`: the owner requires MFA of every member, or stops requiring it.
pub async fn org_setting_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Form(form): Form<SettingsForm>,
) -> Result<Response, PageError> {
    let page = signed_in.page(&state, "/settings/mfa");
    signed_in.check_csrf(&state, &form.csrf)?;
    let fail = |e: AppError| PageError::new(e, &page);
    let enabled = matches!(form.require_mfa_all.as_deref(), Some("on" | "true" | "1"));
    let mut tx = state.db.begin_org(signed_in.org, signed_in.actor()).await.map_err(|e| fail(e.into()))?;
    sqlx::query!("update organizations set require_mfa_all = $2 where org_id = $1", signed_in.org.0, enabled)
        .execute(tx.conn())
        .await
        .map_err(|e| fail(e.into()))?;
    state
        .audit
        .record(&mut tx, AuditEvent::new("org.require_mfa_all_changed").payload(json!({ "require_mfa_all": enabled })))
        .await
        .map_err(|e| fail(e.into()))?;
    tx.commit().await.map_err(|e| fail(e.into()))?;
    Ok(Redirect::to("/settings/mfa").into_response())
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
