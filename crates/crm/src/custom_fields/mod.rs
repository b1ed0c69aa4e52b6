//! Custom fields (issue #4 item 3): defined per object type by owners and managers, validated on
//! every write path by [`validate`], stored as typed JSON in the record's `custom` column.
//!
//! Files: `store.rs` (definitions), `service.rs` (create and delete, audited), `api.rs`; the
//! editor is on the CRM settings page.

pub mod api;
mod service;
mod store;

pub use service::*;
pub use store::*;

use std::collections::BTreeMap;

use kernel::{AppError, OrgTx};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::object::{Kind, ObjectType};
use crate::values::{Invalid, parse_date, parse_email, parse_money, parse_number, parse_phone, parse_text, parse_url};
use kernel::FieldError;
use kernel::error::on_constraint;

/// The kinds a custom field may have.
pub const KINDS: &[&str] =
    &["text", "long_text", "number", "currency", "date", "boolean", "select", "multi_select", "url", "email", "phone"];

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomField {
    pub field_id: Uuid,
    pub object_type: String,
    pub key: String,
    pub label: String,
    pub kind: String,
    #[schema(value_type = Vec<String>)]
    pub options: sqlx::types::Json<Vec<String>>,
    pub required: bool,
    pub position: i32,
}

pub(crate) fn invalid(code: &'static str, message: &str) -> Invalid {
    Invalid { code, message: message.to_string() }
}

/// One custom value, canonical: numbers as JSON numbers, dates as ISO strings, multi-select as an
/// array of allowed options. `Null` means empty.
pub fn parse_value(field: &CustomField, value: &Value) -> Result<Value, Invalid> {
    let empty = match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty() && field.kind == "multi_select",
        _ => false,
    };
    if empty {
        return if field.required { Err(invalid("required", "This field is required.")) } else { Ok(Value::Null) };
    }
    let text = || match value {
        Value::String(s) => Ok(s.trim().to_string()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(invalid("invalid_type", "Expected a single value.")),
    };
    let options = &field.options.0;
    Ok(match field.kind.as_str() {
        "text" => parse_text(Kind::Text { max: 1000 }, &text()?)?.json,
        "long_text" => parse_long_text(&text()?)?,
        "number" => {
            let n = parse_number(&text()?)?;
            serde_json::Number::from_f64(n)
                .map(Value::Number)
                .ok_or_else(|| invalid("invalid_number", "Enter a number."))?
        }
        "currency" => parse_money(&text()?)?.json,
        "date" => Value::String(parse_date(&text()?)?),
        "boolean" => match text()?.to_ascii_lowercase().as_str() {
            "true" | "yes" | "oui" | "1" | "on" => Value::Bool(true),
            "false" | "no" | "non" | "0" | "off" => Value::Bool(false),
            _ => return Err(invalid("invalid_boolean", "Use true or false.")),
        },
        "select" => {
            let t = text()?;
            match options.iter().find(|o| o.eq_ignore_ascii_case(&t)) {
                Some(o) => Value::String(o.clone()),
                None => return Err(invalid("invalid_choice", "Choose one of the field's options.")),
            }
        }
        "multi_select" => {
            let items: Vec<String> = match value {
                Value::Array(items) => {
                    items.iter().map(|i| i.as_str().unwrap_or_default().trim().to_string()).collect()
                }
                // CSV cells and forms: "a; b" or "a, b".
                Value::String(s) => {
                    s.split([';', ',']).map(|i| i.trim().to_string()).filter(|i| !i.is_empty()).collect()
                }
                _ => return Err(invalid("invalid_type", "Expected a list of options.")),
            };
            let mut chosen = Vec::new();
            for item in items {
                let Some(o) = options.iter().find(|o| o.eq_ignore_ascii_case(&item)) else {
                    return Err(invalid("invalid_choice", "Choose among the field's options."));
                };
                if !chosen.contains(o) {
                    chosen.push(o.clone());
                }
            }
            Value::Array(chosen.into_iter().map(Value::String).collect())
        }
        "url" => Value::String(parse_url(&text()?)?),
        "email" => Value::String(parse_email(&text()?)?),
        "phone" => Value::String(parse_phone(&text()?)?),
        _ => return Err(invalid("invalid_type", "Unknown field kind.")),
    })
}

pub(crate) fn parse_long_text(text: &str) -> Result<Value, Invalid> {
    if text.chars().count() > 20_000 {
        return Err(invalid("too_long", "At most 20000 characters."));
    }
    Ok(Value::String(text.to_string()))
}

