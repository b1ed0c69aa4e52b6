//! Outgoing webhooks (issue #4 item 10).
//!
//! An owner or manager subscribes an HTTPS endpoint to record events (`contact.created`,
//! `deal.updated`, `deal.stage_changed`, `lead.deleted`, … or `*`). Each event is stored once per
//! subscribed endpoint in `webhook_deliveries`, in the same transaction as the change that caused
//! it, and delivered by the job queue: a change that rolls back sends nothing, and a committed
//! one is delivered even if the process dies.
//!
//! Every request is signed: `Relais-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
//! `"<t>.<body>"` with the endpoint's secret (shown once at creation, sealed by the vault). A
//! receiver recomputes the MAC and refuses old timestamps, which stops replays.
//!
//! Failures retry with the queue's exponential backoff, up to [`MAX_ATTEMPTS`]; every attempt is
//! logged in `webhook_attempts` with the status code, a stable error code and its fixed English
//! text ([`jobs::Failure`]; pages show the code's sentence in the member's language), never the
//! receiver's body. Requests never follow redirects and only reach public addresses (checked
//! after DNS resolution and pinned, so a name cannot be re-pointed between check and connect)
//! unless `RELAIS_WEBHOOKS_ALLOW_PRIVATE` is set for a local receiver.

pub mod address;
pub mod api;
pub mod jobs;
pub mod pages;
pub mod service;
pub mod store;

pub use jobs::register;

use kernel::vault::SecretContext;
use kernel::{AppError, FieldError, OrgTx};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use self::address::check_url;

pub const JOB_KIND: &str = "crm.webhook";
pub const MAX_ATTEMPTS: i32 = 8;
/// Endpoints per organization: each event is sent to each of them.
pub const MAX_ENDPOINTS: i64 = crate::limits::WEBHOOKS_PER_ORG;

/// Every event an endpoint can subscribe to.
pub const EVENTS: &[&str] = &[
    "lead.created",
    "lead.updated",
    "lead.deleted",
    "contact.created",
    "contact.updated",
    "contact.deleted",
    "company.created",
    "company.updated",
    "company.deleted",
    "deal.created",
    "deal.updated",
    "deal.deleted",
    "deal.stage_changed",
];

fn secret_context(org: kernel::ids::OrgId, endpoint: Uuid) -> SecretContext<'static> {
    SecretContext { org, record_kind: "webhook_endpoint", record_id: endpoint, field: "secret" }
}

// ---------------------------------------------------------------- settings

/// `RELAIS_WEBHOOKS_ALLOW_PRIVATE`: webhooks may target loopback/private addresses over http.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebhookSettings {
    pub allow_private: bool,
}

pub const SETTINGS: &[kernel::module::SettingDef] = &[kernel::module::SettingDef {
    variable: "RELAIS_WEBHOOKS_ALLOW_PRIVATE",
    help: "true: outgoing webhooks may reach loopback and private addresses and plain http:// (for a local test receiver only; default false, which refuses them so a webhook cannot probe the internal network).",
}];

pub fn configure(
    vars: &kernel::module::Vars<'_>,
    settings: &mut kernel::module::ModuleSettings,
) -> Result<(), kernel::config::ConfigError> {
    let variable = "RELAIS_WEBHOOKS_ALLOW_PRIVATE";
    settings.insert(WebhookSettings { allow_private: kernel::Config::flag(variable, vars(variable))? });
    Ok(())
}

// ---------------------------------------------------------------- emitting events

/// Webhooks listen to the record events (`crate::record_events`) and queue a delivery per
/// subscribed endpoint, in the transaction of the change.
pub const SUBSCRIBER: kernel::events::Subscriber = kernel::events::Subscriber {
    name: "crm.webhooks",
    events: &[
        crate::record_events::CREATED,
        crate::record_events::UPDATED,
        crate::record_events::STAGE_CHANGED,
        crate::record_events::DELETED,
    ],
    handle: on_record_event,
};

