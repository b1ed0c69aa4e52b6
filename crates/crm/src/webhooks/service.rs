//! The writes of webhooks, each with its audit event (the API and the settings pages both call
//! these, so neither can change an endpoint without leaving a trace), and the queuing of events.

use kernel::audit::{AuditEvent, AuditLog};
use kernel::vault::Vault;
use kernel::{AppError, OrgTx};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Change, Endpoint, EndpointInput, MAX_ENDPOINTS, WebhookSettings, secret_context, settle, store};
use crate::object::ObjectType;

/// Creates an endpoint; returns it with its secret, which is never shown again.
pub async fn create(
    tx: &mut OrgTx,
    audit: &AuditLog,
    vault: &Vault,
    settings: WebhookSettings,
    input: EndpointInput,
    user: Uuid,
    now: OffsetDateTime,
) -> Result<(Endpoint, SecretString), AppError> {
    let values = settle(None, input, settings.allow_private)?;
    if store::count_endpoints(tx).await? >= MAX_ENDPOINTS {
        return Err(AppError::Validation(vec![crate::limits::too_many("url", "too_many_webhooks")]));
    }
    let id = Uuid::now_v7();
    let secret = SecretString::from(format!("whsec_{}", kernel::token::generate().expose_secret()));
    let sealed = vault.seal(&secret_context(tx.org(), id), &secret);
    let hint: String = secret.expose_secret().chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    store::insert_endpoint(tx, now, id, &values, sealed, &format!("…{hint}"), user).await?;
    let created = store::endpoint(tx, id).await?;
    audit.record(tx, AuditEvent::new("webhook.created").target("webhook_endpoint", id)).await?;
    Ok((created, secret))
}

/// Changes an endpoint: only the fields given (the pages' enable and disable give `active`).
pub async fn update(
    tx: &mut OrgTx,
    audit: &AuditLog,
    settings: WebhookSettings,
    id: Uuid,
    input: EndpointInput,
    now: OffsetDateTime,
) -> Result<Endpoint, AppError> {
    let current = store::endpoint(tx, id).await?;
    let values = settle(Some(&current), input, settings.allow_private)?;
    store::update_endpoint(tx, now, id, &values).await?;
    let updated = store::endpoint(tx, id).await?;
    audit.record(tx, AuditEvent::new("webhook.updated").target("webhook_endpoint", id)).await?;
    Ok(updated)
}

pub async fn delete(tx: &mut OrgTx, audit: &AuditLog, id: Uuid) -> Result<(), AppError> {
    store::delete_endpoint(tx, id).await?;
    audit.record(tx, AuditEvent::new("webhook.deleted").target("webhook_endpoint", id)).await?;
    Ok(())
}

/// Sends a `ping` event to one endpoint now (through the queue), to check the receiver.
pub async fn ping(tx: &mut OrgTx, audit: &AuditLog, id: Uuid, now: OffsetDateTime) -> Result<Uuid, AppError> {
    let current = store::endpoint(tx, id).await?;
    let event_id = Uuid::now_v7();
    let delivery = Uuid::now_v7();
    let payload = json!({
        "id": event_id,
        "type": "ping",
        "created_at": now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "data": { "endpoint_id": current.endpoint_id },
    });
    store::insert_delivery(tx, now, delivery, id, event_id, "ping", &payload).await?;
    store::enqueue_attempt(tx, now, delivery, 1, now).await?;
    audit.record(tx, AuditEvent::new("webhook.pinged").target("webhook_endpoint", id)).await?;
    Ok(delivery)
}

/// Queues the event for every active endpoint subscribed to it, in the caller's transaction.
pub async fn emit(tx: &mut OrgTx, now: OffsetDateTime, object: ObjectType, change: Change<'_>) -> Result<(), AppError> {
    let (verb, data) = match change {
        Change::Created(record) => ("created", json!({ "object": record })),
        Change::Updated { record, fields } => ("updated", json!({ "object": record, "changed_fields": fields })),
        Change::Deleted(id) => ("deleted", json!({ "object": { "id": id, "object": object.as_str() } })),
        Change::StageChanged { record, from, to } => {
            ("stage_changed", json!({ "object": record, "from_stage_id": from, "to_stage_id": to }))
        }
    };
    let event_type = format!("{}.{verb}", object.as_str());
    let endpoints = store::subscribed_endpoints(tx, &event_type).await?;
    if endpoints.is_empty() {
        return Ok(());
    }
    let event_id = Uuid::now_v7();
    let payload = json!({
        "id": event_id,
        "type": event_type,
        "created_at": now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "data": data,
    });
    for endpoint in endpoints {
        let delivery = Uuid::now_v7();
        store::insert_delivery(tx, now, delivery, endpoint, event_id, &event_type, &payload).await?;
        store::enqueue_attempt(tx, now, delivery, 1, now).await?;
    }
    Ok(())
}
