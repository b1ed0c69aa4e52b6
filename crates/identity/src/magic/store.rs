//! SQL of the emailed sign-in links and codes.

use super::*;
use kernel::web::ClientInfo;
use sqlx::types::ipnet::IpNet;
use time::OffsetDateTime;

/// Spends the row in a transaction acting as its member: `false` if it no longer works (used,
/// burned, expired, or a concurrent request spent it first).
pub(super) async fn spend(
    tx: &mut kernel::OrgTx,
    magic_id: Uuid,
    method: Method,
    client: &ClientInfo,
    now: OffsetDateTime,
) -> Result<bool, AppError> {
    let spent = sqlx::query(sqlx::AssertSqlSafe(format!(
        "update magic_logins m set used_at = $3, used_ip = $4, used_method = $5
         from users u
         where m.org_id = $1 and m.magic_id = $2 and u.org_id = m.org_id and u.user_id = m.user_id and {LIVE}"
    )))
    .bind(tx.org())
    .bind(magic_id)
    .bind(now)
    .bind(client.ip.map(IpNet::from))
    .bind(method.as_str())
    .execute(tx.conn())
    .await?;
    Ok(spent.rows_affected() == 1)
}
