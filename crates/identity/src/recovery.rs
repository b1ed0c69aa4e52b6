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

use crate::doors::IdentityDoors;
use crate::pages::FormErrors;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use kernel::audit::AuditEvent;
use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use kernel::db::Actor;
use kernel::error::ApiJson;
use kernel::i18n::{Lang, T};
use kernel::mail::{self, OutgoingMail};
use kernel::web::{AppState, LangPref, Page, render};
use kernel::{AppError, AppResult, OrgId, token};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::model::{EmailAddress, Password, hash_password};

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

// ------------------------------------------------------------------ rules

/// Asks for reset links for `email`. Succeeds the same way whether or not an account exists;
/// only a malformed address is refused.
pub async fn request_reset(state: &AppState, email: &str) -> Result<(), AppError> {
    let email = EmailAddress::parse("email", email).map_err(|e| AppError::Validation(vec![e]))?;
    let candidates = state.db.login_candidates(email.as_str()).await?;
    for account in candidates.iter().filter(|c| c.status == "active") {
        issue_reset(state, account.org_id, account.user_id).await?;
    }
    Ok(())
}

async fn issue_reset(state: &AppState, org: OrgId, user: Uuid) -> Result<(), AppError> {
    let now = state.clock.now();
    let mut tx = state.db.begin_org(org, Actor::Anonymous).await?;
    // Locked: two simultaneous requests cannot both pass the interval check below.
    let recipient = crate::notify::recipient(&mut tx, user, true).await?;
    let Some(recipient) = recipient else { return Ok(()) };
    let last: Option<OffsetDateTime> = sqlx::query_scalar!(
        "select max(created_at) from password_resets where org_id = $1 and user_id = $2",
        org.0,
        user
    )
    .fetch_one(tx.conn())
    .await?;
    if last.is_some_and(|at| now - at < RESET_MAIL_INTERVAL) {
        return Ok(());
    }
    // A new link replaces the older unused ones.
    sqlx::query!("delete from password_resets where org_id = $1 and user_id = $2 and used_at is null", org.0, user)
        .execute(tx.conn())
        .await?;
    let secret = token::generate();
    let reset_id = Uuid::now_v7();
    sqlx::query!(
        "insert into password_resets (org_id, reset_id, user_id, token_hash, created_at, expires_at)
         values ($1, $2, $3, $4, $5, $6)",
        org.0,
        reset_id,
        user,
        &token::hash(&secret)[..],
        now,
        now + RESET_LIFETIME
    )
    .execute(tx.conn())
    .await?;
    let t = T(Lang::parse(&recipient.language).unwrap_or(Lang::En));
    let link = state.config.public_url.join(&format!("/reset/{}", secret.expose_secret()));
    let message = OutgoingMail {
        to: recipient.email,
        subject: t.get("mail.reset.subject").to_owned(),
        text: t
            .fmt("mail.reset.body", &[("name", &recipient.first_name), ("org", &recipient.org_name), ("link", &link)]),
        html: None,
    };
    mail::enqueue(&mut tx, &state.clock, &state.vault, &message).await?;
    state.audit.record(&mut tx, AuditEvent::new("auth.password_reset.requested").target("user", user)).await?;
    tx.commit().await?;
    Ok(())
}

/// A reset link that can still be used: its org, id and account.
struct LiveReset {
    org: OrgId,
    reset_id: Uuid,
    user: Uuid,
}

/// The link's reset if it is unexpired, unused and its account active; `None` otherwise.
async fn live_reset(state: &AppState, secret: &str) -> Result<Option<LiveReset>, AppError> {
    if secret.is_empty() || secret.len() > MAX_TOKEN_CHARS {
        return Ok(None);
    }
    let hash = token::hash(&SecretString::from(secret));
    let Some((org, reset_id, user)) = state.db.resolve_password_reset(&hash).await? else { return Ok(None) };
    let mut tx = state.db.begin_org(org, Actor::Anonymous).await?;
    let live: bool = sqlx::query_scalar!(
        r#"select exists (select from password_resets r join users u on u.org_id = r.org_id and u.user_id = r.user_id
                        where r.org_id = $1 and r.reset_id = $2 and r.used_at is null and r.expires_at > $3
                          and u.status = 'active') as "exists!""#,
        org.0,
        reset_id,
        state.clock.now()
    )
    .fetch_one(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(live.then_some(LiveReset { org, reset_id, user }))
}

