//! Saved views (issue #4 item 4): a list's filters, sort, search and chosen columns under a name,
//! personal or shared with the organization. A personal view is visible to its owner only; a
//! shared one to every member, and changed by its owner or by owners and managers.
//!
//! Files: this one holds the types and rules; [`store`] the SQL, [`service`] the writes that the
//! API ([`api`]) and the list pages ([`pages`]) both call.

pub mod api;
pub mod pages;
pub mod service;
pub mod store;

use kernel::authz::Principal;
use kernel::{AppError, FieldError};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::actions;
use crate::list::Filter;
use crate::object::ObjectType;
use crate::records::sort_parts;

pub use store::visible;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SavedView {
    pub view_id: Uuid,
    pub object_type: String,
    pub name: String,
    pub owner_id: Uuid,
    pub shared: bool,
    #[schema(value_type = Vec<Filter>)]
    pub filters: sqlx::types::Json<Vec<Filter>>,
    pub sort: String,
    pub q: String,
    #[schema(value_type = Vec<String>)]
    pub columns: sqlx::types::Json<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ViewInput {
    pub object_type: String,
    pub name: String,
    #[serde(default)]
    pub shared: bool,
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// A field key or `custom.<key>`, `-` first for descending.
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub q: String,
    /// The columns to show, in order; empty for the default columns.
    #[serde(default)]
    pub columns: Vec<String>,
}

fn field_known(object: ObjectType, key: &str) -> bool {
    sort_parts(object, key).is_some()
}

/// Checks a view against the object's fields, so a saved view never fails when opened.
pub fn validate(input: &ViewInput) -> Result<ObjectType, AppError> {
    let mut errors = Vec::new();
    let Some(object) = ObjectType::parse(&input.object_type) else {
        return Err(AppError::field("object_type", "invalid_choice", "lead, contact, company or deal."));
    };
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        errors.push(FieldError::new("name", "invalid_length", "Give a name of 1 to 100 characters."));
    }
    for (i, filter) in input.filters.iter().enumerate() {
        if !field_known(object, &filter.field) {
            errors.push(FieldError::new(format!("filters.{i}.field"), "unknown_field", "No such field."));
        }
    }
    if input.filters.len() > 20 {
        errors.push(FieldError::new("filters", "too_many", "At most 20 filters."));
    }
    let sort = input.sort.trim().trim_start_matches('-');
    if !sort.is_empty() && !field_known(object, sort) {
        errors.push(FieldError::new("sort", "unknown_field", "Cannot sort by this field."));
    }
    for (i, column) in input.columns.iter().enumerate() {
        if !field_known(object, column) {
            errors.push(FieldError::new(format!("columns.{i}"), "unknown_field", "No such field."));
        }
    }
    if input.columns.len() > 30 {
        errors.push(FieldError::new("columns", "too_many", "At most 30 columns."));
    }
    if input.q.chars().count() > 200 {
        errors.push(FieldError::new("q", "too_long", "At most 200 characters."));
    }
    if errors.is_empty() { Ok(object) } else { Err(AppError::Validation(errors)) }
}

/// A shared view is changed by its owner, or by owners and managers.
pub fn may_change(principal: &Principal, view: &SavedView) -> bool {
    view.owner_id == principal.user_id || principal.grant(actions::CRM_CONFIGURE).allows()
}
