//! SQL over custom-field definitions.

use super::*;

/// The custom fields of `object`, in display order.
pub async fn definitions(tx: &mut OrgTx, object: ObjectType) -> Result<Vec<CustomField>, AppError> {
    Ok(sqlx::query_as(
        "select field_id, object_type, key, label, kind, options, required, position from custom_fields
          where org_id = $1 and object_type = $2 order by position, key",
    )
    .bind(tx.org())
    .bind(object.as_str())
    .fetch_all(tx.conn())
    .await?)
}
