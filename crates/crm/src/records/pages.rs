//! The record pages: the record with its form, related records, files and timeline; creation,
//! edition, deletion and bulk changes from a list.

use crate::actions;
use crate::http::Fields;
use kernel::AppResult;
use kernel::web::CsrfForm;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use identity::signed_in::SignedIn;
use kernel::authz::Principal;
use kernel::web::{AppState, Page, render};
use kernel::{AppError, FieldError, OrgTx};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::custom_fields::{self, CustomField};
use crate::display::{Names, cell_text, display, error_text, field_label, no_store};
use crate::http::Object;
use crate::object::{FieldDef, Kind, ObjectType, RefKind};
use crate::pipelines;
use crate::records::{self, Source, WriteCtx};
use crate::records::{BulkInput, bulk_apply, delete_record};

pub(crate) struct FormField {
    name: String,
    label: String,
    /// text, email, tel, url, number, decimal, date, select, multi, textarea, checkbox
    input: &'static str,
    /// An amount (a deal's, a custom field's): a decimal shown with two places.
    amount: bool,
    value: String,
    options: Vec<(String, String)>,
    selected: Vec<String>,
    required: bool,
    error: Option<String>,
    /// For a relation picker (`input == "ref"`): the plural whose `/lookup` feeds its datalist.
    lookup: &'static str,
}

impl FormField {
    /// The input's `type`: a decimal is a text input with `inputmode="decimal"`, because
    /// `type="number"` would refuse the French writing it shows (`15 000,50`).
    fn input_type(&self) -> &'static str {
        if self.input == "decimal" { "text" } else { self.input }
    }
}

/// One field of the details panel: its form field (for inline editing) and how it reads.
pub(crate) struct DetailField {
    f: FormField,
    /// The value as people read it (labels, names, local amounts); empty when unset.
    shown: String,
    /// A link for the value: the related record, `mailto:`, `tel:` or the web address.
    href: Option<String>,
    /// The field's name fit for an element id (`custom.x` → `custom-x`).
    dom: String,
    /// "Edit <label>": the pencil's name for screen readers.
    edit_label: String,
}

/// What the record page shows besides the record: which composer tab and timeline
/// filter are chosen, what a failed composer or conversion form held, and the "edit all" mode.
#[derive(Default)]
pub(crate) struct Extras {
    /// The full edit form instead of the details panel (creation, `/edit`, a failed full save).
    pub(crate) edit_all: bool,
    /// `note`, `task` or `activity`.
    pub(crate) compose: String,
    /// The timeline filter: `note`, `task`, `activity`, `change`, `file`, or empty for all.
    pub(crate) kind: String,
    pub(crate) composer_values: Vec<(String, String)>,
    pub(crate) composer_errors: Vec<FieldError>,
    /// Some: the conversion dialog is open, with what was typed and its errors.
    pub(crate) convert: Option<ConvertForm>,
    /// A refused link form: what was typed in its search box and why (boxed: rarely there).
    pub(crate) link: Option<Box<LinkForm>>,
    /// The panels other modules add to a record's page (`AppState::record_panels`): drawn on an
    /// existing record's page, empty on the creation page.
    pub(crate) module_panels: std::sync::Arc<[kernel::module::RecordPanel]>,
}

/// What a refused link form held.
#[derive(Default)]
pub(crate) struct LinkForm {
    pub(crate) query: String,
    pub(crate) errors: Vec<FieldError>,
}

#[derive(Default)]
pub(crate) struct ConvertForm {
    pub(crate) deal_name: String,
    pub(crate) deal_amount: String,
    pub(crate) skip_company: bool,
    pub(crate) errors: Vec<FieldError>,
}

/// The record page's query string: composer tab, timeline filter, conversion dialog.
#[derive(Debug, Default, serde::Deserialize)]
pub struct RecordParams {
    #[serde(default)]
    compose: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    convert: String,
}

pub(crate) const TIMELINE_KINDS: [&str; 5] = ["note", "task", "activity", "change", "file"];
const COMPOSER_TABS: [&str; 3] = ["note", "task", "activity"];

#[derive(Template)]
#[template(path = "crm_record.html")]
pub(crate) struct RecordView {
    page: Page,
    plural: &'static str,
    singular: &'static str,
    /// `None` on the creation page.
    id: Option<String>,
    title: String,
    fields: Vec<FormField>,
    alert: Option<String>,
    duplicates: Vec<(String, String, String)>,
    can_delete: bool,
    can_merge: bool,
    meta: Vec<(String, String)>,
    /// Linked records: (plural, id, name, role, kind label).
    related: Vec<(String, String, String, String, String)>,
    /// What can be linked from this page: the other side's plural, for the lookup.
    link_target: Option<&'static str>,
    /// What a refused link form held: its search text and its message.
    link_query: String,
    link_error: Option<String>,
    timeline: Vec<TimelineItem>,
    files: Vec<crate::files::FileItem>,
    members: Vec<(String, String)>,
    me: String,
    edit_all: bool,
    /// The record's id, empty on the creation page (for the details panel's routes).
    record_id: String,
    owner: String,
    key_fields: Vec<DetailField>,
    more_fields: Vec<DetailField>,
    custom_details: Vec<DetailField>,
    utm_fields: Vec<DetailField>,
    compose: String,
    kind: String,
    composer_values: Vec<(String, String)>,
    /// (field, message); a message whose field has no input goes to the composer's alert.
    composer_errors: Vec<(String, String)>,
    convert_open: bool,
    convert_deal_name: String,
    convert_deal_amount: String,
    convert_skip: bool,
    convert_errors: Vec<(String, String)>,
    /// The conversion preview: the contact's name and email, and the company's name.
    preview_contact: String,
    preview_email: String,
    preview_company: String,
    /// Other modules' panels, rendered (each escaped by its own template).
    module_panels: Vec<String>,
}

