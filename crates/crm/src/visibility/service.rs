//! Changing the visibility modes, audited.

use super::*;
use kernel::audit::{AuditEvent, AuditLog};
use serde_json::json;

pub async fn set_visibility(
    tx: &mut OrgTx,
    audit: &AuditLog,
    input: &Visibility,
    now: time::OffsetDateTime,
) -> Result<(), AppError> {
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
        sqlx::query!(
            "insert into crm_visibility (org_id, object_type, mode, updated_at) values ($1, $2, $3, $4)
             on conflict (org_id, object_type) do update set mode = excluded.mode, updated_at = excluded.updated_at",
            tx.org().0,
            object,
            mode,
            now
        )
        .execute(tx.conn())
        .await?;
    }
    audit.record(tx, AuditEvent::new("crm.visibility_changed").payload(json!({ "modes": input.modes }))).await?;
    Ok(())
}
