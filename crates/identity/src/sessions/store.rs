//! SQL of a member's live sessions and API logins.

use super::*;
use kernel::OrgTx;

pub(super) async fn live_sessions(
    tx: &mut OrgTx,
    user: Uuid,
    now: OffsetDateTime,
    current: Option<Uuid>,
    page: &Page,
) -> Result<Vec<SessionView>, sqlx::Error> {
    let rows: Vec<SessionRow> = sqlx::query_as(
        "select session_id, created_at, last_seen_at, ip, user_agent from sessions
         where org_id = $1 and user_id = $2 and expires_at > $3
         order by last_seen_at desc, session_id",
    )
    .bind(tx.org())
    .bind(user)
    .bind(now)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| SessionView {
            id: row.session_id,
            created: when(&row.created_at),
            last_seen: when(&row.last_seen_at),
            ip: row.ip.map(|net| net.addr().to_string()).unwrap_or_default(),
            device: device_text(page, row.user_agent.as_deref()),
            current: Some(row.session_id) == current,
        })
        .collect())
}

/// Families none of whose tokens is revoked and whose newest token has not expired. "Last used"
/// is the last refresh; access-token use is not tracked.
pub(super) async fn live_families(
    tx: &mut OrgTx,
    user: Uuid,
    now: OffsetDateTime,
) -> Result<Vec<FamilyView>, sqlx::Error> {
    let rows: Vec<FamilyRow> = sqlx::query_as(
        "select family_id, min(created_at) as created_at, max(used_at) as last_used_at,
                least(max(expires_at), max(family_expires_at)) as expires_at
         from refresh_tokens
         where org_id = $1 and user_id = $2
         group by family_id
         having bool_and(revoked_at is null) and max(expires_at) > $3
         order by min(created_at) desc, family_id",
    )
    .bind(tx.org())
    .bind(user)
    .bind(now)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| FamilyView {
            id: row.family_id,
            created: when(&row.created_at),
            last_used: row.last_used_at.as_ref().map(when).unwrap_or_else(|| "—".into()),
            expires: when(&row.expires_at),
        })
        .collect())
}

pub(super) async fn member_name(tx: &mut OrgTx, user: Uuid) -> Result<Option<MemberName>, sqlx::Error> {
    sqlx::query_as("select first_name, last_name from users where org_id = $1 and user_id = $2")
        .bind(tx.org())
        .bind(user)
        .fetch_optional(tx.conn())
        .await
}
