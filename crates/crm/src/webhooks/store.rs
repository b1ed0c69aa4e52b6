//! The SQL of webhooks: endpoints, their deliveries and attempts, and the queue jobs that carry them.

use kernel::jobs::NewJob;
use kernel::{AppError, OrgTx};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::jobs::Failure;
use super::{Delivery, Endpoint, JOB_KIND, SettledEndpoint};

// ---------------------------------------------------------------- endpoints

pub async fn endpoints(tx: &mut OrgTx) -> Result<Vec<Endpoint>, AppError> {
    Ok(sqlx::query_as!(
        Endpoint,
        "select endpoint_id, url, description, events, secret_hint, active, created_at, updated_at
           from webhook_endpoints where org_id = $1 order by created_at, endpoint_id",
        tx.org().0
    )
    .fetch_all(tx.conn())
    .await?)
}

pub async fn endpoint(tx: &mut OrgTx, id: Uuid) -> Result<Endpoint, AppError> {
    let found = sqlx::query_as!(
        Endpoint,
        "select endpoint_id, url, description, events, secret_hint, active, created_at, updated_at
           from webhook_endpoints where org_id = $1 and endpoint_id = $2",
        tx.org().0,
        id
    )
    .fetch_optional(tx.conn())
    .await?;
    found.ok_or(AppError::NotFound)
}

pub async fn count_endpoints(tx: &mut OrgTx) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar!(r#"select count(*) as "count!" from webhook_endpoints where org_id = $1"#, tx.org().0)
        .fetch_one(tx.conn())
        .await?)
}

