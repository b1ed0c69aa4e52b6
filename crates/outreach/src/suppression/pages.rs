//! `/outreach/suppressions`: the organization's suppression list — search it, add an address,
//! paste many, and (owners) take one off. A refused form comes back with the message at its
//! field and what was typed kept.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use identity::signed_in::SignedIn;
use kernel::authz::{Grant, Principal};
use kernel::web::{AppState, CsrfForm, Page, render};
use kernel::{AppError, AppResult, FieldError};
use serde::Deserialize;

use super::service::{self, ImportError};
use super::store::{self, SuppressionRow};
use crate::actions::OUTREACH_CONFIGURE;

const PAGE_SIZE: i64 = 100;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub after: String,
}

/// What a refused form sends back to the page.
#[derive(Default)]
struct Typed {
    email: String,
    note: String,
    emails: String,
    import_note: String,
    errors: Vec<FieldError>,
    /// The import's own message (its line number in the member's language).
    import_error: Option<String>,
}

#[derive(Template)]
#[template(path = "outreach_suppressions.html")]
struct SuppressionsView {
    page: Page,
    rows: Vec<SuppressionRow>,
    total: String,
    q: String,
    next: Option<String>,
    can_remove: bool,
    typed: Typed,
}

impl SuppressionsView {
    fn error(&self, field: &str) -> Option<String> {
        self.typed.errors.iter().find(|e| e.field == field).map(|e| kernel::web::field_error_text(&self.page, e))
    }

    fn import_error_shown(&self) -> bool {
        self.typed.import_error.is_some() || self.error("emails").is_some()
    }

    fn reason(&self, row: &SuppressionRow) -> String {
        self.page.t.get(&format!("outreach.suppression.reason.{}", row.reason)).to_string()
    }

    fn when(&self, row: &SuppressionRow) -> String {
        self.page.date_time(&row.created_at)
    }

    fn next_href(&self, after: &str) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if !self.q.is_empty() {
            query.append_pair("q", &self.q);
        }
        query.append_pair("after", after);
        format!("/outreach/suppressions?{}", query.finish())
    }
}

async fn render_page(
    state: &AppState,
    signed_in: &SignedIn,
    principal: &Principal,
    query: ListQuery,
    typed: Typed,
) -> AppResult<Response> {
    let page = signed_in.page(state, "/outreach/suppressions");
    let q = query.q.trim().chars().take(254).collect::<String>();
    let after = Some(query.after.trim().to_lowercase()).filter(|a| !a.is_empty());
    let mut tx = principal.begin(&state.db).await?;
    let mut rows = store::list(&mut tx, &q.to_lowercase(), after.as_deref(), PAGE_SIZE + 1).await?;
    let total = store::count(&mut tx).await?;
    tx.commit().await?;
    let next = if rows.len() as i64 > PAGE_SIZE {
        rows.truncate(PAGE_SIZE as usize);
        rows.last().map(|row| row.email.clone())
    } else {
        None
    };
    let status = if typed.errors.is_empty() && typed.import_error.is_none() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let view = SuppressionsView {
        total: crm::display::decimal(&total.to_string(), page.t.0, false),
        page,
        rows,
        q,
        next,
        can_remove: principal.grant(OUTREACH_CONFIGURE) == Grant::Org,
        typed,
    };
    let html = render(&view)?;
    Ok((status, [(header::CACHE_CONTROL, "no-store")], html).into_response())
}

/// `GET /outreach/suppressions`
pub async fn list_page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Query(query): Query<ListQuery>,
) -> AppResult<Response> {
    render_page(&state, &signed_in, &principal, query, Typed::default()).await
}

#[derive(Debug, Deserialize)]
pub struct AddForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    note: String,
}

/// `POST /outreach/suppressions`: add one address.
pub async fn add(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    CsrfForm(form): CsrfForm<AddForm>,
) -> AppResult<Response> {
    let mut tx = principal.begin(&state.db).await?;
    match service::add(&mut tx, &state.audit, state.clock.now(), &form.email, &form.note, principal.user_id).await {
        Ok(done) => {
            tx.commit().await?;
            let key = if done.added > 0 { "outreach.suppression.added" } else { "outreach.suppression.already" };
            Ok(kernel::toast::redirect_with_toast("/outreach/suppressions", key))
        }
        Err(AppError::Validation(errors)) => {
            drop(tx);
            let typed = Typed { email: form.email, note: form.note, errors, ..Typed::default() };
            render_page(&state, &signed_in, &principal, ListQuery::default(), typed).await
        }
        Err(other) => Err(other),
    }
}

#[derive(Debug, Deserialize)]
pub struct ImportForm {
    #[serde(default)]
    emails: String,
    #[serde(default)]
    note: String,
}

/// `POST /outreach/suppressions/import`: paste many addresses; all or nothing.
pub async fn import(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    CsrfForm(form): CsrfForm<ImportForm>,
) -> AppResult<Response> {
    let refused = |import_error: Option<String>, errors: Vec<FieldError>| Typed {
        emails: form.emails.clone(),
        import_note: form.note.clone(),
        errors,
        import_error,
        ..Typed::default()
    };
    let page = signed_in.page(&state, "/outreach/suppressions");
    let emails = match service::parse_import(&form.emails) {
        Ok(emails) => emails,
        Err(error) => {
            let text = match &error {
                ImportError::NotAnAddress { line, word } => page
                    .t
                    .get("outreach.suppression.import_bad_line")
                    .replace("{line}", &line.to_string())
                    .replace("{word}", word),
                ImportError::Empty => page.t.get("outreach.suppression.import_empty").to_string(),
                ImportError::TooMany => page.t.get("outreach.suppression.import_too_many").to_string(),
            };
            let typed = refused(Some(text), Vec::new());
            return render_page(&state, &signed_in, &principal, ListQuery::default(), typed).await;
        }
    };
    let mut tx = principal.begin(&state.db).await?;
    match service::import(&mut tx, &state.audit, state.clock.now(), &emails, &form.note, principal.user_id).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(kernel::toast::redirect_with_toast("/outreach/suppressions", "outreach.suppression.imported"))
        }
        Err(AppError::Validation(errors)) => {
            drop(tx);
            render_page(&state, &signed_in, &principal, ListQuery::default(), refused(None, errors)).await
        }
        Err(other) => Err(other),
    }
}

#[derive(Debug, Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    email: String,
}

/// `POST /outreach/suppressions/remove` (owners): take one address off.
pub async fn remove(
    State(state): State<AppState>,
    principal: Principal,
    CsrfForm(form): CsrfForm<RemoveForm>,
) -> AppResult<Response> {
    let mut tx = principal.begin(&state.db).await?;
    service::remove(&mut tx, &state.audit, &form.email).await?;
    tx.commit().await?;
    Ok(kernel::toast::redirect_with_toast("/outreach/suppressions", "outreach.suppression.removed"))
}
