//! SQL of the platform audit log (through its door).

use super::*;
use sqlx::PgConnection;

/// Appends to the platform audit log through its door (any pool: the owner at the CLI, the
/// request role on the web). Payloads carry pseudonymous ids only.
#[allow(clippy::too_many_arguments)]
pub(super) async fn audit(
    conn: &mut PgConnection,
    now: OffsetDateTime,
    actor: Option<Uuid>,
    actor_kind: &str,
    action: &str,
    target: Option<(&str, Uuid)>,
    payload: Value,
) -> Result<(), sqlx::Error> {
    sqlx::query("select app.platform_audit_append($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(Uuid::now_v7())
        .bind(now)
        .bind(actor_kind)
        .bind(actor)
        .bind(action)
        .bind(target.map(|t| t.0))
        .bind(target.map(|t| t.1))
        .bind(payload)
        .execute(conn)
        .await?;
    Ok(())
}
