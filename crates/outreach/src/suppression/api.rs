//! The JSON API of the suppression list: read it, add an address, import many, and (owners) take
//! one off.

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

use super::service::{self, Suppressed};
use super::store::{self, SuppressionRow};
use crate::openapi::{body, ok, operation, problem};

const REASONS: &[&str] = &["unsubscribed", "hard_bounce", "complaint", "manual", "imported"];

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    pub q: Option<String>,
    pub after: Option<String>,
    pub limit: Option<i64>,
}

/// `GET /api/v1/outreach/suppressions`
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Value>, AppError> {
    let limit = params.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(AppError::field("limit", "out_of_range", "Between 1 and 500."));
    }
    let search = params.q.unwrap_or_default().trim().to_lowercase();
    if search.chars().count() > 254 {
        return Err(AppError::field("q", "too_long", "At most 254 characters."));
    }
    let after = params.after.map(|a| a.trim().to_lowercase()).filter(|a| !a.is_empty());
    let mut tx = principal.begin(&state.db).await?;
    let mut rows = store::list(&mut tx, &search, after.as_deref(), limit + 1).await?;
    tx.commit().await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|row| row.email.clone())
    } else {
        None
    };
    Ok(Json(json!({ "data": rows.iter().map(row_json).collect::<Vec<_>>(), "next_cursor": next })))
}

fn row_json(row: &SuppressionRow) -> Value {
    json!({
        "email": row.email,
        "reason": row.reason,
        "note": row.note,
        "message_id": row.message_id,
        "created_by": row.created_by,
        "created_at": row.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
    })
}

fn outcome(done: Suppressed) -> Value {
    json!({ "added": done.added, "stopped": done.stopped })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddInput {
    pub email: String,
    #[serde(default)]
    pub note: String,
}

/// `POST /api/v1/outreach/suppressions`
pub async fn add(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<AddInput>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let done =
        service::add(&mut tx, &state.audit, state.clock.now(), &input.email, &input.note, principal.user_id).await?;
    tx.commit().await?;
    let status = if done.added > 0 { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(outcome(done))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportInput {
    pub emails: Vec<String>,
    #[serde(default)]
    pub note: String,
}

/// `POST /api/v1/outreach/suppressions/import`
pub async fn import(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<ImportInput>,
) -> Result<Json<Value>, AppError> {
    if input.emails.len() > service::IMPORT_MAX {
        return Err(AppError::field("emails", "too_many_addresses", "At most 10,000 addresses at a time."));
    }
    // One item a line, so an error's "line N" is the N-th item.
    let text = input.emails.iter().map(|e| e.replace(['\n', '\r'], " ")).collect::<Vec<_>>().join("\n");
    let emails = service::parse_import(&text)?;
    let mut tx = principal.begin(&state.db).await?;
    let done =
        service::import(&mut tx, &state.audit, state.clock.now(), &emails, &input.note, principal.user_id).await?;
    tx.commit().await?;
    Ok(Json(outcome(done)))
}

/// `DELETE /api/v1/outreach/suppressions/{email}` (owners)
pub async fn remove(
    State(state): State<AppState>,
    principal: Principal,
    Path(email): Path<String>,
) -> Result<StatusCode, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    service::remove(&mut tx, &state.audit, &email).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// This feature's OpenAPI paths and schemas.
pub fn openapi() -> (Map<String, Value>, Map<String, Value>) {
    let row = json!({
        "type": "object",
        "properties": {
            "email": { "type": "string" },
            "reason": { "type": "string", "enum": REASONS },
            "note": { "type": "string" },
            "message_id": { "type": ["string", "null"], "format": "uuid", "description": "The message whose unsubscribe link or bounce added it" },
            "created_by": { "type": ["string", "null"], "format": "uuid" },
            "created_at": { "type": "string", "format": "date-time" }
        }
    });
    let outcome = json!({ "type": "object", "properties": {
        "added": { "type": "integer", "description": "Addresses newly on the list" },
        "stopped": { "type": "integer", "description": "Enrollments stopped because they wrote to one of them" }
    } });
    let mut paths = Map::new();
    paths.insert(
        "/api/v1/outreach/suppressions".into(),
        json!({
            "get": operation("outreach", "The organization's suppression list, by address: no sequence writes to these addresses", json!({
                "parameters": [
                    { "name": "q", "in": "query", "required": false, "schema": { "type": "string", "maxLength": 254 }, "description": "Part of the address" },
                    { "name": "after", "in": "query", "required": false, "schema": { "type": "string" }, "description": "next_cursor of the previous page" },
                    { "name": "limit", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1, "maximum": 500, "default": 100 } }
                ],
                "responses": {
                    "200": ok("A page of addresses", json!({ "type": "object", "properties": { "data": { "type": "array", "items": row }, "next_cursor": { "type": ["string", "null"] } } })),
                    "422": problem("A parameter is not valid")
                }
            })),
            "post": operation("outreach", "Add an address (reason manual): every sequence writing to it stops at once", json!({
                "requestBody": body(json!({ "type": "object", "additionalProperties": false, "required": ["email"], "properties": {
                    "email": { "type": "string", "maxLength": 254 }, "note": { "type": "string", "maxLength": 500 } } })),
                "responses": { "201": ok("Added", outcome.clone()), "200": ok("It was on the list already", outcome.clone()), "422": problem("Not an email address, or the note is too long") }
            }))
        }),
    );
    paths.insert(
        "/api/v1/outreach/suppressions/import".into(),
        json!({ "post": operation("outreach", "Add many addresses (reason imported), all or nothing: one address that is not one refuses the import, naming its item", json!({
            "requestBody": body(json!({ "type": "object", "additionalProperties": false, "required": ["emails"], "properties": {
                "emails": { "type": "array", "maxItems": 10000, "items": { "type": "string" } }, "note": { "type": "string", "maxLength": 500 } } })),
            "responses": { "200": ok("Imported", outcome), "422": problem("An item is not an email address, none was given, or too many") }
        })) }),
    );
    paths.insert(
        "/api/v1/outreach/suppressions/{email}".into(),
        json!({ "delete": operation("outreach", "Take an address off the list (owners); sequences it stopped stay stopped", json!({
            "parameters": [{ "name": "email", "in": "path", "required": true, "schema": { "type": "string" } }],
            "responses": { "204": { "description": "Removed" }, "404": problem("Not on the list") }
        })) }),
    );
    (paths, Map::new())
}
