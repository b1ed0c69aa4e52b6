//! The conversion form of a lead page.

use crate::http::Fields;
use axum::extract::{Path, State};
use axum::response::Response;
use identity::signed_in::SignedIn;
use kernel::AppError;
use kernel::AppResult;
use kernel::authz::Principal;
use kernel::web::AppState;
use kernel::web::CsrfForm;
use serde_json::{Map, json};

use crate::object::ObjectType;
use crate::records::Source;
use crate::records::pages::{ConvertForm, Extras, Redraw, refused_form};

/// "Convert" on a lead's page: a contact, its company, and a deal when a deal name is given. A
/// refusal (a bad amount) shows the lead's page again with the dialog open, what was typed kept and
/// the messages in it.
pub async fn convert_lead(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Fields>,
) -> AppResult<Response> {
    let page = signed_in.page(&state, &format!("/crm/leads/{id}"));
    let value =
        |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_string()).unwrap_or_default();
    let id = crate::http::parse_id(&id)?;
    let deal_name = value("deal_name");
    let input = crate::conversion::ConvertInput {
        deal: (!deal_name.is_empty()).then(|| crate::conversion::ConvertPart {
            existing_id: None,
            fields: [("name".to_string(), json!(deal_name)), ("amount".to_string(), json!(value("deal_amount")))]
                .into_iter()
                .collect(),
        }),
        skip_company: value("skip_company") == "true",
        ..Default::default()
    };
    let mut tx = principal.begin(&state.db).await?;
    let write = crate::http::write_ctx(&state, &principal, Source::Ui);
    match crate::conversion::convert(&mut tx, id, &input, &write).await {
        Ok(converted) => {
            tx.commit().await?;
            Ok(kernel::web::redirect_with_toast(
                &format!("/crm/contacts/{}", converted.contact_id),
                "crm.notice.converted",
            ))
        }
        Err(AppError::Validation(errors)) => {
            let extras = Extras {
                convert: Some(ConvertForm {
                    deal_name: value("deal_name"),
                    deal_amount: value("deal_amount"),
                    skip_company: value("skip_company") == "true",
                    errors,
                }),
                ..Extras::default()
            };
            let redraw = Redraw::Page(extras);
            refused_form(&state, &page, &principal, tx, ObjectType::Lead, id, Map::new(), &[], redraw).await
        }
        Err(other) => Err(other),
    }
}
