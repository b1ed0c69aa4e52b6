//! Issuing token pairs, rotating refresh tokens (with reuse detection), and authenticating an access
//! token.

use super::*;
use crate::doors::IdentityDoors;
use kernel::audit::AuditEvent;
use kernel::authz::{Credential, Principal};
use kernel::db::Actor;
use kernel::web::ClientInfo;
use kernel::{OrgTx, ratelimit, token};
use serde_json::json;

use crate::login::{self, Authenticated, LoginInput};

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
    sqlx::query!(
        "insert into refresh_tokens (org_id, token_id, family_id, user_id, token_hash, created_at,
                                     expires_at, family_expires_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
        tx.org().0,
        Uuid::now_v7(),
        family,
        user,
        &token::hash(&refresh)[..],
        now,
        std::cmp::min(now + REFRESH_IDLE_TIMEOUT, family_expires),
        family_expires
    )
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

/// [`issue_tokens`] with the second factor: a member with MFA must send a valid TOTP `otp` (`mfa`).
pub async fn issue_tokens_with_otp(
    state: &AppState,
    input: LoginInput,
    otp: Option<&SecretString>,
    client: &ClientInfo,
) -> Result<TokenPair, AppError> {
    ratelimit::check(state, &ratelimit::TOKEN_PER_IP, ratelimit::Subject::Ip(client)).await?;
    let authenticated = login::check_credentials(state, &input, client).await?;
    let Authenticated { mut tx, user_id, now, .. } =
        crate::mfa::second_factor_for_api(state, authenticated, otp, client).await?;
    let role: String =
        sqlx::query_scalar!("select org_role from users where org_id = $1 and user_id = $2", tx.org().0, user_id)
            .fetch_one(tx.conn())
            .await?;
    let role = Role::parse(&role).ok_or_else(|| AppError::Internal(anyhow::anyhow!("unknown role {role}")))?;
    let (family, pair) = start_family(state, &mut tx, user_id, role, now).await?;
    login::record_login_success(&mut tx, user_id, "password", client, now).await?;
    state.audit.record(&mut tx, AuditEvent::new("auth.api_token.issued").target("token_family", family)).await?;
    tx.commit().await?;
    Ok(pair)
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

/// Tells a member that one of their refresh tokens was used twice — someone else may hold a copy
/// — and that every device signed in with it through the API was signed out. Queued in the
/// caller's transaction (`kernel::mail`), so the notice goes out exactly when the revocation
/// commits. A deactivated member gets no mail.
pub async fn notify_refresh_reuse(state: &AppState, tx: &mut OrgTx, user: Uuid) -> Result<(), AppError> {
    crate::notify::security_notice(state, tx, user, "mail.refresh_reuse", &[]).await
}

/// Ends one API login (the refresh family of the caller's access token), audited `auth.api_logout`.
pub async fn log_out_api(state: &AppState, principal: &Principal, family_id: Uuid) -> Result<(), AppError> {
    let mut tx = principal.begin(&state.db).await?;
    revoke_family(&mut tx, family_id, state.clock.now()).await?;
    state.audit.record(&mut tx, AuditEvent::new("auth.api_logout").target("token_family", family_id)).await?;
    tx.commit().await?;
    Ok(())
}

/// Ends every API token and every browser session of the caller, audited `auth.logout_everywhere`.
pub async fn log_out_everywhere(state: &AppState, principal: &Principal) -> Result<(), AppError> {
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
    revoke_all_api_tokens(&mut tx, principal.user_id, now).await?;
    sqlx::query!("delete from sessions where org_id = $1 and user_id = $2", principal.org.0, principal.user_id)
        .execute(tx.conn())
        .await?;
    state.audit.record(&mut tx, AuditEvent::new("auth.logout_everywhere").target("user", principal.user_id)).await?;
    tx.commit().await?;
    Ok(())
}
