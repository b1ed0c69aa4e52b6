//! Reading and writing CRM records, for every object type, through the field descriptions of
//! [`crate::object`]. Every write validates all fields at once, refuses the whole change on any
//! error, and records a field-level history row per changed field in the same transaction.
//!
//! Visibility is not checked here: row-level security does it (migration 0011), so a record a
//! member may not see is simply absent — a read answers 404 and a write changes nothing.
//!
//! Files: `store.rs` (SQL), `service.rs` (create, update, delete, bulk changes, reads that are
//! audited — with their history rows, audit events and record events), `api.rs` (JSON),
//! `pages.rs` (the record page and form).

pub mod api;
pub mod pages;
mod service;
mod store;

pub use service::*;
pub use store::*;

use kernel::{AppError, FieldError, OrgTx};
use serde::Serialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::custom_fields;
use crate::object::{FieldDef, Kind, ObjectType, RefKind};
use crate::record_events;
use crate::values::{Cell, parse_field};

/// Where a change came from, kept in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Ui,
    Api,
    Import,
    Form,
    Merge,
    System,
}

impl Source {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Ui => "ui",
            Self::Api => "api",
            Self::Import => "import",
            Self::Form => "form",
            Self::Merge => "merge",
            Self::System => "system",
        }
    }
}

/// Who writes, from where, when.
#[derive(Debug, Clone, Copy)]
pub struct WriteCtx {
    pub user: Option<Uuid>,
    pub source: Source,
    pub now: OffsetDateTime,
    pub import_id: Option<Uuid>,
}