/// Stores a new endpoint with its sealed secret and the hint that tells secrets apart.
pub async fn insert_endpoint(
    tx: &mut OrgTx,
    now: OffsetDateTime,
    id: Uuid,
    values: &SettledEndpoint,
    secret_sealed: Vec<u8>,
    secret_hint: &str,
    user: Uuid,
) -> Result<(), AppError> {
    sqlx::query!(
        "insert into webhook_endpoints (org_id, endpoint_id, url, description, events, secret_sealed, secret_hint,
                                        active, created_by, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        tx.org().0,
        id,
        &values.url,
        &values.description,
        &values.events,
        secret_sealed,
        secret_hint,
        values.active,
        user,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn update_endpoint(
    tx: &mut OrgTx,
    now: OffsetDateTime,
    id: Uuid,
    values: &SettledEndpoint,
) -> Result<(), AppError> {
    sqlx::query!(
        "update webhook_endpoints set url = $3, description = $4, events = $5, active = $6, updated_at = $7
          where org_id = $1 and endpoint_id = $2",
        tx.org().0,
        id,
        &values.url,
        &values.description,
        &values.events,
        values.active,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn delete_endpoint(tx: &mut OrgTx, id: Uuid) -> Result<(), AppError> {
    crate::records::delete_by_id(tx, "webhook_endpoints", "endpoint_id", id).await
}

/// The active endpoints subscribed to `event_type` (by name or with `*`).
pub async fn subscribed_endpoints(tx: &mut OrgTx, event_type: &str) -> Result<Vec<Uuid>, AppError> {
    Ok(sqlx::query_scalar!(
        "select endpoint_id from webhook_endpoints
          where org_id = $1 and active and ($2 = any(events) or '*' = any(events))",
        tx.org().0,
        event_type
    )
    .fetch_all(tx.conn())
    .await?)
}

// ---------------------------------------------------------------- deliveries

/// The endpoint's deliveries, newest first, `limit` before the cursor (a delivery id).
pub async fn deliveries(
    tx: &mut OrgTx,
    endpoint_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Delivery>, AppError> {
    // The last attempt comes through an outer join: none before the first attempt.
    Ok(sqlx::query_as!(
        Delivery,
        r#"select d.delivery_id, d.event_id, d.event_type, d.status, d.attempts, d.next_attempt_at, d.delivered_at,
                d.created_at, a.status_code as "last_status_code?", a.error as "last_error?",
                a.error_code as "last_error_code?"
           from webhook_deliveries d
           left join lateral (select status_code, error, error_code from webhook_attempts a
                               where a.org_id = d.org_id and a.delivery_id = d.delivery_id
                               order by attempt desc limit 1) a on true
          where d.org_id = $1 and d.endpoint_id = $2 and ($3::uuid is null or d.delivery_id < $3)
          order by d.delivery_id desc limit $4"#,
        tx.org().0,
        endpoint_id,
        before,
        limit
    )
    .fetch_all(tx.conn())
    .await?)
}

/// Stores one event for one endpoint, due now.
pub async fn insert_delivery(
    tx: &mut OrgTx,
    now: OffsetDateTime,
    delivery: Uuid,
    endpoint: Uuid,
    event_id: Uuid,
    event_type: &str,
    payload: &Value,
) -> Result<(), AppError> {
    sqlx::query!(
        "insert into webhook_deliveries (org_id, delivery_id, endpoint_id, event_id, event_type, payload,
                                         next_attempt_at, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $7)",
        tx.org().0,
        delivery,
        endpoint,
        event_id,
        event_type,
        payload,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn enqueue_attempt(
    tx: &mut OrgTx,
    now: OffsetDateTime,
    delivery: Uuid,
    attempt: i32,
    at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    // One job per attempt: the delivery keeps its own count and log, and a job that fails for a
    // reason of ours (the database) is retried by the queue without counting as an attempt.
    let job = NewJob {
        run_at: Some(at),
        max_attempts: 3,
        ..NewJob::new(JOB_KIND, format!("{delivery}:{attempt}"), json!({ "delivery_id": delivery }))
    };
    kernel::jobs::enqueue_at(tx, now, job).await?;
    Ok(())
}

/// A delivery the job is about to attempt, with what it needs of its endpoint.
pub struct Pending {
    pub endpoint_id: Uuid,
    pub event_type: String,
    pub payload: Value,
    pub status: String,
    pub attempts: i32,
    pub url: String,
    pub secret_sealed: Vec<u8>,
    pub active: bool,
}

/// The delivery with its endpoint, locked until the attempt is logged.
pub async fn lock_pending(tx: &mut OrgTx, delivery: Uuid) -> Result<Option<Pending>, sqlx::Error> {
    sqlx::query_as!(
        Pending,
        "select d.endpoint_id, d.event_type, d.payload, d.status, d.attempts, e.url, e.secret_sealed, e.active
           from webhook_deliveries d join webhook_endpoints e on e.org_id = d.org_id and e.endpoint_id = d.endpoint_id
          where d.org_id = $1 and d.delivery_id = $2 for update of d",
        tx.org().0,
        delivery
    )
    .fetch_optional(tx.conn())
    .await
}

/// Logs one attempt: the receiver's status code if it answered, and what failed (none when it
/// was delivered) as its code and its fixed English text.
pub async fn insert_attempt(
    tx: &mut OrgTx,
    now: OffsetDateTime,
    delivery: Uuid,
    attempt: i32,
    status_code: Option<u16>,
    failure: Option<Failure>,
    duration_ms: i32,
) -> Result<(), sqlx::Error> {
    let (code, error) = failure.map_or((String::new(), String::new()), |f| (f.code().to_string(), f.message()));
    sqlx::query!(
        "insert into webhook_attempts (org_id, attempt_id, delivery_id, attempt, status_code, error, duration_ms,
                                       attempted_at, error_code)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        tx.org().0,
        Uuid::now_v7(),
        delivery,
        attempt,
        status_code.map(i32::from),
        error,
        duration_ms,
        now,
        code
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn set_status(
    tx: &mut OrgTx,
    delivery: Uuid,
    status: &str,
    delivered_at: Option<OffsetDateTime>,
    next: Option<OffsetDateTime>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update webhook_deliveries set status = $3, delivered_at = coalesce($4, delivered_at), next_attempt_at = $5
          where org_id = $1 and delivery_id = $2",
        tx.org().0,
        delivery,
        status,
        delivered_at,
        next
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn set_attempts(tx: &mut OrgTx, delivery: Uuid, attempts: i32) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update webhook_deliveries set attempts = $3 where org_id = $1 and delivery_id = $2",
        tx.org().0,
        delivery,
        attempts
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}
