//! Links' page handler: the link form of a contact's and a deal's page.

use crate::http::Fields;
use axum::extract::{Path, State};
use axum::response::Response;
use kernel::AppError;
use kernel::AppResult;
use kernel::authz::Principal;
use kernel::web::AppState;
use kernel::web::CsrfForm;

use super::{Link, LinkInput, service};
use crate::http::{self, parse_id, write_ctx};
use crate::records::Source;

/// `POST /crm/{contacts|deals}/{id}/links`: link the record typed or chosen in the form.
async fn link_from_form(
    state: AppState,
    principal: Principal,
    link_kind: Link,
    id: String,
    form: Fields,
) -> AppResult<Response> {
    let (left_type, right_type) = link_kind.sides();
    let back = format!("/crm/{}/{id}", left_type.plural());
    let left = parse_id(&id)?;
    let right = parse_id(http::value(&form, "other_id"))
        .map_err(|_| AppError::field(right_type.id_column(), "required", "Choose a record."))?;
    let input = LinkInput {
        role: http::value(&form, "role").to_string(),
        is_primary: http::value(&form, "is_primary") == "true",
    };
    let mut tx = principal.begin(&state.db).await?;
    let remove = http::value(&form, "remove") == "true";
    let result = if remove {
        service::unlink(&mut tx, &state.audit, link_kind, left, right).await
    } else {
        service::link(&mut tx, link_kind, left, right, &input, &write_ctx(&state, &principal, Source::Ui)).await
    };
    result?;
    tx.commit().await?;
    Ok(kernel::web::redirect_with_toast(&back, "crm.notice.saved"))
}

pub async fn link_contact(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Fields>,
) -> AppResult<Response> {
    link_from_form(state, principal, Link::ContactCompany, id, form).await
}

pub async fn link_deal(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Fields>,
) -> AppResult<Response> {
    link_from_form(state, principal, Link::DealContact, id, form).await
}
