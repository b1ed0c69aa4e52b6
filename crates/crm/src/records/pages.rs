//! The record pages: the record with its form, related records, files and timeline; creation,
//! edition, deletion and bulk changes from a list.

use crate::actions;
use crate::http::Fields;
use kernel::AppResult;
use kernel::web::CsrfForm;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
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
    /// text, email, tel, url, number, date, select, multi, textarea, checkbox
    input: &'static str,
    value: String,
    options: Vec<(String, String)>,
    selected: Vec<String>,
    required: bool,
    error: Option<String>,
}

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
    notice: Option<String>,
    duplicates: Vec<(String, String, String)>,
    can_delete: bool,
    can_merge: bool,
    meta: Vec<(String, String)>,
    /// Linked records: (plural, id, name, role, kind label).
    related: Vec<(String, String, String, String, String)>,
    /// What can be linked from this page: the other side's plural, for the lookup.
    link_target: Option<&'static str>,
    timeline: Vec<TimelineItem>,
    files: Vec<crate::files::FileItem>,
    members: Vec<(String, String)>,
    me: String,
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

pub(crate) fn timeline_item(
    page: &Page,
    object: ObjectType,
    entry: crate::worklog::Entry,
    names: &Names,
) -> TimelineItem {
    let data = &entry.data;
    let text = |k: &str| display(data.get(k));
    let (title, detail) = match entry.kind.as_str() {
        "change" => match text("action").as_str() {
            "updated" => {
                let field = text("field");
                let label = field_label(page, &field, &[]);
                let show = |v: Option<&Value>| {
                    let record = json!({ field.clone(): v.cloned().unwrap_or(Value::Null) });
                    let shown = if field.starts_with("custom.") {
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
            [text("outcome"), text("body")].into_iter().filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" — "),
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
        Kind::Date => "date",
        Kind::Choice(_) | Kind::Ref(_) => "select",
        _ => "text",
    }
}

pub(crate) fn custom_input(kind: &str) -> &'static str {
    match kind {
        "long_text" => "textarea",
        "number" => "number",
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
            let value = display(values.get(def.key));
            FormField {
                name: def.key.to_string(),
                label: field_label(page, def.key, custom),
                input: if def.kind == Kind::Ref(RefKind::Company) { "text" } else { input_for(def.kind) },
                selected: vec![value.clone()],
                value,
                options,
                required: def.required,
                error: error_for(def.key),
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
        fields.push(FormField {
            label: c.label.clone(),
            input: custom_input(&c.kind),
            value: match value {
                Some(Value::Bool(b)) => b.to_string(),
                other => display(other),
            },
            options: c.options.0.iter().map(|o| (o.clone(), o.clone())).collect(),
            selected,
            required: c.required,
            error: error_for(&name),
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

#[allow(clippy::too_many_arguments)]
pub(crate) async fn record_view(
    tx: &mut OrgTx,
    page: &Page,
    principal: &Principal,
    object: ObjectType,
    id: Option<Uuid>,
    values: &Map<String, Value>,
    errors: &[FieldError],
    notice: Option<String>,
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
    let timeline = match id {
        Some(id) => crate::worklog::timeline(tx, object, id, None, 50)
            .await?
            .entries
            .into_iter()
            .map(|e| timeline_item(page, object, e, &names))
            .collect(),
        None => Vec::new(),
    };
    Ok(RecordView {
        related,
        link_target,
        timeline,
        files,
        members: names.options(RefKind::Member),
        me: principal.user_id.to_string(),
        page: page.clone(),
        plural: object.plural(),
        singular: object.as_str(),
        id: id.map(|i| i.to_string()),
        title: display(values.get("display_name")),
        fields: form_fields(page, object, &custom, values, &names, errors),
        alert,
        notice,
        duplicates,
        can_delete: principal.grant(actions::RECORDS_DELETE).allows(),
        can_merge: principal.grant(actions::RECORDS_MERGE).allows(),
        meta,
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
    let view = record_view(&mut tx, &page, &principal, object, None, &defaults, &[], None).await?;
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
    let input = form_to_input(object, &custom, &form);
    let ctx = WriteCtx { user: Some(principal.user_id), source: Source::Ui, now: state.clock.now(), import_id: None };
    match records::create(&mut tx, object, &input, &ctx).await {
        Ok(created) => {
            tx.commit().await?;
            Ok(Redirect::to(&format!("/crm/{}/{}?notice=created", object.plural(), created.id)).into_response())
        }
        Err(AppError::Validation(errors)) => {
            // The failed statement aborted the transaction: show the form from a fresh one.
            drop(tx);
            let mut tx = principal.begin(&state.db).await?;
            let view = record_view(&mut tx, &page, &principal, object, None, &input, &errors, None).await?;
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
    Query(params): Query<crate::http::NoticeParams>,
) -> AppResult<Response> {
    let object = O::TYPE;
    let page = signed_in.page(&state, &format!("/crm/{}/{id}", object.plural()));
    let id = crate::http::parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let record = records::read(&mut tx, &state.audit, object, id).await?;
    let values = record.as_object().cloned().unwrap_or_default();
    let notice = params.text(&page);
    let view = record_view(&mut tx, &page, &principal, object, Some(id), &values, &[], notice).await?;
    tx.commit().await?;
    Ok(no_store(render(&view)?))
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
    let input = form_to_input(object, &custom, &form);
    let ctx = WriteCtx { user: Some(principal.user_id), source: Source::Ui, now: state.clock.now(), import_id: None };
    match records::update(&mut tx, object, id, &input, &ctx).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(Redirect::to(&format!("/crm/{}/{id}?notice=saved", object.plural())).into_response())
        }
        Err(AppError::Validation(errors)) => {
            drop(tx);
            let mut tx = principal.begin(&state.db).await?;
            let current = records::get(&mut tx, object, id).await?;
            let mut values = current.as_object().cloned().unwrap_or_default();
            for (k, v) in input {
                values.insert(k, v);
            }
            let view = record_view(&mut tx, &page, &principal, object, Some(id), &values, &errors, None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, no_store(render(&view)?)).into_response())
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
    Ok(Redirect::to(&format!("/crm/{}?notice=deleted", object.plural())).into_response())
}

/// Bulk assign or delete from a list's checkboxes. Deleting asks for the count as confirmation.
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
            Ok(owner_id) => BulkInput::Assign { ids, owner_id },
            Err(_) => return Err(AppError::field("owner_id", "required", "Choose a member.")),
        },
        "delete" => BulkInput::Delete { ids, confirm: value("confirm").trim().parse().unwrap_or(usize::MAX) },
        "update" => {
            let field = value("bulk_field");
            let changes: Map<String, Value> = match field.strip_prefix("custom.") {
                Some(key) => [("custom".to_string(), json!({ key: value("bulk_value") }))].into_iter().collect(),
                None => [(field, Value::String(value("bulk_value")))].into_iter().collect(),
            };
            BulkInput::Update { ids, changes }
        }
        _ => return Err(AppError::field("action", "invalid_choice", "Choose an action.")),
    };
    match bulk_apply(&state, &principal, object, input, Source::Ui).await {
        Ok(_) => Ok(Redirect::to(&format!("/crm/{}?notice=bulk_done", object.plural())).into_response()),
        Err(AppError::Validation(errors)) => {
            let text = errors.iter().map(|e| error_text(&page, e)).collect::<Vec<_>>().join(" ");
            Err(AppError::BadRequest(text))
        }
        Err(other) => Err(other),
    }
}
