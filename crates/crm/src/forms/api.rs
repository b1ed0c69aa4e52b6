//! The JSON API of landing-page forms: `/api/v1/forms`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kernel::AppError;
use kernel::authz::Principal;
use kernel::error::ApiJson;
use kernel::web::AppState;
use serde_json::{Value, json};

use super::{FormInput, LeadForm, embed_html, public_url, service, store};
use crate::http::parse_id;

fn to_json(state: &AppState, form: &LeadForm) -> Value {
    let mut value = json!(form);
    value["public_url"] = json!(public_url(state, form));
    value["embed_html"] = json!(embed_html(state, form));
    value
}

pub async fn list(State(state): State<AppState>, principal: Principal) -> Result<Json<Vec<Value>>, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let forms = store::all(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(forms.iter().map(|f| to_json(&state, f)).collect()))
}

pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<FormInput>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let form = service::create(&mut tx, &state.audit, input, principal.user_id, state.clock.now()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(to_json(&state, &form))))
}

pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let form = store::get(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(to_json(&state, &form)))
}

pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<FormInput>,
) -> Result<Json<Value>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let form = service::update(&mut tx, &state.audit, id, input, state.clock.now()).await?;
    tx.commit().await?;
    Ok(Json(to_json(&state, &form)))
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
