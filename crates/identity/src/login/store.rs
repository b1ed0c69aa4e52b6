//! SQL of the login history: one row per attempt, and the member's last login.

use super::*;
use kernel::web::ClientInfo;

/// Records a successful login (P0-03) in the transaction [`check_credentials`] opened.
pub async fn record_login_success(
    tx: &mut kernel::OrgTx,
    user_id: Uuid,
    method: &str,
    client: &ClientInfo,
    now: time::OffsetDateTime,
) -> Result<(), sqlx::Error> {
    insert_login_event(tx, user_id, "success", method, client, now).await?;
    sqlx::query!("update users set last_login_at = $3 where org_id = $1 and user_id = $2", tx.org().0, user_id, now)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// One row of `login_events`: who, when, how (`method`), from where (P0-03).
pub async fn insert_login_event(
    tx: &mut kernel::OrgTx,
    user_id: Uuid,
    outcome: &str,
    method: &str,
    client: &ClientInfo,
    now: time::OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into login_events (org_id, event_id, user_id, occurred_at, outcome, method, ip, user_agent)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
        tx.org().0,
        Uuid::now_v7(),
        user_id,
        now,
        outcome,
        method,
        client.ip.map(sqlx::types::ipnet::IpNet::from),
        client.user_agent.as_deref()
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}
