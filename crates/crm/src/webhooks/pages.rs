//! The HTML pages of webhooks: `/settings/webhooks`, where owners and managers add endpoints,
//! see a new secret once, read the delivery log, and enable, disable, ping or delete an endpoint.

use crate::http::Fields;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use identity::signed_in::SignedIn;
use kernel::AppError;
use kernel::AppResult;
use kernel::authz::Principal;
use kernel::web::CsrfForm;
use kernel::web::{AppState, Page, render};
use secrecy::ExposeSecret;
use uuid::Uuid;

use super::{Delivery, EVENTS, Endpoint, EndpointInput, WebhookSettings, service, store};
use crate::http::{self, error_texts, page_response, parse_id};

#[derive(Template)]
#[template(path = "crm_webhooks.html")]
struct WebhooksView {
    page: Page,
    endpoints: Vec<Endpoint>,
    /// The endpoint shown with its delivery log.
    showing: Option<(Endpoint, Vec<Delivery>)>,
    /// A secret just created: shown once.
    new_secret: Option<String>,
    events: &'static [&'static str],
    draft_url: String,
    draft_description: String,
    draft_events: Vec<String>,
    errors: Vec<String>,
}

impl WebhooksView {
    fn chosen(&self, event: &str) -> bool {
        self.draft_events.iter().any(|e| e == event)
    }
}

struct Draft {
    url: String,
    description: String,
    events: Vec<String>,
}

#[allow(clippy::too_many_arguments)]
async fn webhooks_page(
    state: &AppState,
    principal: &Principal,
    page: Page,
    showing: Option<Uuid>,
    new_secret: Option<String>,
    draft: Option<Draft>,
    errors: Vec<String>,
) -> AppResult<Response> {
    let mut tx = principal.begin(&state.db).await?;
    let list = store::endpoints(&mut tx).await?;
    let showing = match showing {
        Some(id) => {
            let found = store::endpoint(&mut tx, id).await?;
            let log = store::deliveries(&mut tx, id, None, 50).await?;
            Some((found, log))
        }
        None => None,
    };
    tx.commit().await?;
    let draft = draft.unwrap_or(Draft { url: String::new(), description: String::new(), events: vec!["*".into()] });
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let view = WebhooksView {
        page: page.clone(),
        endpoints: list,
        showing,
        new_secret,
        events: EVENTS,
        draft_url: draft.url,
        draft_description: draft.description,
        draft_events: draft.events,
        errors,
    };
    let html = render(&view)?;
    Ok(page_response(status, html))
}

pub async fn list(State(state): State<AppState>, signed_in: SignedIn, principal: Principal) -> AppResult<Response> {
    let page = signed_in.page(&state, "/settings/webhooks");
    webhooks_page(&state, &principal, page, None, None, None, Vec::new()).await
}

pub async fn show(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let page = signed_in.page(&state, &format!("/settings/webhooks/{id}"));
    let id = parse_id(&id)?;
    webhooks_page(&state, &principal, page, Some(id), None, None, Vec::new()).await
}

pub async fn create(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    CsrfForm(body): CsrfForm<Fields>,
) -> AppResult<Response> {
    let page = signed_in.page(&state, "/settings/webhooks");
    let draft = Draft {
        url: http::value(&body, "url").to_string(),
        description: http::value(&body, "description").to_string(),
        events: http::values(&body, "events"),
    };
    let input = EndpointInput {
        url: Some(draft.url.clone()),
        description: Some(draft.description.clone()),
        events: Some(draft.events.clone()),
        active: Some(true),
    };
    let settings = state.config.modules.get::<WebhookSettings>();
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
    match service::create(&mut tx, &state.audit, &state.vault, settings, input, principal.user_id, now).await {
        Ok((created, secret)) => {
            tx.commit().await?;
            // The secret is shown in this answer only; a reload no longer has it.
            let page = signed_in.page(&state, &format!("/settings/webhooks/{}", created.endpoint_id));
            let secret = Some(secret.expose_secret().to_string());
            webhooks_page(&state, &principal, page, Some(created.endpoint_id), secret, None, Vec::new()).await
        }
        Err(AppError::Validation(errors)) => {
            drop(tx);
            let texts = error_texts(&page, &errors);
            webhooks_page(&state, &principal, page, None, None, Some(draft), texts).await
        }
        Err(other) => Err(other),
    }
}

/// `POST /settings/webhooks/{id}` with `action` = `enable`, `disable`, `ping` or `delete`.
pub async fn action(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(body): CsrfForm<Fields>,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
    let (target, toast) = match http::value(&body, "action") {
        "enable" | "disable" => {
            let active = http::value(&body, "action") == "enable";
            let input = EndpointInput { active: Some(active), ..EndpointInput::default() };
            let settings = state.config.modules.get::<WebhookSettings>();
            service::update(&mut tx, &state.audit, settings, id, input, now).await?;
            (format!("/settings/webhooks/{id}"), "crm.notice.saved")
        }
        "ping" => {
            service::ping(&mut tx, &state.audit, id, now).await?;
            (format!("/settings/webhooks/{id}"), "crm.notice.ping_queued")
        }
        "delete" => {
            service::delete(&mut tx, &state.audit, id).await?;
            ("/settings/webhooks".to_string(), "crm.notice.deleted")
        }
        _ => return Err(AppError::field("action", "invalid_choice", "Unknown action.")),
    };
    tx.commit().await?;
    Ok(kernel::web::redirect_with_toast(&target, toast))
}
