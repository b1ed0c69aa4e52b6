//! The JSON API of records: `/api/v1/{leads,contacts,companies,deals}`. One generic handler per
//! operation serves the four object types (the type is a marker parameter), so they cannot drift.

use crate::actions;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kernel::audit::AuditEvent;
use kernel::authz::{Grant, Principal};
use kernel::error::ApiJson;
use kernel::web::AppState;
use kernel::{AppError, FieldError};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::http::{Object, parse_id, write_ctx};
use crate::idempotency::{self, Claim};
use crate::list::{Filter, ListQuery, Sort};
use crate::object::ObjectType;
use crate::records::{self, Source};

/// Query string of a list: `q`, `sort` (`name` or `-name` for descending), `after`, `limit`, and
/// `filters`, a JSON array of `{"field", "op", "value"}`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct ListParams {
    pub q: Option<String>,
    pub sort: Option<String>,
    pub after: Option<String>,
    pub limit: Option<u32>,
    pub filters: Option<String>,
}

impl ListParams {
    pub fn into_query(self) -> Result<ListQuery, AppError> {
        let filters: Vec<Filter> = match self.filters.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
            None => Vec::new(),
            Some(text) => serde_json::from_str(text).map_err(|_| {
                AppError::field("filters", "invalid_filters", "Give a JSON array of {field, op, value} objects.")
            })?,
        };
        let sort = self.sort.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(|s| match s.strip_prefix('-') {
            Some(field) => Sort { field: field.into(), descending: true },
            None => Sort { field: s.into(), descending: false },
        });
        Ok(ListQuery { filters, sort, after: self.after.filter(|a| !a.is_empty()), limit: self.limit, q: self.q })
    }
}

pub async fn list<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<ListParams>,
) -> Result<Json<crate::list::ListPage>, AppError> {
    let query = params.into_query()?;
    let mut tx = principal.begin(&state.db).await?;
    let page = crate::list::list(&mut tx, O::TYPE, &query).await?;
    tx.commit().await?;
    Ok(Json(page))
}

fn object_body(body: Value) -> Result<Map<String, Value>, AppError> {
    match body {
        Value::Object(map) => Ok(map),
        _ => Err(AppError::field("body", "invalid_type", "Send a JSON object of fields.")),
    }
}

/// Creates a record; honours `Idempotency-Key`.
pub async fn create<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let route = format!("POST /api/v1/{}", O::TYPE.plural());
    let key = match idempotency::claim(&mut tx, &headers, principal.user_id, &route, &body, state.clock.now()).await? {
        Claim::Replay(status, response) => return Ok((status, Json(response)).into_response()),
        Claim::Fresh(key) => Some(key),
        Claim::None => None,
    };
    let input = object_body(body)?;
    let created = records::create(&mut tx, O::TYPE, &input, &write_ctx(&state, &principal, Source::Api)).await?;
    let response = serde_json::to_value(&created).map_err(anyhow::Error::from)?;
    if let Some(key) = key {
        idempotency::store(&mut tx, principal.user_id, &key, StatusCode::CREATED, &response).await?;
    }
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(response)).into_response())
}

pub async fn get<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let record = records::get(&mut tx, O::TYPE, id).await?;
    // P0-04: reading a person's record is recorded, whichever door it came through.
    state.audit.record(&mut tx, AuditEvent::new("record.viewed").target(O::TYPE.as_str(), id)).await?;
    tx.commit().await?;
    Ok(Json(record))
}

pub async fn update<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, AppError> {
    let id = parse_id(&id)?;
    let patch = object_body(body)?;
    let mut tx = principal.begin(&state.db).await?;
    let record = records::update(&mut tx, O::TYPE, id, &patch, &write_ctx(&state, &principal, Source::Api)).await?;
    tx.commit().await?;
    Ok(Json(record))
}