/// Sets a new password through a reset link and ends every session of the account.
/// `AppError::NotFound` when the link is unknown, expired, used or its account inactive.
pub async fn complete_reset(state: &AppState, secret: &str, password: SecretString) -> Result<(), AppError> {
    let password = Password::parse("password", password).map_err(|e| AppError::Validation(vec![e]))?;
    // Checked before the (deliberately slow) hashing, and again under lock below.
    let Some(reset) = live_reset(state, secret).await? else { return Err(AppError::NotFound) };
    let password_hash = hash_password(&password).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin_org(reset.org, Actor::User(reset.user)).await?;
    // Spend the link first: of two concurrent submissions only one updates the row.
    let spent = sqlx::query!(
        "update password_resets set used_at = $3
         where org_id = $1 and reset_id = $2 and used_at is null and expires_at > $3",
        reset.org.0,
        reset.reset_id,
        now
    )
    .execute(tx.conn())
    .await?;
    if spent.rows_affected() != 1 {
        return Err(AppError::NotFound);
    }
    let updated = sqlx::query!(
        "update users set password_hash = $3, updated_at = $4 where org_id = $1 and user_id = $2 and status = 'active'",
        reset.org.0,
        reset.user,
        &password_hash,
        now
    )
    .execute(tx.conn())
    .await?;
    if updated.rows_affected() != 1 {
        return Err(AppError::NotFound);
    }
    sqlx::query!(
        "delete from password_resets where org_id = $1 and user_id = $2 and used_at is null",
        reset.org.0,
        reset.user
    )
    .execute(tx.conn())
    .await?;
    let ended = sqlx::query!("delete from sessions where org_id = $1 and user_id = $2", reset.org.0, reset.user)
        .execute(tx.conn())
        .await?
        .rows_affected();
    // A new password ends every API token family too, and lifts a lockout: whoever reset it
    // proved control of the mailbox.
    crate::api_auth::revoke_all_api_tokens(&mut tx, reset.user, state.clock.now()).await?;
    sqlx::query!(
        "update users set failed_logins = 0, locked_until = null where org_id = $1 and user_id = $2",
        reset.org.0,
        reset.user
    )
    .execute(tx.conn())
    .await?;
    state
        .audit
        .record(
            &mut tx,
            AuditEvent::new("auth.password_reset")
                .target("user", reset.user)
                .payload(json!({ "sessions_ended": ended })),
        )
        .await?;
    tx.commit().await?;
    tracing::info!(org = %reset.org, user = %reset.user, sessions_ended = ended, "password reset");
    Ok(())
}

// ------------------------------------------------------------------ API

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

/// Ask for a password-reset link.
///
/// The answer is the same whether or not an account uses the address. Each account of the address
/// receives at most one mail a minute; the link works once and for 15 minutes.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password-reset",
    tag = "identity",
    request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "Accepted (whether or not the address has an account)", body = PasswordResetAccepted),
        (status = 422, description = "Not an email address", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn request_reset_api(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<PasswordResetRequest>,
) -> Result<(StatusCode, axum::Json<PasswordResetAccepted>), AppError> {
    request_reset(&state, &input.email).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(PasswordResetAccepted { message: ACCEPTED })))
}

// ------------------------------------------------------------------ pages

/// A page with a title and one paragraph, both message keys.
#[derive(Template)]
#[template(path = "notice.html")]
pub(crate) struct NoticePage {
    pub page: Page,
    pub title_key: &'static str,
    pub body_key: &'static str,
    pub link: Option<(&'static str, &'static str)>,
}

