//! SQL of the dashboard.

use super::*;
use kernel::OrgTx;
use time::OffsetDateTime;

/// The organization's members, owners first, with any lock still running at `now`.
pub(super) async fn members(tx: &mut OrgTx, now: OffsetDateTime) -> Result<Vec<MemberRow>, sqlx::Error> {
    sqlx::query_as!(
        MemberRow,
        "select user_id, first_name, last_name, email, job_title, org_role, last_login_at,
                case when locked_until > $2 then locked_until end as locked_until
         from users where org_id = $1
         order by case org_role when 'owner' then 0 when 'manager' then 1 else 2 end, last_name, first_name",
        tx.org().0,
        now
    )
    .fetch_all(tx.conn())
    .await
}

/// The organization's 20 latest sign-in attempts, newest first.
pub(super) async fn latest_logins(tx: &mut OrgTx) -> Result<Vec<LoginRow>, sqlx::Error> {
    sqlx::query_as!(
        LoginRow,
        "select e.occurred_at, e.outcome, e.ip, e.user_agent, u.first_name, u.last_name
         from login_events e join users u on u.org_id = e.org_id and u.user_id = e.user_id
         where e.org_id = $1
         order by e.occurred_at desc limit 20",
        tx.org().0
    )
    .fetch_all(tx.conn())
    .await
}
