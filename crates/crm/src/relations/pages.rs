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
use crate::records::pages::{Extras, LinkForm, Redraw, record_named, refused_form};
use identity::signed_in::SignedIn;
use serde_json::Map;

/// `POST /crm/{contacts|deals}/{id}/links`: link the record chosen in the form — or, when nothing
/// was chosen (no JavaScript to fill the choices, or a name typed in full), the one record whose
/// name is exactly what was typed. A refusal redraws the record's page with the message at the
/// form (422).
async fn link_from_form(
    state: AppState,
    signed_in: SignedIn,
    principal: Principal,
    link_kind: Link,
    id: String,
    form: Fields,
) -> AppResult<Response> {
    let (left_type, right_type) = link_kind.sides();
    let back = format!("/crm/{}/{id}", left_type.plural());
    let left = parse_id(&id)?;
    let typed = http::value(&form, "q").trim().to_string();
    let input = LinkInput {
        role: http::value(&form, "role").to_string(),
        is_primary: http::value(&form, "is_primary") == "true",
    };
    let mut tx = principal.begin(&state.db).await?;
    let chosen = http::value(&form, "other_id").trim().to_string();
    let right = if !chosen.is_empty() {
        Ok(parse_id(&chosen)?)
    } else if typed.is_empty() {
        Err(AppError::field("other_id", "required", "Type a name, then choose a record."))
    } else {
        record_named(&mut tx, right_type, &typed)
            .await?
            .map_err(|refusal| AppError::Validation(vec![refusal.at("other_id")]))
    };
    let remove = http::value(&form, "remove") == "true";
    let result = match right {
        Ok(right) if remove => service::unlink(&mut tx, &state.audit, link_kind, left, right).await,
        Ok(right) => {
            service::link(&mut tx, link_kind, left, right, &input, &write_ctx(&state, &principal, Source::Ui)).await
        }
        Err(refused) => Err(refused),
    };
    match result {
        Ok(()) => {
            tx.commit().await?;
            Ok(kernel::web::redirect_with_toast(&back, "crm.notice.saved"))
        }
        Err(AppError::Validation(errors)) => {
            let page = signed_in.page(&state, &back);
            let link = LinkForm { query: typed, errors: errors.clone() };
            let extras = Extras { link: Some(Box::new(link)), ..Extras::default() };
            refused_form(&state, &page, &principal, tx, left_type, left, Map::new(), &errors, Redraw::Page(extras))
                .await
        }
        Err(other) => Err(other),
    }
}

pub async fn link_contact(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Fields>,
) -> AppResult<Response> {
    link_from_form(state, signed_in, principal, Link::ContactCompany, id, form).await
}

pub async fn link_deal(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Fields>,
) -> AppResult<Response> {
    link_from_form(state, signed_in, principal, Link::DealContact, id, form).await
}
