//! Writes to records, each with its history rows, audit event and record events, called alike by
//! the API, the pages, imports, forms and merges.

use super::*;
use crate::actions;
use kernel::audit::{AuditEvent, AuditLog};
use kernel::authz::{Grant, Principal};
use kernel::web::AppState;
use kernel::{AppError, FieldError};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::http::write_ctx;
use crate::object::ObjectType;
use crate::records::{self, Source};

/// A record opened by a member (its page, or `GET` on the API): P0-04, reading a person's record
/// is recorded, whichever door it came through. Lists and search are not reads of one record.
pub async fn read(tx: &mut OrgTx, audit: &AuditLog, object: ObjectType, id: Uuid) -> Result<Value, AppError> {
    let record = get(tx, object, id).await?;
    audit.record(tx, AuditEvent::new("record.viewed").target(object.as_str(), id)).await?;
    Ok(record)
}

/// Creates a record. Every field is checked; nothing is written unless all are valid.
pub async fn create(
    tx: &mut OrgTx,
    object: ObjectType,
    input: &Map<String, Value>,
    ctx: &WriteCtx,
) -> Result<Created, AppError> {
    let mut errors = Vec::new();
    let Parsed { mut cells, custom } = parse_input(object, input, &mut errors);
    for def in object.fields().iter().filter(|d| d.required) {
        if !cells.iter().any(|(d, _)| d.key == def.key) && !errors.iter().any(|e| e.field == def.key) {
            errors.push(FieldError::new(def.key, "required", "This field is required."));
        }
    }
    check_identity(object, &cells, &mut errors);
    check_record_refs(tx, &cells, &mut errors).await?;
    if object == ObjectType::Deal {
        resolve_deal_stage(tx, ctx.now, &mut cells, &mut errors).await?;
    }
    if let (Some(user), false) = (ctx.user, cells.iter().any(|(d, _)| d.key == "owner_id")) {
        set_owner(object, &mut cells, user);
    }
    let definitions = custom_fields::definitions(tx, object).await?;
    let custom_values = match custom_fields::validate(&definitions, &Map::new(), custom.as_ref()) {
        Ok(values) => values,
        Err(e) => {
            errors.extend(custom_errors(e));
            Map::new()
        }
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let id = Uuid::now_v7();
    insert_row(tx, object, id, &cells, &custom_values, ctx).await?;
    record_change(tx, object, id, "created", "", None, None, ctx).await?;
    let possible_duplicates = duplicates_of(tx, object, id).await?;
    let record = get(tx, object, id).await?;
    let facts = json!({ "record": record });
    record_events::record_event(tx, record_events::CREATED, object, id, ctx.source, ctx.now, facts).await?;
    Ok(Created { id, record, possible_duplicates })
}

/// Changes the submitted fields of a record (PATCH semantics). Unchanged values write nothing;
/// each changed field leaves a history row with its old and new value.
pub async fn update(
    tx: &mut OrgTx,
    object: ObjectType,
    id: Uuid,
    patch: &Map<String, Value>,
    ctx: &WriteCtx,
) -> Result<Value, AppError> {
    let current = find(tx, object, id, true).await?.ok_or(AppError::NotFound)?;
    let mut errors = Vec::new();
    let Parsed { mut cells, custom } = parse_input(object, patch, &mut errors);
    if object == ObjectType::Deal && (has_value(&cells, "pipeline_id") || has_value(&cells, "stage_id")) {
        // A new pipeline without a stage lands in its first stage; a new stage brings its pipeline.
        resolve_deal_stage(tx, ctx.now, &mut cells, &mut errors).await?;
    }
    let mut merged_identity: Vec<(&'static FieldDef, Cell)> = object
        .fields()
        .iter()
        .map(|d| (d, Cell { json: current.get(d.key).cloned().unwrap_or(Value::Null), sql: None }))
        .collect();
    for (def, cell) in &cells {
        merged_identity.retain(|(d, _)| d.key != def.key);
        merged_identity.push((def, cell.clone()));
    }
    check_identity(object, &merged_identity, &mut errors);
    // Only a changed reference is checked: a form that sends back a link the member cannot follow
    // (a visible deal of a hidden company) keeps it.
    let new_refs: Vec<(&'static FieldDef, Cell)> =
        cells.iter().filter(|(def, cell)| !same_value(current.get(def.key), &cell.json)).cloned().collect();
    check_record_refs(tx, &new_refs, &mut errors).await?;
    let current_custom = current.get("custom").and_then(Value::as_object).cloned().unwrap_or_default();
    let definitions = custom_fields::definitions(tx, object).await?;
    let custom_values = match custom_fields::validate(&definitions, &current_custom, custom.as_ref()) {
        Ok(values) => values,
        Err(e) => {
            errors.extend(custom_errors(e));
            Map::new()
        }
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let changed: Vec<&(&'static FieldDef, Cell)> =
        cells.iter().filter(|(def, cell)| !same_value(current.get(def.key), &cell.json)).collect();
    let custom_changed = custom_values != current_custom;
    if changed.is_empty() && !custom_changed {
        return Ok(current);
    }
    let mut sets = vec!["updated_at = $3".to_string(), "custom = $4".to_string()];
    for (i, (def, _)) in changed.iter().enumerate() {
        sets.push(format!("{} = ${}::{}", def.key, i + 5, def.kind.sql_type()));
    }
    if object == ObjectType::Deal && changed.iter().any(|(d, _)| d.key == "stage_id") {
        sets.push("stage_changed_at = $3".into());
    }
    let sql = format!(
        "update {} t set {} where t.org_id = $1 and t.{} = $2",
        object.table(),
        sets.join(", "),
        object.id_column()
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tx.org())
        .bind(id)
        .bind(ctx.now)
        .bind(sqlx::types::Json(&custom_values));
    for (_, cell) in &changed {
        query = query.bind(cell.sql.clone());
    }
    query.execute(tx.conn()).await.map_err(|e| map_db_error(object, e))?;
    if object == ObjectType::Deal && changed.iter().any(|(d, _)| d.key == "stage_id") {
        // `closed_at` follows the new stage: computed from the row as updated.
        sqlx::query!(
            "update deals t set closed_at = case when s.outcome = 'open' then null else $3::timestamptz end
               from pipeline_stages s where t.org_id = $1 and t.deal_id = $2
                and s.org_id = t.org_id and s.stage_id = t.stage_id",
            tx.org().0,
            id,
            ctx.now
        )
        .execute(tx.conn())
        .await?;
    }
    for (def, cell) in &changed {
        record_change(tx, object, id, "updated", def.key, current.get(def.key), Some(&cell.json), ctx).await?;
    }
    let mut fields: Vec<String> = changed.iter().map(|(d, _)| d.key.to_string()).collect();
    for key in custom_keys(&current_custom, &custom_values) {
        let (old, new) = (current_custom.get(&key), custom_values.get(&key));
        if old != new {
            record_change(tx, object, id, "updated", &format!("custom.{key}"), old, new, ctx).await?;
            fields.push(format!("custom.{key}"));
        }
    }
    let record = get(tx, object, id).await?;
    if let Some((_, stage)) = changed.iter().find(|(d, _)| d.key == "stage_id") {
        let facts = json!({ "record": record, "from_stage_id": current.get("stage_id"), "to_stage_id": stage.json });
        record_events::record_event(tx, record_events::STAGE_CHANGED, object, id, ctx.source, ctx.now, facts).await?;
    }
    let facts = json!({ "record": record, "changed_fields": fields });
    record_events::record_event(tx, record_events::UPDATED, object, id, ctx.source, ctx.now, facts).await?;
    Ok(record)
}

/// Deletes a record and, by cascade, its notes, tasks, activities and history. `only_owned_by`
/// narrows a member whose grant is their own records.
pub async fn delete(
    tx: &mut OrgTx,
    object: ObjectType,
    id: Uuid,
    only_owned_by: Option<Uuid>,
    source: Source,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    let sql = format!(
        "delete from {} where org_id = $1 and {} = $2 and ($3::uuid is null or owner_id = $3)",
        object.table(),
        object.id_column()
    );
    let done =
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tx.org()).bind(id).bind(only_owned_by).execute(tx.conn()).await?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    record_events::record_event(tx, record_events::DELETED, object, id, source, now, json!({})).await
}

/// Deletes a record; a member whose grant is their own records deletes only those.
pub async fn delete_record(
    state: &AppState,
    principal: &Principal,
    object: ObjectType,
    id: Uuid,
    source: Source,
) -> Result<(), AppError> {
    let only_owned_by = match principal.grant(actions::RECORDS_DELETE) {
        Grant::Own => Some(principal.user_id),
        _ => None,
    };
    let mut tx = principal.begin(&state.db).await?;
    // The record is locked first: an upload committing between the listing of its files and the
    // deletion would leave a blob whose row the cascade removed.
    let lock = format!("select 1 from {} where org_id = $1 and {} = $2 for update", object.table(), object.id_column());
    sqlx::query(sqlx::AssertSqlSafe(lock)).bind(tx.org()).bind(id).execute(tx.conn()).await?;
    // The record's files go with it by cascade; their blobs once the deletion is committed.
    let blobs = crate::files::blobs_of(&mut tx, object, &[id]).await?;
    records::delete(&mut tx, object, id, only_owned_by, source, state.clock.now()).await?;
    let event = AuditEvent::new("record.deleted").target(object.as_str(), id);
    state.audit.record(&mut tx, event).await?;
    tx.commit().await?;
    crate::files::remove_blobs(state, blobs).await;
    Ok(())
}

/// A bulk operation on up to 1,000 records, all-or-nothing.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum BulkInput {
    /// Apply the same field changes to every record.
    Update {
        ids: Vec<Uuid>,
        #[schema(value_type = Object)]
        changes: Map<String, Value>,
    },
    /// Give every record to a member.
    Assign { ids: Vec<Uuid>, owner_id: Uuid },
    /// Delete every record; `confirm` must equal the number of ids.
    Delete { ids: Vec<Uuid>, confirm: usize },
}

pub const BULK_MAX: usize = 1000;

pub async fn bulk_apply(
    state: &AppState,
    principal: &Principal,
    object: ObjectType,
    input: BulkInput,
    source: Source,
) -> Result<usize, AppError> {
    let ids = match &input {
        BulkInput::Update { ids, .. } | BulkInput::Assign { ids, .. } | BulkInput::Delete { ids, .. } => ids.clone(),
    };
    if ids.is_empty() || ids.len() > BULK_MAX {
        return Err(AppError::field("ids", "invalid_count", format!("Select from 1 to {BULK_MAX} records.")));
    }
    let mut tx = principal.begin(&state.db).await?;
    let write = write_ctx(state, principal, source);
    let mut blobs = Vec::new();
    match &input {
        BulkInput::Update { changes, .. } => {
            for id in &ids {
                records::update(&mut tx, object, *id, changes, &write).await?;
            }
        }
        BulkInput::Assign { owner_id, .. } => {
            let changes: Map<String, Value> = [("owner_id".to_string(), json!(owner_id))].into_iter().collect();
            for id in &ids {
                records::update(&mut tx, object, *id, &changes, &write).await?;
            }
        }
        BulkInput::Delete { confirm, .. } => {
            if *confirm != ids.len() {
                return Err(AppError::Validation(vec![FieldError::new(
                    "confirm",
                    "confirmation_mismatch",
                    format!("Confirm by sending the number of records to delete ({}).", ids.len()),
                )]));
            }
            blobs = crate::files::blobs_of(&mut tx, object, &ids).await?;
            for id in &ids {
                records::delete(&mut tx, object, *id, None, source, state.clock.now()).await?;
            }
            let event = AuditEvent::new("record.bulk_deleted")
                .payload(json!({ "object": object.as_str(), "count": ids.len() }));
            state.audit.record(&mut tx, event).await?;
        }
    }
    tx.commit().await?;
    crate::files::remove_blobs(state, blobs).await;
    Ok(ids.len())
}
