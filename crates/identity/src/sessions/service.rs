//! Ending one of one's own sessions or API logins, or every one of a member's — each audited.

use super::*;
use kernel::audit::AuditEvent;
use kernel::authz::Principal;
use kernel::web::AppState;
use kernel::{AppError, OrgTx};
use serde_json::json;

/// Deletes every browser session of `member` and revokes every API token of theirs, in `tx`;
/// audited `member.sessions_ended`. Returns how many browser sessions ended.
pub async fn end_all_sessions(
    state: &AppState,
    tx: &mut OrgTx,
    member: Uuid,
    now: OffsetDateTime,
) -> Result<u64, AppError> {
    let ended = sqlx::query!("delete from sessions where org_id = $1 and user_id = $2", tx.org().0, member)
        .execute(tx.conn())
        .await?
        .rows_affected();
    crate::api_tokens::revoke_all_api_tokens(tx, member, now).await?;
    state
        .audit
        .record(
            tx,
            AuditEvent::new("member.sessions_ended").target("user", member).payload(json!({ "sessions": ended })),
        )
        .await?;
    Ok(ended)
}

/// Ends one of the caller's own browser sessions, audited `session.revoked`. `NotFound` when the
/// session is not theirs (or does not exist).
pub async fn end_own_session(state: &AppState, principal: &Principal, session_id: Uuid) -> Result<(), AppError> {
    let mut tx = principal.begin(&state.db).await?;
    if delete_own_session(&mut tx, principal.user_id, session_id).await? == 0 {
        return Err(AppError::NotFound);
    }
    state.audit.record(&mut tx, AuditEvent::new("session.revoked").target("session", session_id)).await?;
    tx.commit().await?;
    Ok(())
}

/// Ends one of the caller's own API logins (a refresh family and its access tokens), audited
/// `auth.api_token.revoked`. `NotFound` when the family is not theirs or is already revoked.
pub async fn end_own_api_login(
    state: &AppState,
    principal: &Principal,
    family: Uuid,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    let mut tx = principal.begin(&state.db).await?;
    if !family_is_live(&mut tx, principal.user_id, family).await? {
        return Err(AppError::NotFound);
    }
    crate::api_tokens::revoke_family(&mut tx, family, now).await?;
    state.audit.record(&mut tx, AuditEvent::new("auth.api_token.revoked").target("token_family", family)).await?;
    tx.commit().await?;
    Ok(())
}