impl RecordView {
    /// What the composer's `name` input held when its form failed.
    fn cv(&self, name: &str) -> &str {
        self.composer_values.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default()
    }

    fn ce(&self, name: &str) -> Option<&str> {
        self.composer_errors.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The composer's errors that belong to no input of the current tab.
    fn composer_alert(&self) -> Vec<&str> {
        let placed = [
            "body",
            "title",
            "assignee_id",
            "due_at",
            "remind_at",
            "kind",
            "subject",
            "outcome",
            "occurred_at",
            "duration_minutes",
        ];
        self.composer_errors.iter().filter(|(k, _)| !placed.contains(&k.as_str())).map(|(_, v)| v.as_str()).collect()
    }

    fn convert_error(&self, suffix: &str) -> Option<&str> {
        self.convert_errors.iter().find(|(k, _)| k.ends_with(suffix)).map(|(_, v)| v.as_str())
    }

    /// The page's link with another composer tab or timeline filter, the other one kept.
    fn href_with(&self, compose: &str, kind: &str, anchor: &str) -> String {
        let mut query = Vec::new();
        if !compose.is_empty() && compose != "note" {
            query.push(format!("compose={compose}"));
        }
        if !kind.is_empty() {
            query.push(format!("kind={kind}"));
        }
        let query = if query.is_empty() { String::new() } else { format!("?{}", query.join("&")) };
        format!("/crm/{}/{}{query}#{anchor}", self.plural, self.record_id)
    }

    fn tab_href(&self, tab: &str) -> String {
        self.href_with(tab, &self.kind, "composer")
    }

    fn kind_href(&self, kind: &str) -> String {
        self.href_with(&self.compose, kind, "timeline")
    }
}

/// A timeline entry, ready to show.
pub(crate) struct TimelineItem {
    kind: String,
    id: String,
    at: String,
    actor: String,
    title: String,
    detail: String,
    /// A note's sanitized HTML.
    html: String,
    open_task: bool,
}

/// An activity's outcome as the member reads it. It is free text a person typed, or a code a
/// module wrote ("sent" for an email an outreach sequence sent): a module gives its codes words in
/// each language under `activity_outcome.<code>`, so a French member does not read an English code.
fn outcome_words(page: &Page, outcome: &str) -> String {
    match page.t.find(&format!("activity_outcome.{outcome}")) {
        Some(words) if !outcome.is_empty() => words.to_owned(),
        _ => outcome.to_owned(),
    }
}

pub(crate) fn timeline_item(
    page: &Page,
    object: ObjectType,
    entry: crate::worklog::Entry,
    names: &Names,
    custom: &[CustomField],
) -> TimelineItem {
    let data = &entry.data;
    let text = |k: &str| display(data.get(k));
    let (title, detail) = match entry.kind.as_str() {
        "change" => match text("action").as_str() {
            "updated" => {
                let field = text("field");
                let label = field_label(page, &field, custom);
                // A custom amount or number reads the member's way, as in the details panel.
                let decimal = field.strip_prefix("custom.").and_then(|key| {
                    let c = custom.iter().find(|c| c.key == key)?;
                    matches!(c.kind.as_str(), "number" | "currency").then_some(c.kind == "currency")
                });
                let show = |v: Option<&Value>| {
                    let record = json!({ field.clone(): v.cloned().unwrap_or(Value::Null) });
                    let shown = if let Some(cents) = decimal {
                        crate::display::decimal(&display(v), page.t.0, cents)
                    } else if field.starts_with("custom.") {
                        display(v)
                    } else {
                        cell_text(page, object, &field, &record, names)
                    };
                    if shown.is_empty() { "—".to_string() } else { shown }
                };
                (
                    page.t.fmt("crm.timeline.changed", &[("field", &label)]),
                    format!("{} → {}", show(data.get("old")), show(data.get("new"))),
                )
            }
            action => (page.t.get(&format!("crm.timeline.{action}")).to_string(), String::new()),
        },
        "note" => (page.t.get("crm.timeline.note").to_string(), String::new()),
        "file" => (
            format!("{} · {}", page.t.get("crm.timeline.file"), text("name")),
            data.get("size_bytes")
                .and_then(Value::as_i64)
                .map(|n| crate::files::human_size(&page.t, n))
                .unwrap_or_default(),
        ),
        "task" => {
            let status = page.t.get(&format!("crm.task_status.{}", text("status"))).to_string();
            let due = crate::display::instant_of(data.get("due_at"))
                .map(|at| page.t.fmt("crm.timeline.due_on", &[("date", &crate::display::minute(page, &at))]));
            let detail = std::iter::once(status).chain(due).collect::<Vec<_>>().join(" · ");
            (format!("{} · {}", page.t.get("crm.timeline.task"), text("title")), detail)
        }
        _ => (
            format!("{} · {}", page.t.get(&format!("crm.activity.{}", text("kind"))), text("subject")),
            [outcome_words(page, &text("outcome")), text("body")]
                .into_iter()
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join(" — "),
        ),
    };
    TimelineItem {
        open_task: entry.kind == "task" && text("status") == "open",
        html: data.get("html").and_then(Value::as_str).unwrap_or_default().to_string(),
        kind: entry.kind,
        id: entry.id.to_string(),
        at: crate::display::minute(page, &entry.at),
        actor: entry.actor_name.unwrap_or_default(),
        title,
        detail,
    }
}

pub(crate) fn input_for(kind: Kind) -> &'static str {
    match kind {
        Kind::Email => "email",
        Kind::Phone => "tel",
        Kind::Url => "url",
        Kind::Percent => "number",
        Kind::Money => "decimal",
        Kind::Date => "date",
        // Companies are too many for a select: a typeahead over the visible ones.
        Kind::Ref(RefKind::Company) => "ref",
        Kind::Choice(_) | Kind::Ref(_) => "select",
        _ => "text",
    }
}

