//! Lists of records: filters on any field (custom fields included), one sort, keyset pagination
//! (never OFFSET: page 10,000 costs what page 1 costs), and the accent- and typo-tolerant search.
//!
//! Files: `store.rs` (running a list query), `api.rs` and `pages.rs` (the list of each type).

pub mod api;
pub mod pages;
mod store;

pub use store::*;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kernel::{AppError, FieldError, OrgTx};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::custom_fields::CustomField;
use crate::object::{Kind, ObjectType};
use crate::records::{select_sql, sort_parts};

pub const MAX_PAGE: u32 = 200;

pub const DEFAULT_PAGE: u32 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Neq,
    Contains,
    StartsWith,
    Gt,
    Gte,
    Lt,
    Lte,
    IsEmpty,
    IsNotEmpty,
    In,
}

impl Op {
    pub const ALL: [Op; 11] = [
        Op::Eq,
        Op::Neq,
        Op::Contains,
        Op::StartsWith,
        Op::Gt,
        Op::Gte,
        Op::Lt,
        Op::Lte,
        Op::IsEmpty,
        Op::IsNotEmpty,
        Op::In,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Neq => "neq",
            Self::Contains => "contains",
            Self::StartsWith => "starts_with",
            Self::Gt => "gt",
            Self::Gte => "gte",
            Self::Lt => "lt",
            Self::Lte => "lte",
            Self::IsEmpty => "is_empty",
            Self::IsNotEmpty => "is_not_empty",
            Self::In => "in",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Filter {
    /// A field key, or `custom.<key>` for a custom field.
    pub field: String,
    pub op: Op,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Sort {
    pub field: String,
    #[serde(default)]
    pub descending: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub filters: Vec<Filter>,
    pub sort: Option<Sort>,
    /// The opaque cursor of the previous page's last row.
    pub after: Option<String>,
    pub limit: Option<u32>,
    /// A search within the list (accent-folded substring).
    pub q: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListPage {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Value>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// SQL text and its text parameters (each cast in place).
pub(crate) struct Sql {
    text: String,
    params: Vec<Option<String>>,
}

impl Sql {
    fn param(&mut self, value: Option<String>) -> String {
        self.params.push(value);
        format!("${}", self.params.len() + 1)
    }
}

pub(crate) fn bad(field: &str, code: &'static str, message: &str) -> FieldError {
    FieldError::new(field, code, message)
}

pub(crate) fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.trim().to_string()),
        other => Some(other.to_string()),
    }
}

/// The condition for one filter, or why it is refused.
/// A filter's value for a timestamp column (`created_at`, `updated_at`…), as RFC 3339: a full
/// RFC 3339 instant, a date (midnight UTC) or a date and time without a zone (UTC). Anything else
/// is refused here rather than failing the statement's cast.
fn filter_instant(text: &str) -> Option<String> {
    use time::format_description::well_known::Rfc3339;
    let text = text.trim();
    let instant = time::OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .or_else(|| {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(text, format).ok().map(|d| d.midnight().assume_utc())
        })
        .or_else(|| {
            let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
            time::PrimitiveDateTime::parse(text, format).ok().map(time::PrimitiveDateTime::assume_utc)
        })
        .or_else(|| {
            let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
            time::PrimitiveDateTime::parse(text, format).ok().map(time::PrimitiveDateTime::assume_utc)
        })?;
    instant.format(&Rfc3339).ok()
}

pub(crate) fn condition(
    object: ObjectType,
    custom: &[CustomField],
    filter: &Filter,
    sql: &mut Sql,
) -> Result<String, FieldError> {
    let name = format!("filter.{}", filter.field);
    if let Some(key) = filter.field.strip_prefix("custom.") {
        let kind = custom.iter().find(|c| c.key == key).map(|c| c.kind.as_str());
        return custom_condition(key, kind, filter, sql)
            .map_err(|e| e.unwrap_or_else(|| bad(&name, "invalid_filter", "Unsupported filter.")));
    }
    let def = object.readable(&filter.field).ok_or_else(|| bad(&name, "unknown_field", "No such field."))?;
    let column = format!("t.{}", def.key);
    let cast = def.kind.sql_type();
    let blank = def.kind.empty_is_blank_text();
    let value = || -> Result<String, FieldError> {
        let text = scalar_text(&filter.value).ok_or_else(|| bad(&name, "value_required", "Give a value."))?;
        // Values are parsed like writes, so "06 12 34 56 78" finds "+33612345678".
        match def.kind {
            Kind::Timestamp => filter_instant(&text)
                .ok_or_else(|| bad(&name, "invalid_date", "Give a date (2026-03-31) or a date and time.")),
            kind => crate::values::parse_text(kind, &text)
                .map(|c| c.sql.unwrap_or_default())
                .or_else(|e| {
                    if filter.op == Op::Contains || filter.op == Op::StartsWith { Ok(text.clone()) } else { Err(e) }
                })
                .map_err(|e| bad(&name, e.code, &e.message)),
        }
    };
    Ok(match filter.op {
        Op::IsEmpty => {
            if blank {
                format!("{column} = ''")
            } else {
                format!("{column} is null")
            }
        }
        Op::IsNotEmpty => {
            if blank {
                format!("{column} <> ''")
            } else {
                format!("{column} is not null")
            }
        }
        Op::Contains | Op::StartsWith if def.kind.is_textual() => {
            let text = scalar_text(&filter.value).ok_or_else(|| bad(&name, "value_required", "Give a value."))?;
            let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            let pattern = if filter.op == Op::Contains { format!("%{escaped}%") } else { format!("{escaped}%") };
            let p = sql.param(Some(pattern));
            format!("app.fold({column}) like app.fold({p})")
        }
        Op::Contains | Op::StartsWith => return Err(bad(&name, "invalid_filter", "Only text fields can be searched.")),
        Op::In => {
            let Value::Array(items) = &filter.value else {
                return Err(bad(&name, "invalid_filter", "Give a list of values."));
            };
            let mut texts = Vec::new();
            for item in items {
                let text = scalar_text(item).unwrap_or_default();
                let parsed = crate::values::parse_text(def.kind, &text).map_err(|e| bad(&name, e.code, &e.message))?;
                texts.push(parsed.sql.unwrap_or_default());
            }
            let p = sql.param(Some(serde_json::to_string(&texts).unwrap_or_default()));
            format!("{column}::text in (select jsonb_array_elements_text({p}::jsonb))")
        }
        op => {
            let symbol = match op {
                Op::Eq => "=",
                Op::Neq => "is distinct from",
                Op::Gt => ">",
                Op::Gte => ">=",
                Op::Lt => "<",
                _ => "<=",
            };
            let p = sql.param(Some(value()?));
            format!("{column} {symbol} {p}::{cast}")
        }
    })
}

/// A filter's value for a custom number or amount field as a JSON number, written either way
/// ("10 000", "10 000,50", "10000.5") like the field's own input, or why it is not one.
fn custom_number(kind: &str, value: &Value) -> Result<Value, crate::values::Invalid> {
    match value {
        Value::Number(_) => Ok(value.clone()),
        Value::Null => Err(crate::values::Invalid { code: "value_required", message: "Give a value.".into() }),
        Value::String(text) if kind == "currency" => crate::values::parse_money(text.trim()).map(|cell| cell.json),
        Value::String(text) => crate::values::parse_number(text)
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| crate::values::Invalid { code: "invalid_number", message: "Enter a number.".into() }),
        _ => Err(crate::values::Invalid { code: "invalid_type", message: "Expected a single value.".into() }),
    }
}

/// The condition on a custom field of `kind` (`None`: no such field, compared as stored). The
/// error is the field's own (a bad amount), or `None` for a filter that does not apply.
pub(crate) fn custom_condition(
    key: &str,
    kind: Option<&str>,
    filter: &Filter,
    sql: &mut Sql,
) -> Result<String, Option<FieldError>> {
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(None);
    }
    let path = format!("t.custom -> '{key}'");
    // Numbers and amounts compare as numbers: "10 000" is the number 10000, not a string that
    // matches nothing; a value that is not a number is refused, naming the field.
    let numeric = matches!(kind, Some("number" | "currency"));
    let number = |value: &Value| -> Result<Value, Option<FieldError>> {
        if !numeric {
            return Ok(value.clone());
        }
        custom_number(kind.unwrap_or_default(), value)
            .map_err(|e| Some(bad(&format!("filter.custom.{key}"), e.code, &e.message)))
    };
    Ok(match filter.op {
        Op::IsEmpty => format!("not (t.custom ? '{key}')"),
        Op::IsNotEmpty => format!("(t.custom ? '{key}')"),
        // Served by the GIN index: `custom @> {"key": value}`; a multi-select matches when it holds the value.
        Op::Eq => {
            let value = number(&filter.value)?;
            let p = sql.param(Some(serde_json::json!({ key: value }).to_string()));
            let q = sql.param(Some(serde_json::json!({ key: [value] }).to_string()));
            format!("(t.custom @> {p}::jsonb or t.custom @> {q}::jsonb)")
        }
        Op::Neq => {
            let p = sql.param(Some(number(&filter.value)?.to_string()));
            format!("({path}) is distinct from {p}::jsonb")
        }
        Op::Contains | Op::StartsWith => {
            let text = scalar_text(&filter.value).ok_or(None)?;
            let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            let pattern = if filter.op == Op::Contains { format!("%{escaped}%") } else { format!("{escaped}%") };
            let p = sql.param(Some(pattern));
            format!("app.fold(t.custom ->> '{key}') like app.fold({p})")
        }
        Op::In => {
            let value = match &filter.value {
                Value::Array(items) if numeric => Value::Array(items.iter().map(number).collect::<Result<_, _>>()?),
                other => other.clone(),
            };
            let p = sql.param(Some(value.to_string()));
            format!("({path}) in (select jsonb_array_elements({p}::jsonb))")
        }
        op => {
            let symbol = match op {
                Op::Gt => ">",
                Op::Gte => ">=",
                Op::Lt => "<",
                _ => "<=",
            };
            // jsonb compares numbers numerically and ISO dates as strings — both in order.
            let value = match &filter.value {
                _ if numeric => number(&filter.value)?,
                Value::String(s) => {
                    s.trim().parse::<f64>().ok().map(Value::from).unwrap_or_else(|| filter.value.clone())
                }
                other => other.clone(),
            };
            let p = sql.param(Some(value.to_string()));
            format!("({path}) {symbol} {p}::jsonb and jsonb_typeof({path}) = jsonb_typeof({p}::jsonb)")
        }
    })
}

