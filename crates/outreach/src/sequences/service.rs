//! Sequences' reads and writes that other features use.

use kernel::{AppError, OrgTx};
use serde_json::Value;

use super::Target;
use super::template::Fields;

/// What a template may say about one recipient: the lead's or contact's own fields, its company's
/// name, and its custom fields by key (text values; a number or a date as written). `None` when
/// the record no longer exists (or is not visible in this transaction).
pub async fn recipient_fields(tx: &mut OrgTx, target: Target) -> Result<Option<Fields>, AppError> {
    let row = match target {
        Target::Contact(id) => sqlx::query!(
            r#"select c.first_name, c.last_name, c.email, c.title, c.custom,
                      coalesce((select co.name from contact_companies cc
                                  join companies co on co.org_id = cc.org_id and co.company_id = cc.company_id
                                 where cc.org_id = c.org_id and cc.contact_id = c.contact_id
                                 order by cc.is_primary desc, cc.created_at limit 1), '') as "company!"
                 from contacts c where c.org_id = $1 and c.contact_id = $2"#,
            tx.org().0,
            id
        )
        .fetch_optional(tx.conn())
        .await?
        .map(|r| (r.first_name, r.last_name, r.email, r.title, r.company, r.custom)),
        Target::Lead(id) => sqlx::query!(
            r#"select first_name, last_name, email, title, company_name, custom
                 from leads where org_id = $1 and lead_id = $2"#,
            tx.org().0,
            id
        )
        .fetch_optional(tx.conn())
        .await?
        .map(|r| (r.first_name, r.last_name, r.email, r.title, r.company_name, r.custom)),
    };
    let Some((first_name, last_name, email, title, company, custom)) = row else {
        return Ok(None);
    };
    let mut fields = Fields::new();
    if let Value::Object(values) = custom {
        for (key, value) in values {
            let text = match value {
                Value::String(text) => text,
                Value::Null => String::new(),
                other => other.to_string(),
            };
            fields.insert(key, text);
        }
    }
    // The record's own fields win over a custom field of the same key.
    for (key, value) in
        [("first_name", first_name), ("last_name", last_name), ("email", email), ("title", title), ("company", company)]
    {
        fields.insert(key.to_owned(), value);
    }
    Ok(Some(fields))
}
