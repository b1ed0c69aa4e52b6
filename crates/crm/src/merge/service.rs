//! The merge, with its history row, audit event and record event.

use super::*;
use kernel::audit::{AuditEvent, AuditLog};

pub async fn merge(
    tx: &mut OrgTx,
    audit: &AuditLog,
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
    let event =
        AuditEvent::new("record.merged").target(object.as_str(), id).payload(json!({ "merged_id": input.other_id }));
    audit.record(tx, event).await?;
    Ok(merged)
}
