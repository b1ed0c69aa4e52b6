//! Profile self-service (`ProfileManage`, own; issue #3, ASVS 5.0 L2 V6/V7).
//!
//! `/settings/profile`: a member changes their name, job title and language; their password; and
//! their email address.
//! * Re-authentication: the password and email forms require the current password (checked
//!   against the per-account login rate limit, since a wrong one is a guess).
//! * A password change ends every **other** browser session and every API token family
//!   (`api_auth::revoke_all_api_tokens`), keeps the current session, withdraws unused reset links
//!   and notifies the member by email. Audited `auth.password_changed`.
//! * An email change is re-verified: the new address gets a link (256-bit token, SHA-256 stored,
//!   single use, [`EMAIL_CHANGE_LIFETIME`]) and only following it, signed in as the same member,
//!   changes the address; the old address is told at once. Audited
//!   `profile.email_change_requested` and `profile.email_changed`; details `profile.updated`.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use kernel::audit::AuditEvent;
use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use kernel::i18n::{Lang, T};
use kernel::mail::{self, OutgoingMail};
use kernel::web::{AppState, Page, PageError, render};
use kernel::{AppError, FieldError, OrgTx, ratelimit, token};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use time::Duration;
use uuid::Uuid;

use crate::model::{EmailAddress, JobTitle, Password, PersonName, hash_password, verify_password};
use crate::recovery::{FieldMessages, link_invalid, no_store};
use crate::session::SignedIn;

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

#[derive(sqlx::FromRow)]
struct Me {
    email: String,
    first_name: String,
    last_name: String,
    job_title: String,
    language: String,
    password_hash: String,
}

async fn lock_me(tx: &mut OrgTx, user: Uuid) -> Result<Me, AppError> {
    let me: Option<Me> = sqlx::query_as!(
        Me,
        "select email, first_name, last_name, job_title, language, password_hash
         from users where org_id = $1 and user_id = $2 and status = 'active' for update",
        tx.org().0,
        user
    )
    .fetch_optional(tx.conn())
    .await?;
    me.ok_or(AppError::Unauthenticated)
}

/// Checks the current password (re-authentication): `None` when right, else the field's error.
async fn reauthenticate(
    state: &AppState,
    me: &Me,
    field: &str,
    password: &SecretString,
) -> Result<Option<FieldError>, AppError> {
    if password.expose_secret().is_empty() {
        return Ok(Some(FieldError::new(field, "required", "Enter your current password.")));
    }
    ratelimit::check(state, &ratelimit::LOGIN_PER_ACCOUNT, ratelimit::Subject::Account(&me.email)).await?;
    if verify_password(password.clone(), me.password_hash.clone()).await {
        Ok(None)
    } else {
        Ok(Some(FieldError::new(field, "wrong_password", "The current password is incorrect.")))
    }
}

// ------------------------------------------------------------------ rules

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
}