pub(crate) fn custom_input(kind: &str) -> &'static str {
    match kind {
        "long_text" => "textarea",
        "number" | "currency" => "decimal",
        "date" => "date",
        "boolean" => "checkbox",
        "select" => "select",
        "multi_select" => "multi",
        "url" => "url",
        "email" => "email",
        "phone" => "tel",
        _ => "text",
    }
}

/// The form's fields with the values to show (the record's, or what was submitted) and errors.
pub(crate) fn form_fields(
    page: &Page,
    object: ObjectType,
    custom: &[CustomField],
    values: &Map<String, Value>,
    names: &Names,
    errors: &[FieldError],
) -> Vec<FormField> {
    let error_for = |name: &str| errors.iter().find(|e| e.field == name).map(|e| error_text(page, e));
    let mut fields: Vec<FormField> = object
        .fields()
        .iter()
        // The stage carries its pipeline: one select of "Pipeline › Stage".
        .filter(|def| def.key != "pipeline_id")
        .map(|def: &FieldDef| {
            let options = match def.kind {
                Kind::Choice(choices) => choices
                    .iter()
                    .map(|c| (c.to_string(), page.t.get(&format!("crm.choice.{c}")).to_string()))
                    .collect(),
                Kind::Ref(kind) => names.options(kind),
                _ => Vec::new(),
            };
            let mut value = display(values.get(def.key));
            if def.kind == Kind::Ref(RefKind::Company) && Uuid::parse_str(&value).is_ok() {
                // The picker shows the company's name; an id it cannot name stays as typed.
                let name = names.of(RefKind::Company, &value);
                if name != "—" {
                    value = name;
                }
            }
            if def.kind == Kind::Money {
                // The member's writing (`15 000,50`), which the update reads back as the same amount.
                value = crate::display::decimal_input(&value, page.t.0, true);
            }
            let lookup = if def.kind == Kind::Ref(RefKind::Company) { "companies" } else { "" };
            FormField {
                name: def.key.to_string(),
                label: field_label(page, def.key, custom),
                input: input_for(def.kind),
                amount: def.kind == Kind::Money,
                selected: vec![value.clone()],
                value,
                options,
                required: def.required,
                error: error_for(def.key),
                lookup,
            }
        })
        .collect();
    let custom_values = values.get("custom").and_then(Value::as_object).cloned().unwrap_or_default();
    for c in custom {
        let name = format!("custom.{}", c.key);
        let value = custom_values.get(&c.key).or_else(|| values.get(&name));
        let selected = match value {
            Some(Value::Array(items)) => items.iter().map(|i| display(Some(i))).collect(),
            other => vec![display(other)],
        };
        let input = custom_input(&c.kind);
        let amount = c.kind == "currency";
        fields.push(FormField {
            label: c.label.clone(),
            input,
            amount,
            value: match value {
                Some(Value::Bool(b)) => b.to_string(),
                other if input == "decimal" => crate::display::decimal_input(&display(other), page.t.0, amount),
                other => display(other),
            },
            options: c.options.0.iter().map(|o| (o.clone(), o.clone())).collect(),
            selected,
            required: c.required,
            error: error_for(&name),
            lookup: "",
            name,
        });
    }
    fields
}

/// A submitted record form as the API's JSON object: known fields as strings, `custom.<key>`
/// inputs gathered into `custom` (repeated multi-select values into a list).
pub(crate) fn form_to_input(
    object: ObjectType,
    custom: &[CustomField],
    body: &[(String, String)],
) -> Map<String, Value> {
    let mut input = Map::new();
    let mut custom_values = Map::new();
    for def in object.fields() {
        if let Some((_, v)) = body.iter().find(|(k, _)| k == def.key) {
            input.insert(def.key.to_string(), Value::String(v.clone()));
        }
    }
    for c in custom {
        let name = format!("custom.{}", c.key);
        let submitted: Vec<&String> = body.iter().filter(|(k, _)| *k == name).map(|(_, v)| v).collect();
        let value = match c.kind.as_str() {
            "multi_select" => Value::Array(submitted.into_iter().map(|v| Value::String(v.clone())).collect()),
            "boolean" => Value::Bool(submitted.iter().any(|v| v.as_str() == "true")),
            _ => submitted.first().map(|v| Value::String((*v).clone())).unwrap_or(Value::Null),
        };
        custom_values.insert(c.key.clone(), value);
    }
    if !custom.is_empty() {
        input.insert("custom".into(), Value::Object(custom_values));
    }
    input
}

