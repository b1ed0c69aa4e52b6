//! The JSON API of sequences: the sequences and their settings, status and steps; a preview per
//! recipient and a test send to oneself; enrolling records and acting on one enrollment. Users
//! manage their own sequences (another member's is 404); managers and owners see everyone's and
//! may pause and resume them. Errors are problem+json naming the field (`steps[2].body`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kernel::AppError;
use kernel::authz::Principal;
use kernel::error::ApiJson;
use kernel::extract::ApiQuery;
use kernel::web::AppState;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Target;
use super::service::{self, EnrollInput, EnrollmentAction, SequenceInput, StepInput, Transition, Viewer};
use super::store::{Sequence, StepRow};
use crate::openapi::{body, id_param, ok, operation, problem};
use crate::sending::api::sees_all;

const ENROLLMENT_STATES: &[&str] =
    &["active", "paused", "replied", "bounced", "unsubscribed", "finished", "stopped", "skipped"];

pub fn viewer(principal: &Principal) -> Viewer {
    Viewer { user: principal.user_id, sees_all: sees_all(principal) }
}

fn parse_id(text: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(text).map_err(|_| AppError::NotFound)
}

/// A sequence with its steps, as every answer shows it.
pub fn sequence_json(sequence: &Sequence, steps: &[StepRow]) -> Value {
    let mut value = serde_json::to_value(sequence).unwrap_or_default();
    if let Value::Object(map) = &mut value {
        map.insert("steps".into(), serde_json::to_value(steps).unwrap_or_default());
    }
    value
}

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    /// `true` lists archived sequences too.
    pub archived: Option<bool>,
}

/// `GET /api/v1/sequences`
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Value>, AppError> {
    let owner = (!sees_all(&principal)).then_some(principal.user_id);
    let mut tx = principal.begin(&state.db).await?;
    let rows = super::store::list(&mut tx, owner, params.archived.unwrap_or(false)).await?;
    tx.commit().await?;
    Ok(Json(json!({ "data": rows })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateInput {
    pub name: String,
    #[serde(default, deserialize_with = "crate::openapi::non_null")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "crate::openapi::non_null")]
    pub mailbox_ids: Option<Vec<Uuid>>,
    #[serde(default, deserialize_with = "crate::openapi::non_null")]
    pub tracking: Option<bool>,
    #[serde(default, deserialize_with = "crate::openapi::non_null")]
    pub steps: Option<Vec<StepInput>>,
}

/// `POST /api/v1/sequences`
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<CreateInput>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let settings = SequenceInput {
        name: Some(input.name),
        kind: input.kind,
        mailbox_ids: input.mailbox_ids,
        tracking: input.tracking,
    };
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
    let sequence =
        service::create(&mut tx, &state.audit, viewer(&principal), &settings, input.steps.as_deref(), now).await?;
    let steps = super::store::steps(&mut tx, sequence.sequence_id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(sequence_json(&sequence, &steps))))
}

/// `GET /api/v1/sequences/{id}`
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let (sequence, steps) = service::show(&mut tx, viewer(&principal), id).await?;
    tx.commit().await?;
    Ok(Json(sequence_json(&sequence, &steps)))
}

/// `PATCH /api/v1/sequences/{id}`
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<SequenceInput>,
) -> Result<Json<Value>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let sequence = service::update(&mut tx, &state.audit, viewer(&principal), id, &input, state.clock.now()).await?;
    let steps = super::store::steps(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(sequence_json(&sequence, &steps)))
}

async fn change_status(
    state: &AppState,
    principal: &Principal,
    id: &str,
    to: Transition,
) -> Result<Json<Value>, AppError> {
    let id = parse_id(id)?;
    let mut tx = principal.begin(&state.db).await?;
    let sequence = service::transition(&mut tx, &state.audit, viewer(principal), id, to, state.clock.now()).await?;
    let steps = super::store::steps(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(sequence_json(&sequence, &steps)))
}

/// `DELETE /api/v1/sequences/{id}`: archives it (its messages and figures stay).
pub async fn archive(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    change_status(&state, &principal, &id, Transition::Archive).await
}

/// `POST /api/v1/sequences/{id}/activate`: a draft starts, a paused sequence resumes.
pub async fn activate(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    change_status(&state, &principal, &id, Transition::Activate).await
}

