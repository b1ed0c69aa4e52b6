//! The work log's JSON API: notes, tasks and activities on a record, its timeline, and the
//! member's open tasks.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kernel::AppError;
use kernel::authz::Principal;
use kernel::error::ApiJson;
use kernel::web::AppState;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ActivityInput, NoteInput, TaskChange, TaskInput, TimelinePage, WorkItem, render_markdown, service};
use crate::http::{Object, parse_id};
use kernel::extract::ApiQuery;

pub async fn add_note<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<NoteInput>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let note = service::add_note(&mut tx, O::TYPE, id, principal.user_id, &input.body, state.clock.now()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(json!({ "note_id": note, "html": render_markdown(&input.body) }))))
}

pub async fn add_task<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<TaskInput>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let task = service::add_task(&mut tx, O::TYPE, id, principal.user_id, &input, state.clock.now()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(json!({ "task_id": task }))))
}

pub async fn add_activity<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ActivityInput>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let activity = service::add_activity(&mut tx, O::TYPE, id, principal.user_id, &input, state.clock.now()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(json!({ "activity_id": activity }))))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct TimelineParams {
    pub before: Option<String>,
    pub limit: Option<i64>,
}

pub async fn timeline<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<TimelineParams>,
) -> Result<Json<TimelinePage>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let limit = i64::from(kernel::extract::page_limit(params.limit, 50, 200, "limit")?);
    let page = service::timeline(&mut tx, O::TYPE, id, params.before.as_deref(), limit, None).await?;
    tx.commit().await?;
    Ok(Json(page))
}

pub async fn change_task(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(change): ApiJson<TaskChange>,
) -> Result<StatusCode, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    service::change_task(&mut tx, id, &change, state.clock.now()).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_item(
    state: AppState,
    principal: Principal,
    id: String,
    item: WorkItem,
) -> Result<StatusCode, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    service::delete_item(&mut tx, &state.audit, item, id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn delete_note(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    delete_item(state, principal, id, WorkItem::Note).await
}

pub async fn delete_task(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    delete_item(state, principal, id, WorkItem::Task).await
}

pub async fn delete_activity(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    delete_item(state, principal, id, WorkItem::Activity).await
}

/// The member's open tasks, soonest due first.
pub async fn my_tasks(State(state): State<AppState>, principal: Principal) -> Result<Json<Vec<Value>>, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let tasks = super::service::open_tasks(&mut tx, principal.user_id).await?;
    tx.commit().await?;
    Ok(Json(tasks))
}
