//! SQL of the members page: the members within the viewer's reach, and pending invitations.

use super::*;
use crate::members::{Reach, reach_condition};
use kernel::OrgTx;

/// The members `me` reaches (`members::reach`), owners first. Dynamic SQL: the reach condition is
/// one text shared with `members` (`reach_condition`), assembled here with its parameter numbers.
pub(super) async fn members_within_reach(
    tx: &mut OrgTx,
    me: Uuid,
    reach: &Reach,
) -> Result<Vec<MemberRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select u.first_name, u.last_name, u.email, u.job_title, u.org_role from users u where u.org_id = $1 and {}
         order by case u.org_role when 'owner' then 0 when 'manager' then 1 else 2 end, u.last_name, u.first_name",
        reach_condition("$2", "$3")
    )))
    .bind(tx.org())
    .bind(reach.department_filter())
    .bind(me)
    .fetch_all(tx.conn())
    .await
}

/// The organization's invitations not yet accepted, withdrawn or expired at `now`, oldest first.
pub(super) async fn pending(tx: &mut OrgTx, now: OffsetDateTime) -> Result<Vec<PendingRow>, sqlx::Error> {
    sqlx::query_as!(
        PendingRow,
        r#"select i.invitation_id, i.email, i.org_role, i.expires_at,
                  u.first_name || ' ' || u.last_name as "inviter_name!"
           from invitations i join users u on u.org_id = i.org_id and u.user_id = i.invited_by
           where i.org_id = $1 and i.accepted_at is null and i.revoked_at is null and i.expires_at > $2
           order by i.created_at"#,
        tx.org().0,
        now
    )
    .fetch_all(tx.conn())
    .await
}
