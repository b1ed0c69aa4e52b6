//! API keys (issue #3 item 6; P1-14): long-lived credentials for integrations.
//!
//! * Owners and managers create them (`api_keys_manage`) with a name, a scope (a role no
//!   higher than their own) and an optional expiry. The key, `rk_<prefix>_<secret>`, is shown
//!   once; the database keeps its visible 12-hex-digit prefix and the SHA-256 of the whole key.
//! * A key acts for its creator with the lesser of its scope and the creator's *current* role;
//!   a deactivated creator, a revoked or an expired key authenticates nobody (401).
//! * Lists show prefix, name, scope, creator, creation, last use and expiry — never the secret.
//! * On the page `/settings/api-keys` (CSRF-checked forms) and the API `/api/v1/api-keys`.

use crate::doors::IdentityDoors;
use askama::Template;
use axum::Form;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use kernel::audit::AuditEvent;
use kernel::authz::{Credential, Principal, Role};
use kernel::db::Actor;
use kernel::error::ApiJson;
use kernel::web::{AppState, Page, PageError, render};
use kernel::{AppError, FieldError, token};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::session::SignedIn;

/// Every key starts with this, so it is recognised (and secret scanners can find a leaked one).
pub const KEY_PREFIX: &str = "rk_";
const PREFIX_HEX_CHARS: usize = 12;
/// `rk_` + 12 + `_` + 43; anything much longer is not one of ours and is not hashed.
const MAX_KEY_CHARS: usize = 128;
const NAME_MAX_CHARS: usize = 100;

// ------------------------------------------------------------------ the key itself

/// A new key: the full secret (shown once) and its visible prefix.
struct NewKey {
    secret: SecretString,
    prefix: String,
}

fn generate_key() -> NewKey {
    // The prefix only names the key; the 256-bit secret part is what authenticates.
    let prefix: String = Uuid::new_v4().simple().to_string().chars().take(PREFIX_HEX_CHARS).collect();
    let secret = token::generate();
    NewKey { secret: SecretString::from(format!("{KEY_PREFIX}{prefix}_{}", secret.expose_secret())), prefix }
}

/// Whether `text` has the shape of a key (before it is hashed and looked up).
fn well_formed(text: &str) -> bool {
    let Some(rest) = text.strip_prefix(KEY_PREFIX) else { return false };
    text.len() <= MAX_KEY_CHARS
        && rest.len() > PREFIX_HEX_CHARS + 1
        && rest.as_bytes()[..PREFIX_HEX_CHARS].iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && rest.as_bytes()[PREFIX_HEX_CHARS] == b'_'
}

#[derive(sqlx::FromRow)]
struct KeyHolder {
    created_by: Uuid,
    scope: String,
    expires_at: Option<OffsetDateTime>,
    revoked_at: Option<OffsetDateTime>,
    last_used_at: Option<OffsetDateTime>,
    org_role: String,
    status: String,
}

/// The member an API key acts for, with the lesser of the key's scope and their current role;
/// `None` for an unknown, revoked or expired key, or one whose creator is no longer active.
pub async fn authenticate_api_key(state: &AppState, key: &str) -> Result<Option<Principal>, AppError> {
    if !well_formed(key) {
        return Ok(None);
    }
    let hash = token::hash(&SecretString::from(key));
    let Some((org, key_id)) = state.db.resolve_api_key(&hash).await? else { return Ok(None) };
    let now = state.clock.now();
    let mut tx = state.db.begin_org(org, Actor::Anonymous).await?;
    let holder: Option<KeyHolder> = sqlx::query_as!(
        KeyHolder,
        "select k.created_by, k.scope, k.expires_at, k.revoked_at, k.last_used_at, u.org_role, u.status
         from api_keys k join users u on u.org_id = k.org_id and u.user_id = k.created_by
         where k.org_id = $1 and k.key_id = $2",
        org.0,
        key_id
    )
    .fetch_optional(tx.conn())
    .await?;
    let Some(holder) = holder else { return Ok(None) };
    let live = holder.revoked_at.is_none() && holder.expires_at.is_none_or(|at| at > now) && holder.status == "active";
    let (Some(scope), Some(current), true) = (Role::parse(&holder.scope), Role::parse(&holder.org_role), live) else {
        return Ok(None);
    };
    // Recorded at most once a minute: useful for "unused keys" without a write per request.
    if holder.last_used_at.is_none_or(|at| now - at >= time::Duration::minutes(1)) {
        sqlx::query!("update api_keys set last_used_at = $3 where org_id = $1 and key_id = $2", org.0, key_id, now)
            .execute(tx.conn())
            .await?;
    }
    tx.commit().await?;
    Ok(Some(Principal {
        org,
        user_id: holder.created_by,
        role: scope.min(current),
        credential: Credential::ApiKey { key_id },
    }))
}

