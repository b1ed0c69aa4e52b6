//! Asking for reset links and setting a new password through one.

use super::*;
use crate::doors::IdentityDoors;
use kernel::audit::AuditEvent;
use kernel::db::Actor;
use kernel::i18n::{Lang, T};
use kernel::mail::{self, OutgoingMail};
use kernel::web::AppState;
use kernel::{AppError, token};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use time::OffsetDateTime;

use crate::model::{EmailAddress, Password, hash_password};

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

/// The link's reset if it is unexpired, unused and its account active; `None` otherwise.
pub(super) async fn live_reset(state: &AppState, secret: &str) -> Result<Option<LiveReset>, AppError> {
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
    crate::api_tokens::revoke_all_api_tokens(&mut tx, reset.user, state.clock.now()).await?;
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
