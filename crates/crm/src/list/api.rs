//! `GET /api/v1/{leads,contacts,companies,deals}`: filtered, sorted, keyset-paginated lists.

use axum::Json;
use axum::extract::State;
use kernel::AppError;
use kernel::authz::Principal;
use kernel::web::AppState;
use serde::Deserialize;

use crate::http::Object;
use crate::list::{Filter, ListQuery, Sort};
use kernel::extract::ApiQuery;

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
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<crate::list::ListPage>, AppError> {
    kernel::extract::page_limit(
        params.limit.map(i64::from),
        crate::list::DEFAULT_PAGE,
        crate::list::MAX_PAGE,
        "limit",
    )?;
    let query = params.into_query()?;
    let mut tx = principal.begin(&state.db).await?;
    let page = crate::list::list(&mut tx, O::TYPE, &query).await?;
    tx.commit().await?;
    Ok(Json(page))
}
