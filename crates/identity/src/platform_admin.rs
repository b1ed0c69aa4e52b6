//! The platform super admin (issue #3 item 2; P2-18; ASVS 5.0 L2 V6–V8): manages the instance, never
//! reads tenant secrets.
//!
//! * **Created only from the CLI**: `relais admin create --email` ([`create_admin`], platform scope)
//!   prints a one-time setup link `/admin/setup/{token}` ([`SETUP_LINK_LIFETIME`], single use, the
//!   token stored only as SHA-256). No HTTP route creates an admin. `relais admin list` and
//!   `relais admin disable` ([`disable_admin`], ends their sessions at once) complete the set.
//! * **Setup** (`/admin/setup/{token}`): a password (the members' rules, [`Password`]) and a TOTP
//!   factor (the secret sealed by the vault at creation; the QR code and code check are `mfa`'s).
//! * **Login** (`/admin/login`): email, password and TOTP code, all mandatory (P2-18); each time
//!   step once. Per-IP and per-account rate limits (429 + `Retry-After`); one answer for an unknown
//!   email, a wrong password, a wrong code and a disabled admin.
//! * **Sessions**: their own table and cookie (`__Host-` behind HTTPS, Secure, HttpOnly,
//!   SameSite=Strict), [`SESSION_IDLE_TIMEOUT`] idle and [`SESSION_LIFETIME`] absolute. The admin
//!   cookie is only read under `/admin` and yields a [`PlatformAdminPrincipal`], never a
//!   `Principal`: it grants nothing on tenant routes, and no member role reaches `Access::PlatformAdmin`.
//! * **Backoffice** (`/admin`): organizations (name, created, member count, last login), job-queue
//!   health, migrations, admins and the last 50 platform audit entries; suspend / reactivate an
//!   organization (its members' sessions end at once; its bearer credentials stop with it).
//! * **Data access**: the request role reads nothing of these tables or of tenant tables directly;
//!   everything goes through SECURITY DEFINER doors (migration 0010) that return aggregates and
//!   organization names only.
//! * **Audit**: `platform_audit_events` (append-only; pseudonymous payloads): `platform.admin.created`,
//!   `.disabled`, `.setup_completed`, `.login.succeeded`, `.login.failed`, `.logout`,
//!   `platform.org.suspended`, `platform.org.reactivated`.

use crate::doors::IdentityDoors;
use askama::Template;
use axum::Form;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use kernel::authz::PlatformAdminPrincipal;
use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use kernel::db::Db;
use kernel::i18n::{Lang, T};
use kernel::ratelimit::{self, Rule};
use kernel::vault::{SecretContext, Vault};
use kernel::web::{AppState, ClientInfo, LangPref, Page, PageError, render};
use kernel::{AppError, FieldError, OrgId, token};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgConnection;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::model::{DUMMY_HASH, EmailAddress, Password, hash_password, verify_password};
use crate::pages::FormErrors;

/// How long a setup link printed by `relais admin create` works.
pub const SETUP_LINK_LIFETIME: Duration = Duration::minutes(30);
/// An admin session unused this long ends.
pub const SESSION_IDLE_TIMEOUT: Duration = Duration::minutes(30);
/// An admin session ends this long after login, used or not.
pub const SESSION_LIFETIME: Duration = Duration::hours(8);
/// Platform audit entries shown on the backoffice.
pub const AUDIT_SHOWN: i32 = 50;

/// Admin login attempts from one client address.
pub const LOGIN_PER_IP: Rule = Rule { name: "admin-login-ip", limit: 10, window: Duration::minutes(15) };
/// Admin login attempts on one email address.
pub const LOGIN_PER_ACCOUNT: Rule = Rule { name: "admin-login-account", limit: 5, window: Duration::minutes(15) };
/// Setup-link submissions from one client address.
pub const SETUP_PER_IP: Rule = Rule { name: "admin-setup-ip", limit: 10, window: Duration::minutes(15) };

