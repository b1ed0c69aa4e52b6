//! The writes of landing-page forms, each with its audit event: the API and the pages both call
//! these, so neither can change a form without leaving a trace.

use kernel::audit::{AuditEvent, AuditLog};
use kernel::{AppError, FieldError, OrgTx};
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Attribution, FormInput, LeadForm, settle, store};
use crate::http;
use crate::object::ObjectType;
use crate::records::{self, Source, WriteCtx};

async fn check_owner(tx: &mut OrgTx, owner: Option<Uuid>) -> Result<(), AppError> {
    let Some(owner) = owner else { return Ok(()) };
    if store::is_member(tx, owner).await? {
        Ok(())
    } else {
        Err(AppError::field("owner_id", "unknown_member", "No such member."))
    }
}

pub async fn create(
    tx: &mut OrgTx,
    audit: &AuditLog,
    input: FormInput,
    user: Uuid,
    now: OffsetDateTime,
) -> Result<LeadForm, AppError> {
    let values = settle(None, input)?;
    check_owner(tx, values.owner_id).await?;
    if store::count(tx).await? >= crate::limits::FORMS_PER_ORG {
        return Err(AppError::Validation(vec![crate::limits::too_many("name", "too_many_forms")]));
    }
    let id = Uuid::now_v7();
    // 256 random bits: the URL cannot be guessed, and it names no org.
    let public_id = kernel::token::generate();
    store::insert(tx, id, public_id.expose_secret(), &values, user, now).await?;
    let form = store::get(tx, id).await?;
    audit.record(tx, AuditEvent::new("form.created").target("lead_form", form.form_id)).await?;
    Ok(form)
}

pub async fn update(
    tx: &mut OrgTx,
    audit: &AuditLog,
    id: Uuid,
    input: FormInput,
    now: OffsetDateTime,
) -> Result<LeadForm, AppError> {
    let current = store::get(tx, id).await?;
    let values = settle(Some(&current), input)?;
    check_owner(tx, values.owner_id).await?;
    store::update(tx, id, &values, now).await?;
    let form = store::get(tx, id).await?;
    audit.record(tx, AuditEvent::new("form.updated").target("lead_form", id)).await?;
    Ok(form)
}

pub async fn delete(tx: &mut OrgTx, audit: &AuditLog, id: Uuid) -> Result<(), AppError> {
    store::delete(tx, id).await?;
    audit.record(tx, AuditEvent::new("form.deleted").target("lead_form", id)).await?;
    Ok(())
}

// ---------------------------------------------------------------- submissions

/// A public submission: creates the lead, or updates the open lead with the same email, and
/// records `form.submitted` on it. Returns the lead's id.
pub async fn submit(
    tx: &mut OrgTx,
    audit: &AuditLog,
    form: &LeadForm,
    body: &[(String, String)],
    attribution: &Attribution,
    now: OffsetDateTime,
) -> Result<Uuid, AppError> {
    let mut errors = Vec::new();
    let mut input = Map::new();
    for field in &form.fields {
        let value = http::value(body, field).trim();
        if value.is_empty() {
            if form.is_required(field) {
                errors.push(FieldError::new(field.clone(), "required", "This field is required."));
            }
            continue;
        }
        input.insert(field.clone(), json!(value));
    }
    if input.is_empty() && errors.is_empty() {
        let first = form.fields.first().cloned().unwrap_or_else(|| "email".into());
        errors.push(FieldError::new(first, "required", "This field is required."));
    }
    if !form.consent_text.is_empty() && http::value(body, "consent") != "yes" {
        errors.push(FieldError::new("consent", "consent_required", "Tick the box to agree."));
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    for (key, value) in &attribution.utm {
        if !value.is_empty() {
            input.insert(key.to_string(), json!(value));
        }
    }
    for (key, value) in [("referrer", &attribution.referrer), ("landing_url", &attribution.landing_url)] {
        if !value.is_empty() {
            input.insert(key.into(), json!(value));
        }
    }
    let ctx = WriteCtx { user: None, source: Source::Form, now, import_id: None };
    let email = input.get("email").and_then(Value::as_str).map(|e| e.trim().to_lowercase());
    let existing = match &email {
        Some(email) => store::lock_open_lead_by_email(tx, email).await?,
        None => None,
    };
    let lead = match existing {
        Some(id) => {
            keep_what_is_known(tx, form, id, &mut input).await?;
            records::update(tx, ObjectType::Lead, id, &input, &ctx).await?;
            id
        }
        None => {
            input.insert("source".into(), json!(form.lead_source));
            if let Some(owner) = form.owner_id {
                input.insert("owner_id".into(), json!(owner));
            }
            records::create(tx, ObjectType::Lead, &input, &ctx).await?.id
        }
    };
    if !form.consent_text.is_empty() {
        record_consent(tx, lead, &form.consent_text, &ctx).await?;
    }
    store::count_submission(tx, form.form_id).await?;
    audit
        .record(tx, AuditEvent::new("form.submitted").target("lead", lead).payload(json!({"form_id": form.form_id})))
        .await?;
    Ok(lead)
}

/// Anyone can submit a form with someone else's email: on a known lead, a submission fills the
/// fields that are empty (names, company, attribution) and records the consent given, but never
/// overwrites what the team already has, nor the lead's first-touch attribution. The values it leaves out are still checked, so bad input is refused alike.
async fn keep_what_is_known(
    tx: &mut OrgTx,
    form: &LeadForm,
    lead: Uuid,
    input: &mut Map<String, Value>,
) -> Result<(), AppError> {
    let current = records::get(tx, ObjectType::Lead, lead).await?;
    let mut errors = Vec::new();
    input.retain(|key, value| {
        let known = current.get(key.as_str()).and_then(Value::as_str).is_some_and(|v| !v.is_empty());
        if !known {
            return true;
        }
        if !form.fields.iter().any(|f| f == key) {
            // Attribution (UTM, referrer, landing URL): the first touch is kept.
            return false;
        }
        if let Some(def) = ObjectType::Lead.field(key)
            && let Err(invalid) = crate::values::parse_field(def, value)
        {
            errors.push(records::field_error(def.key, invalid));
        }
        false
    });
    if errors.is_empty() { Ok(()) } else { Err(AppError::Validation(errors)) }
}

/// Keeps the wording the person agreed to and when, on the lead and in its history. These
/// fields are Relais' own: no other path writes them.
async fn record_consent(tx: &mut OrgTx, lead: Uuid, text: &str, ctx: &WriteCtx) -> Result<(), AppError> {
    let old = store::consent_of(tx, lead).await?;
    store::set_consent(tx, lead, text, ctx.now).await?;
    let at = |t: Option<OffsetDateTime>| {
        t.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()).map_or(Value::Null, Value::String)
    };
    let object = ObjectType::Lead;
    records::record_change(tx, object, lead, "updated", "consent_text", Some(&json!(old.0)), Some(&json!(text)), ctx)
        .await?;
    records::record_change(tx, object, lead, "updated", "consent_at", Some(&at(old.1)), Some(&at(Some(ctx.now))), ctx)
        .await?;
    Ok(())
}
