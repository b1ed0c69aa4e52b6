//! The HTML pages of landing-page forms: the public `/f/{public_id}` page a visitor fills in, and
//! the managed `/crm/forms` pages where owners and managers build forms.

use crate::http::Fields;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use identity::signed_in::SignedIn;
use kernel::AppResult;
use kernel::authz::Principal;
use kernel::db::Actor;
use kernel::i18n::Lang;
use kernel::ratelimit::{self, FORM_SUBMIT_PER_FORM, FORM_SUBMIT_PER_IP, Subject};
use kernel::web::CsrfForm;
use kernel::web::{AppState, ClientInfo, Page, render};
use kernel::{AppError, OrgTx};
use uuid::Uuid;

use super::{Attribution, FIELDS, FormInput, FormValues, HONEYPOT, LeadForm, UTM, embed_html, input_type, public_url};
use super::{service, store};
use crate::http::{self, error_texts, page_response, parse_id};

// ---------------------------------------------------------------- public pages

#[derive(Template)]
#[template(path = "form_public.html")]
struct PublicFormView {
    page: Page,
    form: LeadForm,
    action: String,
    attribution_fields: Vec<(String, String)>,
    values: Vec<(String, String)>,
    errors: Vec<String>,
    field_errors: Vec<String>,
    thanks: bool,
}

impl PublicFormView {
    fn value(&self, field: &str) -> &str {
        http::value(&self.values, field)
    }

    fn has_error(&self, field: &String) -> bool {
        self.field_errors.contains(field)
    }

    fn input_type(&self, field: &str) -> &'static str {
        input_type(field)
    }

    fn required(&self, field: &str) -> bool {
        self.form.is_required(field)
    }
}

fn public_page(view: &PublicFormView, status: StatusCode) -> Result<Response, AppError> {
    let html = render(view)?;
    // The page may be framed by nobody and cached by nobody; it is the org's own page, not Relais'.
    Ok(page_response(status, html))
}

/// The form behind a public id, with the tenant transaction of its org, for an anonymous visitor.
async fn open_public(state: &AppState, public_id: &str) -> Result<(OrgTx, LeadForm), AppError> {
    if public_id.len() > 64 {
        return Err(AppError::NotFound);
    }
    let (org, form_id) = store::resolve_lead_form(&state.db, public_id).await?.ok_or(AppError::NotFound)?;
    let mut tx = state.db.begin_org(org, Actor::Anonymous).await?;
    let form = store::get(&mut tx, form_id).await?;
    Ok((tx, form))
}

fn anonymous_page(form: &LeadForm, path: &str) -> Page {
    Page::anonymous(form.lang(), path)
}

/// `GET /f/{public_id}`: the hosted form, with the visit's attribution in hidden fields.
pub async fn public_show(
    State(state): State<AppState>,
    Path(public_id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let (tx, form) = open_public(&state, &public_id).await?;
    tx.commit().await?;
    let attribution = Attribution::of_visit(&state, &uri, &headers);
    let mut hidden: Vec<(String, String)> =
        attribution.utm.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.to_string(), v.clone())).collect();
    hidden.push(("referrer".into(), attribution.referrer));
    hidden.push(("landing_url".into(), attribution.landing_url));
    let view = PublicFormView {
        page: anonymous_page(&form, uri.path()),
        action: format!("/f/{}", form.public_id),
        form,
        attribution_fields: hidden,
        values: Vec::new(),
        errors: Vec::new(),
        field_errors: Vec::new(),
        thanks: false,
    };
    public_page(&view, StatusCode::OK)
}

