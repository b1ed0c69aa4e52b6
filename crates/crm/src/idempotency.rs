//! `Idempotency-Key` on creating POSTs (issue #4 item 11): a retried request with the same key
//! and the same body gets the first answer again instead of creating a second record.
//!
//! The key is claimed inside the caller's tenant transaction, before the record is written, and
//! the answer is stored in that same transaction: either both exist or neither does. A concurrent
//! retry waits on the key's unique index until the first commits, then replays its answer; if the
//! first fails, its claim rolls back with it and the retry runs afresh.

use axum::http::{HeaderMap, StatusCode};
use kernel::{AppError, OrgTx};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

pub const HEADER: &str = "idempotency-key";
/// How long a key is remembered.
pub const KEPT_FOR: Duration = Duration::hours(24);

/// What the caller should do with its request.
pub enum Claim {
    /// No key: just run.
    None,
    /// A new key, claimed in the transaction: run, then [`store`] the answer.
    Fresh(String),
    /// The same request came before: answer this again.
    Replay(StatusCode, Value),
}

fn key_of(headers: &HeaderMap) -> Result<Option<String>, AppError> {
    let Some(value) = headers.get(HEADER) else { return Ok(None) };
    let key = value.to_str().unwrap_or_default().trim();
    if key.is_empty() || key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AppError::field(
            "Idempotency-Key",
            "invalid_idempotency_key",
            "Use 1 to 200 visible ASCII characters, e.g. a UUID.",
        ));
    }
    Ok(Some(key.to_string()))
}

fn fingerprint(route: &str, body: &Value) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(route.as_bytes());
    hasher.update([0]);
    // serde_json's map is ordered by key, so equal bodies hash equally whatever their key order.
    hasher.update(body.to_string().as_bytes());
    hasher.finalize().to_vec()
}

pub async fn claim(
    tx: &mut OrgTx,
    headers: &HeaderMap,
    user: Uuid,
    route: &str,
    body: &Value,
    now: OffsetDateTime,
) -> Result<Claim, AppError> {
    let Some(key) = key_of(headers)? else { return Ok(Claim::None) };
    let hash = fingerprint(route, body);
    // Keys older than their lifetime are forgotten here (the organization's, not only this one):
    // the table holds answers with personal data, so it is kept short without a separate sweeper.
    sqlx::query!("delete from idempotency_keys where org_id = $1 and created_at < $2", tx.org().0, now - KEPT_FOR)
        .execute(tx.conn())
        .await?;
    let inserted = sqlx::query!(
        "insert into idempotency_keys (org_id, user_id, key, route, request_hash, created_at)
         values ($1, $2, $3, $4, $5, $6) on conflict do nothing",
        tx.org().0,
        user,
        &key,
        route,
        &hash,
        now
    )
    .execute(tx.conn())
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Claim::Fresh(key));
    }
    let stored = sqlx::query!(
        "select request_hash, status, response from idempotency_keys where org_id = $1 and user_id = $2 and key = $3",
        tx.org().0,
        user,
        &key
    )
    .fetch_one(tx.conn())
    .await?;
    let (stored_hash, status, response) = (stored.request_hash, stored.status, stored.response);
    if stored_hash != hash {
        return Err(AppError::field(
            "Idempotency-Key",
            "idempotency_key_reused",
            "This key was already used for a different request.",
        ));
    }
    match (status.and_then(|s| StatusCode::from_u16(s as u16).ok()), response) {
        (Some(status), Some(response)) => Ok(Claim::Replay(status, response)),
        _ => Err(AppError::Conflict("The first request with this key is still being processed.".into())),
    }
}

pub async fn store(
    tx: &mut OrgTx,
    user: Uuid,
    key: &str,
    status: StatusCode,
    response: &Value,
) -> Result<(), AppError> {
    sqlx::query!(
        "update idempotency_keys set status = $4, response = $5 where org_id = $1 and user_id = $2 and key = $3",
        tx.org().0,
        user,
        key,
        status.as_u16() as i16,
        response
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}
