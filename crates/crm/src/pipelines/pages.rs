//! The deals board: one column per stage, drag and drop (and a keyboard-usable move form).

use crate::http::Fields;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use identity::signed_in::SignedIn;
use kernel::AppError;
use kernel::AppResult;
use kernel::authz::Principal;
use kernel::web::CsrfForm;
use kernel::web::{AppState, Page, render};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::display::{Names, display, no_store};
use crate::object::RefKind;
use crate::pipelines;
use crate::records::Source;

pub(crate) struct BoardCard {
    id: String,
    name: String,
    amount: String,
    amount_text: String,
    currency: String,
    company: String,
}

pub(crate) struct BoardColumnView {
    stage_id: String,
    name: String,
    count: i64,
    totals: String,
    totals_json: String,
    cards: Vec<BoardCard>,
}

#[derive(Template)]
#[template(path = "crm_board.html")]
pub(crate) struct BoardView {
    page: Page,
    pipelines: Vec<(String, String)>,
    pipeline_id: String,
    columns: Vec<BoardColumnView>,
    stages: Vec<(String, String)>,
}

#[derive(Debug, Default, Deserialize)]
pub struct BoardQuery {
    #[serde(default)]
    pipeline: String,
}

pub async fn board(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Query(query): Query<BoardQuery>,
) -> AppResult<Response> {
    let page = signed_in.page(&state, "/crm/deals/board");
    let mut tx = principal.begin(&state.db).await?;
    pipelines::ensure_default(&mut tx, state.clock.now()).await?;
    let all = pipelines::all(&mut tx).await?;
    let chosen = all
        .iter()
        .find(|p| p.pipeline_id.to_string() == query.pipeline)
        .or_else(|| all.first())
        .map(|p| p.pipeline_id)
        .ok_or_else(|| AppError::NotFound)?;
    let board = pipelines::board(&mut tx, chosen, 100).await?;
    let mut names = Names::default();
    let companies = board
        .columns
        .iter()
        .flat_map(|c| c.deals.iter())
        .filter_map(|d| d.get("company_id")?.as_str()?.parse().ok())
        .collect();
    names.load_companies(&mut tx, companies).await?;
    tx.commit().await?;
    let columns = board
        .columns
        .iter()
        .map(|c| BoardColumnView {
            stage_id: c.stage.stage_id.to_string(),
            name: c.stage.name.clone(),
            count: c.count,
            totals_json: c.totals.to_string(),
            totals: c
                .totals
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(cur, v)| crate::display::money(&display(Some(v)), cur, page.t.0))
                        .collect::<Vec<_>>()
                        .join(" · ")
                })
                .unwrap_or_default(),
            cards: c
                .deals
                .iter()
                .map(|d| BoardCard {
                    id: display(d.get("id")),
                    name: display(d.get("name")),
                    amount: display(d.get("amount")),
                    amount_text: crate::display::money(
                        &display(d.get("amount")),
                        &display(d.get("currency")),
                        page.t.0,
                    ),
                    currency: display(d.get("currency")),
                    company: d
                        .get("company_id")
                        .and_then(Value::as_str)
                        .map(|c| names.of(RefKind::Company, c))
                        .unwrap_or_default(),
                })
                .collect(),
        })
        .collect();
    let view = BoardView {
        page: page.clone(),
        pipelines: all.iter().map(|p| (p.pipeline_id.to_string(), p.name.clone())).collect(),
        pipeline_id: chosen.to_string(),
        stages: board.columns.iter().map(|c| (c.stage.stage_id.to_string(), c.stage.name.clone())).collect(),
        columns,
    };
    Ok(no_store(render(&view)?))
}

/// A card dropped on another column (or the no-script stage select). Scripts ask for JSON.
pub async fn move_deal(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<Fields>,
) -> AppResult<Response> {
    let id = crate::http::parse_id(&id)?;
    let stage: Uuid = form
        .iter()
        .find(|(k, _)| k == "stage_id")
        .and_then(|(_, v)| v.parse().ok())
        .ok_or_else(|| AppError::field("stage_id", "required", "Choose a stage."))?;
    let deal = pipelines::move_deal(&state, &principal, id, stage, Source::Ui).await?;
    let wants_json =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/json"));
    if wants_json {
        return Ok(axum::Json(json!({ "id": id, "stage_id": deal.get("stage_id") })).into_response());
    }
    let pipeline = display(deal.get("pipeline_id"));
    Ok(Redirect::to(&format!("/crm/deals/board?pipeline={pipeline}")).into_response())
}
