//! The outreach panel of a lead's or contact's page, and its do-not-contact button.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use kernel::authz::Principal;
use kernel::module::{PanelFuture, RecordCtx};
use kernel::web::{AppState, CsrfForm, Page};
use kernel::{AppError, AppResult};
use serde::de::IgnoredAny;
use uuid::Uuid;

use super::store::{self, RecordEnrollment};
use crate::sequences::{Target, service::recipient_fields};
use crate::suppression;

#[derive(Template)]
#[template(path = "outreach_record_panel.html")]
struct PanelView<'a> {
    page: &'a Page,
    action: String,
    has_email: bool,
    /// (reason, since) when the address is on the do-not-contact list.
    suppressed: Option<(String, String)>,
    enrollments: Vec<(RecordEnrollment, String, String)>,
}

/// The record a panel or a button is about, from its object type's name.
fn target(object: &str, id: Uuid) -> Option<(Target, &'static str)> {
    match object {
        "contact" | "contacts" => Some((Target::Contact(id), "contacts")),
        "lead" | "leads" => Some((Target::Lead(id), "leads")),
        _ => None,
    }
}

/// Why an enrollment stopped, in words: codes are never shown. A code this page does not know
/// reads as the state alone.
fn reason_text(page: &Page, reason: &str) -> String {
    let (code, detail) = reason.split_once(':').unwrap_or((reason, ""));
    let key = match code {
        "" => return String::new(),
        "suppressed" => "outreach.record.reason.suppressed",
        "template_missing_value" => "outreach.record.reason.missing_value",
        "no_email" => "outreach.record.reason.no_email",
        "review_cancelled" => "outreach.record.reason.review_cancelled",
        "sequence_archived" => "outreach.record.reason.sequence_archived",
        "smtp_rejected" => "outreach.record.reason.rejected",
        "reply" => "outreach.record.reason.reply",
        "hard_bounce" => "outreach.record.reason.hard_bounce",
        "soft_bounce_limit" => "outreach.record.reason.soft_bounce_limit",
        _ => return String::new(),
    };
    let field = match code {
        "template_missing_value" => page.t.get(&format!("crm.field.{detail}")).to_string(),
        _ => String::new(),
    };
    page.t.get(key).replace("{field}", &field)
}

/// The panel on a lead's or contact's page.
pub fn record_panel(ctx: RecordCtx<'_>) -> PanelFuture<'_> {
    Box::pin(async move {
        if ctx.principal.grant(crate::actions::OUTREACH_USE) != kernel::authz::Grant::Org {
            return Ok(None);
        }
        let Some((target, plural)) = target(ctx.object, ctx.id) else {
            return Ok(None);
        };
        let email = ctx.values.get("email").and_then(|v| v.as_str()).unwrap_or_default().trim().to_lowercase();
        let suppressed = if email.is_empty() { None } else { store::suppression_of(ctx.tx, &email).await? };
        let enrollments = store::enrollments(ctx.tx, target).await?;
        let page = ctx.page;
        let view = PanelView {
            page,
            action: format!("/outreach/do-not-contact/{plural}/{}", ctx.id),
            has_email: !email.is_empty(),
            suppressed: suppressed.map(|(reason, at)| {
                (page.t.get(&format!("outreach.suppression.reason.{reason}")).to_string(), page.date(&at))
            }),
            enrollments: enrollments
                .into_iter()
                .map(|e| {
                    let state = page.t.get(&format!("outreach.record.state.{}", e.state)).to_string();
                    let reason = reason_text(page, &e.state_reason);
                    (e, state, reason)
                })
                .collect(),
        };
        view.render().map(Some).map_err(|e| AppError::Internal(anyhow::Error::new(e)))
    })
}

/// `POST /outreach/do-not-contact/{plural}/{id}`: the record's address goes on the suppression
/// list (reason `manual`), which stops every sequence writing to it and keeps it from being
/// enrolled again. The record must be one the member can see.
pub async fn do_not_contact(
    State(state): State<AppState>,
    principal: Principal,
    Path((plural, id)): Path<(String, String)>,
    CsrfForm(_): CsrfForm<IgnoredAny>,
) -> AppResult<Response> {
    let id = Uuid::parse_str(&id).map_err(|_| AppError::NotFound)?;
    let (target, plural) = target(&plural, id).ok_or(AppError::NotFound)?;
    let back = format!("/crm/{plural}/{id}");
    let mut tx = principal.begin(&state.db).await?;
    let fields = recipient_fields(&mut tx, target).await?.ok_or(AppError::NotFound)?;
    let email = fields.get("email").map(|e| e.trim().to_owned()).unwrap_or_default();
    if email.is_empty() {
        return Ok(kernel::toast::redirect_with_error_toast(&back, "outreach.record.no_email"));
    }
    suppression::service::add(&mut tx, &state.audit, state.clock.now(), &email, "", principal.user_id).await?;
    tx.commit().await?;
    Ok(kernel::toast::redirect_with_toast(&back, "outreach.record.marked"))
}
