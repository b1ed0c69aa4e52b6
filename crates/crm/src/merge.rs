//! Merging duplicates (issue #4 item 5) and converting a lead (item 1), each in one transaction.
//!
//! * **Merge** keeps the record `{id}` and folds `other` into it: every relation moves (notes,
//!   tasks, activities, files, field history, links to companies, contacts and deals,
//!   conversions), the fields chosen from `other` are copied, custom values are combined (the
//!   survivor's win unless chosen from `other`), `other` is deleted, a `merged` history row and a
//!   `record.merged` audit event are written.
//! * **Conversion** turns a lead into a contact (or links the existing contact with its email), a
//!   company (or the existing one with its name) and optionally a deal. The lead stays, marked
//!   `converted` and pointing at what it became, so its own notes, activities and UTM attribution
//!   remain where they were; the new contact's timeline gets a `converted` entry naming the lead.

use axum::Json;
use axum::extract::{Path, State};
use kernel::audit::AuditEvent;
use kernel::authz::Principal;
use kernel::error::ApiJson;
use kernel::web::AppState;
use kernel::{AppError, FieldError, OrgTx};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::http::{Object, parse_id, write_ctx};
use crate::object::ObjectType;
use crate::record_events;
use crate::records::{self, Source, WriteCtx};
use crate::relations::{self, Link, LinkInput};

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct MergeInput {
    /// The duplicate folded into this record, then deleted.
    pub other_id: Uuid,
    /// Fields whose value comes from the other record: `{"email": "other"}`; `custom.<key>` too.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub keep: Map<String, Value>,
}

/// Statements that move `other`'s relations to the survivor ($2 survivor, $3 other).
fn moves(object: ObjectType) -> Vec<String> {
    let column = object.id_column();
    let mut sql: Vec<String> = ["notes", "tasks", "activities", "files", "record_changes"]
        .iter()
        .map(|table| format!("update {table} set {column} = $2 where org_id = $1 and {column} = $3"))
        .collect();
    match object {
        ObjectType::Contact => {
            sql.push(
                "insert into contact_companies (org_id, contact_id, company_id, role, is_primary, created_at)
                 select org_id, $2, company_id, role, false, created_at from contact_companies
                  where org_id = $1 and contact_id = $3 on conflict do nothing"
                    .into(),
            );
            sql.push(
                "insert into deal_contacts (org_id, deal_id, contact_id, role, created_at)
                 select org_id, deal_id, $2, role, created_at from deal_contacts
                  where org_id = $1 and contact_id = $3 on conflict do nothing"
                    .into(),
            );
            sql.push(
                "update leads set converted_contact_id = $2 where org_id = $1 and converted_contact_id = $3".into(),
            );
        }
        ObjectType::Company => {
            sql.push(
                "insert into contact_companies (org_id, contact_id, company_id, role, is_primary, created_at)
                 select org_id, contact_id, $2, role, is_primary, created_at from contact_companies
                  where org_id = $1 and company_id = $3 on conflict do nothing"
                    .into(),
            );
            sql.push("update deals set company_id = $2 where org_id = $1 and company_id = $3".into());
            sql.push(
                "update leads set converted_company_id = $2 where org_id = $1 and converted_company_id = $3".into(),
            );
        }
        ObjectType::Deal => {
            sql.push(
                "insert into deal_contacts (org_id, deal_id, contact_id, role, created_at)
                 select org_id, $2, contact_id, role, created_at from deal_contacts
                  where org_id = $1 and deal_id = $3 on conflict do nothing"
                    .into(),
            );
            sql.push("update leads set converted_deal_id = $2 where org_id = $1 and converted_deal_id = $3".into());
        }
        ObjectType::Lead => {}
    }
    sql
}