pub async fn update_details(state: &AppState, signed_in: &SignedIn, input: &DetailsInput) -> Result<(), AppError> {
    let mut errors = Vec::new();
    let first_name = PersonName::parse("first_name", &input.first_name).map_err(|e| errors.push(e)).ok();
    let last_name = PersonName::parse("last_name", &input.last_name).map_err(|e| errors.push(e)).ok();
    let job_title = JobTitle::parse("job_title", &input.job_title).map_err(|e| errors.push(e)).ok();
    let language = Lang::parse(&input.language);
    if language.is_none() {
        errors.push(FieldError::new("language", "invalid", "Choose a language."));
    }
    let (Some(first_name), Some(last_name), Some(job_title), Some(language)) =
        (first_name, last_name, job_title, language)
    else {
        return Err(AppError::Validation(errors));
    };
    let mut tx = state.db.begin_org(signed_in.org, signed_in.actor()).await?;
    let me = lock_me(&mut tx, signed_in.user_id).await?;
    let mut changed = Vec::new();
    for (name, old, new) in [
        ("first_name", &me.first_name, first_name.as_str()),
        ("last_name", &me.last_name, last_name.as_str()),
        ("job_title", &me.job_title, job_title.as_str()),
        ("language", &me.language, language.code()),
    ] {
        if old != new {
            changed.push(name);
        }
    }
    if changed.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "update users set first_name = $3, last_name = $4, job_title = $5, language = $6, updated_at = $7
         where org_id = $1 and user_id = $2",
        signed_in.org.0,
        signed_in.user_id,
        first_name.as_str(),
        last_name.as_str(),
        job_title.as_str(),
        language.code(),
        state.clock.now()
    )
    .execute(tx.conn())
    .await?;
    state
        .audit
        .record(
            &mut tx,
            AuditEvent::new("profile.updated").target("user", signed_in.user_id).payload(json!({ "fields": changed })),
        )
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Changes the password after checking the current one; ends every other session and every API
/// token family, keeps `signed_in`'s session.
pub async fn change_password(
    state: &AppState,
    signed_in: &SignedIn,
    current: SecretString,
    new: SecretString,
) -> Result<(), AppError> {
    let mut errors = Vec::new();
    let password = Password::parse("new_password", new).map_err(|e| errors.push(e)).ok();
    let now = state.clock.now();
    let mut tx = state.db.begin_org(signed_in.org, signed_in.actor()).await?;
    let me = lock_me(&mut tx, signed_in.user_id).await?;
    if let Some(error) = reauthenticate(state, &me, "current_password", &current).await? {
        errors.insert(0, error);
    }
    let Some(password) = password.filter(|_| errors.is_empty()) else { return Err(AppError::Validation(errors)) };
    let hash = hash_password(&password).await?;
    sqlx::query!(
        "update users set password_hash = $3, updated_at = $4 where org_id = $1 and user_id = $2",
        signed_in.org.0,
        signed_in.user_id,
        &hash,
        now
    )
    .execute(tx.conn())
    .await?;
    sqlx::query!(
        "delete from sessions where org_id = $1 and user_id = $2 and session_id <> $3",
        signed_in.org.0,
        signed_in.user_id,
        signed_in.session_id
    )
    .execute(tx.conn())
    .await?;
    crate::api_auth::revoke_all_api_tokens(&mut tx, signed_in.user_id, now).await?;
    sqlx::query!(
        "update password_resets set used_at = $3 where org_id = $1 and user_id = $2 and used_at is null",
        signed_in.org.0,
        signed_in.user_id,
        now
    )
    .execute(tx.conn())
    .await?;
    state.audit.record(&mut tx, AuditEvent::new("auth.password_changed").target("user", signed_in.user_id)).await?;
    crate::notify::security_notice(state, &mut tx, signed_in.user_id, "mail.password_changed", &[]).await?;
    tx.commit().await?;
    Ok(())
}

/// Asks to change the email address to `new_email` after checking the current password: mails a
/// confirmation link to the new address and a notice to the old one. Nothing changes yet.
pub async fn request_email_change(
    state: &AppState,
    signed_in: &SignedIn,
    current: SecretString,
    new_email: &str,
) -> Result<Uuid, AppError> {
    let mut errors = Vec::new();
    let email = EmailAddress::parse("new_email", new_email).map_err(|e| errors.push(e)).ok();
    let now = state.clock.now();
    let mut tx = state.db.begin_org(signed_in.org, signed_in.actor()).await?;
    let me = lock_me(&mut tx, signed_in.user_id).await?;
    if let Some(error) = reauthenticate(state, &me, "email_current_password", &current).await? {
        errors.insert(0, error);
    }
    if let Some(email) = &email {
        if email.as_str() == me.email {
            errors.push(FieldError::new("new_email", "same_email", "This is already your email address."));
        } else {
            let taken: bool = sqlx::query_scalar!(
                r#"select exists (select from users where org_id = $1 and email = $2) as "exists!""#,
                signed_in.org.0,
                email.as_str()
            )
            .fetch_one(tx.conn())
            .await?;
            if taken {
                errors.push(FieldError::new(
                    "new_email",
                    "email_taken",
                    "Another member of your organization uses this address.",
                ));
            }
        }
    }
    let Some(email) = email.filter(|_| errors.is_empty()) else { return Err(AppError::Validation(errors)) };
    sqlx::query!(
        "update email_changes set revoked_at = $3
         where org_id = $1 and user_id = $2 and used_at is null and revoked_at is null",
        signed_in.org.0,
        signed_in.user_id,
        now
    )
    .execute(tx.conn())
    .await?;
    let secret = token::generate();
    let change_id = Uuid::now_v7();
    sqlx::query!(
        "insert into email_changes (org_id, change_id, user_id, new_email, token_hash, created_at, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7)",
        signed_in.org.0,
        change_id,
        signed_in.user_id,
        email.as_str(),
        &token::hash(&secret)[..],
        now,
        now + EMAIL_CHANGE_LIFETIME
    )
    .execute(tx.conn())
    .await?;
    let t = T(Lang::parse(&me.language).unwrap_or(Lang::En));
    let link = state.config.public_url.join(&format!("{PROFILE_PATH}/email/{}", secret.expose_secret()));
    let message = OutgoingMail {
        to: email.as_str().to_owned(),
        subject: t.get("mail.email_change.subject").to_owned(),
        text: t
            .fmt("mail.email_change.body", &[("name", &me.first_name), ("org", &signed_in.org_name), ("link", &link)]),
        html: None,
    };
    mail::enqueue(&mut tx, &state.clock, &state.vault, &message).await?;
    crate::notify::security_notice(state, &mut tx, signed_in.user_id, "mail.email_change_requested", &[]).await?;
    state
        .audit
        .record(&mut tx, AuditEvent::new("profile.email_change_requested").target("email_change", change_id))
        .await?;
    tx.commit().await?;
    Ok(change_id)
}

