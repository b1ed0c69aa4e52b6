//! The audit log (P0-04, P0-20).
//!
//! Append-only: the app role may only INSERT and SELECT, and triggers refuse UPDATE and TRUNCATE
//! even to the owner. Each org has one HMAC-SHA256 chain, keyed by a key derived from the master
//! key (never stored in the database), so a row edited, removed or inserted out of band breaks
//! the chain and `relais audit verify` names the first broken sequence number.
//!
//! Appends lock the org's chain-head row (`FOR UPDATE`), so concurrent appends serialize per org
//! and never race on "the last row". The first event of each calendar month writes a checkpoint
//! holding the MAC it chained from: when months past the 12-month retention are purged, the chain
//! stays verifiable from the oldest remaining checkpoint.
//!
//! Payloads carry pseudonymous ids only — no names, emails or IP addresses.

use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use secrecy::ExposeSecret;
use serde_json::Value;
use sha2::Sha256;
use sqlx::PgConnection;
use subtle::ConstantTimeEq;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::clock::Clock;
use crate::db::{Actor, OrgTx};
use crate::ids::OrgId;
use crate::keys::MasterKey;

type HmacSha256 = Hmac<Sha256>;

/// What happened, to what. `action` is a stable dotted name such as `auth.login.succeeded`.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub action: &'static str,
    pub target_kind: Option<&'static str>,
    pub target_id: Option<Uuid>,
    pub payload: Value,
}

impl AuditEvent {
    pub fn new(action: &'static str) -> Self {
        Self { action, target_kind: None, target_id: None, payload: Value::Object(Default::default()) }
    }

    pub fn target(mut self, kind: &'static str, id: Uuid) -> Self {
        self.target_kind = Some(kind);
        self.target_id = Some(id);
        self
    }

    pub fn payload(mut self, payload: Value) -> Self {
        self.payload = payload;
        self
    }
}

#[derive(Clone)]
pub struct AuditLog {
    master: Arc<MasterKey>,
    clock: Clock,
}

/// The fields covered by an event's MAC, in a fixed, length-prefixed encoding.
struct Row<'a> {
    org: OrgId,
    seq: i64,
    event_id: Uuid,
    occurred_at: OffsetDateTime,
    actor_kind: &'a str,
    actor_id: Option<Uuid>,
    action: &'a str,
    target_kind: Option<&'a str>,
    target_id: Option<Uuid>,
    payload: &'a Value,
}

fn put(mac: &mut HmacSha256, bytes: &[u8]) {
    mac.update(&(bytes.len() as u64).to_be_bytes());
    mac.update(bytes);
}

fn put_uuid(mac: &mut HmacSha256, id: Option<Uuid>) {
    put(mac, id.as_ref().map(|id| id.as_bytes().as_slice()).unwrap_or(&[]));
}

impl AuditLog {
    pub fn new(master: Arc<MasterKey>, clock: Clock) -> Self {
        Self { master, clock }
    }

