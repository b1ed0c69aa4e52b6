//! The JSON API of the sending engine: the messages (what is planned, sent, failed, and what
//! awaits review), a decision on a message awaiting review, and a sequence's figures.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kernel::AppError;
use kernel::authz::{Grant, Principal};
use kernel::error::ApiJson;
use kernel::extract::ApiQuery;
use kernel::web::AppState;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::service::{self, Decision};
use super::store::{self, Figures, MessageRow};
use crate::actions;
use crate::openapi::{body, id_param, ok, operation, problem};

const STATES: &[&str] = &["planned", "sending", "sent", "failed", "review", "cancelled"];

/// Whether the member sees every member's outreach (managers, owners) or only their own.
pub fn sees_all(principal: &Principal) -> bool {
    principal.grant(actions::OUTREACH_MANAGE) == Grant::Org
}

fn parse_id(text: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(text).map_err(|_| AppError::NotFound)
}

#[derive(Debug, Default, Deserialize)]
pub struct MessageParams {
    pub state: Option<String>,
    pub before: Option<String>,
    pub limit: Option<i64>,
}

/// `GET /api/v1/outreach/messages`
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<MessageParams>,
) -> Result<Json<Value>, AppError> {
    let wanted = match params.state.as_deref() {
        None => None,
        Some(text) if STATES.contains(&text) => Some(text),
        Some(_) => return Err(AppError::field("state", "invalid_choice", "Not one of the message states.")),
    };
    let before = match params.before.as_deref() {
        None => None,
        Some(text) => Some(
            Uuid::parse_str(text)
                .map_err(|_| AppError::field("before", "invalid_cursor", "This cursor is not valid."))?,
        ),
    };
    let limit = params.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::field("limit", "out_of_range", "Between 1 and 200."));
    }
    let owner = (!sees_all(&principal)).then_some(principal.user_id);
    let mut tx = principal.begin(&state.db).await?;
    let rows = store::messages(&mut tx, wanted, owner, before, limit + 1).await?;
    tx.commit().await?;
    Ok(Json(page(rows, limit)))
}

fn page(mut rows: Vec<MessageRow>, limit: i64) -> Value {
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|row| row.message_id)
    } else {
        None
    };
    json!({ "data": rows, "next_cursor": next })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewInput {
    pub decision: String,
}

