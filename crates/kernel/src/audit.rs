//! The audit log (P0-04, P0-20).
//!
//! Append-only: the app role may only INSERT and SELECT, and triggers refuse UPDATE and TRUNCATE
//! even to the owner. Each org has one HMAC-SHA256 chain, keyed by a key derived from the master
//! key (never stored in the database), so a row edited, removed or inserted out of band breaks
//! the chain and `relais audit verify` names the first broken sequence number.
//!
//! Appends lock the org's chain-head row (`FOR UPDATE`), so concurrent appends serialize per org
//! and never race on "the last row". The first event of each calendar month writes a checkpoint
//! holding the MAC it chained from.
//!
//! What may legitimately be missing is itself recorded in the chain: [`AuditLog::purge`] is the
//! only way rows leave (a trigger refuses any other DELETE). It first appends a signed
//! `audit.purged` event naming the last sequence number it removes and that event's MAC, then
//! deletes; verification starts right after the latest purge (or at the genesis) and reports
//! anything else missing from the start. The end of a chain is protected by [`Anchor`]s: a head
//! signed under a key derived from the master key and kept outside the database
//! (`relais audit anchor`); verified against one, a chain cut back to an earlier head — rows
//! deleted and the head row rewound, which whoever owns the schema can do — is reported.
//! The events of a deleted organization keep their chain head and stay verifiable.
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

/// How long audit events are kept (P0-16): [`AuditLog::purge`] removes nothing younger.
pub const RETENTION_MONTHS: u32 = 12;

