//! Saved views (issue #4 item 4): a list's filters, sort, search and chosen columns under a name,
//! personal or shared with the organization. A personal view is visible to its owner only; a
//! shared one to every member, and changed by its owner or by owners and managers.

use crate::actions;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kernel::authz::Principal;
use kernel::error::ApiJson;
use kernel::web::AppState;
use kernel::{AppError, FieldError, OrgTx};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::http::parse_id;
use crate::list::Filter;
use crate::object::ObjectType;
use crate::records::sort_parts;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SavedView {
    pub view_id: Uuid,
    pub object_type: String,
    pub name: String,
    pub owner_id: Uuid,
    pub shared: bool,
    #[schema(value_type = Vec<Filter>)]
    pub filters: sqlx::types::Json<Vec<Filter>>,
    pub sort: String,
    pub q: String,
    #[schema(value_type = Vec<String>)]
    pub columns: sqlx::types::Json<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ViewInput {
    pub object_type: String,
    pub name: String,
    #[serde(default)]
    pub shared: bool,
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// A field key or `custom.<key>`, `-` first for descending.
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub q: String,
    /// The columns to show, in order; empty for the default columns.
    #[serde(default)]
    pub columns: Vec<String>,
}

fn field_known(object: ObjectType, key: &str) -> bool {
    sort_parts(object, key).is_some()
}

/// Checks a view against the object's fields, so a saved view never fails when opened.
fn validate(input: &ViewInput) -> Result<ObjectType, AppError> {
    let mut errors = Vec::new();
    let Some(object) = ObjectType::parse(&input.object_type) else {
        return Err(AppError::field("object_type", "invalid_choice", "lead, contact, company or deal."));
    };
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        errors.push(FieldError::new("name", "invalid_length", "Give a name of 1 to 100 characters."));
    }
    for (i, filter) in input.filters.iter().enumerate() {
        if !field_known(object, &filter.field) {
            errors.push(FieldError::new(format!("filters.{i}.field"), "unknown_field", "No such field."));
        }
    }
    if input.filters.len() > 20 {
        errors.push(FieldError::new("filters", "too_many", "At most 20 filters."));
    }
    let sort = input.sort.trim().trim_start_matches('-');
    if !sort.is_empty() && !field_known(object, sort) {
        errors.push(FieldError::new("sort", "unknown_field", "Cannot sort by this field."));
    }
    for (i, column) in input.columns.iter().enumerate() {
        if !field_known(object, column) {
            errors.push(FieldError::new(format!("columns.{i}"), "unknown_field", "No such field."));
        }
    }
    if input.columns.len() > 30 {
        errors.push(FieldError::new("columns", "too_many", "At most 30 columns."));
    }
    if input.q.chars().count() > 200 {
        errors.push(FieldError::new("q", "too_long", "At most 200 characters."));
    }
    if errors.is_empty() { Ok(object) } else { Err(AppError::Validation(errors)) }
}

const COLUMNS: &str = "view_id, object_type, name, owner_id, shared, filters, sort, q, columns";

/// The views a member sees for an object type: their own and the shared ones.
pub async fn visible(tx: &mut OrgTx, me: Uuid, object: Option<ObjectType>) -> Result<Vec<SavedView>, AppError> {
    let sql = format!(
        "select {COLUMNS} from saved_views where org_id = $1 and (shared or owner_id = $2)
            and ($3::text is null or object_type = $3) order by object_type, lower(name)"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tx.org())
        .bind(me)
        .bind(object.map(|o| o.as_str()))
        .fetch_all(tx.conn())
        .await?)
}

pub async fn find(tx: &mut OrgTx, me: Uuid, id: Uuid) -> Result<SavedView, AppError> {
    let sql =
        format!("select {COLUMNS} from saved_views where org_id = $1 and view_id = $2 and (shared or owner_id = $3)");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tx.org())
        .bind(id)
        .bind(me)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(AppError::NotFound)
}

/// A shared view is changed by its owner, or by owners and managers.
fn may_change(principal: &Principal, view: &SavedView) -> bool {
    view.owner_id == principal.user_id || principal.grant(actions::CRM_CONFIGURE).allows()
}

pub async fn create(
    tx: &mut OrgTx,
    principal: &Principal,
    input: &ViewInput,
    now: time::OffsetDateTime,
) -> Result<SavedView, AppError> {
    let object = validate(input)?;
    let id = Uuid::now_v7();
    sqlx::query(
        "insert into saved_views (org_id, view_id, object_type, name, owner_id, shared, filters, sort, q, columns, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
    )
    .bind(tx.org())
    .bind(id)
    .bind(object.as_str())
    .bind(input.name.trim())
    .bind(principal.user_id)
    .bind(input.shared)
    .bind(sqlx::types::Json(&input.filters))
    .bind(input.sort.trim())
    .bind(input.q.trim())
    .bind(sqlx::types::Json(&input.columns))
    .bind(now)
    .execute(tx.conn())
    .await?;
    find(tx, principal.user_id, id).await
}

pub async fn update(
    tx: &mut OrgTx,
    principal: &Principal,
    id: Uuid,
    input: &ViewInput,
    now: time::OffsetDateTime,
) -> Result<SavedView, AppError> {
    let current = find(tx, principal.user_id, id).await?;
    if !may_change(principal, &current) {
        return Err(AppError::Forbidden);
    }
    let object = validate(input)?;
    if object.as_str() != current.object_type {
        return Err(AppError::field("object_type", "immutable", "A view keeps its object type."));
    }
    sqlx::query(
        "update saved_views set name = $3, shared = $4, filters = $5, sort = $6, q = $7, columns = $8, updated_at = $9
          where org_id = $1 and view_id = $2",
    )
    .bind(tx.org())
    .bind(id)
    .bind(input.name.trim())
    .bind(input.shared)
    .bind(sqlx::types::Json(&input.filters))
    .bind(input.sort.trim())
    .bind(input.q.trim())
    .bind(sqlx::types::Json(&input.columns))
    .bind(now)
    .execute(tx.conn())
    .await?;
    find(tx, principal.user_id, id).await
}

pub async fn delete(tx: &mut OrgTx, principal: &Principal, id: Uuid) -> Result<(), AppError> {
    let current = find(tx, principal.user_id, id).await?;
    if !may_change(principal, &current) {
        return Err(AppError::Forbidden);
    }
    sqlx::query("delete from saved_views where org_id = $1 and view_id = $2")
        .bind(tx.org())
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

// ---------------------------------------------------------------- API

pub async fn api_list(State(state): State<AppState>, principal: Principal) -> Result<Json<Vec<SavedView>>, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let views = visible(&mut tx, principal.user_id, None).await?;
    tx.commit().await?;
    Ok(Json(views))
}

pub async fn api_create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<ViewInput>,
) -> Result<(StatusCode, Json<SavedView>), AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let view = create(&mut tx, &principal, &input, state.clock.now()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(view)))
}

pub async fn api_update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ViewInput>,
) -> Result<Json<SavedView>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let view = update(&mut tx, &principal, id, &input, state.clock.now()).await?;
    tx.commit().await?;
    Ok(Json(view))
}

pub async fn api_delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    delete(&mut tx, &principal, id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