/// `POST /api/v1/sequences/{id}/pause`
pub async fn pause(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    change_status(&state, &principal, &id, Transition::Pause).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepsInput {
    pub steps: Vec<StepInput>,
}

/// `PUT /api/v1/sequences/{id}/steps`
pub async fn put_steps(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<StepsInput>,
) -> Result<Json<Value>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    service::set_steps(&mut tx, &state.audit, viewer(&principal), id, &input.steps, state.clock.now()).await?;
    let (sequence, steps) = service::show(&mut tx, viewer(&principal), id).await?;
    tx.commit().await?;
    Ok(Json(sequence_json(&sequence, &steps)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewInput {
    #[serde(default, deserialize_with = "crate::openapi::non_null")]
    pub contact_id: Option<Uuid>,
    #[serde(default, deserialize_with = "crate::openapi::non_null")]
    pub lead_id: Option<Uuid>,
    #[serde(default, deserialize_with = "crate::openapi::non_null")]
    pub step_id: Option<Uuid>,
}

/// `POST /api/v1/sequences/{id}/preview`
pub async fn preview(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<PreviewInput>,
) -> Result<Json<service::Preview>, AppError> {
    let id = parse_id(&id)?;
    let target = match (input.contact_id, input.lead_id) {
        (Some(contact), None) => Target::Contact(contact),
        (None, Some(lead)) => Target::Lead(lead),
        _ => return Err(AppError::field("contact_id", "one_record", "Give either contact_id or lead_id.")),
    };
    let mut tx = principal.begin(&state.db).await?;
    let shown =
        service::preview(&mut tx, viewer(&principal), id, target, input.step_id, state.config.public_url.origin())
            .await?;
    tx.commit().await?;
    Ok(Json(shown))
}

/// `POST /api/v1/sequences/{id}/test`
pub async fn send_test(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<service::TestSend>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let id = parse_id(&id)?;
    let now = state.clock.now();
    let origin = state.config.public_url.origin().to_owned();
    let mut tx = principal.begin(&state.db).await?;
    let message = service::send_test(&mut tx, &state.audit, viewer(&principal), id, &input, &origin, now).await?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "message_id": message }))))
}

/// `POST /api/v1/sequences/{id}/enrollments`
pub async fn enroll(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<EnrollInput>,
) -> Result<Json<service::Enrolled>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let done = service::enroll(&mut tx, &state.audit, viewer(&principal), id, &input, state.clock.now()).await?;
    tx.commit().await?;
    Ok(Json(done))
}

#[derive(Debug, Default, Deserialize)]
pub struct EnrollmentParams {
    pub state: Option<String>,
    pub before: Option<String>,
    pub limit: Option<i64>,
}

/// `GET /api/v1/sequences/{id}/enrollments`
pub async fn enrollments(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<EnrollmentParams>,
) -> Result<Json<Value>, AppError> {
    let id = parse_id(&id)?;
    let wanted = match params.state.as_deref() {
        None => None,
        Some(text) if ENROLLMENT_STATES.contains(&text) => Some(text.to_owned()),
        Some(_) => return Err(AppError::field("state", "invalid_choice", "Not one of the enrollment states.")),
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
    let mut tx = principal.begin(&state.db).await?;
    let mut rows = service::enrollments(&mut tx, viewer(&principal), id, wanted, before, limit + 1).await?;
    tx.commit().await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|row| row.enrollment_id)
    } else {
        None
    };
    Ok(Json(json!({ "data": rows, "next_cursor": next })))
}

#[derive(Debug, Default, Deserialize)]
pub struct RecordParams {
    pub contact_id: Option<String>,
    pub lead_id: Option<String>,
}

/// `GET /api/v1/outreach/enrollments?contact_id=|lead_id=`: a record's enrollments.
pub async fn record_enrollments(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<RecordParams>,
) -> Result<Json<Value>, AppError> {
    let parse = |field: &'static str, text: &str| {
        Uuid::parse_str(text).map_err(|_| AppError::field(field, "invalid", "This is not a record id."))
    };
    let target = match (params.contact_id.as_deref(), params.lead_id.as_deref()) {
        (Some(contact), None) => Target::Contact(parse("contact_id", contact)?),
        (None, Some(lead)) => Target::Lead(parse("lead_id", lead)?),
        _ => return Err(AppError::field("contact_id", "one_record", "Give either contact_id or lead_id.")),
    };
    let mut tx = principal.begin(&state.db).await?;
    let rows = service::record_enrollments(&mut tx, target).await?;
    tx.commit().await?;
    Ok(Json(json!({ "data": rows })))
}

