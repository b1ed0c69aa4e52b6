//! Landing-page forms (issue #4 item 9, P1-11).
//!
//! An owner or manager chooses the lead fields a form asks for, the consent wording and the
//! thank-you message; the form is published at `/f/{public_id}` and can be pasted into any site as
//! a plain HTML snippet (no script). A submission creates a lead, or updates the open lead with
//! the same email, with the UTM parameters, referrer and landing URL it came with, and the consent
//! wording shown to the person with the time they agreed.
//!
//! The public handlers know only the public id; `app.resolve_lead_form` (migration 0016) maps it
//! to the org, and the submission runs in that org's tenant transaction as an anonymous actor.
//! Spam is held off by a honeypot field and rate limits per address and per form.

use askama::Template;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use identity::signed_in::SignedIn;
use kernel::audit::AuditEvent;
use kernel::authz::Principal;
use kernel::db::Actor;
use kernel::error::ApiJson;
use kernel::i18n::Lang;
use kernel::ratelimit::{self, FORM_SUBMIT_PER_FORM, FORM_SUBMIT_PER_IP, Subject};
use kernel::web::{AppState, ClientInfo, Page, PageError, render};
use kernel::{AppError, FieldError, OrgTx};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::http::parse_id;
use crate::http::{self, error_texts};
use crate::object::ObjectType;
use crate::records::{self, Source, WriteCtx};

/// The lead fields a form may ask for, in their usual order.
pub const FIELDS: &[&str] = &["first_name", "last_name", "email", "phone", "company_name", "title"];
const UTM: [&str; 5] = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"];
/// The honeypot: hidden from people, filled in by naive bots.
const HONEYPOT: &str = "website";

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct LeadForm {
    pub form_id: Uuid,
    pub public_id: String,
    pub name: String,
    pub title: String,
    pub intro: String,
    pub fields: Vec<String>,
    pub required_fields: Vec<String>,
    pub consent_text: String,
    pub thank_you: String,
    pub language: String,
    pub lead_source: String,
    pub owner_id: Option<Uuid>,
    pub active: bool,
    pub submissions: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl LeadForm {
    fn lang(&self) -> Lang {
        Lang::parse(&self.language).unwrap_or(Lang::En)
    }

    fn is_required(&self, field: &str) -> bool {
        self.required_fields.iter().any(|f| f == field)
    }
}

/// A form to create (every field) or a change (PATCH: only the fields given).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormInput {
    pub name: Option<String>,
    pub title: Option<String>,
    pub intro: Option<String>,
    /// Lead fields shown, in order: first_name, last_name, email, phone, company_name, title.
    pub fields: Option<Vec<String>>,
    /// The fields a person must fill in (a subset of `fields`).
    pub required_fields: Option<Vec<String>>,
    /// The consent wording shown next to a checkbox the person must tick; empty for none.
    pub consent_text: Option<String>,
    pub thank_you: Option<String>,
    /// `en` or `fr`: the language of the public page.
    pub language: Option<String>,
    /// The `source` of the leads it creates (default `form`).
    pub lead_source: Option<String>,
    /// The member who owns the leads it creates.
    #[serde(default, deserialize_with = "present")]
    pub owner_id: Option<Option<Uuid>>,
    pub active: Option<bool>,
}

/// Lets a PATCH tell "set owner_id to null" (`Some(None)`) from "leave it alone" (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<Uuid>>, D::Error> {
    Option::<Uuid>::deserialize(d).map(Some)
}

/// A form's editable values: what `settle` computes from an input, and what the editor shows.
#[derive(Debug, Clone, Default)]
struct FormValues {
    name: String,
    title: String,
    intro: String,
    fields: Vec<String>,
    required_fields: Vec<String>,
    consent_text: String,
    thank_you: String,
    language: String,
    lead_source: String,
    owner_id: Option<Uuid>,
    active: bool,
}

fn text(errors: &mut Vec<FieldError>, field: &'static str, value: String, min: usize, max: usize) -> String {
    let value = value.trim().to_string();
    let len = value.chars().count();
    if len < min {
        errors.push(FieldError::new(field, "required", "This field is required."));
    } else if len > max {
        errors.push(FieldError::new(field, "too_long", format!("At most {max} characters.")));
    }
    value
}