fn live_token(secret: &str) -> Option<[u8; 32]> {
    (!secret.is_empty() && secret.len() <= MAX_TOKEN_CHARS).then(|| token::hash(&SecretString::from(secret)))
}

/// Whether `secret` is a live confirmation link of the signed-in member (spends nothing).
async fn pending_change(state: &AppState, signed_in: &SignedIn, secret: &str) -> Result<Option<String>, AppError> {
    let Some(hash) = live_token(secret) else { return Ok(None) };
    let mut tx = state.db.begin_org(signed_in.org, signed_in.actor()).await?;
    let email: Option<String> = sqlx::query_scalar!(
        "select new_email from email_changes
         where org_id = $1 and user_id = $2 and token_hash = $3
           and used_at is null and revoked_at is null and expires_at > $4",
        signed_in.org.0,
        signed_in.user_id,
        hash.as_slice(),
        state.clock.now()
    )
    .fetch_optional(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(email)
}

/// Confirms an email change: the link must be live and the signed-in member's own. `NotFound` if
/// not; `Conflict("email_taken")` if another member took the address meanwhile.
pub async fn confirm_email_change(state: &AppState, signed_in: &SignedIn, secret: &str) -> Result<(), AppError> {
    let Some(hash) = live_token(secret) else { return Err(AppError::NotFound) };
    let now = state.clock.now();
    let mut tx = state.db.begin_org(signed_in.org, signed_in.actor()).await?;
    let found: Option<(Uuid, String)> = sqlx::query_as(
        "select change_id, new_email from email_changes
         where org_id = $1 and user_id = $2 and token_hash = $3
           and used_at is null and revoked_at is null and expires_at > $4
         for update",
    )
    .bind(signed_in.org)
    .bind(signed_in.user_id)
    .bind(hash.as_slice())
    .bind(now)
    .fetch_optional(tx.conn())
    .await?;
    let Some((change_id, email)) = found else { return Err(AppError::NotFound) };
    sqlx::query!(
        "update users set email = $3, updated_at = $4 where org_id = $1 and user_id = $2",
        signed_in.org.0,
        signed_in.user_id,
        &email,
        now
    )
    .execute(tx.conn())
    .await
    .map_err(|e| {
        kernel::error::on_constraint(e, |name| {
            (name == "users_org_id_email_key").then(|| AppError::Conflict("email_taken".into()))
        })
    })?;
    sqlx::query!(
        "update email_changes set used_at = $3 where org_id = $1 and change_id = $2",
        signed_in.org.0,
        change_id,
        now
    )
    .execute(tx.conn())
    .await?;
    state.audit.record(&mut tx, AuditEvent::new("profile.email_changed").target("email_change", change_id)).await?;
    tx.commit().await?;
    Ok(())
}

// ------------------------------------------------------------------ pages

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    page: Page,
    email: String,
    first_name: String,
    last_name: String,
    job_title: String,
    language: String,
    pending_email: Option<String>,
    /// A message key confirming what was just done.
    done: Option<&'static str>,
    errors: FieldMessages,
}

impl ProfilePage {
    fn error(&self, field: &str) -> Option<String> {
        self.errors.for_field(&self.page, field)
    }

    fn languages(&self) -> [&'static str; 2] {
        [Lang::En.code(), Lang::Fr.code()]
    }
}

async fn render_profile(
    state: &AppState,
    signed_in: &SignedIn,
    status: StatusCode,
    done: Option<&'static str>,
    errors: Vec<FieldError>,
    typed: Option<&DetailsInput>,
) -> Result<Response, PageError> {
    let page = signed_in.page(state, PROFILE_PATH);
    let load = async {
        let mut tx = state.db.begin_org(signed_in.org, signed_in.actor()).await?;
        let me: Me = sqlx::query_as!(
            Me,
            "select email, first_name, last_name, job_title, language, password_hash
             from users where org_id = $1 and user_id = $2",
            signed_in.org.0,
            signed_in.user_id
        )
        .fetch_one(tx.conn())
        .await?;
        let pending: Option<String> = sqlx::query_scalar!(
            "select new_email from email_changes
             where org_id = $1 and user_id = $2 and used_at is null and revoked_at is null and expires_at > $3
             order by created_at desc limit 1",
            signed_in.org.0,
            signed_in.user_id,
            state.clock.now()
        )
        .fetch_optional(tx.conn())
        .await?;
        tx.commit().await?;
        Ok::<_, AppError>((me, pending))
    };
    let (me, pending_email) = load.await.map_err(|e| PageError::new(e, &page))?;
    let view = match typed {
        Some(input) => ProfilePage {
            page: page.clone(),
            email: me.email,
            first_name: input.first_name.clone(),
            last_name: input.last_name.clone(),
            job_title: input.job_title.clone(),
            language: input.language.clone(),
            pending_email,
            done,
            errors: FieldMessages(errors),
        },
        None => ProfilePage {
            page: page.clone(),
            email: me.email,
            first_name: me.first_name,
            last_name: me.last_name,
            job_title: me.job_title,
            language: me.language,
            pending_email,
            done,
            errors: FieldMessages(errors),
        },
    };
    let html = render(&view).map_err(|e| PageError::new(e, &page))?;
    Ok((status, [(header::CACHE_CONTROL, "no-store")], html).into_response())
}

