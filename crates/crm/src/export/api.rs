//! The export endpoints: the API's and the list pages' download links (same answer, a file).

use axum::extract::State;
use axum::response::Response;
use kernel::AppError;
use kernel::authz::Principal;
use kernel::web::AppState;

use super::{ExportParams, service};
use crate::http::Object;
use kernel::extract::ApiQuery;

/// `GET /api/v1/{leads,contacts,companies,deals}/export?format=csv|json&q=&sort=&filters=`, and
/// `GET /crm/{type}/export` with the same parameters from a list page.
pub async fn export<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ExportParams>,
) -> Result<Response, AppError> {
    service::export_response(&state, &principal, O::TYPE, params).await
}
