//! The CLI's commands (`relais admin create|list|disable`), the set-up link, checking a login, and
//! the backoffice's audit entries.

use super::*;
use kernel::db::Db;
use kernel::vault::Vault;
use serde_json::json;

use crate::model::{DUMMY_HASH, EmailAddress, verify_password};

pub(super) async fn audit_web(
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
    let existing =
        sqlx::query!("select admin_id, status from platform_admins where email = $1 for update", email.as_str())
            .fetch_optional(tx.conn())
            .await?
            .map(|row| (row.admin_id, row.status));
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
    sqlx::query!(
        "insert into platform_admin_setup_tokens (token_hash, admin_id, created_at, expires_at)
         values ($1, $2, $3, $4)",
        &token::hash(&token)[..],
        admin_id,
        now,
        expires_at
    )
    .execute(tx.conn())
    .await?;
    audit(tx.conn(), now, None, "cli", "platform.admin.created", Some(("platform_admin", admin_id)), json!({})).await?;
    tx.commit().await?;
    let setup_url = SecretString::from(format!("{public_origin}/admin/setup/{}", token.expose_secret()));
    Ok(CreatedAdmin { admin_id, setup_url, expires_at })
}

/// `relais admin list`.
pub async fn list_admins(db: &Db) -> anyhow::Result<Vec<AdminSummary>> {
    let mut tx = db.begin_platform("admin list").await?;
    let admins = sqlx::query_as!(
        AdminSummary,
        "select admin_id, email, status, created_at, last_login_at from platform_admins order by created_at"
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
    sqlx::query!("delete from platform_admin_sessions where admin_id = $1", admin_id).execute(tx.conn()).await?;
    sqlx::query!("delete from platform_admin_setup_tokens where admin_id = $1", admin_id).execute(tx.conn()).await?;
    audit(tx.conn(), now, None, "cli", "platform.admin.disabled", Some(("platform_admin", admin_id)), json!({}))
        .await?;
    tx.commit().await?;
    Ok(true)
}

pub(super) async fn resolve_setup(state: &AppState, token: &str) -> Result<Option<SetupRow>, AppError> {
    let hash = token::hash(&SecretString::from(token));
    let mut conn = state.db.platform_door().await?;
    Ok(setup_resolve(&mut conn, &hash, state.clock.now()).await?)
}

/// Why a login failed, for the audit log only: the person sees one answer for all.
pub(super) async fn check_login(
    state: &AppState,
    email: &str,
    password: SecretString,
    code: &str,
) -> Result<Result<(Uuid, SecretString), (Option<Uuid>, &'static str)>, AppError> {
    let mut conn = state.db.platform_door().await?;
    let candidate = login_candidate(&mut conn, email).await?;
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
    if !open_session(&mut conn, candidate.admin_id, step_i64(step), &token::hash(&token), now).await? {
        // The code's time step was already used (a replay), or the admin was disabled meanwhile.
        return Ok(Err((id, "code_replayed")));
    }
    Ok(Ok((candidate.admin_id, token)))
}

/// Spends a setup link and activates its admin with `password_hash` and the TOTP `step` that proved
/// the enrollment, audited `platform.admin.setup_completed`: the admin, or `None` when the link no
/// longer works.
pub(super) async fn complete_setup(
    state: &AppState,
    token: &str,
    password_hash: &str,
    step: u64,
) -> Result<Option<Uuid>, AppError> {
    let now = state.clock.now();
    let mut conn = state.db.platform_door().await?;
    let token_hash = token::hash(&SecretString::from(token));
    let Some(admin_id) = setup_complete(&mut conn, &token_hash, now, password_hash, step_i64(step)).await? else {
        return Ok(None);
    };
    audit(&mut conn, now, Some(admin_id), "admin", "platform.admin.setup_completed", None, json!({ "mfa": "totp" }))
        .await?;
    Ok(Some(admin_id))
}

/// An admin's login with email, password and TOTP code: the new session's token, audited
/// `platform.admin.login.succeeded`; or `None` for any failure, audited
/// `platform.admin.login.failed` with its reason (the person sees one answer for all).
pub(super) async fn log_in(
    state: &AppState,
    email: &str,
    password: SecretString,
    code: &str,
) -> Result<Option<SecretString>, AppError> {
    match check_login(state, email, password, code).await? {
        Ok((admin_id, token)) => {
            audit_web(state, Some(admin_id), "platform.admin.login.succeeded", None, json!({ "mfa": "totp" })).await?;
            Ok(Some(token))
        }
        Err((admin, reason)) => {
            let target = admin.map(|id| ("platform_admin", id));
            audit_web(state, None, "platform.admin.login.failed", target, json!({ "reason": reason })).await?;
            Ok(None)
        }
    }
}

/// Ends the admin's session, audited `platform.admin.logout`.
pub(super) async fn log_out(state: &AppState, admin: &AdminSignedIn) -> Result<(), AppError> {
    let mut conn = state.db.platform_door().await?;
    end_session(&mut conn, admin.session_id).await?;
    audit(&mut conn, state.clock.now(), Some(admin.admin_id), "admin", "platform.admin.logout", None, json!({}))
        .await?;
    Ok(())
}

/// Suspends (`suspend`) or reactivates an organization, audited `platform.org.suspended` or
/// `platform.org.reactivated`: false when the organization does not exist or is closed.
pub(super) async fn change_org_status(
    state: &AppState,
    admin: &AdminSignedIn,
    org_id: Uuid,
    suspend: bool,
) -> Result<bool, AppError> {
    let mut conn = state.db.platform_door().await?;
    if !set_org_status(&mut conn, org_id, suspend).await? {
        return Ok(false);
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
    .await?;
    Ok(true)
}