/// The action of the event a purge appends before it deletes.
pub const PURGED: &str = "audit.purged";

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
        let (org, actor) = (tx.org(), tx.actor());
        self.append(tx.conn(), org, actor, event).await
    }

    /// Appends one event to `org`'s chain on `conn` (a tenant transaction, or platform scope for a
    /// purge).
    async fn append(
        &self,
        conn: &mut PgConnection,
        org: OrgId,
        actor: Actor,
        event: AuditEvent,
    ) -> Result<i64, sqlx::Error> {
        let now = self.clock.now();
        let month = first_of_month(now.date());

        sqlx::query!(
            "insert into audit_chain_heads (org_id, last_seq, last_mac) values ($1, 0, $2) on conflict do nothing",
            org.0,
            self.genesis(org)
        )
        .execute(&mut *conn)
        .await?;
        let head = sqlx::query!(
            "select last_seq, last_mac, last_month from audit_chain_heads where org_id = $1 for update",
            org.0
        )
        .fetch_one(&mut *conn)
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
            .execute(&mut *conn)
            .await?;
        }
        sqlx::query!("insert into audit_events (org_id, seq, event_id, occurred_at, actor_kind, actor_id, action, target_kind, target_id, payload, mac)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)", org.0, seq, row.event_id, now, row.actor_kind, row.actor_id, row.action, row.target_kind, row.target_id, &event.payload, &mac)
        .execute(&mut *conn)
        .await?;
        sqlx::query!("update audit_chain_heads set last_seq = $2, last_mac = $3, last_month = greatest(last_month, $4) where org_id = $1", org.0, seq, &mac, month)
        .execute(&mut *conn)
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

    /// Removes `org`'s events that occurred before `before` (taken as the first of its month),
    /// and their checkpoints: the only way audit rows leave the database. In one platform-scope
    /// transaction it first appends an [`PURGED`] event naming the last sequence number removed
    /// and that event's MAC — signed like every event, so verification knows what may be missing
    /// and still checks the rest from there — then deletes (the database refuses the delete of any
    /// row that event does not cover). Nothing inside the [`RETENTION_MONTHS`]-month window may be
    /// purged, nor anything of an organization that was deleted less than that ago: its events
    /// simply stay, verifiable, until they age out. `None` when there was nothing to remove.
    pub async fn purge(&self, db: &crate::Db, org: OrgId, before: Date) -> Result<Option<Purged>, PurgeError> {
        let before = first_of_month(before);
        let earliest = retention_start(self.clock.now().date());
        if before > earliest {
            return Err(PurgeError::InsideRetention { before, earliest });
        }
        let mut tx = db.begin_platform("audit purge").await?;
        let locked = sqlx::query_scalar!("select last_seq from audit_chain_heads where org_id = $1 for update", org.0)
            .fetch_optional(tx.conn())
            .await?;
        if locked.is_none() {
            return Ok(None);
        }
        let last = sqlx::query!(
            "select seq, mac from audit_events where org_id = $1 and occurred_at < $2 order by seq desc limit 1",
            org.0,
            before.midnight().assume_utc()
        )
        .fetch_optional(tx.conn())
        .await?;
        let Some(last) = last else { return Ok(None) };
        let payload = serde_json::json!({
            "through_seq": last.seq,
            "through_mac": hex::encode(&last.mac),
            "before": before.to_string(),
        });
        let purge_seq = self.append(tx.conn(), org, Actor::System, AuditEvent::new(PURGED).payload(payload)).await?;
        let checkpoints =
            sqlx::query!("delete from audit_checkpoints where org_id = $1 and first_seq <= $2", org.0, last.seq)
                .execute(tx.conn())
                .await?
                .rows_affected();
        let events = sqlx::query!("delete from audit_events where org_id = $1 and seq <= $2", org.0, last.seq)
            .execute(tx.conn())
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(Some(Purged { through_seq: last.seq, events, checkpoints, purge_seq }))
    }

    /// Every organization that has an account or an audit chain, with whether its account still
    /// exists: the chains `relais audit verify` checks, those of deleted organizations included.
    pub async fn chains(conn: &mut PgConnection) -> Result<Vec<(OrgId, bool)>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"select org_id as "org_id!: OrgId", bool_or(account) as "account!"
               from (select org_id, true as account from organizations
                     union all select org_id, false from audit_chain_heads
                     union all select distinct org_id, false from audit_events) chains
               group by org_id order by org_id"#
        )
        .fetch_all(conn)
        .await?;
        Ok(rows.into_iter().map(|row| (row.org_id, row.account)).collect())
    }

    /// The org's chain head now, as an [`Anchor`] to keep outside the database (`None` for an org
    /// without a chain). Anchor only a chain that verifies.
    pub async fn head(&self, conn: &mut PgConnection, org: OrgId) -> Result<Option<Anchor>, sqlx::Error> {
        let head = sqlx::query!("select last_seq, last_mac from audit_chain_heads where org_id = $1", org.0)
            .fetch_optional(conn)
            .await?;
        let at = self.clock.now();
        let at = at.replace_nanosecond(0).unwrap_or(at);
        Ok(head.map(|head| Anchor { org, seq: head.last_seq, mac: head.last_mac, at }))
    }

    fn anchor_signature(&self, anchor: &Anchor) -> Vec<u8> {
        let key = self.master.instance_key("audit-anchor");
        let Ok(mut mac) = HmacSha256::new_from_slice(key.expose_secret()) else {
            unreachable!("HMAC-SHA256 takes any key length")
        };
        put(&mut mac, ANCHOR_TAG.as_bytes());
        put(&mut mac, anchor.org.0.as_bytes());
        put(&mut mac, &anchor.seq.to_be_bytes());
        put(&mut mac, &anchor.mac);
        put(&mut mac, &anchor.at.unix_timestamp().to_be_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// One signed line: `relais-audit-anchor/v1 <org> <seq> <mac> <time> <signature>`. It holds no
    /// secret: keep it anywhere the database's owner cannot rewrite.
    pub fn anchor_line(&self, anchor: &Anchor) -> String {
        let at = anchor.at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        let signature = hex::encode(self.anchor_signature(anchor));
        format!("{ANCHOR_TAG} {} {} {} {at} {signature}", anchor.org, anchor.seq, hex::encode(&anchor.mac))
    }

    /// Reads a line of [`AuditLog::anchor_line`], checking its signature under this master key.
    pub fn parse_anchor(&self, line: &str) -> Result<Anchor, AnchorError> {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [tag, org, seq, mac, at, signature] = parts.as_slice() else { return Err(AnchorError::Malformed) };
        if *tag != ANCHOR_TAG {
            return Err(AnchorError::Malformed);
        }
        let anchor = Anchor {
            org: OrgId(Uuid::parse_str(org).map_err(|_| AnchorError::Malformed)?),
            seq: seq.parse().map_err(|_| AnchorError::Malformed)?,
            mac: hex::decode(mac).map_err(|_| AnchorError::Malformed)?,
            at: OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
                .map_err(|_| AnchorError::Malformed)?,
        };
        let signature = hex::decode(signature).map_err(|_| AnchorError::Malformed)?;
        if self.anchor_signature(&anchor).ct_eq(&signature).unwrap_u8() != 1 {
            return Err(AnchorError::BadSignature);
        }
        Ok(anchor)
    }

    /// Verifies one org's chain. Works in a tenant transaction or in platform scope. Without an
    /// anchor, a chain whose newest events were removed *and* whose head row was rewound to match
    /// looks intact: see [`AuditLog::verify_against`].
    pub async fn verify(&self, conn: &mut PgConnection, org: OrgId) -> Result<Verification, sqlx::Error> {
        self.verify_against(conn, org, None).await
    }

    /// Verifies one org's chain and, with `anchor` (a head kept outside the database), that the
    /// chain still reaches it: the first broken sequence number is reported.
    pub async fn verify_against(
        &self,
        conn: &mut PgConnection,
        org: OrgId,
        anchor: Option<&Anchor>,
    ) -> Result<Verification, sqlx::Error> {
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

        let mut outcome = Verification { org, events_checked: 0, purged_through: 0, broken: None };
        let Some((head_seq, head_mac)) = head else {
            // Every organization's chain starts at its sign-up, and a head outlives its
            // organization, so a missing head means the whole chain was removed.
            let org_exists: bool = sqlx::query_scalar!(
                "select exists (select 1 from organizations where org_id = $1) as \"exists!\"",
                org.0
            )
            .fetch_one(&mut *conn)
            .await?;
            if org_exists || !events.is_empty() || !checkpoints.is_empty() || anchor.is_some() {
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
        // Where the chain starts: at the genesis, or right after what the latest purge removed —
        // from the MAC that purge recorded, which its own event's MAC (checked below) vouches for.
        // Rows missing from the start without a purge that covers them are tampering, whatever
        // their age.
        let purge = events.iter().filter_map(PurgeRecord::read).max_by_key(|p| p.through_seq);
        let (mut expected_seq, mut prev) = match (events.first(), &purge) {
            (None, _) => (1, self.genesis(org)),
            (Some(first), _) if first.seq == 1 => (1, self.genesis(org)),
            (Some(first), Some(purge)) if purge.through_seq + 1 == first.seq => {
                outcome.purged_through = purge.through_seq;
                (first.seq, purge.through_mac.clone())
            }
            (Some(_), purge) => {
                let missing = purge.as_ref().map_or(1, |p| p.through_seq + 1);
                outcome.broken =
                    Some(Broken::new(missing, "rows missing at the start of the chain, with no purge recorded"));
                return Ok(outcome);
            }
        };
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
            return Ok(outcome);
        }
        // The chain is whole up to its head; the anchor says whether that head is still the end.
        if let Some(anchor) = anchor {
            if anchor.seq > head_seq {
                outcome.broken =
                    Some(Broken::new(head_seq + 1, "newest events cut off: the anchor holds a later chain head"));
            } else if let Ok(i) = events.binary_search_by_key(&anchor.seq, |e| e.seq)
                && events[i].mac.ct_eq(&anchor.mac).unwrap_u8() != 1
            {
                outcome.broken = Some(Broken::new(anchor.seq, "the chain differs from its anchor"));
            }
        }
        Ok(outcome)
    }
}

/// What a purge event says it removed.
struct PurgeRecord {
    through_seq: i64,
    through_mac: Vec<u8>,
}

impl PurgeRecord {
    fn read(event: &EventRow) -> Option<Self> {
        if event.action != PURGED {
            return None;
        }
        let through_seq = event.payload.get("through_seq")?.as_i64()?;
        let through_mac = hex::decode(event.payload.get("through_mac")?.as_str()?).ok()?;
        (through_seq < event.seq).then_some(Self { through_seq, through_mac })
    }
}

/// What [`AuditLog::purge`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purged {
    /// The last sequence number removed.
    pub through_seq: i64,
    pub events: u64,
    pub checkpoints: u64,
    /// The sequence number of the `audit.purged` event that records it.
    pub purge_seq: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    #[error("{before} is inside the {RETENTION_MONTHS}-month retention window (the latest allowed cut is {earliest})")]
    InsideRetention { before: Date, earliest: Date },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

const ANCHOR_TAG: &str = "relais-audit-anchor/v1";

/// An organization's chain head at a moment (`at`), signed under a key derived from the master
/// key, to keep outside the database (`relais audit anchor` writes and prints it). Checked
/// against one, a chain must still reach that sequence number with that MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub org: OrgId,
    pub seq: i64,
    pub mac: Vec<u8>,
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AnchorError {
    #[error("not an audit anchor line")]
    Malformed,
    #[error("the signature does not verify under this master key")]
    BadSignature,
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
    /// The last sequence number a recorded purge removed (0: none).
    pub purged_through: i64,
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

/// The first day of the month [`RETENTION_MONTHS`] months before `today`'s: events before it are
/// past retention.
pub fn retention_start(today: Date) -> Date {
    let months = today.year() * 12 + i32::from(u8::from(today.month())) - 1 - RETENTION_MONTHS as i32;
    let month = u8::try_from(months.rem_euclid(12) + 1).ok().and_then(|m| time::Month::try_from(m).ok());
    month.and_then(|month| Date::from_calendar_date(months.div_euclid(12), month, 1).ok()).unwrap_or(Date::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn retention_starts_twelve_months_before_this_month() {
        assert_eq!(retention_start(date!(2026 - 12 - 06)), date!(2025 - 12 - 01));
        assert_eq!(retention_start(date!(2026 - 01 - 31)), date!(2025 - 01 - 01));
        assert_eq!(retention_start(date!(2026 - 03 - 01)), date!(2025 - 03 - 01));
    }

    fn log() -> AuditLog {
        AuditLog::new(Arc::new(MasterKey::parse(&MasterKey::generate_base64()).unwrap()), Clock::system())
    }

    /// An anchor line reads back only under the master key that signed it, and any changed field
    /// breaks its signature.
    #[test]
    fn p0_20_anchor_lines_are_signed_by_the_master_key() {
        let audit = log();
        let anchor = Anchor {
            org: OrgId::new(),
            seq: 42,
            mac: vec![7; 32],
            at: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        };
        let line = audit.anchor_line(&anchor);
        assert_eq!(audit.parse_anchor(&line), Ok(anchor.clone()));
        assert_eq!(log().parse_anchor(&line), Err(AnchorError::BadSignature));
        let rewound = line.replacen(" 42 ", " 41 ", 1);
        assert_eq!(audit.parse_anchor(&rewound), Err(AnchorError::BadSignature));
        assert_eq!(audit.parse_anchor("relais-audit-anchor/v1 not an anchor"), Err(AnchorError::Malformed));
    }
}
