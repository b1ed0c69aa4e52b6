//! The JSON API of connected mailboxes: list, connect, read, change, revoke, test, and (owners)
//! disable and enable. No response ever carries a secret, sealed or not.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kernel::AppError;
use kernel::authz::Principal;
use kernel::error::ApiJson;
use kernel::web::AppState;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::OutreachSettings;
use super::probe::Failure;
use super::service::{self, ConnectInput, SettingsInput, Viewer, format_minute};
use super::store::{self, MailboxRow};
use crate::openapi::{body, id_param, ok, operation, problem};

fn parse_id(text: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(text).map_err(|_| AppError::NotFound)
}

/// Whether mailboxes may point at loopback and private servers (a local test instance only).
pub fn allow_private(state: &AppState) -> bool {
    state.config.modules.get::<OutreachSettings>().allow_private
}

/// The OAuth2 providers this instance offers.
pub fn oauth_settings(state: &AppState) -> super::oauth::OAuthSettings {
    state.config.modules.get::<OutreachSettings>().oauth
}

fn rfc3339(at: Option<OffsetDateTime>) -> Value {
    at.and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok()).map_or(Value::Null, Value::String)
}

/// A mailbox as the API shows it: settings, state and today's count; never its secret.
pub fn mailbox_json(row: &MailboxRow, sent_today: i64) -> Value {
    json!({
        "mailbox_id": row.mailbox_id,
        "owner_id": row.owner_id,
        "owner_name": row.owner_name,
        "provider": row.provider,
        "from_name": row.from_name,
        "from_address": row.from_address,
        "smtp": { "host": row.smtp_host, "port": row.smtp_port, "security": row.smtp_security, "username": row.smtp_username },
        "imap": { "host": row.imap_host, "port": row.imap_port, "security": row.imap_security, "username": row.imap_username },
        "status": row.status,
        "pause_reason": row.pause_reason,
        "daily_cap": row.daily_cap,
        "sent_today": sent_today,
        "min_gap_seconds": row.min_gap_seconds,
        "jitter_seconds": row.jitter_seconds,
        "window_days": row.window_days,
        "window_start": format_minute(row.window_start_minute),
        "window_end": format_minute(row.window_end_minute),
        "time_zone": row.time_zone,
        "signature": row.signature,
        "last_tested_at": rfc3339(row.last_tested_at),
        "last_test_error": if row.last_test_error.is_empty() { Value::Null } else { Value::String(row.last_test_error.clone()) },
        "created_at": rfc3339(Some(row.created_at)),
        "updated_at": rfc3339(Some(row.updated_at)),
    })
}

async fn one_json(tx: &mut kernel::OrgTx, viewer: Viewer, id: Uuid, now: OffsetDateTime) -> Result<Value, AppError> {
    let row = service::visible(tx, viewer, id).await?;
    let sent = service::sent_today(tx, &row, now).await?;
    Ok(mailbox_json(&row, sent))
}

/// `GET /api/v1/outreach/mailboxes`: one's own mailboxes; managers and owners see everyone's.
pub async fn list(State(state): State<AppState>, principal: Principal) -> Result<Json<Value>, AppError> {
    let viewer = Viewer::of(&principal);
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
    let rows = store::list(&mut tx, (!viewer.sees_all).then_some(viewer.user_id)).await?;
    let mut data = Vec::with_capacity(rows.len());
    for row in &rows {
        let sent = service::sent_today(&mut tx, row, now).await?;
        data.push(mailbox_json(row, sent));
    }
    tx.commit().await?;
    Ok(Json(json!({ "data": data })))
}

/// `POST /api/v1/outreach/mailboxes`: connects a mailbox of the caller after a passing test.
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<ConnectInput>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let now = state.clock.now();
    let id =
        service::connect(&state.db, &principal, &state.audit, &state.vault, allow_private(&state), &input, now).await?;
    let mut tx = principal.begin(&state.db).await?;
    let body = one_json(&mut tx, Viewer::of(&principal), id, now).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(body)))
}

