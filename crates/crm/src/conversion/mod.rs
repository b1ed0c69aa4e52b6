//! Lead conversion: a lead becomes a contact (found by email or created), optionally a company
//! (found by name or created) and a deal, linked together; the lead keeps where it went.
//!
//! Files: `service.rs`, `api.rs`, `pages.rs`.

pub mod api;
pub mod pages;
mod service;

pub use service::*;

use kernel::{AppError, FieldError, OrgTx};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::object::ObjectType;
use crate::record_events;
use crate::records::{self, WriteCtx};
use crate::relations::{self, Link, LinkInput};

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ConvertPart {
    /// Link this existing record instead of creating one.
    pub existing_id: Option<Uuid>,
    /// Fields for a new record, on top of what the lead gives.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ConvertInput {
    #[serde(default)]
    pub contact: ConvertPart,
    /// Omitted: the lead's company name makes (or finds) a company; `{"skip": true}` for none.
    pub company: Option<ConvertPart>,
    #[serde(default)]
    pub skip_company: bool,
    /// A deal to open, e.g. `{"fields": {"name": "…", "amount": "…"}}`; none when omitted.
    pub deal: Option<ConvertPart>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Converted {
    pub lead_id: Uuid,
    pub contact_id: Uuid,
    pub company_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
}

pub(crate) fn text(record: &Value, key: &str) -> String {
    record.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}