/// The error of a page cursor that was not made by this list (the `after` parameter).
pub(crate) fn invalid_cursor() -> FieldError {
    bad("after", "invalid_cursor", "This page cursor is not valid: start again from the first page.")
}

pub(crate) fn encode_cursor(sort_key: &str, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::json!([sort_key, id]).to_string())
}

pub(crate) fn decode_cursor(cursor: &str) -> Option<(String, Uuid)> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let (key, id): (String, Uuid) = serde_json::from_slice(&bytes).ok()?;
    Some((key, id))
}

/// The list's statement (without its limit) and its text parameters after `$1` (the org).
/// `custom`: the type's custom fields, whose kinds say how their filters compare.
pub(crate) fn build(
    object: ObjectType,
    custom: &[CustomField],
    query: &ListQuery,
) -> Result<(String, Vec<Option<String>>), AppError> {
    let mut errors = Vec::new();
    let mut sql = Sql { text: String::new(), params: Vec::new() };
    let mut conditions = vec!["t.org_id = $1".to_string()];
    for filter in &query.filters {
        match condition(object, custom, filter, &mut sql) {
            Ok(c) => conditions.push(c),
            Err(e) => errors.push(e),
        }
    }
    let sort = query.sort.clone().unwrap_or(Sort { field: object.default_sort().into(), descending: false });
    let Some((sort_expr, sort_type)) = sort_parts(object, &sort.field) else {
        errors.push(bad("sort", "unknown_field", "Cannot sort by this field."));
        return Err(AppError::Validation(errors));
    };
    if let Some(q) = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let escaped = q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        let p = sql.param(Some(format!("%{escaped}%")));
        conditions.push(format!("t.search_text like app.fold({p})"));
    }
    let id = object.id_column();
    let direction = if sort.descending { "desc" } else { "asc" };
    if let Some(cursor) = &query.after {
        match decode_cursor(cursor) {
            Some((key, after_id)) => {
                let k = sql.param(Some(key));
                let i = sql.param(Some(after_id.to_string()));
                let cmp = if sort.descending { "<" } else { ">" };
                conditions.push(format!("({sort_expr}, t.{id}) {cmp} ({k}::{sort_type}, {i}::uuid)"));
            }
            None => errors.push(invalid_cursor()),
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    sql.text = format!(
        "select {select} as record, ({sort_expr})::text as sort_key, t.{id} as id from {table} t
          where {conditions} order by {sort_expr} {direction}, t.{id} {direction}",
        select = select_sql(object),
        table = object.table(),
        conditions = conditions.join(" and "),
    );
    Ok((sql.text, sql.params))
}