/// A page that must not be cached (it follows or answers a link carrying a token).
pub(crate) fn no_store(status: StatusCode, html: impl IntoResponse) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], html).into_response()
}

pub(crate) fn notice(
    page: &Page,
    status: StatusCode,
    title_key: &'static str,
    body_key: &'static str,
    link: Option<(&'static str, &'static str)>,
) -> AppResult<Response> {
    let view = NoticePage { page: page.clone(), title_key, body_key, link };
    Ok(no_store(status, render(&view)?))
}

/// The page for a link that is unknown, expired, used or withdrawn: one answer for all.
pub(crate) fn link_invalid(page: &Page) -> AppResult<Response> {
    notice(page, StatusCode::GONE, "link.invalid_title", "link.invalid", None)
}

#[derive(Template)]
#[template(path = "password_reset_request.html")]
struct RequestPage {
    page: Page,
    errors: FormErrors,
    email: String,
}

impl RequestPage {
    fn error(&self, field: &str) -> Option<String> {
        self.errors.for_field(&self.page, field)
    }
}

#[derive(Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    email: String,
}

pub async fn request_form(LangPref(lang): LangPref) -> AppResult<Response> {
    let page = Page::anonymous(lang, "/password-reset");
    let view = RequestPage { page: page.clone(), errors: FormErrors::default(), email: String::new() };
    Ok(render(&view)?.into_response())
}

pub async fn request_submit(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    Form(form): Form<RequestForm>,
) -> AppResult<Response> {
    let page = Page::anonymous(lang, "/password-reset");
    match request_reset(&state, &form.email).await {
        Ok(()) => notice(&page, StatusCode::OK, "password_reset.sent_title", "password_reset.sent", None),
        Err(AppError::Validation(errors)) => {
            let view = RequestPage { page: page.clone(), errors: FormErrors(errors), email: form.email };
            let html = render(&view)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
        Err(other) => Err(other),
    }
}

#[derive(Template)]
#[template(path = "password_reset_form.html")]
struct NewPasswordPage {
    page: Page,
    errors: FormErrors,
    action: String,
}

impl NewPasswordPage {
    fn error(&self, field: &str) -> Option<String> {
        self.errors.for_field(&self.page, field)
    }
}

#[derive(Deserialize)]
pub struct NewPasswordForm {
    #[serde(default = "empty_secret")]
    password: SecretString,
}

fn empty_secret() -> SecretString {
    SecretString::from("")
}

/// `GET /reset/{token}`: shows the form if the link is live. Spends nothing.
pub async fn reset_form(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    Path(secret): Path<String>,
) -> AppResult<Response> {
    let path = format!("/reset/{secret}");
    let page = Page::anonymous(lang, path.clone());
    if live_reset(&state, &secret).await?.is_none() {
        return link_invalid(&page);
    }
    let view = NewPasswordPage { page: page.clone(), errors: FormErrors::default(), action: path };
    Ok(no_store(StatusCode::OK, render(&view)?))
}

/// `POST /reset/{token}`: sets the password, spends the link, ends every session.
pub async fn reset_submit(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    Path(secret): Path<String>,
    Form(form): Form<NewPasswordForm>,
) -> AppResult<Response> {
    let path = format!("/reset/{secret}");
    let page = Page::anonymous(lang, path.clone());
    match complete_reset(&state, &secret, form.password).await {
        Ok(()) => notice(
            &page,
            StatusCode::OK,
            "password_reset.done_title",
            "password_reset.done",
            Some(("/login", "nav.login")),
        ),
        Err(AppError::NotFound) => link_invalid(&page),
        Err(AppError::Validation(errors)) => {
            if live_reset(&state, &secret).await?.is_none() {
                return link_invalid(&page);
            }
            let view = NewPasswordPage { page: page.clone(), errors: FormErrors(errors), action: path };
            Ok(no_store(StatusCode::UNPROCESSABLE_ENTITY, render(&view)?))
        }
        Err(other) => Err(other),
    }
}