/// The fields of the details panel shown first, per record type (after the title).
fn key_fields_of(object: ObjectType) -> &'static [&'static str] {
    match object {
        ObjectType::Lead => &["first_name", "last_name", "email", "phone", "company_name", "status", "owner_id"],
        ObjectType::Contact => &["first_name", "last_name", "email", "phone", "mobile", "title", "owner_id"],
        ObjectType::Company => &["name", "domain", "phone", "city", "country", "owner_id"],
        ObjectType::Deal => {
            &["name", "stage_id", "amount", "currency", "expected_close_date", "company_id", "owner_id"]
        }
    }
}

/// Where a lead came from: collapsed on its page.
const UTM_FIELDS: [&str; 7] =
    ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "referrer", "landing_url"];

/// A form field as the details panel shows it: its value in words, and a link where one helps.
fn detail_field(
    page: &Page,
    object: ObjectType,
    f: FormField,
    values: &Map<String, Value>,
    names: &Names,
) -> DetailField {
    let record = Value::Object(values.clone());
    let raw = match f.name.strip_prefix("custom.") {
        Some(k) => values.get("custom").and_then(|c| c.get(k)).cloned().unwrap_or(Value::Null),
        None => values.get(&f.name).cloned().unwrap_or(Value::Null),
    };
    let shown = match (&raw, f.input) {
        (Value::Bool(b), _) => page.t.get(if *b { "crm.record.yes" } else { "crm.record.no" }).to_string(),
        (_, "select") if f.name.starts_with("custom.") => display(Some(&raw)),
        (_, "decimal") if f.name.starts_with("custom.") => {
            crate::display::decimal(&display(Some(&raw)), page.t.0, f.amount)
        }
        _ if f.name.starts_with("custom.") => display(Some(&raw)),
        _ => cell_text(page, object, &f.name, &record, names),
    };
    let text = display(Some(&raw));
    let href = match f.input {
        _ if text.is_empty() => None,
        "ref" => Some(format!("/crm/{}/{text}", f.lookup)),
        "email" => Some(format!("mailto:{text}")),
        "tel" => Some(format!("tel:{text}")),
        "url" if text.starts_with("https://") || text.starts_with("http://") => Some(text.clone()),
        _ => None,
    };
    let dom = f.name.replace('.', "-");
    let edit_label = page.t.fmt("crm.record.edit_field", &[("field", &f.label)]);
    DetailField { f, shown, href, dom, edit_label }
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn record_view(
    tx: &mut OrgTx,
    page: &Page,
    principal: &Principal,
    object: ObjectType,
    id: Option<Uuid>,
    values: &Map<String, Value>,
    errors: &[FieldError],
    extras: Extras,
) -> Result<RecordView, AppError> {
    let custom = custom_fields::definitions(tx, object).await?;
    let mut names = Names::load(tx).await?;
    let duplicates = match id {
        Some(id) => records::duplicates_of(tx, object, id)
            .await?
            .into_iter()
            .map(|d| {
                (
                    ObjectType::parse(&d.object).map(|o| o.plural()).unwrap_or("contacts").to_string(),
                    d.id.to_string(),
                    d.display_name,
                )
            })
            .collect(),
        None => Vec::new(),
    };
    if let Some(company) = values.get("company_id").and_then(Value::as_str).and_then(|c| c.parse().ok()) {
        names.load_companies(tx, vec![company]).await?;
    }
    let mut meta = Vec::new();
    for def in object.system_fields() {
        let text = cell_text(page, object, def.key, &Value::Object(values.clone()), &names);
        if !text.is_empty() {
            meta.push((field_label(page, def.key, &custom), text));
        }
    }
    let alert = (!errors.is_empty()).then(|| {
        let unplaced: Vec<String> = errors
            .iter()
            .filter(|e| object.field(&e.field).is_none() && !e.field.starts_with("custom."))
            .map(|e| error_text(page, e))
            .collect();
        let mut text = page.t.get("form.fix_errors").to_string();
        for u in unplaced {
            text.push(' ');
            text.push_str(&u);
        }
        text
    });
    let related = match id {
        Some(id) => crate::relations::related(tx, object, id)
            .await?
            .into_iter()
            .map(|r| {
                let plural = ObjectType::parse(&r.object).map(|o| o.plural()).unwrap_or("contacts").to_string();
                let kind = page.t.get(&format!("crm.object.{}", r.object)).to_string();
                (plural, r.id.to_string(), r.display_name, r.role, kind)
            })
            .collect(),
        None => Vec::new(),
    };
    let link_target = match (id, object) {
        (Some(_), ObjectType::Contact) => Some("companies"),
        (Some(_), ObjectType::Deal) => Some("contacts"),
        _ => None,
    };
    let files = match id {
        Some(id) => crate::files::items(tx, page, object, id, &names.members).await?,
        None => Vec::new(),
    };
    let kind = if TIMELINE_KINDS.contains(&extras.kind.as_str()) { extras.kind.clone() } else { String::new() };
    let timeline = match id {
        Some(id) => crate::worklog::timeline(tx, object, id, None, 50, (!kind.is_empty()).then_some(kind.as_str()))
            .await?
            .entries
            .into_iter()
            .map(|e| timeline_item(page, object, e, &names, &custom))
            .collect(),
        None => Vec::new(),
    };
    // The details panel: key fields first, lead attribution apart, custom fields, the rest.
    let mut key_fields = Vec::new();
    let mut more_fields = Vec::new();
    let mut custom_details = Vec::new();
    let mut utm_fields = Vec::new();
    let fields = form_fields(page, object, &custom, values, &names, errors);
    if id.is_some() && !extras.edit_all {
        let keys = key_fields_of(object);
        let mut keyed: Vec<(usize, DetailField)> = Vec::new();
        for f in form_fields(page, object, &custom, values, &names, errors) {
            let name = f.name.clone();
            let detail = detail_field(page, object, f, values, &names);
            if let Some(position) = keys.iter().position(|k| *k == name) {
                keyed.push((position, detail));
            } else if name.starts_with("custom.") {
                custom_details.push(detail);
            } else if object == ObjectType::Lead && UTM_FIELDS.contains(&name.as_str()) {
                utm_fields.push(detail);
            } else {
                more_fields.push(detail);
            }
        }
        keyed.sort_by_key(|(p, _)| *p);
        key_fields = keyed.into_iter().map(|(_, d)| d).collect();
    }
    let mut module_panels = Vec::new();
    if let Some(id) = id {
        for panel in extras.module_panels.iter() {
            let ctx = kernel::module::RecordCtx { tx: &mut *tx, principal, page, object: object.as_str(), id, values };
            if let Some(html) = (panel.render)(ctx).await? {
                module_panels.push(html);
            }
        }
    }
    let text = |k: &str| display(values.get(k));
    let convert_open = extras.convert.is_some();
    let convert = extras.convert.unwrap_or_default();
    Ok(RecordView {
        related,
        link_target,
        link_query: extras.link.as_ref().map(|link| link.query.clone()).unwrap_or_default(),
        link_error: extras.link.as_ref().and_then(|link| link.errors.first()).map(|e| error_text(page, e)),
        timeline,
        files,
        members: names.options(RefKind::Member),
        me: principal.user_id.to_string(),
        page: page.clone(),
        plural: object.plural(),
        singular: object.as_str(),
        id: id.map(|i| i.to_string()),
        record_id: id.map(|i| i.to_string()).unwrap_or_default(),
        title: display(values.get("display_name")),
        owner: values.get("owner_id").and_then(Value::as_str).map(|o| names.of(RefKind::Member, o)).unwrap_or_default(),
        fields,
        alert,
        duplicates,
        can_delete: principal.grant(actions::RECORDS_DELETE).allows(),
        can_merge: principal.grant(actions::RECORDS_MERGE).allows(),
        meta,
        edit_all: extras.edit_all || id.is_none(),
        key_fields,
        more_fields,
        custom_details,
        utm_fields,
        compose: if COMPOSER_TABS.contains(&extras.compose.as_str()) { extras.compose } else { "note".into() },
        kind,
        composer_values: extras.composer_values,
        composer_errors: extras.composer_errors.iter().map(|e| (e.field.clone(), error_text(page, e))).collect(),
        convert_open,
        convert_deal_name: convert.deal_name,
        convert_deal_amount: convert.deal_amount,
        convert_skip: convert.skip_company,
        convert_errors: crate::http::error_texts(page, &convert.errors)
            .into_iter()
            .zip(convert.errors.iter())
            .map(|(text, e)| (e.field.clone(), text))
            .collect(),
        preview_contact: format!("{} {}", text("first_name"), text("last_name")).trim().to_string(),
        preview_email: text("email"),
        module_panels,
        preview_company: text("company_name"),
    })
}

pub async fn new_form<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
) -> AppResult<Response> {
    let object = O::TYPE;
    let page = signed_in.page(&state, &format!("/crm/{}/new", object.plural()));
    let mut tx = principal.begin(&state.db).await?;
    if object == ObjectType::Deal {
        pipelines::ensure_default(&mut tx, state.clock.now()).await?;
    }
    let mut defaults = Map::new();
    defaults.insert("owner_id".into(), json!(principal.user_id));
    let view = record_view(&mut tx, &page, &principal, object, None, &defaults, &[], Extras::default()).await?;
    tx.commit().await?;
    Ok(no_store(render(&view)?))
}

