//! Converting a lead, with its history rows and record event.

use super::*;

/// Finds the record to link: the one named, else one matching `lookup`, else a new one.
pub(crate) async fn link_or_create(
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
    // The work on the lead (notes, open and done tasks, calls, files) follows the person to the
    // contact, where the sales team will look for it; the lead keeps its history of changes.
    crate::worklog::move_work(tx, (ObjectType::Lead, lead_id), (ObjectType::Contact, contact)).await?;
    let status: Map<String, Value> = [("status".to_string(), json!("converted"))].into_iter().collect();
    records::update(tx, ObjectType::Lead, lead_id, &status, write).await?;
    sqlx::query!(
        "update leads set converted_at = $3, converted_contact_id = $4, converted_company_id = $5, converted_deal_id = $6
          where org_id = $1 and lead_id = $2",
        tx.org().0,
        lead_id,
        write.now,
        contact,
        company,
        deal
    )
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
