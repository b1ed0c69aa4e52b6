//! The merge page: both records side by side, a value to keep per field.

use crate::http::Fields;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use identity::signed_in::SignedIn;
use kernel::AppError;
use kernel::AppResult;
use kernel::authz::Principal;
use kernel::web::CsrfForm;
use kernel::web::{AppState, Page, render};
use serde::Deserialize;
use serde_json::Value;

use crate::custom_fields::{self};
use crate::display::{Names, cell_text, display, field_label, no_store};
use crate::http::Object;
use crate::records::{self, Source};

pub(crate) struct MergeRow {
    key: String,
    label: String,
    this: String,
    other: String,
    /// The other record's value is chosen at first when this one has none: a merge should never
    /// lose a filled value by default.
    prefer_other: bool,
}

#[derive(Template)]
#[template(path = "crm_merge.html")]
pub(crate) struct MergeView {
    page: Page,
    plural: &'static str,
    id: String,
    other_id: String,
    this_title: String,
    other_title: String,
    rows: Vec<MergeRow>,
}

#[derive(Debug, Default, Deserialize)]
pub struct MergeQuery {
    #[serde(default)]
    other: String,
}

/// Both records side by side; a radio button per field whose values differ.
pub async fn merge_form<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    Query(query): Query<MergeQuery>,
) -> AppResult<Response> {
    let object = O::TYPE;
    let page = signed_in.page(&state, &format!("/crm/{}/{id}/merge", object.plural()));
    let id = crate::http::parse_id(&id)?;
    let other_id = crate::http::parse_id(&query.other)?;
    let mut tx = principal.begin(&state.db).await?;
    let this = records::get(&mut tx, object, id).await?;
    let other = records::get(&mut tx, object, other_id).await?;
    let custom = custom_fields::definitions(&mut tx, object).await?;
    let names = Names::load(&mut tx).await?;
    tx.commit().await?;
    let mut keys: Vec<String> = object.fields().iter().map(|f| f.key.to_string()).collect();
    keys.extend(custom.iter().map(|c| format!("custom.{}", c.key)));
    let rows = keys
        .into_iter()
        .filter_map(|key| {
            let (a, b) =
                (cell_text(&page, object, &key, &this, &names), cell_text(&page, object, &key, &other, &names));
            (a != b).then(|| MergeRow {
                label: field_label(&page, &key, &custom),
                key,
                prefer_other: a.is_empty() && !b.is_empty(),
                this: a,
                other: b,
            })
        })
        .collect();
    let view = MergeView {
        page: page.clone(),
        plural: object.plural(),
        id: id.to_string(),
        other_id: other_id.to_string(),
        this_title: display(this.get("display_name")),
        other_title: display(other.get("display_name")),
        rows,
    };
    Ok(no_store(render(&view)?))
}

pub async fn merge_submit<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Fields>,
) -> AppResult<Response> {
    let object = O::TYPE;
    let id = crate::http::parse_id(&id)?;
    let other_id = form
        .iter()
        .find(|(k, _)| k == "other_id")
        .and_then(|(_, v)| v.parse().ok())
        .ok_or_else(|| AppError::field("other_id", "required", "Choose the duplicate."))?;
    let keep = form
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("keep.").map(|field| (field.to_string(), Value::String(v.clone()))))
        .collect();
    let input = crate::merge::MergeInput { other_id, keep };
    let mut tx = principal.begin(&state.db).await?;
    let write = crate::http::write_ctx(&state, &principal, Source::Ui);
    crate::merge::merge(&mut tx, &state.audit, object, id, &input, &write).await?;
    tx.commit().await?;
    Ok(kernel::web::redirect_with_toast(&format!("/crm/{}/{id}", object.plural()), "crm.notice.merged"))
}