pub async fn create<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    CsrfForm(form): CsrfForm<Fields>,
) -> AppResult<Response> {
    let object = O::TYPE;
    let page = signed_in.page(&state, &format!("/crm/{}/new", object.plural()));
    let mut tx = principal.begin(&state.db).await?;
    let custom = custom_fields::definitions(&mut tx, object).await?;
    let mut input = form_to_input(object, &custom, &form);
    let ctx = WriteCtx { user: Some(principal.user_id), source: Source::Ui, now: state.clock.now(), import_id: None };
    let resolved = match resolve_refs(&mut tx, object, &mut input).await? {
        errors if errors.is_empty() => records::create(&mut tx, object, &input, &ctx).await,
        errors => Err(AppError::Validation(errors)),
    };
    match resolved {
        Ok(created) => {
            tx.commit().await?;
            Ok(kernel::web::redirect_with_toast(
                &format!("/crm/{}/{}", object.plural(), created.id),
                "crm.notice.created",
            ))
        }
        Err(AppError::Validation(errors)) => {
            // The failed statement aborted the transaction: show the form from a fresh one.
            drop(tx);
            let mut tx = principal.begin(&state.db).await?;
            let view =
                record_view(&mut tx, &page, &principal, object, None, &input, &errors, Extras::default()).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, no_store(render(&view)?)).into_response())
        }
        Err(other) => Err(other),
    }
}

