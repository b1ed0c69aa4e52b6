//! `/settings/api-keys`: the keys, and forms to create (shown once) and revoke one.

use super::*;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use kernel::AppResult;
use kernel::authz::Principal;
use kernel::web::{AppState, CsrfForm, Page, render};
use serde::de::IgnoredAny;

use crate::signed_in::SignedIn;

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
        self.errors.iter().find(|e| e.field == field).map(|e| kernel::web::field_error_text(&self.page, e))
    }
}

/// The page's dates in the member's time zone and language; "—" for a moment that never came.
impl ApiKeySummary {
    fn created_text(&self, page: &Page) -> String {
        page.date_time(&self.created_at)
    }
    fn last_used_text(&self, page: &Page) -> String {
        self.last_used_at.map_or_else(|| "—".into(), |at| page.date_time(&at))
    }
    fn expires_text(&self, page: &Page) -> String {
        self.expires_at.map_or_else(|| "—".into(), |at| page.date_time(&at))
    }
}

async fn render_page(
    state: &AppState,
    signed_in: &SignedIn,
    principal: &Principal,
    created: Option<CreatedApiKey>,
    errors: Vec<FieldError>,
    name: String,
) -> AppResult<Response> {
    let page = signed_in.page(state, "/settings/api-keys");
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let keys = list(state, principal).await?;
    let view = ApiKeysPage { page, keys, roles: grantable(signed_in.role), created, errors, name };
    let html = render(&view)?;
    Ok((status, [(header::CACHE_CONTROL, "no-store")], html).into_response())
}

/// `GET /settings/api-keys`: the keys and a form to create one.
pub async fn page(State(state): State<AppState>, signed_in: SignedIn, principal: Principal) -> AppResult<Response> {
    render_page(&state, &signed_in, &principal, None, Vec::new(), String::new()).await
}

#[derive(Deserialize)]
pub struct CreateForm {
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
    principal: Principal,
    CsrfForm(form): CsrfForm<CreateForm>,
) -> AppResult<Response> {
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
        Ok(_) => create(&state, &principal, input).await,
    };
    match result {
        Ok(created) => render_page(&state, &signed_in, &principal, Some(created), Vec::new(), String::new()).await,
        Err(AppError::Validation(errors)) => render_page(&state, &signed_in, &principal, None, errors, form.name).await,
        Err(other) => Err(other),
    }
}

/// `POST /settings/api-keys/{id}/revoke`.
pub async fn page_revoke(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<IgnoredAny>,
) -> AppResult<Response> {
    let id = Uuid::parse_str(&id).map_err(|_| AppError::NotFound)?;
    revoke(&state, &principal, id).await?;
    Ok(Redirect::to("/settings/api-keys").into_response())
}