/// `POST /f/{public_id}`: a submission from the hosted page or an embedded snippet.
pub async fn public_submit(
    State(state): State<AppState>,
    Path(public_id): Path<String>,
    OriginalUri(uri): OriginalUri,
    client: ClientInfo,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    ratelimit::check(&state, &FORM_SUBMIT_PER_IP, Subject::Ip(&client)).await?;
    let (mut tx, form) = open_public(&state, &public_id).await?;
    let body = http::parse(&body);
    let attribution = Attribution::of_submission(&uri, &headers, &body);
    let page = anonymous_page(&form, uri.path());
    let mut view = PublicFormView {
        page: page.clone(),
        action: format!("/f/{}", form.public_id),
        form: form.clone(),
        attribution_fields: body
            .iter()
            .filter(|(k, _)| UTM.contains(&k.as_str()) || k == "referrer" || k == "landing_url")
            .cloned()
            .collect(),
        values: body.clone(),
        errors: Vec::new(),
        field_errors: Vec::new(),
        thanks: true,
    };
    if !http::value(&body, HONEYPOT).is_empty() {
        // Looks like success to the bot; nothing is stored.
        tracing::info!(form = %form.form_id, "form submission caught by the honeypot");
        return public_page(&view, StatusCode::OK);
    }
    // Counted after the honeypot, for an existing form only: bots the honeypot stops do not use
    // up the form's budget for real visitors.
    ratelimit::check(&state, &FORM_SUBMIT_PER_FORM, Subject::Named(&format!("form:{}", form.public_id))).await?;
    match service::submit(&mut tx, &state.audit, &form, &body, &attribution, state.clock.now()).await {
        Ok(_) => {
            tx.commit().await?;
            public_page(&view, StatusCode::OK)
        }
        Err(AppError::Validation(errors)) => {
            view.thanks = false;
            view.field_errors = errors.iter().map(|e| e.field.clone()).collect();
            view.errors = error_texts(&page, &errors)
                .into_iter()
                .zip(&errors)
                .map(|(text, e)| {
                    let label = page.t.get(&format!("crm.field.{}", e.field)).to_string();
                    text.replacen(&e.field, &label, 1)
                })
                .collect();
            public_page(&view, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(other) => Err(other),
    }
}

// ---------------------------------------------------------------- managed pages

#[derive(Template)]
#[template(path = "crm_forms.html")]
struct FormsView {
    page: Page,
    forms: Vec<(LeadForm, String)>,
    /// The form being edited, with its public URL and snippet; `None` on the list.
    editing: Option<(LeadForm, String, String)>,
    all_fields: &'static [&'static str],
    /// Who new leads can be given to.
    members: Vec<(Uuid, String)>,
    /// The values to show in the editor (after a refused submission, what was typed).
    draft: Draft,
    errors: Vec<String>,
}

/// What the editor shows: the form's values, or what was typed in a refused submission.
type Draft = FormValues;

impl FormValues {
    fn of(form: &LeadForm) -> Self {
        Self {
            name: form.name.clone(),
            title: form.title.clone(),
            intro: form.intro.clone(),
            fields: form.fields.clone(),
            required_fields: form.required_fields.clone(),
            consent_text: form.consent_text.clone(),
            thank_you: form.thank_you.clone(),
            language: form.language.clone(),
            lead_source: form.lead_source.clone(),
            owner_id: form.owner_id,
            active: form.active,
        }
    }

    fn blank(lang: Lang) -> Self {
        Self {
            fields: vec!["first_name".into(), "last_name".into(), "email".into(), "company_name".into()],
            required_fields: vec!["email".into()],
            language: lang.code().into(),
            lead_source: "form".into(),
            active: true,
            ..Self::default()
        }
    }

    fn of_body(body: &[(String, String)]) -> Self {
        Self {
            name: http::value(body, "name").into(),
            title: http::value(body, "title").into(),
            intro: http::value(body, "intro").into(),
            fields: http::values(body, "fields"),
            required_fields: http::values(body, "required_fields"),
            consent_text: http::value(body, "consent_text").into(),
            thank_you: http::value(body, "thank_you").into(),
            language: http::value(body, "language").into(),
            lead_source: http::value(body, "lead_source").into(),
            owner_id: Uuid::parse_str(http::value(body, "owner_id")).ok(),
            active: http::value(body, "active") == "true",
        }
    }

    fn input(&self) -> FormInput {
        FormInput {
            name: Some(self.name.clone()),
            title: Some(self.title.clone()),
            intro: Some(self.intro.clone()),
            fields: Some(self.fields.clone()),
            required_fields: Some(self.required_fields.clone()),
            consent_text: Some(self.consent_text.clone()),
            thank_you: Some(self.thank_you.clone()),
            language: Some(self.language.clone()),
            lead_source: Some(self.lead_source.clone()),
            owner_id: Some(self.owner_id),
            active: Some(self.active),
        }
    }

    fn shows(&self, field: &&str) -> bool {
        self.fields.iter().any(|f| f == field)
    }

    fn owned_by(&self, member: &Uuid) -> bool {
        self.owner_id == Some(*member)
    }

    fn requires(&self, field: &&str) -> bool {
        self.required_fields.iter().any(|f| f == field)
    }
}

async fn forms_page(
    state: &AppState,
    principal: &Principal,
    page: Page,
    editing: Option<Uuid>,
    draft: Option<Draft>,
    errors: Vec<String>,
) -> AppResult<Response> {
    let mut tx = principal.begin(&state.db).await?;
    let forms = store::all(&mut tx).await?;
    let members = crate::records::active_members(&mut tx).await?;
    let editing = match editing {
        Some(id) => Some(store::get(&mut tx, id).await?),
        None => None,
    };
    tx.commit().await?;
    let draft = draft.unwrap_or_else(|| editing.as_ref().map_or_else(|| Draft::blank(page.t.0), Draft::of));
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let view = FormsView {
        forms: forms.iter().map(|f| (f.clone(), public_url(state, f))).collect(),
        editing: editing.map(|f| {
            let (url, snippet) = (public_url(state, &f), embed_html(state, &f));
            (f, url, snippet)
        }),
        all_fields: FIELDS,
        members,
        draft,
        errors,
        page: page.clone(),
    };
    let html = render(&view)?;
    Ok(page_response(status, html))
}

pub async fn list(State(state): State<AppState>, signed_in: SignedIn, principal: Principal) -> AppResult<Response> {
    let page = signed_in.page(&state, "/crm/forms");
    forms_page(&state, &principal, page, None, None, Vec::new()).await
}

pub async fn show(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let page = signed_in.page(&state, &format!("/crm/forms/{id}"));
    let id = parse_id(&id)?;
    forms_page(&state, &principal, page, Some(id), None, Vec::new()).await
}

/// `POST /crm/forms` (create) and `POST /crm/forms/{id}` (save).
async fn save(
    state: AppState,
    signed_in: SignedIn,
    principal: Principal,
    id: Option<Uuid>,
    body: Fields,
) -> AppResult<Response> {
    let path = id.map_or_else(|| "/crm/forms".to_string(), |id| format!("/crm/forms/{id}"));
    let page = signed_in.page(&state, &path);
    let draft = Draft::of_body(&body);
    let mut tx = principal.begin(&state.db).await?;
    let now = state.clock.now();
    let result = match id {
        None => service::create(&mut tx, &state.audit, draft.input(), principal.user_id, now).await,
        Some(id) => service::update(&mut tx, &state.audit, id, draft.input(), now).await,
    };
    match result {
        Ok(saved) => {
            tx.commit().await?;
            Ok(kernel::web::redirect_with_toast(&format!("/crm/forms/{}", saved.form_id), "crm.notice.saved"))
        }
        Err(AppError::Validation(errors)) => {
            drop(tx);
            let texts = error_texts(&page, &errors);
            forms_page(&state, &principal, page, id, Some(draft), texts).await
        }
        Err(other) => Err(other),
    }
}

pub async fn create(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    CsrfForm(body): CsrfForm<Fields>,
) -> AppResult<Response> {
    save(state, signed_in, principal, None, body).await
}

pub async fn update(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(body): CsrfForm<Fields>,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    save(state, signed_in, principal, Some(id), body).await
}

pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(_body): CsrfForm<Fields>,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    service::delete(&mut tx, &state.audit, id).await?;
    tx.commit().await?;
    Ok(kernel::web::redirect_with_toast("/crm/forms", "crm.notice.deleted"))
}