fn settle(current: Option<&LeadForm>, input: FormInput) -> Result<FormValues, AppError> {
    let mut errors = Vec::new();
    let old = |f: fn(&LeadForm) -> String| current.map(f).unwrap_or_default();
    let name = text(&mut errors, "name", input.name.unwrap_or_else(|| old(|f| f.name.clone())), 1, 100);
    let title = text(&mut errors, "title", input.title.unwrap_or_else(|| old(|f| f.title.clone())), 0, 200);
    let intro = text(&mut errors, "intro", input.intro.unwrap_or_else(|| old(|f| f.intro.clone())), 0, 2000);
    let consent_text = text(
        &mut errors,
        "consent_text",
        input.consent_text.unwrap_or_else(|| old(|f| f.consent_text.clone())),
        0,
        2000,
    );
    let language = input.language.unwrap_or_else(|| current.map_or_else(|| "en".into(), |f| f.language.clone()));
    if Lang::parse(&language).is_none() {
        errors.push(FieldError::new("language", "invalid_choice", "Choose en or fr."));
    }
    let default_thanks = || match Lang::parse(&language) {
        Some(Lang::Fr) => "Merci ! Nous revenons vers vous rapidement.".to_string(),
        _ => "Thank you! We will be in touch shortly.".to_string(),
    };
    let thank_you = input.thank_you.filter(|t| !t.trim().is_empty()).unwrap_or_else(|| match current {
        Some(f) => f.thank_you.clone(),
        None => default_thanks(),
    });
    let thank_you = text(&mut errors, "thank_you", thank_you, 1, 2000);
    let lead_source = text(
        &mut errors,
        "lead_source",
        input.lead_source.unwrap_or_else(|| current.map_or_else(|| "form".into(), |f| f.lead_source.clone())),
        0,
        100,
    );
    let fields = input.fields.unwrap_or_else(|| current.map(|f| f.fields.clone()).unwrap_or_default());
    let mut seen = Vec::new();
    for field in &fields {
        if !FIELDS.contains(&field.as_str()) {
            errors.push(FieldError::new(
                "fields",
                "invalid_choice",
                format!("'{field}' is not a lead field a form can ask for."),
            ));
        } else if seen.contains(field) {
            errors.push(FieldError::new("fields", "duplicate", format!("'{field}' is listed twice.")));
        }
        seen.push(field.clone());
    }
    if !fields.iter().any(|f| f == "email" || f == "phone") {
        errors.push(FieldError::new("fields", "no_contact_field", "A form must ask for an email or a phone number."));
    }
    let required_fields =
        input.required_fields.unwrap_or_else(|| current.map(|f| f.required_fields.clone()).unwrap_or_default());
    if let Some(extra) = required_fields.iter().find(|r| !fields.contains(r)) {
        errors.push(FieldError::new(
            "required_fields",
            "invalid_choice",
            format!("'{extra}' is not among the form's fields."),
        ));
    }
    let owner_id = match input.owner_id {
        Some(owner) => owner,
        None => current.and_then(|f| f.owner_id),
    };
    let active = input.active.unwrap_or_else(|| current.is_none_or(|f| f.active));
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    Ok(FormValues {
        name,
        title,
        intro,
        fields,
        required_fields,
        consent_text,
        thank_you,
        language,
        lead_source,
        owner_id,
        active,
    })
}

async fn check_owner(tx: &mut OrgTx, owner: Option<Uuid>) -> Result<(), AppError> {
    let Some(owner) = owner else { return Ok(()) };
    let member: bool = sqlx::query_scalar("select exists (select 1 from users where org_id = $1 and user_id = $2)")
        .bind(tx.org())
        .bind(owner)
        .fetch_one(tx.conn())
        .await?;
    if member { Ok(()) } else { Err(AppError::field("owner_id", "unknown_member", "No such member.")) }
}

const COLUMNS: &str = "form_id, public_id, name, title, intro, fields, required_fields, consent_text, thank_you,
                       language, lead_source, owner_id, active, submissions, created_at, updated_at";

pub async fn all(tx: &mut OrgTx) -> Result<Vec<LeadForm>, AppError> {
    let sql = format!("select {COLUMNS} from lead_forms where org_id = $1 order by created_at desc, form_id");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tx.org()).fetch_all(tx.conn()).await?)
}

pub async fn get(tx: &mut OrgTx, id: Uuid) -> Result<LeadForm, AppError> {
    let sql = format!("select {COLUMNS} from lead_forms where org_id = $1 and form_id = $2");
    let found = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tx.org()).bind(id).fetch_optional(tx.conn()).await?;
    found.ok_or(AppError::NotFound)
}

