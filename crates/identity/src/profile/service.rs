//! Changes to one's own profile: details, password, email address — each audited.

use super::*;
use kernel::audit::AuditEvent;
use kernel::authz::Principal;
use kernel::i18n::{Lang, T};
use kernel::mail::{self, OutgoingMail};
use kernel::web::AppState;
use kernel::{AppError, FieldError, ratelimit};
use secrecy::ExposeSecret;
use serde_json::json;
use uuid::Uuid;

use crate::model::{EmailAddress, JobTitle, Password, PersonName, hash_password, verify_password};
use crate::signed_in::SignedIn;

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

pub async fn update_details(
    state: &AppState,
    signed_in: &SignedIn,
    principal: &Principal,
    input: &DetailsInput,
) -> Result<(), AppError> {
    let mut errors = Vec::new();
    let first_name = PersonName::parse("first_name", &input.first_name).map_err(|e| errors.push(e)).ok();
    let last_name = PersonName::parse("last_name", &input.last_name).map_err(|e| errors.push(e)).ok();
    let job_title = JobTitle::parse("job_title", &input.job_title).map_err(|e| errors.push(e)).ok();
    let language = Lang::parse(&input.language);
    if language.is_none() {
        errors.push(FieldError::new("language", "invalid", "Choose a language."));
    }
    // The same rule as the CRM's `time_zone` values: a name of the tz database.
    let time_zone = match input.time_zone.as_deref().map(str::trim) {
        None => None,
        Some(name) => match kernel::dates::zone(name) {
            Some(tz) => Some(tz.name()),
            None => {
                errors.push(FieldError::new(
                    "time_zone",
                    "invalid_time_zone",
                    "Use a time zone name such as Europe/Paris.",
                ));
                None
            }
        },
    };
    let (Some(first_name), Some(last_name), Some(job_title), Some(language), true) =
        (first_name, last_name, job_title, language, errors.is_empty())
    else {
        return Err(AppError::Validation(errors));
    };
    let mut tx = principal.begin(&state.db).await?;
    let me = lock_me(&mut tx, signed_in.user_id).await?;
    let time_zone = time_zone.unwrap_or(me.time_zone.as_str()).to_string();
    let mut changed = Vec::new();
    for (name, old, new) in [
        ("first_name", &me.first_name, first_name.as_str()),
        ("last_name", &me.last_name, last_name.as_str()),
        ("job_title", &me.job_title, job_title.as_str()),
        ("language", &me.language, language.code()),
        ("time_zone", &me.time_zone, time_zone.as_str()),
    ] {
        if old != new {
            changed.push(name);
        }
    }
    if changed.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "update users set first_name = $3, last_name = $4, job_title = $5, language = $6, updated_at = $7,
                          time_zone = $8
         where org_id = $1 and user_id = $2",
        signed_in.org.0,
        signed_in.user_id,
        first_name.as_str(),
        last_name.as_str(),
        job_title.as_str(),
        language.code(),
        state.clock.now(),
        time_zone
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
    principal: &Principal,
    current: SecretString,
    new: SecretString,
) -> Result<(), AppError> {
    let mut errors = Vec::new();
    let password = Password::parse("new_password", new).map_err(|e| errors.push(e)).ok();
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
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
    crate::api_tokens::revoke_all_api_tokens(&mut tx, signed_in.user_id, now).await?;
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
    principal: &Principal,
    current: SecretString,
    new_email: &str,
) -> Result<Uuid, AppError> {
    let mut errors = Vec::new();
    let email = EmailAddress::parse("new_email", new_email).map_err(|e| errors.push(e)).ok();
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
    let me = lock_me(&mut tx, signed_in.user_id).await?;
    if let Some(error) = reauthenticate(state, &me, "email_current_password", &current).await? {
        errors.insert(0, error);
    }
    if let Some(email) = &email {
        if email.as_str() == me.email {
            errors.push(FieldError::new("new_email", "same_email", "This is already your email address."));
        } else {
            let taken = crate::members::email_taken(&mut tx, email.as_str()).await?;
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

/// Whether `secret` is a live confirmation link of the signed-in member (spends nothing).
pub(super) async fn pending_change(
    state: &AppState,
    signed_in: &SignedIn,
    principal: &Principal,
    secret: &str,
) -> Result<Option<String>, AppError> {
    let Some(hash) = live_token(secret) else { return Ok(None) };
    let mut tx = principal.begin(&state.db).await?;
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
pub async fn confirm_email_change(
    state: &AppState,
    signed_in: &SignedIn,
    principal: &Principal,
    secret: &str,
) -> Result<(), AppError> {
    let Some(hash) = live_token(secret) else { return Err(AppError::NotFound) };
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
    let found = sqlx::query!(
        "select change_id, new_email from email_changes
         where org_id = $1 and user_id = $2 and token_hash = $3
           and used_at is null and revoked_at is null and expires_at > $4
         for update",
        signed_in.org.0,
        signed_in.user_id,
        hash.as_slice(),
        now
    )
    .fetch_optional(tx.conn())
    .await?;
    let Some((change_id, email)) = found.map(|row| (row.change_id, row.new_email)) else {
        return Err(AppError::NotFound);
    };
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

/// Saves the language a signed-in member switched to (`POST /lang`).
pub async fn save_language(state: &AppState, signed_in: &SignedIn, lang: Lang) -> Result<(), AppError> {
    let mut tx = state.db.begin_member(signed_in.org, signed_in.user_id, signed_in.role).await?;
    set_language(&mut tx, signed_in.user_id, lang.code(), state.clock.now()).await?;
    tx.commit().await?;
    Ok(())
}
