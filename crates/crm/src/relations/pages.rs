//! Links' page handler: the link form of a contact's and a deal's page.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use identity::signed_in::SignedIn;
use kernel::AppError;
use kernel::authz::Principal;
use kernel::web::{AppState, PageError};

use super::{Link, LinkInput, service};
use crate::http::{self, parse_id, write_ctx};
use crate::records::Source;

/// `POST /crm/{contacts|deals}/{id}/links`: link the record typed or chosen in the form.
async fn link_from_form(
    state: AppState,
    signed_in: SignedIn,
    principal: Principal,
    link_kind: Link,
    id: String,
    body: Bytes,
) -> Result<Response, PageError> {
    let (left_type, right_type) = link_kind.sides();
    let back = format!("/crm/{}/{id}", left_type.plural());
    let page = signed_in.page(&state, &back);
    let form = http::parse(&body);
    signed_in.check_csrf(&state, http::csrf(&form))?;
    let fail = |e: AppError| PageError::new(e, &page);
    let left = parse_id(&id).map_err(fail)?;
    let right = parse_id(http::value(&form, "other_id"))
        .map_err(|_| fail(AppError::field(right_type.id_column(), "required", "Choose a record.")))?;
    let input = LinkInput {
        role: http::value(&form, "role").to_string(),
        is_primary: http::value(&form, "is_primary") == "true",
    };
    let mut tx = principal.begin(&state.db).await.map_err(|e| fail(e.into()))?;
    let remove = http::value(&form, "remove") == "true";
    let result = if remove {
        service::unlink(&mut tx, link_kind, left, right).await
    } else {
        service::link(&mut tx, link_kind, left, right, &input, &write_ctx(&state, &principal, Source::Ui)).await
    };
    result.map_err(fail)?;
    tx.commit().await.map_err(|e| fail(e.into()))?;
    Ok(Redirect::to(&format!("{back}?notice=saved")).into_response())
}

pub async fn link_contact(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    link_from_form(state, signed_in, principal, Link::ContactCompany, id, body).await
}

pub async fn link_deal(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    link_from_form(state, signed_in, principal, Link::DealContact, id, body).await
}
