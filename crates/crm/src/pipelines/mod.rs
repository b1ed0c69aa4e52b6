//! Pipelines and their ordered, editable stages (several per organization), the kanban board of a
//! pipeline with per-stage count and total, and moving a deal between stages.
//!
//! Files: `store.rs` (SQL), `service.rs` (changes with their audit events), `api.rs` (JSON),
//! `pages.rs` (the deals board; the pipeline editor is on the CRM settings page).

pub mod api;
pub mod pages;
mod service;
mod store;

pub use service::*;
pub use store::*;

use kernel::authz::Principal;
use kernel::error::on_constraint;
use kernel::i18n::Lang;
use kernel::web::AppState;
use kernel::{AppError, FieldError, OrgTx};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::http::write_ctx;
use crate::object::ObjectType;
use crate::records::{self, Source};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Stage {
    pub stage_id: Uuid,
    pub name: String,
    pub position: i32,
    pub probability: i16,
    /// `open`, `won` or `lost`.
    pub outcome: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Pipeline {
    pub pipeline_id: Uuid,
    pub name: String,
    pub position: i32,
    pub stages: Vec<Stage>,
}

pub(crate) const DEFAULT_STAGES_EN: [(&str, i16, &str); 6] = [
    ("Qualification", 10, "open"),
    ("Needs analysis", 25, "open"),
    ("Proposal", 50, "open"),
    ("Negotiation", 75, "open"),
    ("Won", 100, "won"),
    ("Lost", 0, "lost"),
];

pub(crate) const DEFAULT_STAGES_FR: [(&str, i16, &str); 6] = [
    ("Qualification", 10, "open"),
    ("Analyse des besoins", 25, "open"),
    ("Proposition", 50, "open"),
    ("Négociation", 75, "open"),
    ("Gagné", 100, "won"),
    ("Perdu", 0, "lost"),
];

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StageInput {
    pub name: String,
    #[serde(default)]
    pub probability: Option<i16>,
    /// `open` (default), `won` or `lost`.
    #[serde(default)]
    pub outcome: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PipelineInput {
    pub name: String,
    /// The stages in order; at least one.
    #[serde(default)]
    pub stages: Vec<StageInput>,
}

pub(crate) struct ValidStage {
    name: String,
    probability: i16,
    outcome: &'static str,
}

pub(crate) fn valid_stage(index: usize, input: &StageInput) -> Result<ValidStage, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = name_of(&format!("stages.{index}.name"), &input.name).map_err(|e| errors.push(e)).ok();
    let probability = input.probability.unwrap_or(0);
    if !(0..=100).contains(&probability) {
        errors.push(FieldError::new(format!("stages.{index}.probability"), "invalid_percent", "From 0 to 100."));
    }
    let outcome = match input.outcome.as_deref().unwrap_or("open") {
        "open" => "open",
        "won" => "won",
        "lost" => "lost",
        _ => {
            errors.push(FieldError::new(format!("stages.{index}.outcome"), "invalid_choice", "open, won or lost."));
            "open"
        }
    };
    match name {
        Some(name) if errors.is_empty() => Ok(ValidStage { name, probability, outcome }),
        _ => Err(errors),
    }
}

/// Renames a pipeline and/or replaces its stages' names, order, probability and outcome. Stages
/// listed with a `stage_id` are kept (so their deals stay); new ones are added; a stage left out is
/// removed only if no deal is in it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PipelineUpdate {
    pub name: Option<String>,
    pub stages: Option<Vec<StageUpdate>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StageUpdate {
    pub stage_id: Option<Uuid>,
    #[serde(flatten)]
    pub stage: StageInput,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BoardColumn {
    #[serde(flatten)]
    pub stage: Stage,
    /// Deals in the stage (visible to the member), all of them counted.
    pub count: i64,
    /// Sum of the amounts per currency, e.g. `{"EUR": "12500.00"}`.
    #[schema(value_type = Object)]
    pub totals: Value,
    /// The totals weighted by the stage's probability (amount × probability ÷ 100), per currency,
    /// e.g. `{"EUR": "6250.00"}` for 12,500 at 50 %.
    #[schema(value_type = Object)]
    pub weighted: Value,
    /// The most recently moved deals, at most `per_stage`.
    #[schema(value_type = Vec<Object>)]
    pub deals: Vec<Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Board {
    pub pipeline_id: Uuid,
    pub name: String,
    pub columns: Vec<BoardColumn>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct BoardParams {
    pub per_stage: Option<u32>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct MoveInput {
    pub stage_id: Uuid,
}

/// Cents of a decimal amount as the database writes it (`"12500.5"`, `"-3.25"`); `None` otherwise.
fn cents_of(amount: &str) -> Option<i128> {
    let (negative, digits) = match amount.trim().strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, amount.trim()),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || fraction.len() > 2 || !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let fraction: String = fraction.chars().chain(std::iter::repeat('0')).take(2).collect();
    let cents = whole.parse::<i128>().ok()? * 100 + fraction.parse::<i128>().ok()?;
    Some(if negative { -cents } else { cents })
}

/// Each currency's total × `probability` %, rounded half away from zero to the cent, as the same
/// `{"EUR": "6250.00"}` map. Computed exactly on cents, never in floating point.
pub fn weighted(totals: &Value, probability: i16) -> Value {
    let mut out = Map::new();
    for (currency, total) in totals.as_object().into_iter().flatten() {
        let Some(cents) = total.as_str().and_then(cents_of) else { continue };
        let product = cents * i128::from(probability);
        let rounded = (product.abs() + 50) / 100 * product.signum();
        let sign = if rounded < 0 { "-" } else { "" };
        out.insert(currency.clone(), json!(format!("{sign}{}.{:02}", rounded.abs() / 100, rounded.abs() % 100)));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_amounts_are_exact_to_the_cent() {
        let totals = json!({ "EUR": "13500.50", "USD": "0.05", "GBP": "-10.01" });
        assert_eq!(weighted(&totals, 10), json!({ "EUR": "1350.05", "USD": "0.01", "GBP": "-1.00" }));
        assert_eq!(weighted(&totals, 100), json!({ "EUR": "13500.50", "USD": "0.05", "GBP": "-10.01" }));
        assert_eq!(weighted(&json!({ "EUR": "12500" }), 0), json!({ "EUR": "0.00" }));
        assert_eq!(weighted(&json!({ "EUR": "not a number" }), 50), json!({}));
    }
}