// ------------------------------------------------------------------ rules

/// A new key as submitted (JSON).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewApiKeyInput {
    /// What the key is for, e.g. "Billing sync". 1–100 characters.
    #[serde(default)]
    pub name: String,
    /// The role the key acts with: `owner`, `manager` or `user`, no higher than yours.
    #[serde(default)]
    pub role: String,
    /// When the key stops working (RFC 3339). None: it works until revoked.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
}

#[derive(Debug)]
struct ValidKey {
    name: String,
    scope: Role,
    expires_at: Option<OffsetDateTime>,
}

fn parse_name(input: &str) -> Result<String, FieldError> {
    let name = input.trim();
    if name.is_empty() {
        return Err(FieldError::new("name", "required", "Name the key."));
    }
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(FieldError::new("name", "too_long", format!("Use at most {NAME_MAX_CHARS} characters.")));
    }
    if name.chars().any(char::is_control) {
        return Err(FieldError::new("name", "invalid_characters", "Remove line breaks and control characters."));
    }
    Ok(name.to_owned())
}

/// Checks every field and reports all problems at once. `creator` is the role of whoever creates
/// the key: a key's scope never exceeds it.
fn validate(input: &NewApiKeyInput, creator: Role, now: OffsetDateTime) -> Result<ValidKey, AppError> {
    let mut errors = Vec::new();
    let name = parse_name(&input.name).map_err(|e| errors.push(e)).ok();
    let scope = match Role::parse(input.role.trim()) {
        None => {
            errors.push(FieldError::new("role", "invalid", "Choose owner, manager or user."));
            None
        }
        Some(scope) if scope.min(creator) != scope => {
            errors.push(FieldError::new("role", "role_above_yours", "A key cannot have a higher role than yours."));
            None
        }
        Some(scope) => Some(scope),
    };
    if input.expires_at.is_some_and(|at| at <= now) {
        errors.push(FieldError::new("expires_at", "expiry_in_past", "Choose an expiry in the future."));
    }
    match (name, scope) {
        (Some(name), Some(scope)) if errors.is_empty() => Ok(ValidKey { name, scope, expires_at: input.expires_at }),
        _ => Err(AppError::Validation(errors)),
    }
}

/// A key just created: the only time its secret is shown.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedApiKey {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    /// The whole key. Shown this once: only its hash is kept.
    pub key: String,
    pub prefix: String,
    pub name: String,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
}

pub async fn create(state: &AppState, principal: &Principal, input: NewApiKeyInput) -> Result<CreatedApiKey, AppError> {
    let now = state.clock.now();
    let valid = validate(&input, principal.role, now)?;
    let key = generate_key();
    let key_id = Uuid::now_v7();
    let mut tx = state.db.begin_org(principal.org, principal.actor()).await?;
    sqlx::query!(
        "insert into api_keys (org_id, key_id, created_by, name, scope, prefix, key_hash, created_at, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        principal.org.0,
        key_id,
        principal.user_id,
        &valid.name,
        valid.scope.as_str(),
        &key.prefix,
        &token::hash(&key.secret)[..],
        now,
        valid.expires_at
    )
    .execute(tx.conn())
    .await?;
    state
        .audit
        .record(
            &mut tx,
            AuditEvent::new("api_key.created")
                .target("api_key", key_id)
                .payload(json!({ "scope": valid.scope.as_str(), "expires": valid.expires_at.is_some() })),
        )
        .await?;
    tx.commit().await?;
    Ok(CreatedApiKey {
        id: key_id,
        key: key.secret.expose_secret().to_owned(),
        prefix: key.prefix,
        name: valid.name,
        role: valid.scope,
        created_at: now,
        expires_at: valid.expires_at,
    })
}

/// One key in a list: never its secret.
#[derive(Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ApiKeySummary {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    pub prefix: String,
    pub name: String,
    #[schema(value_type = Role)]
    pub role: String,
    #[schema(value_type = String, format = Uuid)]
    pub created_by: Uuid,
    #[serde(skip)]
    pub created_by_name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
}