pub async fn show<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    Query(shown): Query<RecordParams>,
) -> AppResult<Response> {
    let object = O::TYPE;
    let page = signed_in.page(&state, &format!("/crm/{}/{id}", object.plural()));
    let id = crate::http::parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let record = records::read(&mut tx, &state.audit, object, id).await?;
    let values = record.as_object().cloned().unwrap_or_default();
    let extras = Extras {
        compose: shown.compose,
        kind: shown.kind,
        // `?convert=1`: the conversion dialog open without JavaScript.
        convert: (object == ObjectType::Lead && !shown.convert.is_empty()).then(ConvertForm::default),
        module_panels: state.record_panels.clone(),
        ..Extras::default()
    };
    let view = record_view(&mut tx, &page, &principal, object, Some(id), &values, &[], extras).await?;
    tx.commit().await?;
    Ok(no_store(render(&view)?))
}

/// What a refused form shows again on its record's page.
pub(crate) enum Redraw<'a> {
    /// The record's page: the full edit form, the composer or the conversion dialog, as the
    /// [`Extras`] say.
    Page(Extras),
    /// One field of the details panel as its input (the inline edit's htmx swap).
    Field(&'a str),
}

/// "The service refused the input": the record's page, or one field of it, again with what was
/// typed laid over the record's values and each message in place, answered 422. The refused
/// statement may have aborted the transaction it ran in (`refused`, given up here), so the record
/// is read again in a fresh one. Used by every form of a record page: the full edit form, inline
/// editing, the composer and the conversion dialog.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn refused_form(
    state: &AppState,
    page: &Page,
    principal: &Principal,
    refused: OrgTx,
    object: ObjectType,
    id: Uuid,
    typed: Map<String, Value>,
    errors: &[FieldError],
    redraw: Redraw<'_>,
) -> AppResult<Response> {
    drop(refused);
    let mut tx = principal.begin(&state.db).await?;
    let current = records::get(&mut tx, object, id).await?;
    let mut values = current.as_object().cloned().unwrap_or_default();
    for (k, v) in typed {
        match (k.as_str(), v) {
            // Typed custom values over the record's: the other custom fields keep theirs.
            ("custom", Value::Object(typed)) => {
                let mut merged = values.get("custom").and_then(Value::as_object).cloned().unwrap_or_default();
                merged.extend(typed);
                values.insert(k, Value::Object(merged));
            }
            (_, v) => {
                values.insert(k, v);
            }
        }
    }
    let html = match redraw {
        Redraw::Page(mut extras) => {
            extras.module_panels = state.record_panels.clone();
            render(&record_view(&mut tx, page, principal, object, Some(id), &values, errors, extras).await?)?
        }
        Redraw::Field(field) => {
            render(&field_fragment(&mut tx, page, object, id, field, &values, errors, true).await?)?
        }
    };
    tx.commit().await?;
    Ok(crate::http::page_response(StatusCode::UNPROCESSABLE_ENTITY, html))
}

pub async fn update<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Fields>,
) -> AppResult<Response> {
    let object = O::TYPE;
    let page = signed_in.page(&state, &format!("/crm/{}/{id}", object.plural()));
    let id = crate::http::parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let custom = custom_fields::definitions(&mut tx, object).await?;
    let mut input = form_to_input(object, &custom, &form);
    let ctx = WriteCtx { user: Some(principal.user_id), source: Source::Ui, now: state.clock.now(), import_id: None };
    let updated = match resolve_refs(&mut tx, object, &mut input).await? {
        errors if errors.is_empty() => records::update(&mut tx, object, id, &input, &ctx).await,
        errors => Err(AppError::Validation(errors)),
    };
    match updated {
        Ok(_) => {
            tx.commit().await?;
            Ok(kernel::web::redirect_with_toast(&format!("/crm/{}/{id}", object.plural()), "crm.notice.saved"))
        }
        Err(AppError::Validation(errors)) => {
            let redraw = Redraw::Page(Extras { edit_all: true, ..Extras::default() });
            refused_form(&state, &page, &principal, tx, object, id, input, &errors, redraw).await
        }
        Err(other) => Err(other),
    }
}

/// `GET /crm/<plural>/<id>/edit`: every field in one form, the page without JavaScript.
pub async fn edit_all<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let object = O::TYPE;
    let page = signed_in.page(&state, &format!("/crm/{}/{id}/edit", object.plural()));
    let id = crate::http::parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let record = records::read(&mut tx, &state.audit, object, id).await?;
    let values = record.as_object().cloned().unwrap_or_default();
    let extras = Extras { edit_all: true, module_panels: state.record_panels.clone(), ..Extras::default() };
    let view = record_view(&mut tx, &page, &principal, object, Some(id), &values, &[], extras).await?;
    tx.commit().await?;
    Ok(no_store(render(&view)?))
}

