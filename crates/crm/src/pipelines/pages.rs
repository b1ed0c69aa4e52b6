//! The deals board: one column per stage with its count, total and weighted amount; cards that
//! drag and drop between columns (and a compact "Move to…" menu that works from the keyboard and
//! without script); a quick-add card per stage.

use crate::http::Fields;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use identity::signed_in::SignedIn;
use kernel::AppError;
use kernel::AppResult;
use kernel::authz::Principal;
use kernel::i18n::Lang;
use kernel::web::CsrfForm;
use kernel::web::{AppState, Page, render};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::display::{Names, display, error_text};
use crate::object::{ObjectType, RefKind};
use crate::pipelines;
use crate::records::{self, Source, WriteCtx};

pub(crate) struct BoardCard {
    id: String,
    name: String,
    amount: String,
    amount_text: String,
    currency: String,
    company: String,
    owner: String,
    owner_initials: String,
    next_task: String,
    task_overdue: bool,
}

pub(crate) struct BoardColumnView {
    stage_id: String,
    name: String,
    count: i64,
    probability: i16,
    totals: String,
    totals_json: String,
    weighted: String,
    cards: Vec<BoardCard>,
    /// The quick-add form as typed and its error, when it was refused in this column.
    quick_name: String,
    quick_amount: String,
    quick_error: Option<String>,
}

