//! SQL over custom-field definitions.

use super::*;

/// The custom fields of `object`, in display order.
pub async fn definitions(tx: &mut OrgTx, object: ObjectType) -> Result<Vec<CustomField>, AppError> {
    Ok(sqlx::query_as!(
        CustomField,
        r#"select field_id, object_type, key, label, kind, options as "options: sqlx::types::Json<Vec<String>>",
                  required, position from custom_fields
          where org_id = $1 and object_type = $2 order by position, key"#,
        tx.org().0,
        object.as_str()
    )
    .fetch_all(tx.conn())
    .await?)
}