/// The organization's keys that are not revoked, newest first (expired ones included, marked by
/// their expiry).
pub async fn list(state: &AppState, principal: &Principal) -> Result<Vec<ApiKeySummary>, AppError> {
    let mut tx = state.db.begin_org(principal.org, principal.actor()).await?;
    let keys = sqlx::query_as(
        "select k.key_id as id, k.prefix, k.name, k.scope as role, k.created_by,
                u.first_name || ' ' || u.last_name as created_by_name,
                k.created_at, k.last_used_at, k.expires_at
         from api_keys k join users u on u.org_id = k.org_id and u.user_id = k.created_by
         where k.org_id = $1 and k.revoked_at is null
         order by k.created_at desc",
    )
    .bind(principal.org)
    .fetch_all(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(keys)
}

/// Revokes a key at once. Not found if it does not exist or is already revoked.
pub async fn revoke(state: &AppState, principal: &Principal, key_id: Uuid) -> Result<(), AppError> {
    let now = state.clock.now();
    let mut tx = state.db.begin_org(principal.org, principal.actor()).await?;
    let revoked = sqlx::query!(
        "update api_keys set revoked_at = $3 where org_id = $1 and key_id = $2 and revoked_at is null",
        principal.org.0,
        key_id,
        now
    )
    .execute(tx.conn())
    .await?
    .rows_affected();
    if revoked == 0 {
        return Err(AppError::NotFound);
    }
    state.audit.record(&mut tx, AuditEvent::new("api_key.revoked").target("api_key", key_id)).await?;
    tx.commit().await?;
    Ok(())
}

// ------------------------------------------------------------------ JSON API

/// The organization's API keys (not revoked). Never includes a secret.
#[utoipa::path(
    get,
    path = "/api/v1/api-keys",
    tag = "api-keys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The keys", body = Vec<ApiKeySummary>),
        (status = 401, description = "No valid bearer token", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only owners and managers manage API keys", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn api_list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<ApiKeySummary>>, AppError> {
    Ok(Json(list(&state, &principal).await?))
}

/// Create an API key. The response holds the key: it is never shown again.
#[utoipa::path(
    post,
    path = "/api/v1/api-keys",
    tag = "api-keys",
    security(("bearer" = [])),
    request_body = NewApiKeyInput,
    responses(
        (status = 201, description = "Created; `key` is shown this once", body = CreatedApiKey),
        (status = 401, description = "No valid bearer token", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only owners and managers manage API keys", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (e.g. a role above the caller's)", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn api_create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<NewApiKeyInput>,
) -> Result<(StatusCode, [(header::HeaderName, &'static str); 1], Json<CreatedApiKey>), AppError> {
    let created = create(&state, &principal, input).await?;
    Ok((StatusCode::CREATED, [(header::CACHE_CONTROL, "no-store")], Json(created)))
}

/// Revoke an API key: it stops working at once.
#[utoipa::path(
    delete,
    path = "/api/v1/api-keys/{id}",
    tag = "api-keys",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No valid bearer token", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only owners and managers manage API keys", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key, or already revoked", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn api_revoke(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id = Uuid::parse_str(&id).map_err(|_| AppError::NotFound)?;
    revoke(&state, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------ page

#[derive(Template)]
#[template(path = "api_keys.html")]
struct ApiKeysPage {
    page: Page,
    keys: Vec<ApiKeySummary>,
    roles: Vec<&'static str>,
    created: Option<CreatedApiKey>,
    errors: Vec<FieldError>,
    name: String,
}

impl ApiKeysPage {
    fn error(&self, field: &str) -> Option<String> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| self.page.t.get(&format!("field_error.{}", e.code)).to_owned())
    }
}

fn when(at: &OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    at.format(&format).unwrap_or_default()
}

impl ApiKeySummary {
    fn created_text(&self) -> String {
        when(&self.created_at)
    }
    fn last_used_text(&self) -> String {
        self.last_used_at.as_ref().map(when).unwrap_or_else(|| "—".into())
    }
    fn expires_text(&self) -> String {
        self.expires_at.as_ref().map(when).unwrap_or_else(|| "—".into())
    }
}

fn principal_of(signed_in: &SignedIn) -> Principal {
    Principal {
        org: signed_in.org,
        user_id: signed_in.user_id,
        role: signed_in.role,
        credential: Credential::Session { session_id: signed_in.session_id },
    }
}

/// The roles a member may give a key: theirs and those below.
fn grantable(role: Role) -> Vec<&'static str> {
    Role::ALL.iter().filter(|r| Role::min(**r, role) == **r).map(Role::as_str).collect()
}

async fn render_page(
    state: &AppState,
    signed_in: &SignedIn,
    created: Option<CreatedApiKey>,
    errors: Vec<FieldError>,
    name: String,
) -> Result<Response, PageError> {
    let page = signed_in.page(state, "/settings/api-keys");
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let keys = list(state, &principal_of(signed_in)).await.map_err(|e| PageError::new(e, &page))?;
    let view = ApiKeysPage { page: page.clone(), keys, roles: grantable(signed_in.role), created, errors, name };
    let html = render(&view).map_err(|e| PageError::new(e, &page))?;
    Ok((status, [(header::CACHE_CONTROL, "no-store")], html).into_response())
}

/// `GET /settings/api-keys`: the keys and a form to create one.
pub async fn page(State(state): State<AppState>, signed_in: SignedIn) -> Result<Response, PageError> {
    render_page(&state, &signed_in, None, Vec::new(), String::new()).await
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    /// A date (`YYYY-MM-DD`, UTC): the key works until the end of that day. Empty: no expiry.
    #[serde(default)]
    expires_on: String,
}

/// `POST /settings/api-keys`: creates a key and shows it once.
pub async fn page_create(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Form(form): Form<CreateForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&state, &form.csrf)?;
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    let expires_on = form.expires_on.trim();
    let expires_at = if expires_on.is_empty() {
        Ok(None)
    } else {
        time::Date::parse(expires_on, &date_format)
            .ok()
            .and_then(|day| day.next_day())
            .map(|day| Some(day.midnight().assume_utc()))
            .ok_or_else(|| FieldError::new("expires_at", "invalid", "Enter a date."))
    };
    let input =
        NewApiKeyInput { name: form.name.clone(), role: form.role, expires_at: expires_at.clone().unwrap_or(None) };
    let result = match expires_at {
        Err(date_error) => {
            let mut errors = vec![date_error];
            if let Err(AppError::Validation(more)) = validate(&input, signed_in.role, state.clock.now()) {
                errors.extend(more);
            }
            Err(AppError::Validation(errors))
        }
        Ok(_) => create(&state, &principal_of(&signed_in), input).await,
    };
    match result {
        Ok(created) => render_page(&state, &signed_in, Some(created), Vec::new(), String::new()).await,
        Err(AppError::Validation(errors)) => render_page(&state, &signed_in, None, errors, form.name).await,
        Err(other) => Err(PageError::new(other, &signed_in.page(&state, "/settings/api-keys"))),
    }
}