/// Parsed input: builtin columns, and the custom object as submitted.
pub(crate) struct Parsed {
    cells: Vec<(&'static FieldDef, Cell)>,
    custom: Option<Value>,
}

pub(crate) fn field_error(field: impl Into<String>, invalid: crate::values::Invalid) -> FieldError {
    FieldError::new(field, invalid.code, invalid.message)
}

/// Parses every submitted key; unknown and read-only keys are errors, so a typo never silently
/// drops data.
pub(crate) fn parse_input(object: ObjectType, input: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Parsed {
    let mut cells = Vec::new();
    let mut custom = None;
    for (key, value) in input {
        if key == "custom" {
            custom = Some(value.clone());
            continue;
        }
        match object.field(key) {
            Some(def) => match parse_field(def, value) {
                Ok(cell) => cells.push((def, cell)),
                Err(invalid) => errors.push(field_error(key.as_str(), invalid)),
            },
            None if object.readable(key).is_some() || matches!(key.as_str(), "id" | "object" | "display_name") => {
                errors.push(FieldError::new(key.as_str(), "read_only", "This field is maintained by Relais."))
            }
            None => errors.push(FieldError::new(key.as_str(), "unknown_field", "No such field.")),
        }
    }
    Parsed { cells, custom }
}

pub(crate) fn custom_errors(errors: Vec<(String, crate::values::Invalid)>) -> impl Iterator<Item = FieldError> {
    errors.into_iter().map(|(k, e)| field_error(k, e))
}

/// A record was created, with the records that look like the same person or company.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Created {
    pub id: Uuid,
    #[schema(value_type = Object)]
    pub record: Value,
    /// Records sharing a normalized email, phone or domain with the new one (issue #4 item 5).
    pub possible_duplicates: Vec<DuplicateHint>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DuplicateHint {
    pub object: String,
    pub id: Uuid,
    pub display_name: String,
    /// The field that matched: `email`, `phone` or `domain`.
    pub matched_on: String,
}

pub(crate) fn cell_of<'a>(cells: &'a [(&'static FieldDef, Cell)], key: &str) -> Option<&'a Cell> {
    cells.iter().find(|(d, _)| d.key == key).map(|(_, c)| c)
}

pub(crate) fn has_value(cells: &[(&'static FieldDef, Cell)], key: &str) -> bool {
    cell_of(cells, key).is_some_and(|c| !c.is_empty())
}

/// A contact or lead needs a name or an email; the database checks it too.
pub(crate) fn check_identity(object: ObjectType, cells: &[(&'static FieldDef, Cell)], errors: &mut Vec<FieldError>) {
    let keys: &[&str] = match object {
        ObjectType::Contact => &["first_name", "last_name", "email"],
        ObjectType::Lead => &["first_name", "last_name", "email", "company_name"],
        _ => return,
    };
    // A refused name or email is already reported; "give a name" would only repeat it.
    let refused = errors.iter().any(|e| keys.contains(&e.field.as_str()));
    if !refused && !keys.iter().any(|k| has_value(cells, k)) {
        errors.push(FieldError::new(
            "last_name",
            "name_or_email_required",
            "Give at least a name or an email address.",
        ));
    }
}

pub(crate) fn set_cell(cells: &mut Vec<(&'static FieldDef, Cell)>, key: &'static str, id: Uuid) {
    let def = ObjectType::Deal.field(key);
    cells.retain(|(d, _)| d.key != key);
    if let Some(def) = def {
        cells.push((def, Cell { json: Value::String(id.to_string()), sql: Some(id.to_string()) }));
    }
}

pub(crate) fn set_owner(object: ObjectType, cells: &mut Vec<(&'static FieldDef, Cell)>, user: Uuid) {
    if let Some(def) = object.field("owner_id") {
        cells.push((def, Cell { json: Value::String(user.to_string()), sql: Some(user.to_string()) }));
    }
}

pub(crate) fn custom_keys(a: &Map<String, Value>, b: &Map<String, Value>) -> Vec<String> {
    let mut keys: Vec<String> = a.keys().chain(b.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    keys
}

/// JSON from the database and a parsed cell may spell one value differently (`12.5` vs `12.50`).
pub(crate) fn same_value(current: Option<&Value>, new: &Value) -> bool {
    let number = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse::<f64>().ok(),
        _ => None,
    };
    match (current.unwrap_or(&Value::Null), new) {
        (a @ (Value::Number(_) | Value::String(_)), b @ Value::Number(_)) => {
            number(a).is_some() && number(a) == number(b)
        }
        (a, b) => a == b,
    }
}

/// The SQL type of a value a field's sort and filters compare.
pub fn sort_parts(object: ObjectType, key: &str) -> Option<(String, &'static str)> {
    if let Some(custom) = key.strip_prefix("custom.") {
        if !custom.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') || custom.is_empty() {
            return None;
        }
        return Some((format!("coalesce(t.custom -> '{custom}', 'null'::jsonb)"), "jsonb"));
    }
    let def = object.readable(key)?;
    // Stored lower-case keys (migration 0015): a keyset condition on them can use the index under
    // row-level security, where one on `lower(...)` cannot.
    let stored_key = match (object, key) {
        (ObjectType::Contact | ObjectType::Lead, "last_name") => Some("last_name_key"),
        (ObjectType::Company | ObjectType::Deal, "name") => Some("name_key"),
        _ => None,
    };
    if let Some(column) = stored_key {
        return Some((format!("t.{column}"), "text"));
    }
    Some(match def.kind {
        // Never NULL: the bare column, so its index serves the sort and the keyset.
        Kind::Timestamp if matches!(key, "created_at" | "updated_at" | "stage_changed_at") => {
            (format!("t.{key}"), "timestamptz")
        }
        kind if kind.empty_is_blank_text() => (format!("lower(t.{key})"), "text"),
        Kind::Money => (format!("coalesce(t.{key}, -1e18)"), "numeric"),
        Kind::Percent => (format!("coalesce(t.{key}, -1)"), "smallint"),
        Kind::Date => (format!("coalesce(t.{key}, '-infinity'::date)"), "date"),
        Kind::Timestamp => (format!("coalesce(t.{key}, '-infinity'::timestamptz)"), "timestamptz"),
        Kind::Ref(_) => (format!("coalesce(t.{key}, '00000000-0000-0000-0000-000000000000'::uuid)"), "uuid"),
        _ => (format!("t.{key}"), "text"),
    })
}

/// The member a reference names, for display; other references are shown by id.
pub fn ref_kind(object: ObjectType, key: &str) -> Option<RefKind> {
    match object.readable(key)?.kind {
        Kind::Ref(r) => Some(r),
        _ => None,
    }
}

/// Stored JSON for a history row about a whole record (merge, conversion).
pub fn summary(record: &Value) -> Value {
    json!({ "id": record.get("id"), "display_name": record.get("display_name") })
}
