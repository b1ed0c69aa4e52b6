//! Saved views' page handlers: "save as view" and "delete view" on a list page.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use identity::signed_in::SignedIn;
use kernel::AppError;
use kernel::authz::Principal;
use kernel::web::{AppState, PageError};

use super::{ViewInput, service};
use crate::http::{self, Object};
use crate::list::Filter;

/// "Save as view" from a list page: the filters, sort, search and columns in force.
pub async fn save_view<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    body: Bytes,
) -> Result<Response, PageError> {
    let object = O::TYPE;
    let page = signed_in.page(&state, &format!("/crm/{}", object.plural()));
    let form = http::parse(&body);
    signed_in.check_csrf(&state, http::csrf(&form))?;
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
    let fail = |e: AppError| match e {
        AppError::Validation(errors) => {
            let text = errors.iter().map(|e| crate::display::error_text(&page, e)).collect::<Vec<_>>().join(" ");
            PageError::new(AppError::BadRequest(text), &page)
        }
        other => PageError::new(other, &page),
    };
    let mut tx = principal.begin(&state.db).await.map_err(|e| fail(e.into()))?;
    let view = service::create(&mut tx, &principal, &input, state.clock.now()).await.map_err(fail)?;
    tx.commit().await.map_err(|e| PageError::new(e, &page))?;
    Ok(Redirect::to(&format!("/crm/{}?view={}", object.plural(), view.view_id)).into_response())
}

pub async fn delete_view<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let object = O::TYPE;
    let page = signed_in.page(&state, &format!("/crm/{}", object.plural()));
    let form = http::parse(&body);
    signed_in.check_csrf(&state, http::csrf(&form))?;
    let fail = |e: AppError| PageError::new(e, &page);
    let id = http::parse_id(&id).map_err(fail)?;
    let mut tx = principal.begin(&state.db).await.map_err(|e| fail(e.into()))?;
    service::delete(&mut tx, &principal, id).await.map_err(fail)?;
    tx.commit().await.map_err(|e| fail(e.into()))?;
    Ok(Redirect::to(&format!("/crm/{}", object.plural())).into_response())
}
