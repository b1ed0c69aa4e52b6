//! Saved views' page handlers: "save as view" and "delete view" on a list page.

use crate::http::Fields;
use axum::extract::{Path, State};
use axum::response::Response;
use identity::signed_in::SignedIn;
use kernel::AppError;
use kernel::AppResult;
use kernel::authz::Principal;
use kernel::web::AppState;
use kernel::web::CsrfForm;
use kernel::web::redirect_with_toast;

use super::{ViewInput, service};
use crate::http::{self, Object};
use crate::list::Filter;

/// A view the service refused (no name, a name too long, too many views): the reasons in the
/// member's language on the error page, which shows the handler's message.
fn refused(page: &kernel::web::Page, error: AppError) -> AppError {
    match error {
        AppError::Validation(errors) => AppError::BadRequest(
            errors.iter().map(|e| crate::display::error_text(page, e)).collect::<Vec<_>>().join(" "),
        ),
        other => other,
    }
}

/// "Save as view" from a list page: the filters, sort, search and columns in force.
pub async fn save_view<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    CsrfForm(form): CsrfForm<Fields>,
) -> AppResult<Response> {
    let object = O::TYPE;
    let page = signed_in.page(&state, &format!("/crm/{}", object.plural()));
    let value = |name: &str| http::value(&form, name).to_string();
    let filters: Vec<Filter> = serde_json::from_str(http::value(&form, "filters")).unwrap_or_default();
    let input = ViewInput {
        object_type: object.as_str().into(),
        name: value("name"),
        shared: value("shared") == "true",
        filters,
        sort: value("sort"),
        q: value("q"),
        columns: http::values(&form, "col"),
    };
    let mut tx = principal.begin(&state.db).await?;
    let view = service::create(&mut tx, &principal, &input, state.clock.now()).await.map_err(|e| refused(&page, e))?;
    tx.commit().await?;
    Ok(redirect_with_toast(&format!("/crm/{}?view={}", object.plural(), view.view_id), "crm.views.saved_notice"))
}

/// "Update this view" from a list page: the view keeps its name and sharing and takes the
/// filters, sort, search and columns in force (the view's own filters plus those added since).
pub async fn update_view<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Fields>,
) -> AppResult<Response> {
    let object = O::TYPE;
    let id = http::parse_id(&id)?;
    let page = signed_in.page(&state, &format!("/crm/{}", object.plural()));
    let filters: Vec<Filter> = serde_json::from_str(http::value(&form, "filters")).unwrap_or_default();
    let mut tx = principal.begin(&state.db).await?;
    let current = super::store::find(&mut tx, principal.user_id, id).await?;
    let input = ViewInput {
        object_type: object.as_str().into(),
        name: current.name,
        shared: current.shared,
        filters,
        sort: http::value(&form, "sort").to_string(),
        q: http::value(&form, "q").to_string(),
        columns: http::values(&form, "col"),
    };
    let view =
        service::update(&mut tx, &principal, id, &input, state.clock.now()).await.map_err(|e| refused(&page, e))?;
    tx.commit().await?;
    Ok(redirect_with_toast(&format!("/crm/{}?view={}", object.plural(), view.view_id), "crm.views.updated_notice"))
}

pub async fn delete_view<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(_form): CsrfForm<Fields>,
) -> AppResult<Response> {
    let object = O::TYPE;
    let id = http::parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    service::delete(&mut tx, &principal, id).await?;
    tx.commit().await?;
    Ok(redirect_with_toast(&format!("/crm/{}", object.plural()), "crm.views.deleted_notice"))
}