/// Relation pickers send a name (typed, or chosen from the datalist) or an id: a name becomes the
/// id of the one visible record with exactly that name (accents and case aside from the search's
/// folding, compared exactly after trimming and lower-casing). None or several: a field error.
pub(crate) async fn resolve_refs(
    tx: &mut OrgTx,
    object: ObjectType,
    input: &mut Map<String, Value>,
) -> Result<Vec<FieldError>, AppError> {
    let mut errors = Vec::new();
    for def in object.fields() {
        let Kind::Ref(RefKind::Company) = def.kind else { continue };
        let Some(Value::String(text)) = input.get(def.key) else { continue };
        let text = text.trim().to_string();
        if text.is_empty() || Uuid::parse_str(&text).is_ok() {
            continue;
        }
        match record_named(tx, ObjectType::Company, &text).await? {
            Ok(id) => {
                input.insert(def.key.to_string(), Value::String(id.to_string()));
            }
            Err(refusal) => errors.push(refusal.at(def.key)),
        }
    }
    Ok(errors)
}

/// Why a typed name picks no record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameRefusal {
    NoMatch,
    Several,
}

impl NameRefusal {
    /// The refusal as the error of the form field `field`.
    pub(crate) fn at(self, field: &str) -> FieldError {
        match self {
            Self::NoMatch => FieldError::new(field, "no_match", "No record has this name: choose one from the list."),
            Self::Several => {
                FieldError::new(field, "ambiguous_name", "Several records have this name: choose one from the list.")
            }
        }
    }
}

/// The one record of `object` the member sees whose name is exactly `text` (trimmed, case aside):
/// what a relation picker means when a name is typed rather than chosen from its list (no
/// JavaScript, or typed in full).
pub(crate) async fn record_named(
    tx: &mut OrgTx,
    object: ObjectType,
    text: &str,
) -> Result<Result<Uuid, NameRefusal>, AppError> {
    let text = text.trim();
    let wanted = text.to_lowercase();
    let query = crate::list::ListQuery { q: Some(text.to_string()), limit: Some(100), ..Default::default() };
    let found = crate::list::list(tx, object, &query).await?;
    let exact: Vec<&Value> =
        found.items.iter().filter(|r| display(r.get("display_name")).trim().to_lowercase() == wanted).collect();
    Ok(match exact.as_slice() {
        [one] => Uuid::parse_str(&display(one.get("id"))).map_err(|_| NameRefusal::NoMatch),
        [] => Err(NameRefusal::NoMatch),
        _ => Err(NameRefusal::Several),
    })
}

#[derive(Template)]
#[template(path = "crm_field_fragment.html")]
pub(crate) struct FieldFragment {
    page: Page,
    plural: &'static str,
    record_id: String,
    d: DetailField,
    editing: bool,
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct FieldParams {
    #[serde(default)]
    edit: String,
}

/// One field of the details panel as read or as an input, from the record's values (or what was
/// typed) and errors.
#[allow(clippy::too_many_arguments)]
async fn field_fragment(
    tx: &mut OrgTx,
    page: &Page,
    object: ObjectType,
    id: Uuid,
    field: &str,
    values: &Map<String, Value>,
    errors: &[FieldError],
    editing: bool,
) -> Result<FieldFragment, AppError> {
    let custom = custom_fields::definitions(tx, object).await?;
    let mut names = Names::load(tx).await?;
    if let Some(company) = values.get("company_id").and_then(Value::as_str).and_then(|c| c.parse().ok()) {
        names.load_companies(tx, vec![company]).await?;
    }
    // A refusal about the record as a whole (a contact needs a name) shows at the field changed.
    let errors: Vec<FieldError> = if errors.iter().any(|e| e.field == field) {
        errors.to_vec()
    } else {
        errors.iter().map(|e| FieldError { field: field.to_string(), ..e.clone() }).collect()
    };
    let f = form_fields(page, object, &custom, values, &names, &errors)
        .into_iter()
        .find(|f| f.name == field)
        .ok_or(AppError::NotFound)?;
    Ok(FieldFragment {
        page: page.clone(),
        plural: object.plural(),
        record_id: id.to_string(),
        d: detail_field(page, object, f, values, &names),
        editing,
    })
}

/// `GET /crm/<plural>/<id>/fields/<field>`: the field as read, or (`?edit=1`) its input — what
/// htmx swaps into the details panel; Escape asks for the read one back.
pub async fn field_show<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path((id, field)): Path<(String, String)>,
    Query(params): Query<FieldParams>,
) -> AppResult<Response> {
    let object = O::TYPE;
    let page = signed_in.page(&state, &format!("/crm/{}/{id}", object.plural()));
    let id = crate::http::parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let record = records::get(&mut tx, object, id).await?;
    let values = record.as_object().cloned().unwrap_or_default();
    let view = field_fragment(&mut tx, &page, object, id, &field, &values, &[], !params.edit.is_empty()).await?;
    tx.commit().await?;
    Ok(no_store(render(&view)?))
}