pub async fn create(tx: &mut OrgTx, input: FormInput, user: Uuid, now: OffsetDateTime) -> Result<LeadForm, AppError> {
    let s = settle(None, input)?;
    check_owner(tx, s.owner_id).await?;
    let id = Uuid::now_v7();
    // 256 random bits: the URL cannot be guessed, and it names no org.
    let public_id = kernel::token::generate();
    let query = sqlx::query(
        "insert into lead_forms (org_id, form_id, public_id, name, title, intro, fields, required_fields, consent_text,
                                 thank_you, language, lead_source, owner_id, active, created_by, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)",
    )
    .bind(tx.org())
    .bind(id)
    .bind(public_id.expose_secret());
    bind_values(query, &s).bind(user).bind(now).execute(tx.conn()).await?;
    get(tx, id).await
}

pub async fn update(tx: &mut OrgTx, id: Uuid, input: FormInput, now: OffsetDateTime) -> Result<LeadForm, AppError> {
    let current = get(tx, id).await?;
    let s = settle(Some(&current), input)?;
    check_owner(tx, s.owner_id).await?;
    let query = sqlx::query(
        "update lead_forms set name = $3, title = $4, intro = $5, fields = $6, required_fields = $7, consent_text = $8,
                thank_you = $9, language = $10, lead_source = $11, owner_id = $12, active = $13, updated_at = $14
          where org_id = $1 and form_id = $2",
    )
    .bind(tx.org())
    .bind(id);
    bind_values(query, &s).bind(now).execute(tx.conn()).await?;
    get(tx, id).await
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds a form's values in the order both the insert and the update name them.
fn bind_values<'q>(query: PgQuery<'q>, s: &'q FormValues) -> PgQuery<'q> {
    query
        .bind(&s.name)
        .bind(&s.title)
        .bind(&s.intro)
        .bind(&s.fields)
        .bind(&s.required_fields)
        .bind(&s.consent_text)
        .bind(&s.thank_you)
        .bind(&s.language)
        .bind(&s.lead_source)
        .bind(s.owner_id)
        .bind(s.active)
}

pub async fn delete(tx: &mut OrgTx, id: Uuid) -> Result<(), AppError> {
    records::delete_by_id(tx, "lead_forms", "form_id", id).await
}

pub fn public_url(state: &AppState, form: &LeadForm) -> String {
    format!("{}/f/{}", state.config.public_url.origin(), form.public_id)
}

/// The snippet to paste into a site: a plain HTML form posting to Relais, no script. UTM
/// parameters can be given in the action's query string (`…/f/ID?utm_source=newsletter`).
#[derive(Template)]
#[template(path = "form_embed.html")]
struct EmbedSnippet<'a> {
    t: kernel::i18n::T,
    action: String,
    form: &'a LeadForm,
    honeypot: &'static str,
}

impl EmbedSnippet<'_> {
    fn input_type(&self, field: &str) -> &'static str {
        input_type(field)
    }

    fn required(&self, field: &str) -> bool {
        self.form.is_required(field)
    }
}

fn input_type(field: &str) -> &'static str {
    match field {
        "email" => "email",
        "phone" => "tel",
        _ => "text",
    }
}

/// The snippet to paste into a site: a plain HTML form posting to Relais, no script. UTM
/// parameters can be given in the action's query string (`…/f/ID?utm_source=newsletter`).
pub fn embed_html(state: &AppState, form: &LeadForm) -> String {
    let snippet = EmbedSnippet { t: form.lang().messages(), action: public_url(state, form), form, honeypot: HONEYPOT };
    snippet.render().unwrap_or_default()
}

fn to_json(state: &AppState, form: &LeadForm) -> Value {
    let mut value = json!(form);
    value["public_url"] = json!(public_url(state, form));
    value["embed_html"] = json!(embed_html(state, form));
    value
}

// ---------------------------------------------------------------- submissions

/// Where a visit came from: UTM parameters, the referring page and the landing URL.
#[derive(Debug, Default, Clone)]
struct Attribution {
    utm: Vec<(&'static str, String)>,
    referrer: String,
    landing_url: String,
}

fn clip(text: &str, max: usize) -> String {
    text.trim().chars().filter(|c| !c.is_control()).take(max).collect()
}

impl Attribution {
    /// From the visit of the hosted page: its query string and the page that linked to it.
    fn of_visit(state: &AppState, uri: &axum::http::Uri, headers: &HeaderMap) -> Self {
        let query: Vec<(String, String)> =
            uri.query().map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
        let utm = UTM.iter().map(|key| (*key, clip(http::value(&query, key), 200))).collect();
        let referrer = headers.get(header::REFERER).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let landing_url = format!("{}{}", state.config.public_url.origin(), uri);
        Self { utm, referrer: clip(referrer, 2000), landing_url: clip(&landing_url, 2000) }
    }

