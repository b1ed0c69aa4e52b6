//! The search page, the CRM home, and the typeahead lookups of record pickers.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{Redirect, Response};
use identity::signed_in::SignedIn;
use kernel::AppError;
use kernel::AppResult;
use kernel::authz::Principal;
use kernel::web::{AppState, Page, render};
use serde::Deserialize;

use crate::display::{display, error_text, no_store};
use crate::http::Object;
use crate::list::ListQuery;
use crate::object::ObjectType;

#[derive(Template)]
#[template(path = "crm_search.html")]
pub(crate) struct SearchView {
    page: Page,
    q: String,
    hits: Vec<(String, String, String, String)>,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

pub async fn search(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Query(query): Query<SearchQuery>,
) -> AppResult<Response> {
    let page = signed_in.page(&state, "/crm/search");
    let mut hits = Vec::new();
    let mut error = None;
    if !query.q.trim().is_empty() {
        let mut tx = principal.begin(&state.db).await?;
        match crate::search::search(&mut tx, &query.q, 30).await {
            Ok(found) => {
                hits = found
                    .into_iter()
                    .map(|h| {
                        let plural = ObjectType::parse(&h.object).map(|o| o.plural()).unwrap_or("contacts");
                        (
                            plural.to_string(),
                            h.id.to_string(),
                            h.display_name,
                            page.t.get(&format!("crm.object.{}", h.object)).to_string(),
                        )
                    })
                    .collect()
            }
            Err(AppError::Validation(errors)) => {
                error = Some(errors.iter().map(|e| error_text(&page, e)).collect::<Vec<_>>().join(" "))
            }
            Err(other) => return Err(other),
        }
        tx.commit().await?;
    }
    let view = SearchView { page: page.clone(), q: query.q, hits, error };
    Ok(no_store(render(&view)?))
}

/// `/crm` opens the contacts.
pub async fn home() -> Redirect {
    Redirect::to("/crm/contacts")
}

/// `<option>`s of the visible records matching the text, for the pickers (htmx): as
/// `value=id` for a `<select>`, or (`list=1`) as `value=name` for a relation field's `<datalist>`.
/// The text is `q`, or the picker input's own value (htmx sends it under the field's name).
pub async fn lookup<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<Vec<(String, String)>>,
) -> AppResult<Response> {
    let object = O::TYPE;
    let datalist = params.iter().any(|(k, v)| k == "list" && !v.is_empty());
    let q = params
        .iter()
        .find(|(k, _)| k == "q")
        .or_else(|| params.iter().find(|(k, _)| k != "list"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let mut tx = principal.begin(&state.db).await?;
    let list = ListQuery { q: Some(q), limit: Some(20), ..ListQuery::default() };
    let found = crate::list::list(&mut tx, object, &list).await?;
    tx.commit().await?;
    let view = OptionsView {
        datalist,
        options: found.items.iter().map(|r| (display(r.get("id")), display(r.get("display_name")))).collect(),
    };
    Ok(no_store(render(&view)?))
}

#[derive(Template)]
#[template(path = "crm_options.html")]
pub(crate) struct OptionsView {
    datalist: bool,
    options: Vec<(String, String)>,
}