/// The data catalog entries of the super admin.
pub const TABLES: &[TableEntry] = &[
    TableEntry {
        table: "platform_admins",
        module: "identity",
        description: "Platform super admins (the operator's staff): email, password hash, TOTP secret sealed by the vault, status, last login.",
        subject: Subject::AccountHolder,
        personal_columns: &[
            "email",
            "password_hash",
            "totp_secret_sealed",
            "totp_last_step",
            "last_login_at",
            "activated_at",
            "disabled_at",
        ],
        purpose: "Operating the instance: account data of the operator's staff",
        legal_basis: LegalBasis::LegitimateInterest,
        retention: Retention::UntilRevoked,
        erasure: Erasure::Delete,
        tenant: false,
    },
    TableEntry {
        table: "platform_admin_setup_tokens",
        module: "identity",
        description: "One-time setup links of super admins: SHA-256 of the token, 30-minute expiry, when used.",
        subject: Subject::AccountHolder,
        personal_columns: &["admin_id", "used_at"],
        purpose: "Authentication and account security",
        legal_basis: LegalBasis::LegitimateInterest,
        retention: Retention::UntilExpiry,
        erasure: Erasure::Delete,
        tenant: false,
    },
    TableEntry {
        table: "platform_admin_sessions",
        module: "identity",
        description: "Super admin sessions: hashed token, admin, times (30-minute idle timeout, 8-hour lifetime).",
        subject: Subject::AccountHolder,
        personal_columns: &["admin_id", "created_at", "last_seen_at"],
        purpose: "Authentication and account security",
        legal_basis: LegalBasis::LegitimateInterest,
        retention: Retention::UntilExpiry,
        erasure: Erasure::Delete,
        tenant: false,
    },
    TableEntry {
        table: "platform_audit_events",
        module: "identity",
        description: "Append-only log of super admin actions (CLI and backoffice): pseudonymous ids only.",
        subject: Subject::AccountHolder,
        personal_columns: &["actor_id", "target_id"],
        purpose: "Security, fraud prevention and audit logging",
        legal_basis: LegalBasis::LegitimateInterest,
        retention: Retention::RollingMonths { months: 12 },
        erasure: Erasure::Delete,
        tenant: false,
    },
];

// ------------------------------------------------------------------ audit and TOTP

/// Appends to the platform audit log through its door (any pool: the owner at the CLI, the
/// request role on the web). Payloads carry pseudonymous ids only.
#[allow(clippy::too_many_arguments)]
async fn audit(
    conn: &mut PgConnection,
    now: OffsetDateTime,
    actor: Option<Uuid>,
    actor_kind: &str,
    action: &str,
    target: Option<(&str, Uuid)>,
    payload: Value,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "select app.platform_audit_append($1, $2, $3, $4, $5, $6, $7, $8)",
        Uuid::now_v7(),
        now,
        actor_kind,
        actor,
        action,
        target.map(|t| t.0),
        target.map(|t| t.1),
        payload
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn audit_web(
    state: &AppState,
    actor: Option<Uuid>,
    action: &str,
    target: Option<(&str, Uuid)>,
    payload: Value,
) -> Result<(), AppError> {
    let mut conn = state.db.platform_door().await?;
    let kind = if actor.is_some() { "admin" } else { "anonymous" };
    audit(&mut conn, state.clock.now(), actor, kind, action, target, payload).await?;
    Ok(())
}

fn secret_context(admin: Uuid) -> SecretContext<'static> {
    SecretContext { org: OrgId(Uuid::nil()), record_kind: "platform_admin_totp", record_id: admin, field: "secret" }
}

/// The accepted time step of `code` for the admin's sealed secret, if any (replay is refused by
/// the caller's door, which only accepts a later step than the last one).
fn totp_step(state: &AppState, admin: Uuid, sealed: &[u8], code: &str) -> Result<Option<u64>, AppError> {
    let code = crate::mfa::normalize(code);
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return Ok(None);
    }
    let secret = state
        .vault
        .open(&secret_context(admin), sealed)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("opening an admin TOTP secret: {e}")))?;
    let generator = crate::mfa::totp(&secret, "admin")?;
    Ok(generator.check(&code, crate::mfa::unix_secs(state.clock.now())))
}

fn step_i64(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}

// ------------------------------------------------------------------ the CLI

/// What `relais admin create` prints: the new admin and their one-time setup link.
pub struct CreatedAdmin {
    pub admin_id: Uuid,
    pub setup_url: SecretString,
    pub expires_at: OffsetDateTime,
}