#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /settings/api-keys/{id}/revoke`.
pub async fn page_revoke(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<RevokeForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&state, &form.csrf)?;
    let page = signed_in.page(&state, "/settings/api-keys");
    let id = Uuid::parse_str(&id).map_err(|_| PageError::new(AppError::NotFound, &page))?;
    revoke(&state, &principal_of(&signed_in), id).await.map_err(|e| PageError::new(e, &page))?;
    Ok(Redirect::to("/settings/api-keys").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_a_visible_prefix_and_are_well_formed() {
        let key = generate_key();
        let text = key.secret.expose_secret();
        assert!(text.starts_with(&format!("rk_{}_", key.prefix)), "{text}");
        assert_eq!(key.prefix.len(), PREFIX_HEX_CHARS);
        assert!(well_formed(text));
        assert!(!well_formed("rk_short"));
        assert!(!well_formed("rk_ABCDEF012345_secret"));
        assert!(!well_formed(&format!("rk_{}_{}", key.prefix, "x".repeat(200))));
        assert_ne!(generate_key().prefix, key.prefix);
    }

    #[test]
    fn a_key_scope_never_exceeds_its_creator() {
        let now = OffsetDateTime::now_utc();
        let input = |role: &str| NewApiKeyInput { name: "Sync".into(), role: role.into(), expires_at: None };
        assert!(validate(&input("user"), Role::Manager, now).is_ok());
        assert!(validate(&input("manager"), Role::Manager, now).is_ok());
        let refused = validate(&input("owner"), Role::Manager, now).unwrap_err();
        assert_eq!(refused.field_errors()[0].code, "role_above_yours");
        let all = validate(
            &NewApiKeyInput { name: " ".into(), role: "boss".into(), expires_at: Some(now - time::Duration::hours(1)) },
            Role::Owner,
            now,
        )
        .unwrap_err();
        let codes: Vec<_> = all.field_errors().iter().map(|e| e.code).collect();
        assert_eq!(codes, ["required", "invalid", "expiry_in_past"]);
        assert_eq!(grantable(Role::Manager), ["manager", "user"]);
    }
}
