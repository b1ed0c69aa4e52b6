//! Ending every session and API login of a member, audited.

use super::*;
use kernel::audit::AuditEvent;
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
    let ended = sqlx::query("delete from sessions where org_id = $1 and user_id = $2")
        .bind(tx.org())
        .bind(member)
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