#[derive(Template)]
#[template(path = "crm_board.html")]
pub(crate) struct BoardView {
    page: Page,
    pipelines: Vec<(String, String)>,
    pipeline_id: String,
    columns: Vec<BoardColumnView>,
    stages: Vec<(String, String)>,
    can_edit: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct BoardQuery {
    #[serde(default)]
    pipeline: String,
}

/// A refused quick-add: the column, what was typed and why.
struct QuickAdd {
    stage_id: String,
    name: String,
    amount: String,
    error: String,
}

pub async fn board(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Query(query): Query<BoardQuery>,
) -> AppResult<Response> {
    let page = signed_in.page(&state, "/crm/deals/board");
    board_response(&state, &page, &principal, &query.pipeline, None).await
}

fn money_list(totals: &Value, lang: Lang) -> String {
    totals
        .as_object()
        .map(|m| {
            m.iter().map(|(cur, v)| crate::display::money(&display(Some(v)), cur, lang)).collect::<Vec<_>>().join(" · ")
        })
        .unwrap_or_default()
}

async fn board_response(
    state: &AppState,
    page: &Page,
    principal: &Principal,
    pipeline: &str,
    quick: Option<QuickAdd>,
) -> AppResult<Response> {
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
    pipelines::ensure_default(&mut tx, now).await?;
    let all = pipelines::all(&mut tx).await?;
    let chosen = all
        .iter()
        .find(|p| p.pipeline_id.to_string() == pipeline)
        .or_else(|| all.first())
        .map(|p| p.pipeline_id)
        .ok_or_else(|| AppError::NotFound)?;
    let board = pipelines::board(&mut tx, chosen, 100).await?;
    let mut names = Names::load(&mut tx).await?;
    let deals = || board.columns.iter().flat_map(|c| c.deals.iter());
    let companies = deals().filter_map(|d| d.get("company_id")?.as_str()?.parse().ok()).collect();
    names.load_companies(&mut tx, companies).await?;
    let ids: Vec<Uuid> = deals().filter_map(|d| d.get("id")?.as_str()?.parse().ok()).collect();
    let next_tasks = pipelines::next_task_due(&mut tx, &ids).await?;
    tx.commit().await?;
    let lang = page.t.0;
    let columns = board
        .columns
        .iter()
        .map(|c| {
            let stage_id = c.stage.stage_id.to_string();
            let quick = quick.as_ref().filter(|q| q.stage_id == stage_id);
            BoardColumnView {
                name: c.stage.name.clone(),
                count: c.count,
                probability: c.stage.probability,
                totals_json: c.totals.to_string(),
                totals: money_list(&c.totals, lang),
                weighted: money_list(&c.weighted, lang),
                cards: c
                    .deals
                    .iter()
                    .map(|d| {
                        let owner = d
                            .get("owner_id")
                            .and_then(Value::as_str)
                            .map(|o| names.of(RefKind::Member, o))
                            .unwrap_or_default();
                        let due = d
                            .get("id")
                            .and_then(Value::as_str)
                            .and_then(|id| next_tasks.iter().find(|(deal, _)| deal.to_string() == id))
                            .map(|(_, due)| *due);
                        BoardCard {
                            id: display(d.get("id")),
                            name: display(d.get("name")),
                            amount: display(d.get("amount")),
                            amount_text: crate::display::money(
                                &display(d.get("amount")),
                                &display(d.get("currency")),
                                lang,
                            ),
                            currency: display(d.get("currency")),
                            company: d
                                .get("company_id")
                                .and_then(Value::as_str)
                                .map(|c| names.of(RefKind::Company, c))
                                .unwrap_or_default(),
                            owner_initials: if owner == "—" { String::new() } else { kernel::web::initials(&owner) },
                            owner,
                            next_task: due
                                .map(|at| {
                                    kernel::dates::short_day(
                                        kernel::dates::local(at, page.tz).date(),
                                        lang,
                                        kernel::dates::local(now, page.tz).year(),
                                    )
                                })
                                .unwrap_or_default(),
                            task_overdue: due.is_some_and(|at| at < now),
                        }
                    })
                    .collect(),
                quick_name: quick.map(|q| q.name.clone()).unwrap_or_default(),
                quick_amount: quick.map(|q| q.amount.clone()).unwrap_or_default(),
                quick_error: quick.map(|q| q.error.clone()),
                stage_id,
            }
        })
        .collect();
    let status = if quick.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let view = BoardView {
        page: page.clone(),
        pipelines: all.iter().map(|p| (p.pipeline_id.to_string(), p.name.clone())).collect(),
        pipeline_id: chosen.to_string(),
        stages: board.columns.iter().map(|c| (c.stage.stage_id.to_string(), c.stage.name.clone())).collect(),
        columns,
        can_edit: principal.grant(crate::actions::RECORDS_EDIT).allows(),
    };
    Ok(crate::http::page_response(status, render(&view)?))
}

/// The quick-add card of a column: a deal with a name and an amount in that stage, through the
/// same create service as the deal form and the API. A refusal shows the board again with the
/// message in that column and what was typed.
pub async fn quick_add(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    CsrfForm(form): CsrfForm<Fields>,
) -> AppResult<Response> {
    let page = signed_in.page(&state, "/crm/deals/board");
    let value = |name: &str| crate::http::value(&form, name).to_string();
    let (pipeline, stage, name, amount) = (value("pipeline_id"), value("stage_id"), value("name"), value("amount"));
    let mut input = Map::new();
    input.insert("name".into(), json!(name));
    input.insert("pipeline_id".into(), json!(pipeline));
    input.insert("stage_id".into(), json!(stage));
    if !amount.trim().is_empty() {
        input.insert("amount".into(), json!(amount));
    }
    let ctx = WriteCtx { user: Some(principal.user_id), source: Source::Ui, now: state.clock.now(), import_id: None };
    let mut tx = principal.begin(&state.db).await?;
    match records::create(&mut tx, ObjectType::Deal, &input, &ctx).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(kernel::web::redirect_with_toast(
                &format!("/crm/deals/board?pipeline={}", url_part(&pipeline)),
                "crm.notice.created",
            ))
        }
        Err(AppError::Validation(errors)) => {
            drop(tx);
            let error = errors
                .iter()
                .map(|e| {
                    let label = page.t.get(&format!("crm.field.{}", e.field)).to_string();
                    let colon = page.t.get("punct.colon");
                    format!("{label}{colon} {}", error_text(&page, e))
                })
                .collect::<Vec<_>>()
                .join(" ");
            let quick = QuickAdd { stage_id: stage, name, amount, error };
            board_response(&state, &page, &principal, &pipeline, Some(quick)).await
        }
        Err(other) => Err(other),
    }
}

fn url_part(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A card dropped on another column (or the "Move to…" menu). Scripts ask for JSON.
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
