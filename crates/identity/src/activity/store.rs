//! SQL of the login history and the API request log, a keyset page at a time.

use super::*;
use kernel::OrgTx;

pub(super) async fn login_page(tx: &mut OrgTx, before: Option<Cursor>) -> Result<Vec<LoginRow>, sqlx::Error> {
    sqlx::query_as(
        "select e.event_id, e.occurred_at, e.outcome, e.method, e.ip, e.user_agent, u.first_name, u.last_name
         from login_events e join users u on u.org_id = e.org_id and u.user_id = e.user_id
         where e.org_id = $1 and ($2::timestamptz is null or (e.occurred_at, e.event_id) < ($2, $3))
         order by e.occurred_at desc, e.event_id desc
         limit $4",
    )
    .bind(tx.org())
    .bind(before.map(|c| c.at))
    .bind(before.map(|c| c.id))
    .bind(PAGE_SIZE as i64 + 1)
    .fetch_all(tx.conn())
    .await
}

pub(super) async fn request_page(tx: &mut OrgTx, before: Option<Cursor>) -> Result<Vec<RequestRow>, sqlx::Error> {
    sqlx::query_as(
        "select r.request_id, r.at, r.method, r.route, r.status, r.credential, k.prefix as key_prefix, r.ip,
                u.first_name, u.last_name
         from api_request_log r
         join users u on u.org_id = r.org_id and u.user_id = r.user_id
         left join api_keys k on k.org_id = r.org_id and k.key_id = r.api_key_id
         where r.org_id = $1 and ($2::timestamptz is null or (r.at, r.request_id) < ($2, $3))
         order by r.at desc, r.request_id desc
         limit $4",
    )
    .bind(tx.org())
    .bind(before.map(|c| c.at))
    .bind(before.map(|c| c.id))
    .bind(PAGE_SIZE as i64 + 1)
    .fetch_all(tx.conn())
    .await
}