/// `POST /api/v1/outreach/messages/{id}/review`
pub async fn review(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ReviewInput>,
) -> Result<StatusCode, AppError> {
    let id = parse_id(&id)?;
    let decision = Decision::parse(&input.decision)
        .ok_or_else(|| AppError::field("decision", "invalid_choice", "One of sent, resend, cancel."))?;
    let mut tx = principal.begin(&state.db).await?;
    service::review(&mut tx, &state.audit, id, decision, principal.user_id, sees_all(&principal), state.clock.now())
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A report's figures; opens and clicks only when the sequence tracks them.
fn figures_json(figures: &Figures, tracking: bool) -> Value {
    let rate = |n: i64| if figures.sent > 0 { (n as f64 / figures.sent as f64 * 1000.0).round() / 1000.0 } else { 0.0 };
    let mut out = json!({
        "enrolled": figures.enrolled,
        "sent": figures.sent,
        "bounced": figures.bounced,
        "replied": figures.replied,
        "unsubscribed": figures.unsubscribed,
        "bounce_rate": rate(figures.bounced),
        "reply_rate": rate(figures.replied),
        "unsubscribe_rate": rate(figures.unsubscribed),
    });
    if tracking && let Some(map) = out.as_object_mut() {
        map.insert("opened".into(), json!(figures.opened));
        map.insert("clicked".into(), json!(figures.clicked));
        map.insert("open_rate".into(), json!(rate(figures.opened)));
        map.insert("click_rate".into(), json!(rate(figures.clicked)));
    }
    out
}

/// `GET /api/v1/sequences/{id}/report`
pub async fn report(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let (_, owner, tracking) = store::sequence_head(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    if !sees_all(&principal) && owner != Some(principal.user_id) {
        return Err(AppError::NotFound);
    }
    let (whole, steps, mailboxes) = store::sequence_figures(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(json!({
        "sequence_id": id,
        "tracking": tracking,
        "totals": figures_json(&whole, tracking),
        "steps": steps.iter().map(|(step, label, f)| json!({ "step_id": step, "label": label, "figures": figures_json(f, tracking) })).collect::<Vec<_>>(),
        "mailboxes": mailboxes.iter().map(|(mailbox, address, f)| json!({ "mailbox_id": mailbox, "from_address": address, "figures": figures_json(f, tracking) })).collect::<Vec<_>>(),
    })))
}

/// This feature's OpenAPI paths and schemas.
pub fn openapi() -> (Map<String, Value>, Map<String, Value>) {
    let message = json!({
        "type": "object",
        "properties": {
            "message_id": { "type": "string", "format": "uuid" },
            "to_address": { "type": "string" },
            "subject": { "type": "string" },
            "state": { "type": "string", "enum": STATES },
            "state_reason": { "type": "string", "description": "A stable code: fate_unknown, smtp_rejected:550, suppressed…" },
            "sequence_id": { "type": ["string", "null"], "format": "uuid" },
            "sequence_name": { "type": ["string", "null"] },
            "mailbox_id": { "type": ["string", "null"], "format": "uuid" },
            "from_address": { "type": ["string", "null"] },
            "scheduled_at": { "type": "string", "format": "date-time" },
            "sent_at": { "type": ["string", "null"], "format": "date-time" },
            "created_at": { "type": "string", "format": "date-time" }
        }
    });
    let figures = json!({
        "type": "object",
        "properties": {
            "enrolled": { "type": "integer" }, "sent": { "type": "integer" }, "bounced": { "type": "integer" },
            "replied": { "type": "integer" }, "unsubscribed": { "type": "integer" },
            "bounce_rate": { "type": "number" }, "reply_rate": { "type": "number" }, "unsubscribe_rate": { "type": "number" },
            "opened": { "type": "integer", "description": "Only when the sequence tracks opens and clicks" },
            "clicked": { "type": "integer", "description": "Only when the sequence tracks opens and clicks" },
            "open_rate": { "type": "number" }, "click_rate": { "type": "number" }
        }
    });
    let mut paths = Map::new();
    paths.insert(
        "/api/v1/outreach/messages".into(),
        json!({ "get": operation("outreach", "Outreach messages, newest first: users see their own mailboxes' messages, managers and owners everyone's", json!({
            "parameters": [
                { "name": "state", "in": "query", "required": false, "schema": { "type": "string", "enum": STATES } },
                { "name": "before", "in": "query", "required": false, "schema": { "type": "string", "format": "uuid" }, "description": "next_cursor of the previous page" },
                { "name": "limit", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1, "maximum": 200, "default": 50 } }
            ],
            "responses": {
                "200": ok("A page of messages", json!({ "type": "object", "properties": { "data": { "type": "array", "items": message }, "next_cursor": { "type": ["string", "null"], "format": "uuid" } } })),
                "422": problem("A parameter is not valid")
            }
        })) }),
    );
    paths.insert(
        "/api/v1/outreach/messages/{id}/review".into(),
        json!({ "post": operation("outreach", "Decide about a message whose sending was interrupted (state review): it was sent, send it again, or cancel it (which stops that person's sequence)", json!({
            "parameters": [id_param()],
            "requestBody": body(json!({ "type": "object", "additionalProperties": false, "required": ["decision"], "properties": { "decision": { "type": "string", "enum": ["sent", "resend", "cancel"] } } })),
            "responses": { "204": { "description": "Decided" }, "404": problem("No such message"), "422": problem("Not awaiting review, or not a decision") }
        })) }),
    );
    paths.insert(
        "/api/v1/sequences/{id}/report".into(),
        json!({ "get": operation("outreach", "A sequence's figures: enrolled, sent, bounced, replied, unsubscribed, with rates, for the whole sequence, per email step and per mailbox (opens and clicks are not measured)", json!({
            "parameters": [id_param()],
            "responses": {
                "200": ok("The figures", json!({ "type": "object", "properties": {
                    "sequence_id": { "type": "string", "format": "uuid" }, "tracking": { "type": "boolean" }, "totals": figures,
                    "steps": { "type": "array", "items": { "type": "object", "properties": { "step_id": { "type": "string", "format": "uuid" }, "label": { "type": "string" }, "figures": figures } } },
                    "mailboxes": { "type": "array", "items": { "type": "object", "properties": { "mailbox_id": { "type": "string", "format": "uuid" }, "from_address": { "type": "string" }, "figures": figures } } }
                } })),
                "404": problem("No such sequence")
            }
        })) }),
    );
    (paths, Map::new())
}
