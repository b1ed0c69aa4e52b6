//! SQL of the login history and the API request log, a keyset page at a time.

use super::*;
use kernel::OrgTx;

/// A page of the login history, newest first: the rows older than `before` (all, without it), one
/// more than [`PAGE_SIZE`] to tell whether older ones remain.
pub(super) async fn login_page(tx: &mut OrgTx, before: Option<Cursor>) -> Result<Vec<LoginRow>, sqlx::Error> {
    sqlx::query_as!(
        LoginRow,
        "select e.event_id, e.occurred_at, e.outcome, e.method, e.ip, e.user_agent, u.first_name, u.last_name
         from login_events e join users u on u.org_id = e.org_id and u.user_id = e.user_id
         where e.org_id = $1 and ($2::timestamptz is null or (e.occurred_at, e.event_id) < ($2, $3))
         order by e.occurred_at desc, e.event_id desc
         limit $4",
        tx.org().0,
        before.map(|c| c.at),
        before.map(|c| c.id),
        PAGE_SIZE as i64 + 1
    )
    .fetch_all(tx.conn())
    .await
}

/// A page of the API request log, like [`login_page`].
pub(super) async fn request_page(tx: &mut OrgTx, before: Option<Cursor>) -> Result<Vec<RequestRow>, sqlx::Error> {
    sqlx::query_as!(
        RequestRow,
        // `key_prefix?`: the left join leaves it null for requests made without an API key, which
        // the macro's nullability inference misses.
        r#"select r.request_id, r.at, r.method, r.route, r.status, r.credential, k.prefix as "key_prefix?", r.ip,
                u.first_name, u.last_name
         from api_request_log r
         join users u on u.org_id = r.org_id and u.user_id = r.user_id
         left join api_keys k on k.org_id = r.org_id and k.key_id = r.api_key_id
         where r.org_id = $1 and ($2::timestamptz is null or (r.at, r.request_id) < ($2, $3))
         order by r.at desc, r.request_id desc
         limit $4"#,
        tx.org().0,
        before.map(|c| c.at),
        before.map(|c| c.id),
        PAGE_SIZE as i64 + 1
    )
    .fetch_all(tx.conn())
    .await
}