    /// From a submission: the hidden fields of the hosted page, else (an embedded snippet) the
    /// action's query string and the embedding page as the landing URL.
    fn of_submission(uri: &axum::http::Uri, headers: &HeaderMap, body: &[(String, String)]) -> Self {
        let query: Vec<(String, String)> =
            uri.query().map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
        let pick = |key: &str| {
            let given = http::value(body, key);
            if given.is_empty() { http::value(&query, key).to_string() } else { given.to_string() }
        };
        let utm = UTM.iter().map(|key| (*key, clip(&pick(key), 200))).collect();
        let landing = match pick("landing_url") {
            url if url.is_empty() => {
                headers.get(header::REFERER).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
            }
            url => url,
        };
        Self { utm, referrer: clip(&pick("referrer"), 2000), landing_url: clip(&landing, 2000) }
    }
}

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
    Ok(crate::http::page_response(status, html))
}

/// A landing-page form's public id to (org, form id), through the door `app.resolve_lead_form`
/// (migration 0016): only an active form of an active org.
async fn resolve_lead_form(db: &kernel::Db, public_id: &str) -> Result<Option<(kernel::OrgId, Uuid)>, sqlx::Error> {
    sqlx::query_as("select org_id, form_id from app.resolve_lead_form($1)")
        .bind(public_id)
        .fetch_optional(db.before_tenant())
        .await
}