async fn act(
    state: &AppState,
    principal: &Principal,
    id: &str,
    action: EnrollmentAction,
) -> Result<StatusCode, AppError> {
    let id = parse_id(id)?;
    let mut tx = principal.begin(&state.db).await?;
    service::act_on_enrollment(&mut tx, &state.audit, viewer(principal), id, action, state.clock.now()).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/outreach/enrollments/{id}/pause`
pub async fn pause_enrollment(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    act(&state, &principal, &id, EnrollmentAction::Pause).await
}

/// `POST /api/v1/outreach/enrollments/{id}/resume`
pub async fn resume_enrollment(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    act(&state, &principal, &id, EnrollmentAction::Resume).await
}

/// `POST /api/v1/outreach/enrollments/{id}/stop`
pub async fn stop_enrollment(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    act(&state, &principal, &id, EnrollmentAction::Stop).await
}

/// This feature's OpenAPI paths and schemas.
pub fn openapi() -> (Map<String, Value>, Map<String, Value>) {
    let uuid = json!({ "type": "string", "format": "uuid" });
    let step_input = json!({
        "type": "object", "additionalProperties": false, "required": ["kind"],
        "properties": {
            "kind": { "type": "string", "enum": ["email", "wait", "task"] },
            "subject": { "type": "string", "maxLength": 300, "description": "Email: a minijinja template; may be empty for a follow-up in the thread (\"Re: …\")" },
            "body": { "type": "string", "maxLength": 50000, "description": "Email: a minijinja template that must show {{ unsubscribe_url }}" },
            "in_thread": { "type": "boolean", "description": "Email: answers in the thread of the previous email (not the first email)" },
            "wait_days": { "type": "integer", "minimum": 1, "maximum": 365 },
            "task_title": { "type": "string", "maxLength": 200 }
        }
    });
    let step = json!({ "type": "object", "properties": {
        "step_id": uuid, "position": { "type": "integer" }, "kind": { "type": "string" }, "subject": { "type": "string" },
        "body": { "type": "string" }, "in_thread": { "type": "boolean" }, "wait_days": { "type": "integer" }, "task_title": { "type": "string" }
    } });
    let sequence = json!({ "type": "object", "properties": {
        "sequence_id": uuid, "name": { "type": "string" }, "kind": { "type": "string", "enum": ["sequence", "campaign"] },
        "owner_id": { "type": ["string", "null"], "format": "uuid" },
        "status": { "type": "string", "enum": ["draft", "active", "paused", "archived"] },
        "tracking": { "type": "boolean" }, "mailbox_ids": { "type": "array", "items": uuid },
        "created_at": { "type": "string", "format": "date-time" }, "updated_at": { "type": "string", "format": "date-time" },
        "steps": { "type": "array", "items": { "$ref": "#/components/schemas/OutreachStep" } }
    } });
    let settings = |required: bool| {
        let mut schema = json!({ "type": "object", "additionalProperties": false, "properties": {
            "name": { "type": "string", "minLength": 1, "maxLength": 200 },
            "kind": { "type": "string", "enum": ["sequence", "campaign"], "description": "A campaign is exactly one email step" },
            "mailbox_ids": { "type": "array", "items": uuid, "maxItems": 20, "description": "Your own mailboxes, used in rotation" },
            "tracking": { "type": "boolean", "description": "Open and click tracking (default false): a 1×1 image and redirected links in the HTML part, on RELAIS_PUBLIC_URL" }
        } });
        if required && let Some(map) = schema.as_object_mut() {
            map.insert("required".into(), json!(["name"]));
            if let Some(Value::Object(props)) = map.get_mut("properties") {
                props.insert("steps".into(), json!({ "type": "array", "maxItems": 50, "items": { "$ref": "#/components/schemas/OutreachStepInput" } }));
            }
        }
        schema
    };
    let enrollment = json!({ "type": "object", "properties": {
        "enrollment_id": uuid, "sequence_id": uuid, "sequence_name": { "type": "string" },
        "contact_id": { "type": ["string", "null"], "format": "uuid" }, "lead_id": { "type": ["string", "null"], "format": "uuid" },
        "name": { "type": "string" }, "email": { "type": "string" },
        "state": { "type": "string", "enum": ENROLLMENT_STATES },
        "state_reason": { "type": "string", "description": "Why it was skipped or stopped: no_email, suppressed, sequence_archived, stopped_by_member…" },
        "next_position": { "type": "integer" }, "next_run_at": { "type": ["string", "null"], "format": "date-time" },
        "created_at": { "type": "string", "format": "date-time" }, "updated_at": { "type": "string", "format": "date-time" }
    } });
    let one = || json!({ "$ref": "#/components/schemas/OutreachSequence" });
    // In a list, a sequence comes with counts instead of its steps.
    let mut summary = sequence.clone();
    if let Some(Value::Object(props)) = summary.get_mut("properties") {
        for count in ["steps", "enrolled", "sent"] {
            props.insert(count.into(), json!({ "type": "integer" }));
        }
    }
    let tag = "outreach";
    let mut paths = Map::new();
    paths.insert("/api/v1/sequences".into(), json!({
        "get": operation(tag, "Sequences: users see their own, managers and owners everyone's, with counts", json!({
            "parameters": [{ "name": "archived", "in": "query", "required": false, "schema": { "type": "boolean" } }],
            "responses": { "200": ok("The sequences", json!({ "type": "object", "properties": { "data": { "type": "array", "items": summary } } })) }
        })),
        "post": operation(tag, "Create a draft sequence or campaign, with its steps if given", json!({
            "requestBody": body(settings(true)),
            "responses": { "201": ok("Created", one()), "422": problem("A field is refused (steps[3].body, mailbox_ids, tracking…)") }
        }))
    }));
    paths.insert("/api/v1/sequences/{id}".into(), json!({
        "get": operation(tag, "A sequence with its steps", json!({
            "parameters": [id_param()], "responses": { "200": ok("The sequence", one()), "404": problem("No such sequence") }
        })),
        "patch": operation(tag, "Change a sequence's name, kind or mailboxes (its owner)", json!({
            "parameters": [id_param()], "requestBody": body(settings(false)),
            "responses": { "200": ok("Changed", one()), "403": problem("Not your sequence"), "404": problem("No such sequence"), "422": problem("A field is refused") }
        })),
        "delete": operation(tag, "Archive a sequence (its owner): its running enrollments stop", json!({
            "parameters": [id_param()],
            "responses": { "200": ok("Archived", one()), "403": problem("Not your sequence"), "404": problem("No such sequence"), "422": problem("Already archived") }
        }))
    }));
    paths.insert("/api/v1/sequences/{id}/steps".into(), json!({
        "put": operation(tag, "Replace a sequence's steps (its owner); once it has run, steps keep their ids by position and a step with messages cannot be removed", json!({
            "parameters": [id_param()],
            "requestBody": body(json!({ "type": "object", "additionalProperties": false, "required": ["steps"], "properties": { "steps": { "type": "array", "maxItems": 50, "items": { "$ref": "#/components/schemas/OutreachStepInput" } } } })),
            "responses": { "200": ok("The sequence with its steps", one()), "404": problem("No such sequence"), "422": problem("A step is refused, naming its field (steps[1].body)") }
        }))
    }));
    for (path, summary) in [
        (
            "/api/v1/sequences/{id}/activate",
            "Start a draft (it needs an email step and a mailbox) or resume a paused sequence",
        ),
        ("/api/v1/sequences/{id}/pause", "Pause an active sequence: nothing more is sent until it is resumed"),
    ] {
        paths.insert(path.into(), json!({ "post": operation(tag, summary, json!({
            "parameters": [id_param()],
            "responses": { "200": ok("The sequence", one()), "404": problem("No such sequence"), "422": problem("Not possible from its status, or something is missing") }
        })) }));
    }
    paths.insert("/api/v1/sequences/{id}/preview".into(), json!({
        "post": operation(tag, "An email step rendered for one contact or lead you see", json!({
            "parameters": [id_param()],
            "requestBody": body(json!({ "type": "object", "additionalProperties": false, "properties": { "contact_id": uuid, "lead_id": uuid, "step_id": uuid } })),
            "responses": {
                "200": ok("The rendered email", json!({ "type": "object", "properties": { "step_id": uuid, "to": { "type": "string" }, "subject": { "type": "string" }, "body": { "type": "string" } } })),
                "404": problem("No such sequence"), "422": problem("No such record, or the template needs a value the record lacks (naming it)")
            }
        }))
    }));
    paths.insert("/api/v1/sequences/{id}/test".into(), json!({
        "post": operation(tag, "Send an email step to yourself from one of your mailboxes, rendered with your own fields", json!({
            "parameters": [id_param()],
            "requestBody": body(json!({ "type": "object", "additionalProperties": false, "required": ["step_id", "mailbox_id"], "properties": { "step_id": uuid, "mailbox_id": uuid } })),
            "responses": { "202": ok("Queued", json!({ "type": "object", "properties": { "message_id": uuid } })), "404": problem("No such sequence"), "422": problem("Not an email step, or not your mailbox") }
        }))
    }));
    paths.insert("/api/v1/sequences/{id}/enrollments".into(), json!({
        "get": operation(tag, "A sequence's enrollments, newest first", json!({
            "parameters": [
                id_param(),
                { "name": "state", "in": "query", "required": false, "schema": { "type": "string", "enum": ENROLLMENT_STATES } },
                { "name": "before", "in": "query", "required": false, "schema": uuid, "description": "next_cursor of the previous page" },
                { "name": "limit", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1, "maximum": 200, "default": 50 } }
            ],
            "responses": {
                "200": ok("A page of enrollments", json!({ "type": "object", "properties": { "data": { "type": "array", "items": { "$ref": "#/components/schemas/OutreachEnrollment" } }, "next_cursor": { "type": ["string", "null"], "format": "uuid" } } })),
                "404": problem("No such sequence"), "422": problem("A parameter is not valid")
            }
        })),
        "post": operation(tag, "Enroll contacts and leads you see, by id or from a saved view of contacts or leads (10,000 at most): no address or a suppressed one is skipped with its reason, one already enrolled is left as it is", json!({
            "parameters": [id_param()],
            "requestBody": body(json!({ "type": "object", "additionalProperties": false, "properties": {
                "contact_ids": { "type": "array", "items": uuid, "maxItems": 10000 },
                "lead_ids": { "type": "array", "items": uuid, "maxItems": 10000 },
                "view_id": uuid
            } })),
            "responses": {
                "200": ok("What was done", json!({ "type": "object", "properties": {
                    "enrolled": { "type": "integer" }, "skipped": { "type": "integer" }, "already": { "type": "integer" },
                    "not_found": { "type": "integer", "description": "ids of records that do not exist or that you do not see" }
                } })),
                "403": problem("Not your sequence"), "404": problem("No such sequence"), "422": problem("Nobody to enroll, too many, or not a view of people")
            }
        }))
    }));
    paths.insert("/api/v1/outreach/enrollments".into(), json!({
        "get": operation(tag, "A contact's or a lead's enrollments in every sequence, with their state and reason", json!({
            "parameters": [
                { "name": "contact_id", "in": "query", "required": false, "schema": uuid },
                { "name": "lead_id", "in": "query", "required": false, "schema": uuid }
            ],
            "responses": {
                "200": ok("The record's enrollments", json!({ "type": "object", "properties": { "data": { "type": "array", "items": { "$ref": "#/components/schemas/OutreachEnrollment" } } } })),
                "404": problem("No such record"), "422": problem("Give one of contact_id, lead_id")
            }
        }))
    }));
    for (verb, summary) in [
        ("pause", "Pause one person's sequence: what was planned for them is taken back"),
        ("resume", "Resume one person's paused sequence"),
        ("stop", "Stop one person's sequence for good"),
    ] {
        paths.insert(format!("/api/v1/outreach/enrollments/{{id}}/{verb}"), json!({ "post": operation(tag, summary, json!({
            "parameters": [id_param()],
            "responses": { "204": { "description": "Done" }, "404": problem("No such enrollment"), "422": problem("Not possible from its state") }
        })) }));
    }
    let mut schemas = Map::new();
    schemas.insert("OutreachSequence".into(), sequence);
    schemas.insert("OutreachStep".into(), step);
    schemas.insert("OutreachStepInput".into(), step_input);
    schemas.insert("OutreachEnrollment".into(), enrollment);
    (paths, schemas)
}
