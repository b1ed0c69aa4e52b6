//! The export endpoints: the API's and the list pages' download links (same answer, a file).

use axum::extract::State;
use axum::response::Response;
use kernel::AppError;
use kernel::authz::Principal;
use kernel::web::AppState;

use super::{ExportParams, service};
use crate::http::Object;
use identity::signed_in::MaybeSignedIn;
use kernel::extract::ApiQuery;

/// `GET /api/v1/{leads,contacts,companies,deals}/export?format=csv|json|excel&q=&sort=&filters=`,
/// and `GET /crm/{type}/export` with the same parameters from a list page (where `excel` follows
/// the member's language and time zone).
pub async fn export<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    MaybeSignedIn(signed_in): MaybeSignedIn,
    ApiQuery(params): ApiQuery<ExportParams>,
) -> Result<Response, AppError> {
    let viewer = signed_in.map(|s| (s.lang, s.tz));
    service::export_for(&state, &principal, O::TYPE, params, viewer).await
}