/// The form behind a public id, with the tenant transaction of its org, for an anonymous visitor.
async fn open_public(state: &AppState, public_id: &str) -> Result<(OrgTx, LeadForm), AppError> {
    if public_id.len() > 64 {
        return Err(AppError::NotFound);
    }
    let (org, form_id) = resolve_lead_form(&state.db, public_id).await?.ok_or(AppError::NotFound)?;
    let mut tx = state.db.begin_org(org, Actor::Anonymous).await?;
    let form = get(&mut tx, form_id).await?;
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
    match submit(&state, &mut tx, &form, &body, &attribution).await {
        Ok(lead) => {
            state
                .audit
                .record(
                    &mut tx,
                    AuditEvent::new("form.submitted").target("lead", lead).payload(json!({"form_id": form.form_id})),
                )
                .await?;
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

/// Creates the lead, or updates the open lead with the same email. Returns its id.
async fn submit(
    state: &AppState,
    tx: &mut OrgTx,
    form: &LeadForm,
    body: &[(String, String)],
    attribution: &Attribution,
) -> Result<Uuid, AppError> {
    let now = state.clock.now();
    let mut errors = Vec::new();
    let mut input = Map::new();
    for field in &form.fields {
        let value = http::value(body, field).trim();
        if value.is_empty() {
            if form.is_required(field) {
                errors.push(FieldError::new(field.clone(), "required", "This field is required."));
            }
            continue;
        }
        input.insert(field.clone(), json!(value));
    }
    if input.is_empty() && errors.is_empty() {
        let first = form.fields.first().cloned().unwrap_or_else(|| "email".into());
        errors.push(FieldError::new(first, "required", "This field is required."));
    }
    if !form.consent_text.is_empty() && http::value(body, "consent") != "yes" {
        errors.push(FieldError::new("consent", "consent_required", "Tick the box to agree."));
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    for (key, value) in &attribution.utm {
        if !value.is_empty() {
            input.insert(key.to_string(), json!(value));
        }
    }
    for (key, value) in [("referrer", &attribution.referrer), ("landing_url", &attribution.landing_url)] {
        if !value.is_empty() {
            input.insert(key.into(), json!(value));
        }
    }
    let ctx = WriteCtx { user: None, source: Source::Form, now, import_id: None };
    let email = input.get("email").and_then(Value::as_str).map(|e| e.trim().to_lowercase());
    let existing: Option<Uuid> = match &email {
        Some(email) => {
            // Two submissions with the same new email at once would both find no lead and both
            // create one: the second waits for the first here.
            sqlx::query("select pg_advisory_xact_lock(hashtextextended($1::text || ':' || $2, 0))")
                .bind(tx.org())
                .bind(email)
                .execute(tx.conn())
                .await?;
            sqlx::query_scalar(
                "select lead_id from leads where org_id = $1 and email = $2 and status <> 'converted'
                  order by created_at limit 1",
            )
            .bind(tx.org())
            .bind(email)
            .fetch_optional(tx.conn())
            .await?
        }
        None => None,
    };
    let lead = match existing {
        Some(id) => {
            keep_what_is_known(tx, form, id, &mut input).await?;
            records::update(tx, ObjectType::Lead, id, &input, &ctx).await?;
            id
        }
        None => {
            input.insert("source".into(), json!(form.lead_source));
            if let Some(owner) = form.owner_id {
                input.insert("owner_id".into(), json!(owner));
            }
            records::create(tx, ObjectType::Lead, &input, &ctx).await?.id
        }
    };
    if !form.consent_text.is_empty() {
        record_consent(tx, lead, &form.consent_text, &ctx).await?;
    }
    sqlx::query("update lead_forms set submissions = submissions + 1 where org_id = $1 and form_id = $2")
        .bind(tx.org())
        .bind(form.form_id)
        .execute(tx.conn())
        .await?;
    Ok(lead)
}

/// Anyone can submit a form with someone else's email: on a known lead, a submission fills the
/// fields that are empty (names, company, attribution) and records the consent given, but never
/// overwrites what the team already has, nor the lead's first-touch attribution. The values it leaves out are still checked, so bad input is refused alike.
async fn keep_what_is_known(
    tx: &mut OrgTx,
    form: &LeadForm,
    lead: Uuid,
    input: &mut Map<String, Value>,
) -> Result<(), AppError> {
    let current = records::get(tx, ObjectType::Lead, lead).await?;
    let mut errors = Vec::new();
    input.retain(|key, value| {
        let known = current.get(key.as_str()).and_then(Value::as_str).is_some_and(|v| !v.is_empty());
        if !known {
            return true;
        }
        if !form.fields.iter().any(|f| f == key) {
            // Attribution (UTM, referrer, landing URL): the first touch is kept.
            return false;
        }
        if let Some(def) = ObjectType::Lead.field(key)
            && let Err(invalid) = crate::values::parse_field(def, value)
        {
            errors.push(records::field_error(def.key, invalid));
        }
        false
    });
    if errors.is_empty() { Ok(()) } else { Err(AppError::Validation(errors)) }
}

/// Keeps the wording the person agreed to and when, on the lead and in its history. These
/// fields are Relais' own: no other path writes them.
async fn record_consent(tx: &mut OrgTx, lead: Uuid, text: &str, ctx: &WriteCtx) -> Result<(), AppError> {
    let old: (String, Option<OffsetDateTime>) =
        sqlx::query_as("select consent_text, consent_at from leads where org_id = $1 and lead_id = $2")
            .bind(tx.org())
            .bind(lead)
            .fetch_one(tx.conn())
            .await?;
    sqlx::query(
        "update leads set consent_text = $3, consent_at = $4, updated_at = $4 where org_id = $1 and lead_id = $2",
    )
    .bind(tx.org())
    .bind(lead)
    .bind(text)
    .bind(ctx.now)
    .execute(tx.conn())
    .await?;
    let at = |t: Option<OffsetDateTime>| {
        t.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()).map_or(Value::Null, Value::String)
    };
    let object = ObjectType::Lead;
    records::record_change(tx, object, lead, "updated", "consent_text", Some(&json!(old.0)), Some(&json!(text)), ctx)
        .await?;
    records::record_change(tx, object, lead, "updated", "consent_at", Some(&at(old.1)), Some(&at(Some(ctx.now))), ctx)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------- API

pub async fn api_list(State(state): State<AppState>, principal: Principal) -> Result<Json<Vec<Value>>, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let forms = all(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(forms.iter().map(|f| to_json(&state, f)).collect()))
}

pub async fn api_create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<FormInput>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let form = create(&mut tx, input, principal.user_id, state.clock.now()).await?;
    state.audit.record(&mut tx, AuditEvent::new("form.created").target("lead_form", form.form_id)).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(to_json(&state, &form))))
}

pub async fn api_get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let form = get(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(to_json(&state, &form)))
}

pub async fn api_update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<FormInput>,
) -> Result<Json<Value>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let form = update(&mut tx, id, input, state.clock.now()).await?;
    state.audit.record(&mut tx, AuditEvent::new("form.updated").target("lead_form", id)).await?;
    tx.commit().await?;
    Ok(Json(to_json(&state, &form)))
}