    fn hmac(&self, org: OrgId) -> HmacSha256 {
        let key = self.master.audit_key(org);
        // HMAC accepts keys of any length; a 32-byte key cannot be rejected.
        match HmacSha256::new_from_slice(key.expose_secret()) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC-SHA256 takes any key length"),
        }
    }

    fn genesis(&self, org: OrgId) -> Vec<u8> {
        let mut mac = self.hmac(org);
        put(&mut mac, b"relais-audit-genesis");
        put(&mut mac, org.0.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    fn event_mac(&self, row: &Row<'_>, prev: &[u8]) -> Vec<u8> {
        let mut mac = self.hmac(row.org);
        put(&mut mac, b"relais-audit-event");
        put(&mut mac, prev);
        put(&mut mac, row.org.0.as_bytes());
        put(&mut mac, &row.seq.to_be_bytes());
        put(&mut mac, row.event_id.as_bytes());
        put(&mut mac, &(row.occurred_at.unix_timestamp_nanos() / 1_000).to_be_bytes());
        put(&mut mac, row.actor_kind.as_bytes());
        put_uuid(&mut mac, row.actor_id);
        put(&mut mac, row.action.as_bytes());
        put(&mut mac, row.target_kind.unwrap_or("").as_bytes());
        put_uuid(&mut mac, row.target_id);
        // serde_json maps are sorted by key, so the text is canonical for a given value.
        put(&mut mac, row.payload.to_string().as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    fn checkpoint_mac(&self, org: OrgId, month: Date, first_seq: i64, anchor: &[u8]) -> Vec<u8> {
        let mut mac = self.hmac(org);
        put(&mut mac, b"relais-audit-checkpoint");
        put(&mut mac, org.0.as_bytes());
        put(&mut mac, month.to_string().as_bytes());
        put(&mut mac, &first_seq.to_be_bytes());
        put(&mut mac, anchor);
        mac.finalize().into_bytes().to_vec()
    }

    /// Appends one event to the org's chain, inside the caller's tenant transaction: the event
    /// commits or rolls back with the change it describes. Returns its sequence number.
    pub async fn record(&self, tx: &mut OrgTx, event: AuditEvent) -> Result<i64, sqlx::Error> {
        let org = tx.org();
        let actor = tx.actor();
        let now = self.clock.now();
        let month = first_of_month(now.date());

        sqlx::query!(
            "insert into audit_chain_heads (org_id, last_seq, last_mac) values ($1, 0, $2) on conflict do nothing",
            org.0,
            self.genesis(org)
        )
        .execute(tx.conn())
        .await?;
        let head = sqlx::query!(
            "select last_seq, last_mac, last_month from audit_chain_heads where org_id = $1 for update",
            org.0
        )
        .fetch_one(tx.conn())
        .await?;
        let (last_seq, last_mac, last_month): (i64, Vec<u8>, Option<Date>) =
            (head.last_seq, head.last_mac, head.last_month);

        let seq = last_seq + 1;
        let row = Row {
            org,
            seq,
            event_id: Uuid::now_v7(),
            occurred_at: now,
            actor_kind: actor.kind(),
            actor_id: actor.id(),
            action: event.action,
            target_kind: event.target_kind,
            target_id: event.target_id,
            payload: &event.payload,
        };
        let mac = self.event_mac(&row, &last_mac);

        if last_month.is_none_or(|last| month > last) {
            sqlx::query!(
                "insert into audit_checkpoints (org_id, month, first_seq, anchor_mac, mac) values ($1, $2, $3, $4, $5)",
                org.0,
                month,
                seq,
                &last_mac,
                self.checkpoint_mac(org, month, seq, &last_mac)
            )
            .execute(tx.conn())
            .await?;
        }
        sqlx::query!("insert into audit_events (org_id, seq, event_id, occurred_at, actor_kind, actor_id, action, target_kind, target_id, payload, mac)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)", org.0, seq, row.event_id, now, row.actor_kind, row.actor_id, row.action, row.target_kind, row.target_id, &event.payload, &mac)
        .execute(tx.conn())
        .await?;
        sqlx::query!("update audit_chain_heads set last_seq = $2, last_mac = $3, last_month = greatest(last_month, $4) where org_id = $1", org.0, seq, &mac, month)
        .execute(tx.conn())
        .await?;
        Ok(seq)
    }

    /// Records an event in its own tenant transaction, for things that happen outside one
    /// (a failed login).
    pub async fn record_now(
        &self,
        db: &crate::Db,
        org: OrgId,
        actor: Actor,
        event: AuditEvent,
    ) -> Result<i64, sqlx::Error> {
        let mut tx = db.begin_org(org, actor).await?;
        let seq = self.record(&mut tx, event).await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Verifies one org's chain. Works in a tenant transaction or in platform scope.
    pub async fn verify(&self, conn: &mut PgConnection, org: OrgId) -> Result<Verification, sqlx::Error> {
        let checkpoints: Vec<(Date, i64, Vec<u8>, Vec<u8>)> = sqlx::query!(
            "select month, first_seq, anchor_mac, mac from audit_checkpoints where org_id = $1 order by first_seq",
            org.0,
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|cp| (cp.month, cp.first_seq, cp.anchor_mac, cp.mac))
        .collect();
        let head: Option<(i64, Vec<u8>)> =
            sqlx::query!("select last_seq, last_mac from audit_chain_heads where org_id = $1", org.0)
                .fetch_optional(&mut *conn)
                .await?
                .map(|head| (head.last_seq, head.last_mac));
        let events: Vec<EventRow> = sqlx::query_as!(
            EventRow,
            "select seq, event_id, occurred_at, actor_kind, actor_id, action, target_kind, target_id, payload, mac
             from audit_events where org_id = $1 order by seq",
            org.0,
        )
        .fetch_all(&mut *conn)
        .await?;

        let mut outcome = Verification { org, events_checked: 0, broken: None };
        let Some((head_seq, head_mac)) = head else {
            // Every organization's chain starts at its sign-up, so an org without a head has had
            // its whole chain removed.
            let org_exists: bool = sqlx::query_scalar!(
                "select exists (select 1 from organizations where org_id = $1) as \"exists!\"",
                org.0
            )
            .fetch_one(&mut *conn)
            .await?;
            if org_exists || !events.is_empty() {
                outcome.broken = Some(Broken::new(1, "chain head missing"));
            }
            return Ok(outcome);
        };
        let mut checkpoints = checkpoints.into_iter().peekable();
        for cp in checkpoints.clone() {
            if self.checkpoint_mac(org, cp.0, cp.1, &cp.2).ct_eq(&cp.3).unwrap_u8() != 1 {
                outcome.broken = Some(Broken::new(cp.1, "checkpoint altered"));
                return Ok(outcome);
            }
        }
        // Start from the oldest checkpoint: with nothing purged it anchors on the genesis MAC.
        let (mut expected_seq, mut prev) = match checkpoints.peek() {
            Some((_, first_seq, anchor, _)) => (*first_seq, anchor.clone()),
            None => (1, self.genesis(org)),
        };
        if expected_seq == 1 && prev.ct_eq(&self.genesis(org)).unwrap_u8() != 1 {
            outcome.broken = Some(Broken::new(1, "chain does not start at genesis"));
            return Ok(outcome);
        }
        for event in &events {
            if event.seq != expected_seq {
                let at = expected_seq.min(event.seq);
                outcome.broken = Some(Broken::new(at, "sequence gap or out-of-band row"));
                return Ok(outcome);
            }
            while let Some((_, first_seq, anchor, _)) = checkpoints.peek() {
                if *first_seq > event.seq {
                    break;
                }
                if *first_seq == event.seq && anchor.ct_eq(&prev).unwrap_u8() != 1 {
                    outcome.broken = Some(Broken::new(event.seq, "checkpoint does not match the chain"));
                    return Ok(outcome);
                }
                checkpoints.next();
            }
            let row = Row {
                org,
                seq: event.seq,
                event_id: event.event_id,
                occurred_at: event.occurred_at,
                actor_kind: &event.actor_kind,
                actor_id: event.actor_id,
                action: &event.action,
                target_kind: event.target_kind.as_deref(),
                target_id: event.target_id,
                payload: &event.payload,
            };
            if self.event_mac(&row, &prev).ct_eq(&event.mac).unwrap_u8() != 1 {
                outcome.broken = Some(Broken::new(event.seq, "row altered"));
                return Ok(outcome);
            }
            prev = event.mac.clone();
            expected_seq += 1;
            outcome.events_checked += 1;
        }
        if expected_seq - 1 != head_seq || (head_seq > 0 && prev.ct_eq(&head_mac).unwrap_u8() != 1) {
            outcome.broken = Some(Broken::new(expected_seq, "rows missing at the end of the chain"));
        }
        Ok(outcome)
    }
}

#[derive(sqlx::FromRow)]
struct EventRow {
    seq: i64,
    event_id: Uuid,
    occurred_at: OffsetDateTime,
    actor_kind: String,
    actor_id: Option<Uuid>,
    action: String,
    target_kind: Option<String>,
    target_id: Option<Uuid>,
    payload: Value,
    mac: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Broken {
    pub seq: i64,
    pub reason: &'static str,
}

impl Broken {
    fn new(seq: i64, reason: &'static str) -> Self {
        Self { seq, reason }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Verification {
    pub org: OrgId,
    pub events_checked: u64,
    pub broken: Option<Broken>,
}

impl Verification {
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

fn first_of_month(date: Date) -> Date {
    date.replace_day(1).unwrap_or(date)
}
