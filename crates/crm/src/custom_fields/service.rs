//! Creating and deleting custom fields, each audited.

use super::*;
use kernel::audit::{AuditEvent, AuditLog};

pub async fn create_field(
    tx: &mut OrgTx,
    audit: &AuditLog,
    input: &CustomFieldInput,
    now: time::OffsetDateTime,
) -> Result<CustomField, AppError> {
    let (object, options) = validate_field(input)?;
    let count = sqlx::query_scalar!(
        r#"select count(*) as "count!" from custom_fields where org_id = $1 and object_type = $2"#,
        tx.org().0,
        object.as_str()
    )
    .fetch_one(tx.conn())
    .await?;
    if count >= crate::limits::CUSTOM_FIELDS_PER_OBJECT {
        return Err(AppError::Validation(vec![crate::limits::too_many("object_type", "too_many_custom_fields")]));
    }
    let id = Uuid::now_v7();
    sqlx::query!(
        "insert into custom_fields (org_id, field_id, object_type, key, label, kind, options, required, position, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8,
                 (select coalesce(max(position) + 1, 0) from custom_fields where org_id = $1 and object_type = $3), $9)",
        tx.org().0,
        id,
        object.as_str(),
        &input.key,
        input.label.trim(),
        &input.kind,
        sqlx::types::Json(&options) as _,
        input.required,
        now
    )
    .execute(tx.conn())
    .await
    .map_err(|e| {
        on_constraint(e, |name| {
            name.contains("key").then(|| AppError::field("key", "duplicate", "This object already has a field with this key."))
        })
    })?;
    audit.record(tx, AuditEvent::new("custom_field.created").target("custom_field", id)).await?;
    definitions(tx, object).await?.into_iter().find(|f| f.field_id == id).ok_or(AppError::NotFound)
}

/// Deletes a definition and every record's value for it.
pub async fn delete_field(tx: &mut OrgTx, audit: &AuditLog, id: Uuid) -> Result<(), AppError> {
    let found: Option<(String, String)> = sqlx::query!(
        "delete from custom_fields where org_id = $1 and field_id = $2 returning object_type, key",
        tx.org().0,
        id
    )
    .fetch_optional(tx.conn())
    .await?
    .map(|row| (row.object_type, row.key));
    let (object, key) = found.ok_or(AppError::NotFound)?;
    let object = ObjectType::parse(&object).ok_or(AppError::NotFound)?;
    let sql = format!("update {} set custom = custom - $2 where org_id = $1 and custom ? $2", object.table());
    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tx.org()).bind(key).execute(tx.conn()).await?;
    audit.record(tx, AuditEvent::new("custom_field.deleted").target("custom_field", id)).await?;
    Ok(())
}
