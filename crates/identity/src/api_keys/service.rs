//! Authenticating an API key; creating, listing and revoking keys (audited).

use super::*;
use crate::doors::IdentityDoors;
use kernel::audit::AuditEvent;
use kernel::authz::{Credential, Principal};
use kernel::db::Actor;
use kernel::web::AppState;
use serde_json::json;

/// The member an API key acts for, with the lesser of the key's scope and their current role;
/// `None` for an unknown, revoked or expired key, or one whose creator is no longer active.
pub async fn authenticate_api_key(state: &AppState, key: &str) -> Result<Option<Principal>, AppError> {
    if !well_formed(key) {
        return Ok(None);
    }
    let hash = token::hash(&SecretString::from(key));
    let Some((org, key_id)) = state.db.resolve_api_key(&hash).await? else { return Ok(None) };
    let now = state.clock.now();
    let mut tx = state.db.begin_org(org, Actor::Anonymous).await?;
    let holder: Option<KeyHolder> = sqlx::query_as!(
        KeyHolder,
        "select k.created_by, k.scope, k.expires_at, k.revoked_at, k.last_used_at, u.org_role, u.status
         from api_keys k join users u on u.org_id = k.org_id and u.user_id = k.created_by
         where k.org_id = $1 and k.key_id = $2",
        org.0,
        key_id
    )
    .fetch_optional(tx.conn())
    .await?;
    let Some(holder) = holder else { return Ok(None) };
    let live = holder.revoked_at.is_none() && holder.expires_at.is_none_or(|at| at > now) && holder.status == "active";
    let (Some(scope), Some(current), true) = (Role::parse(&holder.scope), Role::parse(&holder.org_role), live) else {
        return Ok(None);
    };
    // Recorded at most once a minute: useful for "unused keys" without a write per request.
    if holder.last_used_at.is_none_or(|at| now - at >= time::Duration::minutes(1)) {
        sqlx::query!("update api_keys set last_used_at = $3 where org_id = $1 and key_id = $2", org.0, key_id, now)
            .execute(tx.conn())
            .await?;
    }
    tx.commit().await?;
    Ok(Some(Principal {
        org,
        user_id: holder.created_by,
        role: scope.min(current),
        credential: Credential::ApiKey { key_id },
    }))
}

pub async fn create(state: &AppState, principal: &Principal, input: NewApiKeyInput) -> Result<CreatedApiKey, AppError> {
    let now = state.clock.now();
    let valid = validate(&input, principal.role, now)?;
    let key = generate_key();
    let key_id = Uuid::now_v7();
    let mut tx = principal.begin(&state.db).await?;
    sqlx::query!(
        "insert into api_keys (org_id, key_id, created_by, name, scope, prefix, key_hash, created_at, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        principal.org.0,
        key_id,
        principal.user_id,
        &valid.name,
        valid.scope.as_str(),
        &key.prefix,
        &token::hash(&key.secret)[..],
        now,
        valid.expires_at
    )
    .execute(tx.conn())
    .await?;
    state
        .audit
        .record(
            &mut tx,
            AuditEvent::new("api_key.created")
                .target("api_key", key_id)
                .payload(json!({ "scope": valid.scope.as_str(), "expires": valid.expires_at.is_some() })),
        )
        .await?;
    tx.commit().await?;
    Ok(CreatedApiKey {
        id: key_id,
        key: key.secret.expose_secret().to_owned(),
        prefix: key.prefix,
        name: valid.name,
        role: valid.scope,
        created_at: now,
        expires_at: valid.expires_at,
    })
}

/// The organization's keys that are not revoked, newest first (expired ones included, marked by
/// their expiry).
pub async fn list(state: &AppState, principal: &Principal) -> Result<Vec<ApiKeySummary>, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let keys = sqlx::query_as!(
        ApiKeySummary,
        r#"select k.key_id as id, k.prefix, k.name, k.scope as role, k.created_by,
                u.first_name || ' ' || u.last_name as "created_by_name!",
                k.created_at, k.last_used_at, k.expires_at
         from api_keys k join users u on u.org_id = k.org_id and u.user_id = k.created_by
         where k.org_id = $1 and k.revoked_at is null
         order by k.created_at desc"#,
        principal.org.0
    )
    .fetch_all(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(keys)
}

/// Revokes a key at once. Not found if it does not exist or is already revoked.
pub async fn revoke(state: &AppState, principal: &Principal, key_id: Uuid) -> Result<(), AppError> {
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
    let revoked = sqlx::query!(
        "update api_keys set revoked_at = $3 where org_id = $1 and key_id = $2 and revoked_at is null",
        principal.org.0,
        key_id,
        now
    )
    .execute(tx.conn())
    .await?
    .rows_affected();
    if revoked == 0 {
        return Err(AppError::NotFound);
    }
    state.audit.record(&mut tx, AuditEvent::new("api_key.revoked").target("api_key", key_id)).await?;
    tx.commit().await?;
    Ok(())
}