pub async fn merge(
    tx: &mut OrgTx,
    object: ObjectType,
    id: Uuid,
    input: &MergeInput,
    write: &WriteCtx,
) -> Result<Value, AppError> {
    if input.other_id == id {
        return Err(AppError::field("other_id", "same_record", "A record cannot be merged with itself."));
    }
    let survivor = records::get(tx, object, id).await?;
    let other = records::get(tx, object, input.other_id)
        .await
        .map_err(|_| AppError::field("other_id", "not_found", "No such record."))?;
    let mut errors = Vec::new();
    let mut patch = Map::new();
    let mut custom = survivor.get("custom").and_then(Value::as_object).cloned().unwrap_or_default();
    let other_custom = other.get("custom").and_then(Value::as_object).cloned().unwrap_or_default();
    for (key, value) in &other_custom {
        custom.entry(key.clone()).or_insert_with(|| value.clone());
    }
    for (field, side) in &input.keep {
        if side != "other" && side != "this" {
            errors.push(FieldError::new(format!("keep.{field}"), "invalid_choice", "\"this\" or \"other\"."));
            continue;
        }
        if side == "this" {
            continue;
        }
        match field.strip_prefix("custom.") {
            Some(key) => match other_custom.get(key) {
                Some(value) => {
                    custom.insert(key.to_string(), value.clone());
                }
                None => {
                    custom.remove(key);
                }
            },
            None if object.field(field).is_some() => {
                patch.insert(field.clone(), other.get(field).cloned().unwrap_or(Value::Null));
            }
            None => errors.push(FieldError::new(format!("keep.{field}"), "unknown_field", "No such field.")),
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    for statement in moves(object) {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .bind(tx.org())
            .bind(id)
            .bind(input.other_id)
            .execute(tx.conn())
            .await?;
    }
    // The other record goes before the survivor takes its values, so a unique email can move.
    records::delete(tx, object, input.other_id, None, Source::Merge, write.now).await?;
    patch.insert("custom".into(), Value::Object(custom));
    let merge_ctx = WriteCtx { source: Source::Merge, ..*write };
    let merged = records::update(tx, object, id, &patch, &merge_ctx).await?;
    records::record_change(tx, object, id, "merged", "", Some(&records::summary(&other)), None, &merge_ctx).await?;
    let facts = json!({ "record": merged, "merged_id": input.other_id });
    record_events::record_event(tx, record_events::MERGED, object, id, write.source, write.now, facts).await?;
    Ok(merged)
}

pub async fn api_merge<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<MergeInput>,
) -> Result<Json<Value>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let merged = merge(&mut tx, O::TYPE, id, &input, &write_ctx(&state, &principal, Source::Api)).await?;
    let event =
        AuditEvent::new("record.merged").target(O::TYPE.as_str(), id).payload(json!({ "merged_id": input.other_id }));
    state.audit.record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(Json(merged))
}

// ---------------------------------------------------------------- lead conversion

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