/// `GET /api/v1/outreach/mailboxes/{id}`
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let body = one_json(&mut tx, Viewer::of(&principal), id, state.clock.now()).await?;
    tx.commit().await?;
    Ok(Json(body))
}

/// `PATCH /api/v1/outreach/mailboxes/{id}`
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<SettingsInput>,
) -> Result<Json<Value>, AppError> {
    let id = parse_id(&id)?;
    let viewer = Viewer::of(&principal);
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
    service::update(&mut tx, &state.audit, &state.vault, allow_private(&state), viewer, id, &input, now).await?;
    let body = one_json(&mut tx, viewer, id, now).await?;
    tx.commit().await?;
    Ok(Json(body))
}

/// `DELETE /api/v1/outreach/mailboxes/{id}`: revokes the mailbox; its row and secret are gone.
pub async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let grant =
        service::revoke(&mut tx, &state.audit, &state.vault, Viewer::of(&principal), id, state.clock.now()).await?;
    tx.commit().await?;
    if let Some(grant) = grant {
        super::oauth::revoke_grant(&oauth_settings(&state), grant.provider, grant.refresh_token).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/outreach/mailboxes/{id}/test`: a test that ran answers 200, passed or not.
pub async fn test(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let id = parse_id(&id)?;
    let viewer = Viewer::of(&principal);
    let now = state.clock.now();
    let oauth = oauth_settings(&state);
    let outcome =
        service::test(&state.db, &principal, &state.audit, &state.vault, allow_private(&state), &oauth, id, now)
            .await?;
    let mut tx = principal.begin(&state.db).await?;
    let mailbox = one_json(&mut tx, viewer, id, now).await?;
    tx.commit().await?;
    Ok(Json(json!({
        "ok": outcome.is_none(),
        "error": outcome.map(|e| e.failure.code()),
        "server": outcome.map(|e| e.side.as_str()),
        "message": outcome.map(|e| e.failure.message()),
        "mailbox": mailbox,
    })))
}

/// `POST /api/v1/outreach/mailboxes/{id}/disable` (owners).
pub async fn disable(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let id = parse_id(&id)?;
    let viewer = Viewer::of(&principal);
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
    service::disable(&mut tx, &state.audit, viewer, id, now).await?;
    let body = one_json(&mut tx, viewer, id, now).await?;
    tx.commit().await?;
    Ok(Json(body))
}

/// `POST /api/v1/outreach/mailboxes/{id}/enable` (owners).
pub async fn enable(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let id = parse_id(&id)?;
    let viewer = Viewer::of(&principal);
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
    service::enable(&mut tx, &state.audit, viewer, id, now).await?;
    let body = one_json(&mut tx, viewer, id, now).await?;
    tx.commit().await?;
    Ok(Json(body))
}

/// This feature's OpenAPI paths and schemas.
pub fn openapi() -> (Map<String, Value>, Map<String, Value>) {
    let codes: Vec<&str> = Failure::ALL.iter().map(|f| f.code()).collect();
    let security = json!({ "type": "string", "enum": ["tls", "starttls", "none"] });
    let server = json!({ "type": "object", "properties": {
        "host": { "type": "string" }, "port": { "type": "integer" }, "security": security, "username": { "type": "string" }
    } });
    let mailbox = json!({
        "type": "object",
        "description": "A connected mailbox. Its password or OAuth2 tokens are never returned.",
        "properties": {
            "mailbox_id": { "type": "string", "format": "uuid" },
            "owner_id": { "type": "string", "format": "uuid" },
            "owner_name": { "type": "string" },
            "provider": { "type": "string", "enum": ["password", "google", "microsoft"], "description": "How the mailbox signs in: password (SMTP and IMAP with a password), google (Gmail) or microsoft (Microsoft 365) by OAuth2, with XOAUTH2 on both servers. OAuth2 mailboxes are connected in the browser only (the member consents at the provider: /outreach/mailboxes/connect/google or /outreach/mailboxes/connect/microsoft); their tokens, like a password, are never returned." },
            "from_name": { "type": "string" },
            "from_address": { "type": "string", "format": "email" },
            "smtp": server,
            "imap": server,
            "status": { "type": "string", "enum": ["active", "paused", "disabled"] },
            "pause_reason": { "type": "string", "description": "Why a paused mailbox stopped: auth_failed (the server refused its password), imap_auth (the IMAP server refused its password), oauth_expired (its provider refused the OAuth2 grant) or oauth_refused (its mail server refused the access token): for the last two, connect it again in the browser" },
            "daily_cap": { "type": "integer" },
            "sent_today": { "type": "integer", "description": "Messages sent today, in the mailbox's time zone" },
            "min_gap_seconds": { "type": "integer" },
            "jitter_seconds": { "type": "integer" },
            "window_days": { "type": "array", "items": { "type": "integer", "minimum": 1, "maximum": 7 }, "description": "ISO weekdays, 1 = Monday" },
            "window_start": { "type": "string", "example": "08:00" },
            "window_end": { "type": "string", "example": "18:00" },
            "time_zone": { "type": "string", "example": "Europe/Paris" },
            "signature": { "type": "string" },
            "last_tested_at": { "type": ["string", "null"], "format": "date-time" },
            "last_test_error": { "type": ["string", "null"], "enum": codes.iter().map(|c| Value::from(*c)).chain([Value::Null]).collect::<Vec<_>>() },
            "created_at": { "type": "string", "format": "date-time" },
            "updated_at": { "type": "string", "format": "date-time" }
        }
    });
    let connect = json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["from_address", "smtp_host", "smtp_username", "imap_host", "password"],
        "properties": {
            "from_name": { "type": "string", "maxLength": 100 },
            "from_address": { "type": "string", "format": "email" },
            "smtp_host": { "type": "string" },
            "smtp_port": { "type": ["integer", "null"], "minimum": 1, "maximum": 65535, "description": "Default: 465 (tls), 587 (starttls), 25 (none)" },
            "smtp_security": { "type": "string", "enum": ["tls", "starttls", "none"], "default": "starttls", "description": "none only on an instance that allows private servers" },
            "smtp_username": { "type": "string" },
            "imap_host": { "type": "string" },
            "imap_port": { "type": ["integer", "null"], "minimum": 1, "maximum": 65535, "description": "Default: 993 (tls), 143 (starttls, none)" },
            "imap_security": { "type": "string", "enum": ["tls", "starttls", "none"], "default": "tls" },
            "imap_username": { "type": "string", "description": "Default: the SMTP user name" },
            "password": { "type": "string", "format": "password", "writeOnly": true }
        }
    });
    let settings = json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "from_name": { "type": "string", "maxLength": 100 },
            "daily_cap": { "type": "integer", "minimum": 1, "maximum": 10000, "description": "Owners only" },
            "min_gap_seconds": { "type": "integer", "minimum": 0, "maximum": 86400 },
            "jitter_seconds": { "type": "integer", "minimum": 0, "maximum": 3600 },
            "window_days": { "type": "array", "items": { "type": "integer", "minimum": 1, "maximum": 7 } },
            "window_start": { "type": "string", "pattern": "^\\d{1,2}:\\d{2}$" },
            "window_end": { "type": "string", "pattern": "^\\d{1,2}:\\d{2}$" },
            "time_zone": { "type": "string" },
            "signature": { "type": "string", "maxLength": 5000 },
            "password": { "type": "string", "format": "password", "writeOnly": true, "description": "A new password, tested before it is kept (password mailboxes only: an OAuth2 mailbox is refused with oauth_mailbox)" }
        }
    });
    let mailbox_ref = json!({ "$ref": "#/components/schemas/OutreachMailbox" });
    let tag = "outreach";
    let mut paths = Map::new();
    paths.insert(
        "/api/v1/outreach/mailboxes".into(),
        json!({
            "get": operation(tag, "Connected mailboxes: one's own; managers and owners see everyone's", json!({
                "responses": { "200": ok("The mailboxes", json!({ "type": "object", "properties": { "data": { "type": "array", "items": mailbox_ref.clone() } } })) }
            })),
            "post": operation(tag, "Connect a mailbox with a password (SMTP + IMAP); Gmail and Microsoft 365 by OAuth2 connect in the browser only. It is tested first and not saved if the test fails: the error names the field and what failed (dns, private_address, connect, tls, smtp_auth, imap_auth, imap_folder, timeout)", json!({
                "requestBody": body(json!({ "$ref": "#/components/schemas/OutreachMailboxConnect" })),
                "responses": { "201": ok("Connected", mailbox_ref.clone()), "422": problem("A field is not valid, or the connection test failed") }
            }))
        }),
    );
    paths.insert(
        "/api/v1/outreach/mailboxes/{id}".into(),
        json!({
            "get": operation(tag, "A mailbox", json!({
                "parameters": [id_param()],
                "responses": { "200": ok("The mailbox", mailbox_ref.clone()), "404": problem("No such mailbox, or not one's own") }
            })),
            "patch": operation(tag, "Change a mailbox's settings or password (its owner); an owner of the organization may change any mailbox's daily cap", json!({
                "parameters": [id_param()],
                "requestBody": body(json!({ "$ref": "#/components/schemas/OutreachMailboxSettings" })),
                "responses": { "200": ok("Changed", mailbox_ref.clone()), "403": problem("Only the daily cap of another member's mailbox may be changed"), "404": problem("No such mailbox"), "422": problem("A field is not valid, or the new password's test failed") }
            })),
            "delete": operation(tag, "Revoke one's mailbox: its planned messages are cancelled and the row, with its sealed password or OAuth2 tokens, is deleted; a Gmail mailbox's grant is then revoked at Google (best effort)", json!({
                "parameters": [id_param()],
                "responses": { "204": { "description": "Revoked" }, "404": problem("No such mailbox, or not one's own") }
            }))
        }),
    );
    paths.insert(
        "/api/v1/outreach/mailboxes/{id}/test".into(),
        json!({ "post": operation(tag, "Test one's mailbox: SMTP EHLO and AUTH, IMAP LOGIN (or AUTHENTICATE XOAUTH2 with an OAuth2 mailbox's access token, refreshed first if it runs out within 5 minutes) and SELECT INBOX (each step at most 10 s). A pass re-activates a paused mailbox", json!({
            "parameters": [id_param()],
            "responses": {
                "200": ok("The test ran", json!({ "type": "object", "properties": {
                    "ok": { "type": "boolean" },
                    "error": { "type": ["string", "null"], "enum": codes.iter().map(|c| Value::from(*c)).chain([Value::Null]).collect::<Vec<_>>() },
                    "server": { "type": ["string", "null"], "enum": ["smtp", "imap", "provider", null], "description": "provider: an OAuth2 mailbox's provider gave no access token (oauth_expired: connect it again; oauth_unavailable)" },
                    "message": { "type": ["string", "null"] },
                    "mailbox": mailbox_ref.clone()
                } })),
                "404": problem("No such mailbox, or not one's own")
            }
        })) }),
    );
    for (verb, summary) in [
        ("disable", "Disable a mailbox (owners): it sends nothing more and its planned messages are cancelled"),
        ("enable", "Enable a disabled or paused mailbox again (owners)"),
    ] {
        paths.insert(
            format!("/api/v1/outreach/mailboxes/{{id}}/{verb}"),
            json!({ "post": operation(tag, summary, json!({
                "parameters": [id_param()],
                "responses": { "200": ok("Done", mailbox_ref.clone()), "403": problem("Owners only"), "404": problem("No such mailbox") }
            })) }),
        );
    }
    let mut schemas = Map::new();
    schemas.insert("OutreachMailbox".into(), mailbox);
    schemas.insert("OutreachMailboxConnect".into(), connect);
    schemas.insert("OutreachMailboxSettings".into(), settings);
    (paths, schemas)
}
