//! SQL of the home page's team panel.

use kernel::OrgTx;
use time::OffsetDateTime;

/// The organization's active members and how many of them are locked out at `now`.
pub(super) async fn member_counts(tx: &mut OrgTx, now: OffsetDateTime) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query!(
        r#"select count(*) filter (where status = 'active') as "active!",
                  count(*) filter (where locked_until > $2) as "locked!"
             from users where org_id = $1"#,
        tx.org().0,
        now
    )
    .fetch_one(tx.conn())
    .await?;
    Ok((row.active, row.locked))
}