/// `POST /crm/<plural>/<id>/fields/<field>`: saves one field through the same update as the full
/// form (history, audit, record events and webhooks alike). A refused value comes back as the input
/// with its message in place, and nothing is written. Without htmx (no `HX-Request`), the record
/// page follows (or the full form with the message).
pub async fn field_save<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path((id, field)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    CsrfForm(form): CsrfForm<Fields>,
) -> AppResult<Response> {
    let object = O::TYPE;
    let page = signed_in.page(&state, &format!("/crm/{}/{id}", object.plural()));
    let id = crate::http::parse_id(&id)?;
    let htmx = headers.contains_key("hx-request");
    let mut tx = principal.begin(&state.db).await?;
    let custom = custom_fields::definitions(&mut tx, object).await?;
    // Only this field: the other custom fields are not in the form and must not be emptied.
    let mut input = match field.strip_prefix("custom.") {
        Some(key) => {
            let one: Vec<CustomField> = custom.iter().filter(|c| c.key == key).cloned().collect();
            if one.is_empty() {
                return Err(AppError::NotFound);
            }
            form_to_input(object, &one, &form)
        }
        None if field != "pipeline_id" && object.field(&field).is_some() => {
            let mut input = Map::new();
            let values = crate::http::values(&form, &field);
            input.insert(field.clone(), Value::String(values.into_iter().next().unwrap_or_default()));
            input
        }
        None => return Err(AppError::NotFound),
    };
    let ctx = WriteCtx { user: Some(principal.user_id), source: Source::Ui, now: state.clock.now(), import_id: None };
    let saved = match resolve_refs(&mut tx, object, &mut input).await? {
        errors if errors.is_empty() => records::update(&mut tx, object, id, &input, &ctx).await,
        errors => Err(AppError::Validation(errors)),
    };
    match saved {
        Ok(record) => {
            let values = record.as_object().cloned().unwrap_or_default();
            let view = field_fragment(&mut tx, &page, object, id, &field, &values, &[], false).await?;
            tx.commit().await?;
            if !htmx {
                return Ok(kernel::web::redirect_with_toast(
                    &format!("/crm/{}/{id}", object.plural()),
                    "crm.notice.saved",
                ));
            }
            Ok(no_store(render(&view)?))
        }
        Err(AppError::Validation(errors)) => {
            // Without htmx, the full form with the message; with it, the field's input.
            let redraw =
                if htmx { Redraw::Field(&field) } else { Redraw::Page(Extras { edit_all: true, ..Extras::default() }) };
            refused_form(&state, &page, &principal, tx, object, id, input, &errors, redraw).await
        }
        Err(other) => Err(other),
    }
}

pub async fn delete<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(_form): CsrfForm<Fields>,
) -> AppResult<Response> {
    let object = O::TYPE;
    let id = crate::http::parse_id(&id)?;
    delete_record(&state, &principal, object, id, Source::Ui).await?;
    Ok(kernel::web::redirect_with_toast(&format!("/crm/{}", object.plural()), "crm.notice.deleted"))
}

/// Bulk assign, set a field or delete from a list's checkboxes. Deleting asks for the count as
/// confirmation. A refused action shows the list again (the same address, `list_query`) with the
/// message in place and the selection kept.
pub async fn bulk<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    CsrfForm(form): CsrfForm<Fields>,
) -> AppResult<Response> {
    let object = O::TYPE;
    let page = signed_in.page(&state, &format!("/crm/{}", object.plural()));
    let value = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let ids: Vec<Uuid> = form.iter().filter(|(k, _)| k == "ids").filter_map(|(_, v)| v.parse().ok()).collect();
    let input = match value("action").as_str() {
        "assign" => match value("owner_id").parse() {
            Ok(owner_id) => Ok(BulkInput::Assign { ids, owner_id }),
            Err(_) => Err(FieldError::new("owner_id", "required", "Choose a member.")),
        },
        "delete" => Ok(BulkInput::Delete { ids, confirm: value("confirm").trim().parse().unwrap_or(usize::MAX) }),
        "update" => {
            let field = value("bulk_field");
            let changes: Map<String, Value> = match field.strip_prefix("custom.") {
                Some(key) => [("custom".to_string(), json!({ key: value("bulk_value") }))].into_iter().collect(),
                None => [(field, Value::String(value("bulk_value")))].into_iter().collect(),
            };
            Ok(BulkInput::Update { ids, changes })
        }
        _ => Err(FieldError::new("action", "invalid_choice", "Choose an action.")),
    };
    let errors = match input {
        Ok(input) => match bulk_apply(&state, &principal, object, input, Source::Ui).await {
            Ok(_) => {
                return Ok(kernel::web::redirect_with_toast(
                    &format!("/crm/{}", object.plural()),
                    "crm.notice.bulk_done",
                ));
            }
            Err(AppError::Validation(errors)) => errors,
            Err(other) => return Err(other),
        },
        Err(error) => vec![error],
    };
    // Each message names its field when it is one of the record's ("Owner: Fill in this field.").
    let text = errors
        .iter()
        .map(|e| {
            let key = format!("crm.field.{}", e.field);
            match page.t.get(&key) {
                label if label != key => format!("{label}{} {}", page.t.get("punct.colon"), error_text(&page, e)),
                _ => error_text(&page, e),
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    let params = crate::list::pages::ListPageParams::parse(Some(&value("list_query")));
    let selected: Vec<String> = form.iter().filter(|(k, _)| k == "ids").map(|(_, v)| v.clone()).collect();
    crate::list::pages::list_response(&state, &page, &principal, object, params, Some(text), &selected).await
}
