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
use serde_json::json;

use crate::display::error_text;
use crate::records::Source;

/// "Convert" on a lead's page: a contact, its company, and a deal when a deal name is given.
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
    let fail = |e: AppError| match e {
        AppError::Validation(errors) => {
            let text =
                errors.iter().map(|e| format!("{}: {}", e.field, error_text(&page, e))).collect::<Vec<_>>().join(" ");
            AppError::BadRequest(text)
        }
        other => other,
    };
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
    let converted = crate::conversion::convert(&mut tx, id, &input, &write).await.map_err(fail)?;
    tx.commit().await?;
    Ok(kernel::web::redirect_with_toast(&format!("/crm/contacts/{}", converted.contact_id), "crm.notice.converted"))
}