#[derive(Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

/// `GET /settings/profile`.
pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let done = match query.done.as_deref() {
        Some("details") => Some("profile.saved"),
        Some("password") => Some("profile.password_changed"),
        Some("email_sent") => Some("profile.email_sent"),
        Some("email_changed") => Some("profile.email_changed"),
        _ => None,
    };
    render_profile(&state, &signed_in, StatusCode::OK, done, Vec::new(), None).await
}

#[derive(Deserialize)]
pub struct DetailsForm {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    input: DetailsInput,
}

/// `POST /settings/profile`: name, job title, language.
pub async fn details_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Form(form): Form<DetailsForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&state, &form.csrf)?;
    match update_details(&state, &signed_in, &form.input).await {
        Ok(()) => Ok(Redirect::to("/settings/profile?done=details").into_response()),
        Err(AppError::Validation(errors)) => {
            render_profile(&state, &signed_in, StatusCode::UNPROCESSABLE_ENTITY, None, errors, Some(&form.input)).await
        }
        Err(other) => Err(PageError::new(other, &signed_in.page(&state, PROFILE_PATH))),
    }
}

fn empty_secret() -> SecretString {
    SecretString::from("")
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default = "empty_secret")]
    current_password: SecretString,
    #[serde(default = "empty_secret")]
    new_password: SecretString,
}

/// `POST /settings/profile/password`.
pub async fn password_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&state, &form.csrf)?;
    match change_password(&state, &signed_in, form.current_password, form.new_password).await {
        Ok(()) => Ok(Redirect::to("/settings/profile?done=password").into_response()),
        Err(AppError::Validation(errors)) => {
            render_profile(&state, &signed_in, StatusCode::UNPROCESSABLE_ENTITY, None, errors, None).await
        }
        Err(other) => Err(PageError::new(other, &signed_in.page(&state, PROFILE_PATH))),
    }
}

#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    csrf: String,
    #[serde(default = "empty_secret")]
    email_current_password: SecretString,
    #[serde(default)]
    new_email: String,
}

/// `POST /settings/profile/email`: mails a confirmation link to the new address.
pub async fn email_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Form(form): Form<EmailForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&state, &form.csrf)?;
    match request_email_change(&state, &signed_in, form.email_current_password, &form.new_email).await {
        Ok(_) => Ok(Redirect::to("/settings/profile?done=email_sent").into_response()),
        Err(AppError::Validation(errors)) => {
            render_profile(&state, &signed_in, StatusCode::UNPROCESSABLE_ENTITY, None, errors, None).await
        }
        Err(other) => Err(PageError::new(other, &signed_in.page(&state, PROFILE_PATH))),
    }
}

#[derive(Template)]
#[template(path = "email_confirm.html")]
struct ConfirmPage {
    page: Page,
    email: String,
    action: String,
}

/// `GET /settings/profile/email/{token}`: asks to confirm (a prefetching mail scanner spends nothing).
pub async fn confirm_form(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(secret): Path<String>,
) -> Result<Response, PageError> {
    let action = format!("{PROFILE_PATH}/email/{secret}");
    let page = signed_in.page(&state, &action);
    let Some(email) = pending_change(&state, &signed_in, &secret).await.map_err(|e| PageError::new(e, &page))? else {
        return link_invalid(&page);
    };
    let view = ConfirmPage { page: page.clone(), email, action };
    Ok(no_store(StatusCode::OK, render(&view).map_err(|e| PageError::new(e, &page))?))
}

/// `POST /settings/profile/email/{token}`: changes the address.
pub async fn confirm_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(secret): Path<String>,
    Form(form): Form<crate::members::CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&state, form.csrf())?;
    let page = signed_in.page(&state, PROFILE_PATH);
    match confirm_email_change(&state, &signed_in, &secret).await {
        Ok(()) => Ok(Redirect::to("/settings/profile?done=email_changed").into_response()),
        Err(AppError::NotFound) => link_invalid(&page),
        Err(other) => Err(PageError::new(other, &page)),
    }
}