/// `relais admin create --email`: a pending super admin and a setup link. An admin still pending
/// gets a new link (the old ones stop working); an active or disabled one is refused.
pub async fn create_admin(
    db: &Db,
    vault: &Vault,
    public_origin: &str,
    email: &str,
    now: OffsetDateTime,
) -> anyhow::Result<CreatedAdmin> {
    let email = EmailAddress::parse("email", email).map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let mut tx = db.begin_platform("admin create").await?;
    let existing: Option<(Uuid, String)> =
        sqlx::query_as("select admin_id, status from platform_admins where email = $1 for update")
            .bind(email.as_str())
            .fetch_optional(tx.conn())
            .await?;
    let admin_id = match existing {
        Some((_, status)) if status != "pending" => {
            anyhow::bail!("a super admin with this email already exists ({status})")
        }
        Some((admin_id, _)) => {
            sqlx::query!("delete from platform_admin_setup_tokens where admin_id = $1", admin_id)
                .execute(tx.conn())
                .await?;
            admin_id
        }
        None => {
            let admin_id = Uuid::now_v7();
            let secret = crate::mfa::new_secret();
            sqlx::query!(
                "insert into platform_admins (admin_id, email, totp_secret_sealed, created_at) values ($1, $2, $3, $4)",
                admin_id,
                email.as_str(),
                vault.seal(&secret_context(admin_id), &secret),
                now
            )
            .execute(tx.conn())
            .await?;
            admin_id
        }
    };
    let token = token::generate();
    let expires_at = now + SETUP_LINK_LIFETIME;
    sqlx::query!("insert into platform_admin_setup_tokens (token_hash, admin_id, created_at, expires_at) values ($1, $2, $3, $4)", &token::hash(&token)[..], admin_id, now, expires_at)
    .execute(tx.conn())
    .await?;
    audit(tx.conn(), now, None, "cli", "platform.admin.created", Some(("platform_admin", admin_id)), json!({})).await?;
    tx.commit().await?;
    let setup_url = SecretString::from(format!("{public_origin}/admin/setup/{}", token.expose_secret()));
    Ok(CreatedAdmin { admin_id, setup_url, expires_at })
}

/// One line of `relais admin list`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AdminSummary {
    pub admin_id: Uuid,
    pub email: String,
    pub status: String,
    pub created_at: OffsetDateTime,
    pub last_login_at: Option<OffsetDateTime>,
}

/// `relais admin list`.
pub async fn list_admins(db: &Db) -> anyhow::Result<Vec<AdminSummary>> {
    let mut tx = db.begin_platform("admin list").await?;
    let admins = sqlx::query_as(
        "select admin_id, email, status, created_at, last_login_at from platform_admins order by created_at",
    )
    .fetch_all(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(admins)
}

/// `relais admin disable --email`: the admin can no longer log in, and their sessions and setup
/// links end at once. False when there is no such admin.
pub async fn disable_admin(db: &Db, email: &str, now: OffsetDateTime) -> anyhow::Result<bool> {
    let email = email.trim().to_lowercase();
    let mut tx = db.begin_platform("admin disable").await?;
    let admin: Option<Uuid> = sqlx::query_scalar!(
        "update platform_admins set status = 'disabled', disabled_at = $2 where email = $1 returning admin_id",
        &email,
        now
    )
    .fetch_optional(tx.conn())
    .await?;
    let Some(admin_id) = admin else { return Ok(false) };
    for sql in [
        "delete from platform_admin_sessions where admin_id = $1",
        "delete from platform_admin_setup_tokens where admin_id = $1",
    ] {
        sqlx::query(sql).bind(admin_id).execute(tx.conn()).await?;
    }
    audit(tx.conn(), now, None, "cli", "platform.admin.disabled", Some(("platform_admin", admin_id)), json!({}))
        .await?;
    tx.commit().await?;
    Ok(true)
}

// ------------------------------------------------------------------ sessions

/// The signed-in super admin, for handlers behind `Access::PlatformAdmin`.
#[derive(Debug, Clone)]
pub struct AdminSignedIn {
    pub admin_id: Uuid,
    pub session_id: Uuid,
    pub email: String,
}

impl AdminSignedIn {
    fn page(&self, state: &AppState, lang: Lang, path: &str) -> Page {
        Page { t: T(lang), csrf: state.csrf_token(self.session_id), nav: None, path: path.to_owned() }
    }

    fn check_csrf(&self, state: &AppState, submitted: &str, page: &Page) -> Result<(), PageError> {
        if state.csrf_matches(self.session_id, submitted) {
            Ok(())
        } else {
            Err(PageError::new(AppError::Forbidden, page))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AdminSignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<AdminSignedIn>().cloned().ok_or_else(|| Redirect::to("/admin/login").into_response())
    }
}

/// The admin cookie's name: `__Host-` prefixed behind HTTPS, like the members' one.
pub fn cookie_name(state: &AppState) -> &'static str {
    if state.config.public_url.is_https() { "__Host-relais_admin" } else { "relais_admin" }
}

fn admin_cookie(state: &AppState, token: &SecretString) -> Cookie<'static> {
    Cookie::build((cookie_name(state), token.expose_secret().to_owned()))
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .path("/")
        .build()
}

