//! The pages of the sending engine: `/outreach/review`, the messages whose sending was
//! interrupted and whose fate only a person can settle, and `/outreach/sequences/{id}/report`, a
//! sequence's figures with a bar chart drawn in HTML (no script, nothing loaded from elsewhere).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use identity::signed_in::SignedIn;
use kernel::authz::Principal;
use kernel::web::{AppState, CsrfForm, Page, render};
use kernel::{AppError, AppResult};
use std::collections::HashMap;

use super::api::sees_all;
use super::service::{self, Decision};
use super::store::{self, Figures, MessageRow};

fn page_response(status: StatusCode, html: impl IntoResponse) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], html).into_response()
}

fn count(page: &Page, n: i64) -> String {
    crm::display::decimal(&n.to_string(), page.t.0, false)
}

/// A rate as a page reads it: `12,5 %` in French, `12.5%` in English.
fn percent(page: &Page, part: i64, whole: i64) -> String {
    if whole == 0 {
        return "—".into();
    }
    let tenths = (part * 1000 + whole / 2) / whole;
    let (units, tenth) = (tenths / 10, tenths % 10);
    match page.t.0 {
        kernel::i18n::Lang::Fr => format!("{units},{tenth}\u{a0}%"),
        kernel::i18n::Lang::En => format!("{units}.{tenth}%"),
    }
}

#[derive(Template)]
#[template(path = "outreach_review.html")]
struct ReviewView {
    page: Page,
    messages: Vec<MessageRow>,
}

impl ReviewView {
    fn when(&self, row: &MessageRow) -> String {
        self.page.date_time(&row.scheduled_at)
    }
}

/// `GET /outreach/review`
pub async fn review_page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
) -> AppResult<Response> {
    let page = signed_in.page(&state, "/outreach/review");
    let owner = (!sees_all(&principal)).then_some(principal.user_id);
    let mut tx = principal.begin(&state.db).await?;
    let messages = store::messages(&mut tx, Some("review"), owner, None, 200).await?;
    tx.commit().await?;
    let html = render(&ReviewView { page, messages })?;
    Ok(page_response(StatusCode::OK, html))
}

/// `POST /outreach/review/{id}`: a decision from the review page's buttons.
pub async fn decide(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<HashMap<String, String>>,
) -> AppResult<Response> {
    let id = uuid::Uuid::parse_str(&id).map_err(|_| AppError::NotFound)?;
    let decision = form
        .get("decision")
        .and_then(|d| Decision::parse(d))
        .ok_or_else(|| AppError::field("decision", "invalid_choice", "One of sent, resend, cancel."))?;
    let mut tx = principal.begin(&state.db).await?;
    service::review(&mut tx, &state.audit, id, decision, principal.user_id, sees_all(&principal), state.clock.now())
        .await?;
    tx.commit().await?;
    Ok(kernel::toast::redirect_with_toast("/outreach/review", "outreach.review.decided"))
}

/// One row of the report: a label and its figures, written for the page.
struct ReportRow {
    label: String,
    sent: String,
    bounced: String,
    replied: String,
    unsubscribed: String,
    reply_rate: String,
    opened: String,
    open_rate: String,
    clicked: String,
    click_rate: String,
    /// Bar widths in percent of the widest bar of the table (sent).
    sent_width: i64,
    replied_width: i64,
}

#[derive(Template)]
#[template(path = "outreach_report.html")]
struct ReportView {
    page: Page,
    sequence_id: uuid::Uuid,
    name: String,
    enrolled: String,
    /// Opens and clicks are measured (and shown) only when the sequence tracks them.
    tracking: bool,
    totals: ReportRow,
    steps: Vec<ReportRow>,
    mailboxes: Vec<ReportRow>,
}

fn row(page: &Page, label: String, f: &Figures, widest: i64) -> ReportRow {
    let width = |n: i64| if widest > 0 { (n * 100 + widest / 2) / widest } else { 0 };
    ReportRow {
        label,
        sent: count(page, f.sent),
        bounced: count(page, f.bounced),
        replied: count(page, f.replied),
        unsubscribed: count(page, f.unsubscribed),
        reply_rate: percent(page, f.replied, f.sent),
        opened: count(page, f.opened),
        open_rate: percent(page, f.opened, f.sent),
        clicked: count(page, f.clicked),
        click_rate: percent(page, f.clicked, f.sent),
        sent_width: width(f.sent),
        replied_width: width(f.replied),
    }
}

/// `GET /outreach/sequences/{id}/report`
pub async fn report_page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let page = signed_in.page(&state, &format!("/outreach/sequences/{id}/report"));
    let id = uuid::Uuid::parse_str(&id).map_err(|_| AppError::NotFound)?;
    let mut tx = principal.begin(&state.db).await?;
    let (name, owner, tracking) = store::sequence_head(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    if !sees_all(&principal) && owner != Some(principal.user_id) {
        return Err(AppError::NotFound);
    }
    let (whole, steps, mailboxes) = store::sequence_figures(&mut tx, id).await?;
    tx.commit().await?;
    let widest =
        steps.iter().map(|(_, _, f)| f.sent).chain(mailboxes.iter().map(|(_, _, f)| f.sent)).max().unwrap_or(0);
    let view = ReportView {
        enrolled: count(&page, whole.enrolled),
        tracking,
        totals: row(&page, String::new(), &whole, whole.sent),
        steps: steps.iter().map(|(_, label, f)| row(&page, label.clone(), f, widest)).collect(),
        mailboxes: mailboxes.iter().map(|(_, address, f)| row(&page, address.clone(), f, widest)).collect(),
        sequence_id: id,
        name,
        page,
    };
    let html = render(&view)?;
    Ok(page_response(StatusCode::OK, html))
}

/// The number next to "Messages to review" in the sidebar: what waits for this member's decision.
pub fn review_count(ctx: kernel::module::NavCountCtx<'_>) -> kernel::module::CountFuture<'_> {
    Box::pin(async move {
        if ctx.principal.grant(crate::actions::OUTREACH_USE) != kernel::authz::Grant::Org {
            return Ok(None);
        }
        let owner = (!sees_all(ctx.principal)).then_some(ctx.principal.user_id);
        Ok(Some(store::review_count(ctx.tx, owner).await?))
    })
}