fn text(record: &Value, key: &str) -> String {
    record.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// Finds the record to link: the one named, else one matching `lookup`, else a new one.
async fn link_or_create(
    tx: &mut OrgTx,
    object: ObjectType,
    part: &ConvertPart,
    defaults: Map<String, Value>,
    lookup: Option<(&'static str, String)>,
    write: &WriteCtx,
    field: &str,
) -> Result<Uuid, AppError> {
    if let Some(existing) = part.existing_id {
        records::get(tx, object, existing)
            .await
            .map_err(|_| AppError::field(format!("{field}.existing_id"), "not_found", "No such record."))?;
        return Ok(existing);
    }
    if let Some((condition, value)) = lookup.filter(|(_, v)| !v.is_empty()) {
        let sql =
            format!("select {} from {} where org_id = $1 and {condition} limit 1", object.id_column(), object.table());
        if let Some(found) =
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(tx.org()).bind(value).fetch_optional(tx.conn()).await?
        {
            return Ok(found);
        }
    }
    let mut input = defaults;
    input.extend(part.fields.clone());
    let created = records::create(tx, object, &input, write).await.map_err(|e| match e {
        AppError::Validation(errors) => AppError::Validation(
            errors.into_iter().map(|e| FieldError { field: format!("{field}.{}", e.field), ..e }).collect(),
        ),
        other => other,
    })?;
    Ok(created.id)
}

pub async fn convert(
    tx: &mut OrgTx,
    lead_id: Uuid,
    input: &ConvertInput,
    write: &WriteCtx,
) -> Result<Converted, AppError> {
    let lead = records::get(tx, ObjectType::Lead, lead_id).await?;
    if text(&lead, "status") == "converted" {
        return Err(AppError::Conflict("This lead is already converted.".into()));
    }
    let contact_defaults: Map<String, Value> = ["first_name", "last_name", "email", "phone", "title"]
        .iter()
        .map(|k| (k.to_string(), lead.get(*k).cloned().unwrap_or(Value::Null)))
        .collect();
    let contact = link_or_create(
        tx,
        ObjectType::Contact,
        &input.contact,
        contact_defaults,
        Some(("email = $2", text(&lead, "email"))),
        write,
        "contact",
    )
    .await?;
    let company_name = text(&lead, "company_name");
    let company = match (&input.company, input.skip_company) {
        (_, true) => None,
        (Some(part), false) => {
            Some(link_or_create(tx, ObjectType::Company, part, Map::new(), None, write, "company").await?)
        }
        (None, false) if !company_name.is_empty() => {
            let defaults = [("name".to_string(), Value::String(company_name.clone()))].into_iter().collect();
            Some(
                link_or_create(
                    tx,
                    ObjectType::Company,
                    &ConvertPart::default(),
                    defaults,
                    Some(("lower(name) = lower($2)", company_name)),
                    write,
                    "company",
                )
                .await?,
            )
        }
        (None, false) => None,
    };
    if let Some(company) = company {
        let role = LinkInput { role: text(&lead, "title"), is_primary: true };
        relations::link(tx, Link::ContactCompany, contact, company, &role, write).await?;
    }
    let deal = match &input.deal {
        None => None,
        Some(part) => {
            let mut defaults = Map::new();
            if let Some(company) = company {
                defaults.insert("company_id".into(), json!(company));
            }
            let deal = link_or_create(tx, ObjectType::Deal, part, defaults, None, write, "deal").await?;
            relations::link(tx, Link::DealContact, deal, contact, &LinkInput::default(), write).await?;
            Some(deal)
        }
    };
    let status: Map<String, Value> = [("status".to_string(), json!("converted"))].into_iter().collect();
    records::update(tx, ObjectType::Lead, lead_id, &status, write).await?;
    sqlx::query(
        "update leads set converted_at = $3, converted_contact_id = $4, converted_company_id = $5, converted_deal_id = $6
          where org_id = $1 and lead_id = $2",
    )
    .bind(tx.org())
    .bind(lead_id)
    .bind(write.now)
    .bind(contact)
    .bind(company)
    .bind(deal)
    .execute(tx.conn())
    .await?;
    let became = json!({ "contact_id": contact, "company_id": company, "deal_id": deal });
    records::record_change(tx, ObjectType::Lead, lead_id, "converted", "", None, Some(&became), write).await?;
    let from = json!({ "lead_id": lead_id, "display_name": lead.get("display_name") });
    records::record_change(tx, ObjectType::Contact, contact, "converted", "", Some(&from), None, write).await?;
    let mut facts = became;
    if let Value::Object(map) = &mut facts {
        map.insert("record".into(), records::get(tx, ObjectType::Lead, lead_id).await?);
    }
    record_events::record_event(
        tx,
        record_events::CONVERTED,
        ObjectType::Lead,
        lead_id,
        write.source,
        write.now,
        facts,
    )
    .await?;
    Ok(Converted { lead_id, contact_id: contact, company_id: company, deal_id: deal })
}

pub async fn api_convert(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ConvertInput>,
) -> Result<Json<Converted>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let converted = convert(&mut tx, id, &input, &write_ctx(&state, &principal, Source::Api)).await?;
    tx.commit().await?;
    Ok(Json(converted))
}