/// Deletes a record; a member whose grant is their own records deletes only those.
pub async fn delete_record(
    state: &AppState,
    principal: &Principal,
    object: ObjectType,
    id: Uuid,
    source: Source,
) -> Result<(), AppError> {
    let only_owned_by = match principal.grant(actions::RECORDS_DELETE) {
        Grant::Own => Some(principal.user_id),
        _ => None,
    };
    let mut tx = principal.begin(&state.db).await?;
    // The record is locked first: an upload committing between the listing of its files and the
    // deletion would leave a blob whose row the cascade removed.
    let lock = format!("select 1 from {} where org_id = $1 and {} = $2 for update", object.table(), object.id_column());
    sqlx::query(sqlx::AssertSqlSafe(lock)).bind(tx.org()).bind(id).execute(tx.conn()).await?;
    // The record's files go with it by cascade; their blobs once the deletion is committed.
    let blobs = crate::files::blobs_of(&mut tx, object, &[id]).await?;
    records::delete(&mut tx, object, id, only_owned_by, source, state.clock.now()).await?;
    let event = AuditEvent::new("record.deleted").target(object.as_str(), id);
    state.audit.record(&mut tx, event).await?;
    tx.commit().await?;
    crate::files::remove_blobs(state, blobs).await;
    Ok(())
}

pub async fn delete<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    delete_record(&state, &principal, O::TYPE, parse_id(&id)?, Source::Api).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Records that look like duplicates of this one.
pub async fn duplicates<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Vec<records::DuplicateHint>>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    records::get(&mut tx, O::TYPE, id).await?;
    let hints = records::duplicates_of(&mut tx, O::TYPE, id).await?;
    tx.commit().await?;
    Ok(Json(hints))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SearchParams {
    pub q: String,
    pub limit: Option<u32>,
}

pub async fn search(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<SearchParams>,
) -> Result<Json<Vec<crate::list::SearchHit>>, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let hits = crate::list::search(&mut tx, &params.q, params.limit.unwrap_or(20)).await?;
    tx.commit().await?;
    Ok(Json(hits))
}

/// A bulk operation on up to 1,000 records, all-or-nothing.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum BulkInput {
    /// Apply the same field changes to every record.
    Update {
        ids: Vec<Uuid>,
        #[schema(value_type = Object)]
        changes: Map<String, Value>,
    },
    /// Give every record to a member.
    Assign { ids: Vec<Uuid>, owner_id: Uuid },
    /// Delete every record; `confirm` must equal the number of ids.
    Delete { ids: Vec<Uuid>, confirm: usize },
}

pub const BULK_MAX: usize = 1000;

pub async fn bulk_apply(
    state: &AppState,
    principal: &Principal,
    object: ObjectType,
    input: BulkInput,
    source: Source,
) -> Result<usize, AppError> {
    let ids = match &input {
        BulkInput::Update { ids, .. } | BulkInput::Assign { ids, .. } | BulkInput::Delete { ids, .. } => ids.clone(),
    };
    if ids.is_empty() || ids.len() > BULK_MAX {
        return Err(AppError::field("ids", "invalid_count", format!("Select from 1 to {BULK_MAX} records.")));
    }
    let mut tx = principal.begin(&state.db).await?;
    let write = write_ctx(state, principal, source);
    let mut blobs = Vec::new();
    match &input {
        BulkInput::Update { changes, .. } => {
            for id in &ids {
                records::update(&mut tx, object, *id, changes, &write).await?;
            }
        }
        BulkInput::Assign { owner_id, .. } => {
            let changes: Map<String, Value> = [("owner_id".to_string(), json!(owner_id))].into_iter().collect();
            for id in &ids {
                records::update(&mut tx, object, *id, &changes, &write).await?;
            }
        }
        BulkInput::Delete { confirm, .. } => {
            if *confirm != ids.len() {
                return Err(AppError::Validation(vec![FieldError::new(
                    "confirm",
                    "confirmation_mismatch",
                    format!("Confirm by sending the number of records to delete ({}).", ids.len()),
                )]));
            }
            blobs = crate::files::blobs_of(&mut tx, object, &ids).await?;
            for id in &ids {
                records::delete(&mut tx, object, *id, None, source, state.clock.now()).await?;
            }
            let event = AuditEvent::new("record.bulk_deleted")
                .payload(json!({ "object": object.as_str(), "count": ids.len() }));
            state.audit.record(&mut tx, event).await?;
        }
    }
    tx.commit().await?;
    crate::files::remove_blobs(state, blobs).await;
    Ok(ids.len())
}

pub async fn bulk<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<BulkInput>,
) -> Result<Json<Value>, AppError> {
    let count = bulk_apply(&state, &principal, O::TYPE, input, Source::Api).await?;
    Ok(Json(json!({ "count": count })))
}