fn expired_admin_cookie(state: &AppState) -> Cookie<'static> {
    let mut cookie = Cookie::build((cookie_name(state), ""))
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .path("/")
        .build();
    cookie.make_removal();
    cookie
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    session_id: Uuid,
    admin_id: Uuid,
    email: String,
}

/// Middleware: under `/admin` only, resolves the admin cookie and attaches the admin. Nothing
/// else ever reads that cookie, so an admin session is nobody on tenant routes.
pub async fn attach_platform_admin(
    State(state): State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    if path == "/admin" || path.starts_with("/admin/") {
        let jar = CookieJar::from_headers(request.headers());
        if let Some(cookie) = jar.get(cookie_name(&state)) {
            let hash = token::hash(&SecretString::from(cookie.value()));
            let idle = i32::try_from(SESSION_IDLE_TIMEOUT.whole_seconds()).unwrap_or(i32::MAX);
            let row: Result<Option<SessionRow>, sqlx::Error> = sqlx::query_as(
                "select session_id, admin_id, email from app.platform_admin_resolve_session($1, $2, $3)",
            )
            .bind(hash.as_slice())
            .bind(state.clock.now())
            .bind(idle)
            .fetch_optional(&mut *match state.db.platform_door().await {
                Ok(conn) => conn,
                Err(error) => return AppError::from(error).into_response(),
            })
            .await;
            match row {
                Ok(Some(row)) => {
                    request
                        .extensions_mut()
                        .insert(PlatformAdminPrincipal { admin_id: row.admin_id, session_id: row.session_id });
                    request.extensions_mut().insert(AdminSignedIn {
                        admin_id: row.admin_id,
                        session_id: row.session_id,
                        email: row.email,
                    });
                }
                Ok(None) => {}
                Err(error) => return AppError::from(error).into_response(),
            }
        }
    }
    next.run(request).await
}

fn no_store(status: StatusCode, html: axum::response::Html<String>) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], html).into_response()
}

// ------------------------------------------------------------------ setup

#[derive(Template)]
#[template(path = "admin_setup.html")]
struct SetupPage {
    page: Page,
    errors: FormErrors,
    action: String,
    qr_svg: String,
    secret: String,
}

impl SetupPage {
    fn error(&self, field: &str) -> Option<String> {
        self.errors.for_field(&self.page, field)
    }
}

#[derive(Template)]
#[template(path = "notice.html")]
struct NoticePage {
    page: Page,
    title_key: &'static str,
    body_key: &'static str,
    link: Option<(&'static str, &'static str)>,
}

#[derive(sqlx::FromRow)]
struct SetupRow {
    admin_id: Uuid,
    email: String,
    totp_secret_sealed: Vec<u8>,
}

async fn resolve_setup(state: &AppState, token: &str) -> Result<Option<SetupRow>, AppError> {
    let hash = token::hash(&SecretString::from(token));
    let mut conn = state.db.platform_door().await?;
    Ok(sqlx::query_as("select admin_id, email, totp_secret_sealed from app.platform_admin_setup_resolve($1, $2)")
        .bind(hash.as_slice())
        .bind(state.clock.now())
        .fetch_optional(&mut *conn)
        .await?)
}

