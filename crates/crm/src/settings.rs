//! CRM configuration by owners and managers (`CrmConfigure`): custom-field definitions and record
//! visibility per object type.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kernel::audit::AuditEvent;
use kernel::authz::Principal;
use kernel::error::{ApiJson, on_constraint};
use kernel::web::AppState;
use kernel::{AppError, FieldError, OrgTx};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::custom::{self, CustomField, KINDS};
use crate::http::parse_id;
use crate::object::ObjectType;

// ---------------------------------------------------------------- custom fields

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

fn validate_field(input: &CustomFieldInput) -> Result<(ObjectType, Vec<String>), AppError> {
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
    if options.len() > 200 {
        errors.push(FieldError::new("options", "too_many", "At most 200 options."));
    }
    match object {
        Some(object) if errors.is_empty() => Ok((object, options)),
        _ => Err(AppError::Validation(errors)),
    }
}

pub async fn create_field(
    tx: &mut OrgTx,
    input: &CustomFieldInput,
    now: time::OffsetDateTime,
) -> Result<CustomField, AppError> {
    let (object, options) = validate_field(input)?;
    let id = Uuid::now_v7();
    sqlx::query(
        "insert into custom_fields (org_id, field_id, object_type, key, label, kind, options, required, position, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8,
                 (select coalesce(max(position) + 1, 0) from custom_fields where org_id = $1 and object_type = $3), $9)",
    )
    .bind(tx.org())
    .bind(id)
    .bind(object.as_str())
    .bind(&input.key)
    .bind(input.label.trim())
    .bind(&input.kind)
    .bind(sqlx::types::Json(&options))
    .bind(input.required)
    .bind(now)
    .execute(tx.conn())
    .await
    .map_err(|e| {
        on_constraint(e, |name| {
            name.contains("key").then(|| AppError::field("key", "duplicate", "This object already has a field with this key."))
        })
    })?;
    custom::definitions(tx, object).await?.into_iter().find(|f| f.field_id == id).ok_or(AppError::NotFound)
}

pub async fn api_list_fields(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<CustomField>>, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let mut all = Vec::new();
    for object in ObjectType::ALL {
        all.extend(custom::definitions(&mut tx, object).await?);
    }
    tx.commit().await?;
    Ok(Json(all))
}

pub async fn api_create_field(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<CustomFieldInput>,
) -> Result<(StatusCode, Json<CustomField>), AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let field = create_field(&mut tx, &input, state.clock.now()).await?;
    let event = AuditEvent::new("custom_field.created").target("custom_field", field.field_id);
    state.audit.record(&mut tx, event).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(field)))
}

/// Deletes a definition and every record's value for it.
pub async fn delete_field(tx: &mut OrgTx, id: Uuid) -> Result<(), AppError> {
    let found: Option<(String, String)> =
        sqlx::query_as("delete from custom_fields where org_id = $1 and field_id = $2 returning object_type, key")
            .bind(tx.org())
            .bind(id)
            .fetch_optional(tx.conn())
            .await?;
    let (object, key) = found.ok_or(AppError::NotFound)?;
    let object = ObjectType::parse(&object).ok_or(AppError::NotFound)?;
    let sql = format!("update {} set custom = custom - $2 where org_id = $1 and custom ? $2", object.table());
    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tx.org()).bind(key).execute(tx.conn()).await?;
    Ok(())
}

pub async fn api_delete_field(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    delete_field(&mut tx, id).await?;
    state.audit.record(&mut tx, AuditEvent::new("custom_field.deleted").target("custom_field", id)).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- visibility

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Visibility {
    /// Per object type (`lead`, `contact`, `company`, `deal`): `all` or `own`.
    #[schema(value_type = Object)]
    pub modes: std::collections::BTreeMap<String, String>,
}

pub async fn visibility(tx: &mut OrgTx) -> Result<Visibility, AppError> {
    let rows: Vec<(String, String)> = sqlx::query_as("select object_type, mode from crm_visibility where org_id = $1")
        .bind(tx.org())
        .fetch_all(tx.conn())
        .await?;
    let modes = ObjectType::ALL
        .iter()
        .map(|t| {
            let mode =
                rows.iter().find(|(o, _)| o == t.as_str()).map(|(_, m)| m.clone()).unwrap_or_else(|| "all".into());
            (t.as_str().to_string(), mode)
        })
        .collect();
    Ok(Visibility { modes })
}

pub async fn set_visibility(tx: &mut OrgTx, input: &Visibility, now: time::OffsetDateTime) -> Result<(), AppError> {
    let mut errors = Vec::new();
    for (object, mode) in &input.modes {
        if ObjectType::parse(object).is_none() {
            errors.push(FieldError::new(
                format!("modes.{object}"),
                "unknown_object",
                "lead, contact, company or deal.",
            ));
        } else if !matches!(mode.as_str(), "all" | "own") {
            errors.push(FieldError::new(format!("modes.{object}"), "invalid_choice", "all or own."));
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    for (object, mode) in &input.modes {
        let object = ObjectType::parse(object).map(|o| o.as_str()).unwrap_or_default();
        sqlx::query(
            "insert into crm_visibility (org_id, object_type, mode, updated_at) values ($1, $2, $3, $4)
             on conflict (org_id, object_type) do update set mode = excluded.mode, updated_at = excluded.updated_at",
        )
        .bind(tx.org())
        .bind(object)
        .bind(mode)
        .bind(now)
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

pub async fn api_get_visibility(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Visibility>, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let v = visibility(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(v))
}

pub async fn api_put_visibility(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<Visibility>,
) -> Result<Json<Visibility>, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    set_visibility(&mut tx, &input, state.clock.now()).await?;
    let event = AuditEvent::new("crm.visibility_changed").payload(json!({ "modes": input.modes }));
    state.audit.record(&mut tx, event).await?;
    let v = visibility(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(v))
}
