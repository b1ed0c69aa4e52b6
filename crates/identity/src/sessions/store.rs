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
    let rows: Vec<SessionRow> = sqlx::query_as!(
        SessionRow,
        "select session_id, created_at, last_seen_at, ip, user_agent from sessions
         where org_id = $1 and user_id = $2 and expires_at > $3
         order by last_seen_at desc, session_id",
        tx.org().0,
        user,
        now
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| SessionView {
            id: row.session_id,
            created: page.date_time(&row.created_at),
            last_seen: page.date_time(&row.last_seen_at),
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
    page: &Page,
) -> Result<Vec<FamilyView>, sqlx::Error> {
    let rows: Vec<FamilyRow> = sqlx::query_as!(
        FamilyRow,
        r#"select family_id, min(created_at) as "created_at!", max(used_at) as last_used_at,
                least(max(expires_at), max(family_expires_at)) as "expires_at!"
         from refresh_tokens
         where org_id = $1 and user_id = $2
         group by family_id
         having bool_and(revoked_at is null) and max(expires_at) > $3
         order by min(created_at) desc, family_id"#,
        tx.org().0,
        user,
        now
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| FamilyView {
            id: row.family_id,
            created: page.date_time(&row.created_at),
            last_used: row.last_used_at.map_or_else(|| "—".into(), |at| page.date_time(&at)),
            expires: page.date_time(&row.expires_at),
        })
        .collect())
}

pub(super) async fn member_name(tx: &mut OrgTx, user: Uuid) -> Result<Option<MemberName>, sqlx::Error> {
    sqlx::query_as!(
        MemberName,
        "select first_name, last_name from users where org_id = $1 and user_id = $2",
        tx.org().0,
        user
    )
    .fetch_optional(tx.conn())
    .await
}

/// Deletes `user`'s browser session `session_id`: how many rows went (none if it is not theirs).
pub(super) async fn delete_own_session(tx: &mut OrgTx, user: Uuid, session_id: Uuid) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query!(
        "delete from sessions where org_id = $1 and session_id = $2 and user_id = $3",
        tx.org().0,
        session_id,
        user
    )
    .execute(tx.conn())
    .await?
    .rows_affected())
}

/// Whether `family` is one of `user`'s refresh-token families and none of its tokens is revoked.
pub(super) async fn family_is_live(tx: &mut OrgTx, user: Uuid, family: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select exists (select from refresh_tokens
                          where org_id = $1 and family_id = $2 and user_id = $3 and revoked_at is null) as "live!""#,
        tx.org().0,
        family,
        user
    )
    .fetch_one(tx.conn())
    .await
}
