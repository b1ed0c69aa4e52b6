//! The CRM's record events, published inside the transaction of the write (see `kernel::events`).
//! Webhooks subscribe to them; outreach, the assistant and privacy will. Every event's `data` is
//! `{"object": "<lead|contact|company|deal>", "source": "<ui|api|form|merge|system>", …}` plus:
//!
//! * `crm.record.created` — `record` (the record as the API shows it);
//! * `crm.record.updated` — `record` and `changed_fields` (keys, `custom.<key>` for custom fields);
//! * `crm.record.stage_changed` — deals only: `record`, `from_stage_id`, `to_stage_id`;
//! * `crm.record.deleted` — nothing more (the record is gone);
//! * `crm.record.merged` — `record` (the survivor) and `merged_id` (the record merged into it,
//!   deleted by the same transaction);
//! * `crm.record.converted` — leads only: `record` and the ids it became (`contact_id`,
//!   `company_id`, `deal_id`, each possibly null).
//!
//! An import publishes no per-row events: a million-row import would otherwise run every
//! subscriber a million times (webhooks document this too).

use kernel::AppError;
use kernel::OrgTx;
use kernel::events::{DomainEvent, publish};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::object::ObjectType;
use crate::records::Source;

pub const CREATED: &str = "crm.record.created";
pub const UPDATED: &str = "crm.record.updated";
pub const STAGE_CHANGED: &str = "crm.record.stage_changed";
pub const DELETED: &str = "crm.record.deleted";
pub const MERGED: &str = "crm.record.merged";
pub const CONVERTED: &str = "crm.record.converted";

/// Every record event, for `docs/architecture.md` and the subscribers' declarations.
pub const ALL: &[&str] = &[CREATED, UPDATED, STAGE_CHANGED, DELETED, MERGED, CONVERTED];

/// Publishes `name` about record `id` of type `object`, with `facts` added to the common fields.
pub async fn record_event(
    tx: &mut OrgTx,
    name: &'static str,
    object: ObjectType,
    id: Uuid,
    source: Source,
    now: OffsetDateTime,
    facts: Value,
) -> Result<(), AppError> {
    if source == Source::Import {
        return Ok(());
    }
    let mut data = Map::new();
    data.insert("object".into(), json!(object.as_str()));
    data.insert("source".into(), json!(source.as_str()));
    if let Value::Object(facts) = facts {
        data.extend(facts);
    }
    publish(tx, DomainEvent { name, subject_id: id, occurred_at: now, data: Value::Object(data) }).await
}

/// The record type an event is about.
pub fn object_of(event: &DomainEvent) -> Option<ObjectType> {
    event.data.get("object").and_then(Value::as_str).and_then(ObjectType::parse)
}