fn on_record_event<'a>(tx: &'a mut OrgTx, event: &'a kernel::events::DomainEvent) -> kernel::events::HandlerFuture<'a> {
    Box::pin(async move {
        let Some(object) = crate::record_events::object_of(event) else { return Ok(()) };
        let data = &event.data;
        let record = data.get("record").unwrap_or(&Value::Null);
        let change = match event.name {
            crate::record_events::CREATED => Change::Created(record),
            crate::record_events::UPDATED => {
                let fields = data
                    .get("changed_fields")
                    .and_then(Value::as_array)
                    .map(|list| list.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                    .unwrap_or_default();
                Change::Updated { record, fields }
            }
            crate::record_events::STAGE_CHANGED => Change::StageChanged {
                record,
                from: data.get("from_stage_id"),
                to: data.get("to_stage_id").unwrap_or(&Value::Null),
            },
            crate::record_events::DELETED => Change::Deleted(event.subject_id),
            _ => return Ok(()),
        };
        service::emit(tx, event.occurred_at, object, change).await
    })
}

/// What happened to a record, for [`service::emit`].
pub enum Change<'a> {
    Created(&'a Value),
    Updated { record: &'a Value, fields: Vec<String> },
    Deleted(Uuid),
    StageChanged { record: &'a Value, from: Option<&'a Value>, to: &'a Value },
}

// ---------------------------------------------------------------- endpoints

#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub endpoint_id: Uuid,
    pub url: String,
    pub description: String,
    pub events: Vec<String>,
    /// The last characters of the secret, to tell secrets apart.
    pub secret_hint: String,
    pub active: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointInput {
    pub url: Option<String>,
    pub description: Option<String>,
    pub events: Option<Vec<String>>,
    pub active: Option<bool>,
}

/// An endpoint's values once checked by [`settle`]: what the insert and the update write.
pub struct SettledEndpoint {
    url: String,
    description: String,
    events: Vec<String>,
    active: bool,
}

fn settle(current: Option<&Endpoint>, input: EndpointInput, allow_private: bool) -> Result<SettledEndpoint, AppError> {
    let mut errors = Vec::new();
    let url = input.url.map(|u| u.trim().to_string()).or_else(|| current.map(|c| c.url.clone())).unwrap_or_default();
    if url.is_empty() {
        errors.push(FieldError::new("url", "required", "This field is required."));
    } else if url.len() > 2000 {
        errors.push(FieldError::new("url", "too_long", "At most 2000 characters."));
    } else if let Err(problem) = check_url(&url, allow_private) {
        errors.push(FieldError::new("url", "invalid_url", problem.message()));
    }
    let description = input.description.or_else(|| current.map(|c| c.description.clone())).unwrap_or_default();
    let description = description.trim().to_string();
    if description.chars().count() > 200 {
        errors.push(FieldError::new("description", "too_long", "At most 200 characters."));
    }
    let mut events = input.events.or_else(|| current.map(|c| c.events.clone())).unwrap_or_default();
    events.sort();
    events.dedup();
    if events.is_empty() {
        errors.push(FieldError::new("events", "required", "Choose at least one event."));
    }
    if let Some(unknown) = events.iter().find(|e| *e != "*" && !EVENTS.contains(&e.as_str())) {
        errors.push(FieldError::new("events", "invalid_choice", format!("'{unknown}' is not an event.")));
    }
    let active = input.active.unwrap_or_else(|| current.is_none_or(|c| c.active));
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    Ok(SettledEndpoint { url, description, events, active })
}

// ---------------------------------------------------------------- deliveries

#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub delivery_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub status: String,
    pub attempts: i32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The last attempt's HTTP status, if the receiver answered.
    pub last_status_code: Option<i32>,
    /// The last attempt's failure in English (empty when it was delivered): the API's message.
    pub last_error: Option<String>,
    /// The same failure's stable code (`timeout`, `connect_failed`, `http_status`, …; empty when
    /// delivered), listed in docs/crm.md: what pages translate.
    pub last_error_code: Option<String>,
}

impl Delivery {
    /// The last attempt's failure as a sentence in the page's language; empty when there is none.
    /// A code without a sentence (none today) reads as a plain "the delivery failed", never as the
    /// code itself.
    pub fn failure_text(&self, t: &kernel::i18n::T) -> String {
        let code = self.last_error_code.as_deref().unwrap_or_default();
        if code.is_empty() {
            return String::new();
        }
        let key = format!("crm.webhooks.error_{code}");
        let status = self.last_status_code.map(|c| c.to_string()).unwrap_or_default();
        let text = t.fmt(&key, &[("status", &status)]);
        if text == key { t.get("crm.webhooks.error_failed").to_string() } else { text }
    }
}
