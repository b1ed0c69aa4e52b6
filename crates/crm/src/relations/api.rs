//! Links' JSON API: what is linked to a record; link and unlink a contact's company and a deal's
//! contact.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kernel::AppError;
use kernel::authz::Principal;
use kernel::error::ApiJson;
use kernel::web::AppState;

use super::{Link, LinkInput, Related, service};
use crate::http::{parse_id, write_ctx};
use crate::object::ObjectType;
use crate::records::Source;

pub async fn related_contact(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Vec<Related>>, AppError> {
    related(state, principal, ObjectType::Contact, id).await
}

pub async fn related_company(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Vec<Related>>, AppError> {
    related(state, principal, ObjectType::Company, id).await
}

pub async fn related_deal(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Vec<Related>>, AppError> {
    related(state, principal, ObjectType::Deal, id).await
}

async fn related(
    state: AppState,
    principal: Principal,
    object: ObjectType,
    id: String,
) -> Result<Json<Vec<Related>>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let found = service::related_to_visible(&mut tx, object, id).await?;
    tx.commit().await?;
    Ok(Json(found))
}

async fn link(
    state: AppState,
    principal: Principal,
    link_kind: Link,
    ids: (String, String),
    input: LinkInput,
) -> Result<StatusCode, AppError> {
    let (left, right) = (parse_id(&ids.0)?, parse_id(&ids.1)?);
    let mut tx = principal.begin(&state.db).await?;
    service::link(&mut tx, link_kind, left, right, &input, &write_ctx(&state, &principal, Source::Api)).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unlink(
    state: AppState,
    principal: Principal,
    link_kind: Link,
    ids: (String, String),
) -> Result<StatusCode, AppError> {
    let (left, right) = (parse_id(&ids.0)?, parse_id(&ids.1)?);
    let mut tx = principal.begin(&state.db).await?;
    service::unlink(&mut tx, &state.audit, link_kind, left, right).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn link_contact_company(
    State(state): State<AppState>,
    principal: Principal,
    Path(ids): Path<(String, String)>,
    ApiJson(input): ApiJson<LinkInput>,
) -> Result<StatusCode, AppError> {
    link(state, principal, Link::ContactCompany, ids, input).await
}

pub async fn unlink_contact_company(
    State(state): State<AppState>,
    principal: Principal,
    Path(ids): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    unlink(state, principal, Link::ContactCompany, ids).await
}

pub async fn link_deal_contact(
    State(state): State<AppState>,
    principal: Principal,
    Path(ids): Path<(String, String)>,
    ApiJson(input): ApiJson<LinkInput>,
) -> Result<StatusCode, AppError> {
    link(state, principal, Link::DealContact, ids, input).await
}

pub async fn unlink_deal_contact(
    State(state): State<AppState>,
    principal: Principal,
    Path(ids): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    unlink(state, principal, Link::DealContact, ids).await
}