pub async fn api_delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    delete(&mut tx, id).await?;
    state.audit.record(&mut tx, AuditEvent::new("form.deleted").target("lead_form", id)).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- pages

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
    notice: Option<String>,
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
    notice: Option<String>,
) -> Result<Response, PageError> {
    let fail = |e: AppError| PageError::new(e, &page);
    let mut tx = principal.begin(&state.db).await.map_err(|e| fail(e.into()))?;
    let forms = all(&mut tx).await.map_err(fail)?;
    let members = crate::records::active_members(&mut tx).await.map_err(fail)?;
    let editing = match editing {
        Some(id) => Some(get(&mut tx, id).await.map_err(fail)?),
        None => None,
    };
    tx.commit().await.map_err(|e| fail(e.into()))?;
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
        notice,
        page: page.clone(),
    };
    let html = render(&view).map_err(fail)?;
    Ok(crate::http::page_response(status, html))
}

pub async fn page_list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Query(params): Query<crate::http::NoticeParams>,
) -> Result<Response, PageError> {
    let page = signed_in.page(&state, "/crm/forms");
    let notice = params.text(&page);
    forms_page(&state, &principal, page, None, None, Vec::new(), notice).await
}

pub async fn page_show(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    Query(params): Query<crate::http::NoticeParams>,
) -> Result<Response, PageError> {
    let page = signed_in.page(&state, &format!("/crm/forms/{id}"));
    let id = parse_id(&id).map_err(|e| PageError::new(e, &page))?;
    let notice = params.text(&page);
    forms_page(&state, &principal, page, Some(id), None, Vec::new(), notice).await
}

/// `POST /crm/forms` (create) and `POST /crm/forms/{id}` (save).
async fn page_save(
    state: AppState,
    signed_in: SignedIn,
    principal: Principal,
    id: Option<Uuid>,
    body: Bytes,
) -> Result<Response, PageError> {
    let path = id.map_or_else(|| "/crm/forms".to_string(), |id| format!("/crm/forms/{id}"));
    let page = signed_in.page(&state, &path);
    let body = http::parse(&body);
    signed_in.check_csrf(&state, http::csrf(&body))?;
    let draft = Draft::of_body(&body);
    let fail = |e: AppError| PageError::new(e, &page);
    let mut tx = principal.begin(&state.db).await.map_err(|e| fail(e.into()))?;
    let now = state.clock.now();
    let result = match id {
        None => create(&mut tx, draft.input(), principal.user_id, now).await,
        Some(id) => update(&mut tx, id, draft.input(), now).await,
    };
    match result {
        Ok(saved) => {
            let action = if id.is_some() { "form.updated" } else { "form.created" };
            state
                .audit
                .record(&mut tx, AuditEvent::new(action).target("lead_form", saved.form_id))
                .await
                .map_err(|e| fail(e.into()))?;
            tx.commit().await.map_err(|e| fail(e.into()))?;
            Ok(Redirect::to(&format!("/crm/forms/{}?notice=saved", saved.form_id)).into_response())
        }
        Err(AppError::Validation(errors)) => {
            drop(tx);
            let texts = error_texts(&page, &errors);
            forms_page(&state, &principal, page, id, Some(draft), texts, None).await
        }
        Err(other) => Err(fail(other)),
    }
}

pub async fn page_create(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    body: Bytes,
) -> Result<Response, PageError> {
    page_save(state, signed_in, principal, None, body).await
}

pub async fn page_update(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let page = signed_in.page(&state, "/crm/forms");
    let id = parse_id(&id).map_err(|e| PageError::new(e, &page))?;
    page_save(state, signed_in, principal, Some(id), body).await
}

pub async fn page_delete(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let page = signed_in.page(&state, "/crm/forms");
    let body = http::parse(&body);
    signed_in.check_csrf(&state, http::csrf(&body))?;
    let fail = |e: AppError| PageError::new(e, &page);
    let id = parse_id(&id).map_err(fail)?;
    let mut tx = principal.begin(&state.db).await.map_err(|e| fail(e.into()))?;
    delete(&mut tx, id).await.map_err(fail)?;
    state
        .audit
        .record(&mut tx, AuditEvent::new("form.deleted").target("lead_form", id))
        .await
        .map_err(|e| fail(e.into()))?;
    tx.commit().await.map_err(|e| fail(e.into()))?;
    Ok(Redirect::to("/crm/forms?notice=deleted").into_response())
}
