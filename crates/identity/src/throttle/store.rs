//! SQL of the lockout: the failure count and the lock on the member's row.

use kernel::OrgTx;
use time::OffsetDateTime;
use uuid::Uuid;

/// Until when the account is locked at `now`, if it is; holds the member's row until the end of
/// the transaction so a concurrent failure or unlock waits for it.
pub(crate) async fn locked_until(
    tx: &mut OrgTx,
    user: Uuid,
    now: OffsetDateTime,
) -> Result<Option<OffsetDateTime>, sqlx::Error> {
    let until: Option<Option<OffsetDateTime>> = sqlx::query_scalar!(
        "select locked_until from users where org_id = $1 and user_id = $2 for update",
        tx.org().0,
        user
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(until.flatten().filter(|until| *until > now))
}

/// A successful login: the count starts again and any lock is gone.
pub(crate) async fn reset(tx: &mut OrgTx, user: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update users set failed_logins = 0, locked_until = null
         where org_id = $1 and user_id = $2 and (failed_logins <> 0 or locked_until is not null)",
        tx.org().0,
        user
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The account's consecutive failures and lock, its row locked until the end of the transaction;
/// `None` for an unknown member.
pub(super) async fn lock_failures(
    tx: &mut OrgTx,
    user: Uuid,
) -> Result<Option<(i32, Option<OffsetDateTime>)>, sqlx::Error> {
    let row = sqlx::query!(
        "select failed_logins, locked_until from users where org_id = $1 and user_id = $2 for update",
        tx.org().0,
        user
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(|row| (row.failed_logins, row.locked_until)))
}