fn invalid_link(page: &Page) -> Result<Response, PageError> {
    let view = NoticePage {
        page: page.clone(),
        title_key: "admin.setup_title",
        body_key: "admin.setup_link_invalid",
        link: None,
    };
    Ok(no_store(StatusCode::NOT_FOUND, render(&view).map_err(|e| PageError::new(e, page))?))
}

fn setup_view(state: &AppState, page: &Page, row: &SetupRow, token: &str) -> Result<SetupPage, AppError> {
    let secret = state
        .vault
        .open(&secret_context(row.admin_id), &row.totp_secret_sealed)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("opening an admin TOTP secret: {e}")))?;
    let url = crate::mfa::totp(&secret, &format!("admin {}", row.email))?
        .to_url()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("otpauth URL: {e}")))?;
    Ok(SetupPage {
        page: page.clone(),
        errors: FormErrors::default(),
        action: format!("/admin/setup/{token}"),
        qr_svg: crate::mfa::qr_svg(&url)?,
        secret: secret.expose_secret().to_owned(),
    })
}

/// `GET /admin/setup/{token}`: the password and TOTP enrollment form, for a valid link.
pub async fn setup_form(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    let page = Page::anonymous(lang, "/admin/setup");
    let fail = |e: AppError| PageError::new(e, &page);
    let Some(row) = resolve_setup(&state, &token).await.map_err(fail)? else { return invalid_link(&page) };
    let view = setup_view(&state, &page, &row, &token).map_err(fail)?;
    Ok(no_store(StatusCode::OK, render(&view).map_err(fail)?))
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(default = "empty_secret")]
    password: SecretString,
    #[serde(default = "empty_secret")]
    code: SecretString,
}

fn empty_secret() -> SecretString {
    SecretString::from("")
}

/// `POST /admin/setup/{token}`: sets the password and completes the TOTP enrollment; the link is
/// spent.
pub async fn setup_submit(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    client: ClientInfo,
    Path(token): Path<String>,
    Form(form): Form<SetupForm>,
) -> Result<Response, PageError> {
    let page = Page::anonymous(lang, "/admin/setup");
    let fail = |e: AppError| PageError::new(e, &page);
    ratelimit::check(&state, &SETUP_PER_IP, ratelimit::Subject::Ip(&client)).await.map_err(fail)?;
    let Some(row) = resolve_setup(&state, &token).await.map_err(fail)? else { return invalid_link(&page) };
    let mut errors = Vec::new();
    let password = Password::parse("password", form.password).map_err(|e| errors.push(e)).ok();
    let step = totp_step(&state, row.admin_id, &row.totp_secret_sealed, form.code.expose_secret()).map_err(fail)?;
    if step.is_none() {
        errors.push(FieldError::new("code", "mfa_code_invalid", "The code is incorrect or was already used."));
    }
    let (Some(password), Some(step), true) = (password, step, errors.is_empty()) else {
        let mut view = setup_view(&state, &page, &row, &token).map_err(fail)?;
        view.errors = FormErrors(errors);
        return Ok(no_store(StatusCode::UNPROCESSABLE_ENTITY, render(&view).map_err(fail)?));
    };
    let hash = hash_password(&password).await.map_err(|e| fail(AppError::Internal(e)))?;
    let now = state.clock.now();
    let mut conn = state.db.platform_door().await.map_err(|e| fail(e.into()))?;
    let done: Option<Uuid> = sqlx::query_scalar!(
        "select app.platform_admin_setup_complete($1, $2, $3, $4)",
        &token::hash(&SecretString::from(token.as_str()))[..],
        now,
        hash,
        step_i64(step)
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| fail(e.into()))?;
    let Some(admin_id) = done else { return invalid_link(&page) };
    audit(&mut conn, now, Some(admin_id), "admin", "platform.admin.setup_completed", None, json!({ "mfa": "totp" }))
        .await
        .map_err(|e| fail(e.into()))?;
    Ok(Redirect::to("/admin/login").into_response())
}

// ------------------------------------------------------------------ login and logout