/// Validates a `custom` object against the definitions, on top of the record's current values
/// (`current`, empty on create). Returns the merged object, or errors keyed `custom.<key>`.
/// Required fields are checked on the result, so a patch cannot clear them and a create must
/// supply them.
pub fn validate(
    definitions: &[CustomField],
    current: &Map<String, Value>,
    submitted: Option<&Value>,
) -> Result<Map<String, Value>, Vec<(String, Invalid)>> {
    let mut errors = Vec::new();
    let mut merged: BTreeMap<String, Value> = current.clone().into_iter().collect();
    match submitted {
        None | Some(Value::Null) => {}
        Some(Value::Object(values)) => {
            for (key, value) in values {
                match definitions.iter().find(|d| &d.key == key) {
                    None => errors.push((format!("custom.{key}"), invalid("unknown_field", "No such custom field."))),
                    Some(def) => match parse_value(def, value) {
                        Ok(Value::Null) => {
                            merged.remove(key);
                        }
                        Ok(v) => {
                            merged.insert(key.clone(), v);
                        }
                        Err(e) => errors.push((format!("custom.{key}"), e)),
                    },
                }
            }
        }
        Some(_) => errors.push(("custom".into(), invalid("invalid_type", "Expected an object of custom values."))),
    }
    for def in definitions.iter().filter(|d| d.required) {
        let key = format!("custom.{}", def.key);
        if !merged.contains_key(&def.key) && !errors.iter().any(|(k, _)| k == &key) {
            errors.push((key, invalid("required", "This field is required.")));
        }
    }
    if errors.is_empty() { Ok(merged.into_iter().collect()) } else { Err(errors) }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CustomFieldInput {
    /// `lead`, `contact`, `company` or `deal`.
    pub object_type: String,
    /// Lower-case letters, digits and `_`, starting with a letter; used in the API and imports.
    pub key: String,
    pub label: String,
    /// One of text, long_text, number, currency, date, boolean, select, multi_select, url, email, phone.
    pub kind: String,
    /// The allowed values of a select or multi-select.
    #[serde(default)]
    pub options: Vec<String>,
    #[serde(default)]
    pub required: bool,
}

pub(crate) fn validate_field(input: &CustomFieldInput) -> Result<(ObjectType, Vec<String>), AppError> {
    let mut errors = Vec::new();
    let object = ObjectType::parse(&input.object_type);
    if object.is_none() {
        errors.push(FieldError::new("object_type", "invalid_choice", "lead, contact, company or deal."));
    }
    let key_ok = input.key.len() <= 40
        && input.key.starts_with(|c: char| c.is_ascii_lowercase())
        && input.key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !key_ok {
        errors.push(FieldError::new("key", "invalid_key", "Lower-case letters, digits and _, starting with a letter."));
    }
    if let Some(object) = object
        && object.readable(&input.key).is_some()
    {
        errors.push(FieldError::new("key", "reserved", "A built-in field already has this key."));
    }
    let label = input.label.trim();
    if label.is_empty() || label.chars().count() > 100 {
        errors.push(FieldError::new("label", "invalid_length", "Give a label of 1 to 100 characters."));
    }
    if !KINDS.contains(&input.kind.as_str()) {
        errors.push(FieldError::new("kind", "invalid_choice", format!("One of: {}.", KINDS.join(", "))));
    }
    let mut options: Vec<String> = Vec::new();
    for option in input.options.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
        if option.chars().count() > 100 {
            errors.push(FieldError::new("options", "too_long", "Options have at most 100 characters."));
        } else if !options.iter().any(|o| o.eq_ignore_ascii_case(option)) {
            options.push(option.to_string());
        }
    }
    let is_select = matches!(input.kind.as_str(), "select" | "multi_select");
    if is_select && options.is_empty() {
        errors.push(FieldError::new("options", "required", "A select field needs at least one option."));
    }
    if !is_select && !options.is_empty() {
        errors.push(FieldError::new("options", "not_allowed", "Only select fields have options."));
    }
    if options.len() > crate::limits::OPTIONS_PER_FIELD {
        errors.push(crate::limits::too_many("options", "too_many_options"));
    }
    match object {
        Some(object) if errors.is_empty() => Ok((object, options)),
        _ => Err(AppError::Validation(errors)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(key: &str, kind: &str, options: &[&str], required: bool) -> CustomField {
        CustomField {
            field_id: Uuid::nil(),
            object_type: "contact".into(),
            key: key.into(),
            label: key.into(),
            kind: kind.into(),
            options: sqlx::types::Json(options.iter().map(|o| o.to_string()).collect()),
            required,
            position: 0,
        }
    }

    #[test]
    fn custom_values_are_typed_and_checked() {
        let defs = vec![
            def("score", "number", &[], false),
            def("tier", "select", &["gold", "silver"], true),
            def("tags", "multi_select", &["vip", "press"], false),
            def("renewal", "date", &[], false),
            def("active", "boolean", &[], false),
        ];
        let ok = validate(
            &defs,
            &Map::new(),
            Some(&json!({"score": "12,5", "tier": "Gold", "tags": "vip; press", "renewal": "30/11/2026", "active": "oui"})),
        )
        .unwrap();
        assert_eq!(
            Value::Object(ok),
            json!({"score": 12.5, "tier": "gold", "tags": ["vip", "press"], "renewal": "2026-11-30", "active": true})
        );

        let errors =
            validate(&defs, &Map::new(), Some(&json!({"score": "many", "tags": ["nope"], "ghost": 1}))).unwrap_err();
        let keys: Vec<_> = errors.iter().map(|(k, e)| (k.as_str(), e.code)).collect();
        assert_eq!(
            keys,
            vec![
                ("custom.ghost", "unknown_field"),
                ("custom.score", "invalid_number"),
                ("custom.tags", "invalid_choice"),
                ("custom.tier", "required")
            ]
        );
    }

    #[test]
    fn a_patch_cannot_clear_a_required_field() {
        let defs = vec![def("tier", "select", &["gold"], true)];
        let current: Map<String, Value> = [("tier".to_string(), json!("gold"))].into_iter().collect();
        assert!(validate(&defs, &current, None).is_ok());
        let errors = validate(&defs, &current, Some(&json!({"tier": null}))).unwrap_err();
        assert_eq!(errors[0].1.code, "required");
    }
}
