//! The JSON API of webhooks: `/api/v1/webhooks`, their delivery logs and pings.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kernel::AppError;
use kernel::authz::Principal;
use kernel::error::ApiJson;
use kernel::web::AppState;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Delivery, Endpoint, EndpointInput, WebhookSettings, service, store};
use crate::http::parse_id;
use kernel::extract::ApiQuery;

pub async fn list(State(state): State<AppState>, principal: Principal) -> Result<Json<Vec<Endpoint>>, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let list = store::endpoints(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(list))
}

pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<EndpointInput>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let settings = state.config.modules.get::<WebhookSettings>();
    let mut tx = principal.begin(&state.db).await?;
    let (created, secret) =
        service::create(&mut tx, &state.audit, &state.vault, settings, input, principal.user_id, state.clock.now())
            .await?;
    tx.commit().await?;
    let mut body = json!(created);
    body["secret"] = json!(secret.expose_secret());
    Ok((StatusCode::CREATED, Json(body)))
}

pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Endpoint>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let found = store::endpoint(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(found))
}

pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<EndpointInput>,
) -> Result<Json<Endpoint>, AppError> {
    let id = parse_id(&id)?;
    let settings = state.config.modules.get::<WebhookSettings>();
    let mut tx = principal.begin(&state.db).await?;
    let updated = service::update(&mut tx, &state.audit, settings, id, input, state.clock.now()).await?;
    tx.commit().await?;
    Ok(Json(updated))
}

pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    service::delete(&mut tx, &state.audit, id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
pub struct DeliveryParams {
    pub before: Option<String>,
    pub limit: Option<i64>,
}

pub async fn deliveries(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<DeliveryParams>,
) -> Result<Json<Vec<Delivery>>, AppError> {
    let id = parse_id(&id)?;
    let before = match params.before.as_deref().filter(|b| !b.is_empty()) {
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
    store::endpoint(&mut tx, id).await?;
    let list = store::deliveries(&mut tx, id, before, limit).await?;
    tx.commit().await?;
    Ok(Json(list))
}

pub async fn ping(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let delivery = service::ping(&mut tx, &state.audit, id, state.clock.now()).await?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "delivery_id": delivery }))))
}