#[derive(Template)]
#[template(path = "admin_login.html")]
struct LoginPage {
    page: Page,
    failed: bool,
    email: String,
}

/// `GET /admin/login`.
pub async fn login_form(LangPref(lang): LangPref) -> Result<Response, PageError> {
    let page = Page::anonymous(lang, "/admin/login");
    let view = LoginPage { page: page.clone(), failed: false, email: String::new() };
    Ok(no_store(StatusCode::OK, render(&view).map_err(|e| PageError::new(e, &page))?))
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default = "empty_secret")]
    password: SecretString,
    #[serde(default = "empty_secret")]
    code: SecretString,
}

#[derive(sqlx::FromRow)]
struct Candidate {
    admin_id: Uuid,
    status: String,
    password_hash: Option<String>,
    totp_secret_sealed: Vec<u8>,
}

/// Why a login failed, for the audit log only: the person sees one answer for all.
async fn check_login(
    state: &AppState,
    email: &str,
    password: SecretString,
    code: &str,
) -> Result<Result<(Uuid, SecretString), (Option<Uuid>, &'static str)>, AppError> {
    let mut conn = state.db.platform_door().await?;
    let candidate: Option<Candidate> = sqlx::query_as!(
        Candidate,
        r#"select admin_id as "admin_id!", status as "status!", password_hash, totp_secret_sealed as "totp_secret_sealed!" from app.platform_admin_login_candidate($1)"#,
        email
    )
    .fetch_optional(&mut *conn)
    .await?;
    drop(conn);
    let Some(candidate) = candidate else {
        // The same bcrypt work as for a real account: the answer's timing tells nothing.
        verify_password(password, DUMMY_HASH.clone()).await;
        return Ok(Err((None, "unknown_account")));
    };
    let hash = candidate.password_hash.clone().unwrap_or_else(|| DUMMY_HASH.clone());
    let password_ok = verify_password(password, hash).await && candidate.password_hash.is_some();
    let id = Some(candidate.admin_id);
    if candidate.status != "active" {
        return Ok(Err((id, "not_active")));
    }
    if !password_ok {
        return Ok(Err((id, "bad_password")));
    }
    let Some(step) = totp_step(state, candidate.admin_id, &candidate.totp_secret_sealed, code)? else {
        return Ok(Err((id, "bad_code")));
    };
    let token = token::generate();
    let now = state.clock.now();
    let mut conn = state.db.platform_door().await?;
    let opened: bool = sqlx::query_scalar!(
        r#"select app.platform_admin_open_session($1, $2, $3, $4, $5, $6) as "platform_admin_open_session!""#,
        candidate.admin_id,
        step_i64(step),
        Uuid::now_v7(),
        &token::hash(&token)[..],
        now,
        now + SESSION_LIFETIME
    )
    .fetch_one(&mut *conn)
    .await?;
    if !opened {
        // The code's time step was already used (a replay), or the admin was disabled meanwhile.
        return Ok(Err((id, "code_replayed")));
    }
    Ok(Ok((candidate.admin_id, token)))
}

