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

pub mod api;
pub mod pages;
pub mod service;
pub mod store;

use askama::Template;
use axum::http::{HeaderMap, header};
use kernel::i18n::Lang;
use kernel::web::AppState;
use kernel::{AppError, FieldError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::http;

/// The lead fields a form may ask for, in their usual order.
pub const FIELDS: &[&str] = &["first_name", "last_name", "email", "phone", "company_name", "title"];
const UTM: [&str; 5] = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"];
/// The honeypot: hidden from people, filled in by naive bots.
const HONEYPOT: &str = "website";

#[derive(Debug, Clone, Serialize)]
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
pub struct FormValues {
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

// ---------------------------------------------------------------- submissions

/// Where a visit came from: UTM parameters, the referring page and the landing URL.
#[derive(Debug, Default, Clone)]
pub struct Attribution {
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