/// `POST /admin/login`: email, password and a TOTP code, all required (P2-18).
pub async fn login_submit(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    client: ClientInfo,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let page = Page::anonymous(lang, "/admin/login");
    let fail = |e: AppError| PageError::new(e, &page);
    let email = form.email.trim().to_lowercase();
    ratelimit::check(&state, &LOGIN_PER_IP, ratelimit::Subject::Ip(&client)).await.map_err(fail)?;
    ratelimit::check(&state, &LOGIN_PER_ACCOUNT, ratelimit::Subject::Account(&email)).await.map_err(fail)?;
    match check_login(&state, &email, form.password, form.code.expose_secret()).await.map_err(fail)? {
        Ok((admin_id, token)) => {
            audit_web(&state, Some(admin_id), "platform.admin.login.succeeded", None, json!({ "mfa": "totp" }))
                .await
                .map_err(fail)?;
            let jar = CookieJar::new().add(admin_cookie(&state, &token));
            Ok((jar, Redirect::to("/admin")).into_response())
        }
        Err((admin, reason)) => {
            let target = admin.map(|id| ("platform_admin", id));
            audit_web(&state, None, "platform.admin.login.failed", target, json!({ "reason": reason }))
                .await
                .map_err(fail)?;
            let view = LoginPage { page: page.clone(), failed: true, email: form.email };
            Ok(no_store(StatusCode::UNAUTHORIZED, render(&view).map_err(fail)?))
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /admin/logout`.
pub async fn logout(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    admin: AdminSignedIn,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let page = admin.page(&state, lang, "/admin");
    admin.check_csrf(&state, &form.csrf, &page)?;
    let fail = |e: AppError| PageError::new(e, &page);
    let mut conn = state.db.platform_door().await.map_err(|e| fail(e.into()))?;
    sqlx::query!("select app.platform_admin_end_session($1)", admin.session_id)
        .execute(&mut *conn)
        .await
        .map_err(|e| fail(e.into()))?;
    audit(&mut conn, state.clock.now(), Some(admin.admin_id), "admin", "platform.admin.logout", None, json!({}))
        .await
        .map_err(|e| fail(e.into()))?;
    let jar = CookieJar::new().add(expired_admin_cookie(&state));
    Ok((jar, Redirect::to("/admin/login")).into_response())
}

// ------------------------------------------------------------------ the backoffice

#[derive(sqlx::FromRow)]
struct OrgRow {
    org_id: Uuid,
    name: String,
    status: String,
    created_at: OffsetDateTime,
    member_count: i64,
    last_login_at: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    kind: String,
    status: String,
    jobs: i64,
    oldest_waiting: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct MigrationRow {
    version: i64,
    description: String,
    installed_on: OffsetDateTime,
    success: bool,
}

#[derive(sqlx::FromRow)]
struct AdminRow {
    email: String,
    status: String,
    created_at: OffsetDateTime,
    last_login_at: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    occurred_at: OffsetDateTime,
    actor_kind: String,
    actor_id: Option<Uuid>,
    action: String,
    target_kind: Option<String>,
    target_id: Option<Uuid>,
    payload: Value,
}

/// What the backoffice shows of one organization: no member data, only counts and times.
struct OrgView {
    org_id: Uuid,
    name: String,
    status: String,
    created: String,
    member_count: i64,
    last_login: String,
}

struct JobView {
    kind: String,
    status: String,
    jobs: i64,
    oldest_waiting: String,
}

struct MigrationView {
    version: i64,
    description: String,
    installed: String,
    success: bool,
}

struct AdminView {
    email: String,
    status: String,
    created: String,
    last_login: String,
}

struct AuditView {
    at: String,
    action: String,
    actor: String,
    target: String,
    payload: String,
}

#[derive(Template)]
#[template(path = "admin_overview.html")]
struct OverviewPage {
    page: Page,
    me: String,
    orgs: Vec<OrgView>,
    jobs: Vec<JobView>,
    migrations: Vec<MigrationView>,
    schema_version: i64,
    admins: Vec<AdminView>,
    audit: Vec<AuditView>,
}

fn when(at: &OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    at.to_offset(time::UtcOffset::UTC).format(&format).unwrap_or_default()
}

fn maybe_when(at: &Option<OffsetDateTime>) -> String {
    at.as_ref().map(when).unwrap_or_else(|| "—".to_owned())
}

fn id_text(id: &Option<Uuid>) -> String {
    id.map(|id| id.to_string()).unwrap_or_default()
}

/// `GET /admin`: the instance overview.
pub async fn overview(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    admin: AdminSignedIn,
) -> Result<Response, PageError> {
    let page = admin.page(&state, lang, "/admin");
    let fail = |e: AppError| PageError::new(e, &page);
    let db = |e: sqlx::Error| PageError::new(e, &page);
    let mut conn = state.db.platform_door().await.map_err(db)?;
    let orgs: Vec<OrgRow> = sqlx::query_as!(
        OrgRow,
        r#"select org_id as "org_id!", name as "name!", status as "status!", created_at as "created_at!", member_count as "member_count!", last_login_at from app.platform_overview_orgs()"#
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let jobs: Vec<JobRow> =
        sqlx::query_as!(JobRow, r#"select kind as "kind!", status as "status!", jobs as "jobs!", oldest_waiting from app.platform_overview_jobs()"#)
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?;
    let migrations: Vec<MigrationRow> = sqlx::query_as!(
        MigrationRow,
        r#"select version as "version!", description as "description!", installed_on as "installed_on!", success as "success!" from app.platform_overview_migrations()"#
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let admins: Vec<AdminRow> = sqlx::query_as!(
        AdminRow,
        r#"select email as "email!", status as "status!", created_at as "created_at!", last_login_at from app.platform_overview_admins()"#
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let audit: Vec<AuditRow> = sqlx::query_as!(AuditRow, r#"select occurred_at as "occurred_at!", actor_kind as "actor_kind!", actor_id, action as "action!", target_kind, target_id, payload as "payload!" from app.platform_audit_recent($1)"#, AUDIT_SHOWN)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let schema_version = migrations.iter().filter(|m| m.success).map(|m| m.version).max().unwrap_or(0);
    let view = OverviewPage {
        page: page.clone(),
        me: admin.email.clone(),
        orgs: orgs
            .into_iter()
            .map(|o| OrgView {
                created: when(&o.created_at),
                last_login: maybe_when(&o.last_login_at),
                org_id: o.org_id,
                name: o.name,
                status: o.status,
                member_count: o.member_count,
            })
            .collect(),
        jobs: jobs
            .into_iter()
            .map(|j| JobView {
                oldest_waiting: maybe_when(&j.oldest_waiting),
                kind: j.kind,
                status: j.status,
                jobs: j.jobs,
            })
            .collect(),
        migrations: migrations
            .into_iter()
            .map(|m| MigrationView {
                installed: when(&m.installed_on),
                version: m.version,
                description: m.description,
                success: m.success,
            })
            .collect(),
        schema_version,
        admins: admins
            .into_iter()
            .map(|a| AdminView {
                created: when(&a.created_at),
                last_login: maybe_when(&a.last_login_at),
                email: a.email,
                status: a.status,
            })
            .collect(),
        audit: audit
            .into_iter()
            .map(|e| AuditView {
                at: when(&e.occurred_at),
                actor: format!("{} {}", e.actor_kind, id_text(&e.actor_id)),
                target: format!("{} {}", e.target_kind.unwrap_or_default(), id_text(&e.target_id)),
                action: e.action,
                payload: e.payload.to_string(),
            })
            .collect(),
    };
    Ok(no_store(StatusCode::OK, render(&view).map_err(fail)?))
}

async fn set_org_status(
    state: &AppState,
    lang: Lang,
    admin: &AdminSignedIn,
    org_id: &str,
    csrf: &str,
    suspend: bool,
) -> Result<Response, PageError> {
    let page = admin.page(state, lang, "/admin");
    admin.check_csrf(state, csrf, &page)?;
    let fail = |e: AppError| PageError::new(e, &page);
    let Ok(org_id) = Uuid::parse_str(org_id) else { return Err(fail(AppError::NotFound)) };
    let mut conn = state.db.platform_door().await.map_err(|e| fail(e.into()))?;
    let changed: bool = sqlx::query_scalar!(
        r#"select app.platform_set_org_status($1, $2) as "platform_set_org_status!""#,
        org_id,
        suspend
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| fail(e.into()))?;
    if !changed {
        return Err(fail(AppError::NotFound));
    }
    let action = if suspend { "platform.org.suspended" } else { "platform.org.reactivated" };
    audit(
        &mut conn,
        state.clock.now(),
        Some(admin.admin_id),
        "admin",
        action,
        Some(("organization", org_id)),
        json!({}),
    )
    .await
    .map_err(|e| fail(e.into()))?;
    Ok(Redirect::to("/admin").into_response())
}

/// `POST /admin/orgs/{org_id}/suspend`: the org's members can no longer sign in or use the API;
/// their sessions end now.
pub async fn suspend_org(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    admin: AdminSignedIn,
    Path(org_id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    set_org_status(&state, lang, &admin, &org_id, &form.csrf, true).await
}

/// `POST /admin/orgs/{org_id}/reactivate`.
pub async fn reactivate_org(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    admin: AdminSignedIn,
    Path(org_id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    set_org_status(&state, lang, &admin, &org_id, &form.csrf, false).await
}
