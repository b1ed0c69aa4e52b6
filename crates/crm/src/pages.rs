//! The CRM's web pages: lists with search, filters, sort and keyset pages; the record page with
//! its form; creation; the deals board; global search. Pages call the same functions as the API
//! (records, list, pipelines), so a rule holds whichever door a change came through.

use crate::actions;
use std::collections::HashMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use identity::session::SignedIn;
use kernel::audit::AuditEvent;
use kernel::authz::Principal;
use kernel::web::{AppState, Page, PageError, render};
use kernel::{AppError, FieldError, OrgTx};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::api::{BulkInput, bulk_apply, delete_record};
use crate::custom::{self, CustomField};
use crate::http::Object;
use crate::list::{Filter, ListQuery, Op, Sort};
use crate::object::{FieldDef, Kind, ObjectType, RefKind};
use crate::pipelines;
use crate::records::{self, Source, WriteCtx};

// ---------------------------------------------------------------- shared view pieces

/// The organization's active members, (id, full name), by name: the choices of an owner field.
pub(crate) async fn active_members(tx: &mut OrgTx) -> Result<Vec<(Uuid, String)>, AppError> {
    Ok(sqlx::query_as(
        "select user_id, first_name || ' ' || last_name from users where org_id = $1 and status = 'active'
          order by last_name, first_name",
    )
    .bind(tx.org())
    .fetch_all(tx.conn())
    .await?)
}

/// Names for the references a page shows: members, departments, companies, stages, pipelines.
#[derive(Default)]
struct Names {
    members: Vec<(Uuid, String)>,
    departments: Vec<(Uuid, String)>,
    stages: Vec<(Uuid, String)>,
    pipelines: Vec<(Uuid, String)>,
    companies: HashMap<Uuid, String>,
}

impl Names {
    async fn load(tx: &mut OrgTx) -> Result<Self, AppError> {
        let members = active_members(tx).await?;
        let departments = sqlx::query_as("select department_id, name from departments where org_id = $1 order by name")
            .bind(tx.org())
            .fetch_all(tx.conn())
            .await?;
        let stages = sqlx::query_as(
            "select s.stage_id, p.name || ' › ' || s.name from pipeline_stages s join pipelines p using (org_id, pipeline_id)
              where s.org_id = $1 order by p.position, p.created_at, s.position",
        )
        .bind(tx.org())
        .fetch_all(tx.conn())
        .await?;
        let pipelines =
            sqlx::query_as("select pipeline_id, name from pipelines where org_id = $1 order by position, created_at")
                .bind(tx.org())
                .fetch_all(tx.conn())
                .await?;
        Ok(Self { members, departments, stages, pipelines, companies: HashMap::new() })
    }

    /// Company names for the ids on a page (visible companies only).
    async fn load_companies(&mut self, tx: &mut OrgTx, ids: Vec<Uuid>) -> Result<(), AppError> {
        if ids.is_empty() {
            return Ok(());
        }
        let rows: Vec<(Uuid, String)> =
            sqlx::query_as("select company_id, name from companies where org_id = $1 and company_id = any($2)")
                .bind(tx.org())
                .bind(ids)
                .fetch_all(tx.conn())
                .await?;
        self.companies.extend(rows);
        Ok(())
    }

    fn of(&self, kind: RefKind, id: &str) -> String {
        let Ok(id) = Uuid::parse_str(id) else { return String::new() };
        let find = |list: &Vec<(Uuid, String)>| list.iter().find(|(i, _)| *i == id).map(|(_, n)| n.clone());
        match kind {
            RefKind::Member => find(&self.members),
            RefKind::Department => find(&self.departments),
            RefKind::Stage => find(&self.stages),
            RefKind::Pipeline => find(&self.pipelines),
            RefKind::Company => self.companies.get(&id).cloned(),
            RefKind::Contact | RefKind::Deal => None,
        }
        .unwrap_or_else(|| "—".into())
    }

    fn options(&self, kind: RefKind) -> Vec<(String, String)> {
        let list = match kind {
            RefKind::Member => &self.members,
            RefKind::Department => &self.departments,
            RefKind::Stage => &self.stages,
            RefKind::Pipeline => &self.pipelines,
            _ => return Vec::new(),
        };
        list.iter().map(|(id, name)| (id.to_string(), name.clone())).collect()
    }
}

/// A value as text for a cell or an input.
fn display(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => {
            if *b {
                "✔".into()
            } else {
                "✘".into()
            }
        }
        Some(Value::Array(items)) => items.iter().map(|i| display(Some(i))).collect::<Vec<_>>().join(", "),
        Some(other) => other.to_string(),
    }
}

fn field_label(page: &Page, key: &str, custom: &[CustomField]) -> String {
    match key.strip_prefix("custom.") {
        Some(k) => custom.iter().find(|c| c.key == k).map(|c| c.label.clone()).unwrap_or_else(|| k.into()),
        None => page.t.get(&format!("crm.field.{key}")).to_string(),
    }
}

fn cell_text(page: &Page, object: ObjectType, key: &str, record: &Value, names: &Names) -> String {
    if let Some(k) = key.strip_prefix("custom.") {
        return display(record.get("custom").and_then(|c| c.get(k)));
    }
    let value = display(record.get(key));
    match object.readable(key).map(|d| d.kind) {
        Some(Kind::Ref(kind)) if !value.is_empty() => names.of(kind, &value),
        Some(Kind::Timestamp) => value.get(..16).unwrap_or(&value).replace('T', " "),
        Some(Kind::Money) => crate::display::money(&value, &display(record.get("currency")), page.t.0),
        Some(Kind::Phone) if !value.is_empty() => crate::display::phone(&value),
        Some(Kind::Choice(_)) if !value.is_empty() => page.t.get(&format!("crm.choice.{value}")).to_string(),
        _ => value,
    }
}

/// Translates a field error for a page: the code's message in the member's language.
pub(crate) fn error_text(page: &Page, error: &FieldError) -> String {
    let key = format!("crm.error.{}", error.code);
    let text = page.t.get(&key);
    if text == key { error.message.clone() } else { text.to_string() }
}

fn fail(page: &Page) -> impl Fn(AppError) -> PageError + '_ {
    move |e| PageError::new(e, page)
}

fn no_store(html: impl IntoResponse) -> Response {
    crate::http::page_response(StatusCode::OK, html)
}

// ---------------------------------------------------------------- list

struct ListColumn {
    key: String,
    label: String,
    sort_href: String,
    sorted: &'static str,
}

struct ListRow {
    id: String,
    title: String,
    cells: Vec<String>,
}

#[derive(Template)]
#[template(path = "crm_list.html")]
struct ListView {
    page: Page,
    plural: &'static str,
    columns: Vec<ListColumn>,
    rows: Vec<ListRow>,
    q: String,
    next_href: Option<String>,
    filter_fields: Vec<(String, String)>,
    ops: Vec<&'static str>,
    filter_field: String,
    filter_op: String,
    filter_value: String,
    sort: String,
    can_bulk: bool,
    can_export: bool,
    export_query: String,
    members: Vec<(String, String)>,
    views: Vec<(String, String, bool)>,
    current_view: String,
    can_delete_view: bool,
    /// The filters in force, as JSON, for "save as view".
    state_filters: String,
    chosen_columns: Vec<String>,
    editable_fields: Vec<(String, String)>,
    error: Option<String>,
    notice: Option<String>,
}

/// A list page's query string. Parsed by hand because the column chooser repeats `col`.
#[derive(Debug, Default)]
pub struct ListPageParams {
    q: String,
    sort: String,
    after: String,
    field: String,
    op: String,
    value: String,
    notice: String,
    view: String,
    columns: Vec<String>,
}

impl ListPageParams {
    fn parse(raw: Option<&str>) -> Self {
        let mut params = Self::default();
        for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            let value = value.into_owned();
            match key.as_ref() {
                "q" => params.q = value,
                "sort" => params.sort = value,
                "after" => params.after = value,
                "field" => params.field = value,
                "op" => params.op = value,
                "value" => params.value = value,
                "notice" => params.notice = value,
                "view" => params.view = value,
                "col" if !value.is_empty() => params.columns.push(value),
                _ => {}
            }
        }
        params
    }
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

impl ListPageParams {
    fn filter(&self) -> Option<Filter> {
        if self.field.is_empty() {
            return None;
        }
        let op = Op::parse(&self.op).unwrap_or(Op::Contains);
        let value = if self.value.is_empty() { Value::Null } else { Value::String(self.value.clone()) };
        Some(Filter { field: self.field.clone(), op, value })
    }

    /// The query string of this view with another sort or cursor.
    fn href(&self, plural: &str, sort: &str, after: Option<&str>) -> String {
        let mut parts = Vec::new();
        for (name, value) in
            [("view", &self.view), ("q", &self.q), ("field", &self.field), ("op", &self.op), ("value", &self.value)]
        {
            if !value.is_empty() {
                parts.push(format!("{name}={}", encode(value)));
            }
        }
        for column in &self.columns {
            parts.push(format!("col={}", encode(column)));
        }
        if !sort.is_empty() {
            parts.push(format!("sort={}", encode(sort)));
        }
        if let Some(after) = after {
            parts.push(format!("after={}", encode(after)));
        }
        format!("/crm/{plural}?{}", parts.join("&"))
    }
}

pub async fn list<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let object = O::TYPE;
    let mut params = ListPageParams::parse(raw.as_deref());
    let page = signed_in.page(&state, &format!("/crm/{}", object.plural()));
    let fail = fail(&page);
    let mut tx = principal.begin(&state.db).await.map_err(|e| fail(e.into()))?;
    let custom = custom::definitions(&mut tx, object).await.map_err(&fail)?;
    let views = crate::views::visible(&mut tx, principal.user_id, Some(object)).await.map_err(&fail)?;
    // A saved view gives its filters; its sort, search and columns apply unless the page asks otherwise.
    let mut filters: Vec<Filter> = Vec::new();
    let current_view = views.iter().find(|v| v.view_id.to_string() == params.view).cloned();
    if let Some(view) = &current_view {
        filters.extend(view.filters.0.iter().cloned());
        if params.sort.is_empty() {
            params.sort = view.sort.clone();
        }
        if params.q.is_empty() {
            params.q = view.q.clone();
        }
        if params.columns.is_empty() {
            params.columns = view.columns.0.clone();
        }
    }
    filters.extend(params.filter());
    let query = ListQuery {
        filters: filters.clone(),
        sort: (!params.sort.is_empty()).then(|| match params.sort.strip_prefix('-') {
            Some(f) => Sort { field: f.into(), descending: true },
            None => Sort { field: params.sort.clone(), descending: false },
        }),
        after: (!params.after.is_empty()).then(|| params.after.clone()),
        limit: Some(50),
        q: Some(params.q.clone()),
    };
    let (result, error) = match crate::list::list(&mut tx, object, &query).await {
        Ok(result) => (result, None),
        Err(AppError::Validation(errors)) => {
            let text = errors.iter().map(|e| error_text(&page, e)).collect::<Vec<_>>().join(" ");
            (crate::list::ListPage { items: Vec::new(), next_cursor: None }, Some(text))
        }
        Err(other) => return Err(fail(other)),
    };
    let mut names = Names::load(&mut tx).await.map_err(&fail)?;
    if object == ObjectType::Deal {
        let ids = result.items.iter().filter_map(|r| r.get("company_id")?.as_str()?.parse().ok()).collect();
        names.load_companies(&mut tx, ids).await.map_err(&fail)?;
    }
    tx.commit().await.map_err(|e| fail(e.into()))?;

    let keys: Vec<String> = if params.columns.is_empty() {
        let mut keys: Vec<String> = object.default_columns().iter().map(|k| k.to_string()).collect();
        keys.extend(custom.iter().take(3).map(|c| format!("custom.{}", c.key)));
        keys
    } else {
        params.columns.iter().filter(|k| crate::records::sort_parts(object, k).is_some()).cloned().collect()
    };
    let current_sort = if params.sort.is_empty() { object.default_sort().to_string() } else { params.sort.clone() };
    let columns = keys
        .iter()
        .map(|key| {
            let (sorted, next) = if current_sort == *key {
                ("ascending", format!("-{key}"))
            } else if current_sort == format!("-{key}") {
                ("descending", key.clone())
            } else {
                ("none", key.clone())
            };
            ListColumn {
                key: key.clone(),
                label: field_label(&page, key, &custom),
                sort_href: params.href(object.plural(), &next, None),
                sorted,
            }
        })
        .collect();
    let rows = result
        .items
        .iter()
        .map(|record| ListRow {
            id: display(record.get("id")),
            title: display(record.get("display_name")),
            cells: keys.iter().map(|k| cell_text(&page, object, k, record, &names)).collect(),
        })
        .collect();
    let mut filter_fields: Vec<(String, String)> = object
        .fields()
        .iter()
        .chain(object.system_fields())
        .map(|f| (f.key.to_string(), field_label(&page, f.key, &custom)))
        .collect();
    filter_fields.extend(custom.iter().map(|c| (format!("custom.{}", c.key), c.label.clone())));
    let view = ListView {
        plural: object.plural(),
        next_href: result.next_cursor.as_deref().map(|c| params.href(object.plural(), &params.sort, Some(c))),
        columns,
        rows,
        q: params.q.clone(),
        filter_fields,
        ops: Op::ALL.iter().map(|o| o.as_str()).collect(),
        filter_field: params.field.clone(),
        filter_op: params.op.clone(),
        filter_value: params.value.clone(),
        sort: params.sort.clone(),
        can_bulk: principal.grant(actions::RECORDS_BULK_EDIT).allows(),
        can_export: principal.grant(actions::RECORDS_EXPORT).allows(),
        export_query: format!(
            "q={}&sort={}&filters={}",
            encode(&params.q),
            encode(&params.sort),
            encode(&serde_json::to_string(&filters).unwrap_or_else(|_| "[]".into()))
        ),
        members: names.options(RefKind::Member),
        views: views.iter().map(|v| (v.view_id.to_string(), v.name.clone(), v.shared)).collect(),
        current_view: params.view.clone(),
        can_delete_view: current_view
            .as_ref()
            .is_some_and(|v| v.owner_id == principal.user_id || principal.grant(actions::CRM_CONFIGURE).allows()),
        state_filters: serde_json::to_string(&filters).unwrap_or_else(|_| "[]".into()),
        chosen_columns: keys.clone(),
        editable_fields: object
            .fields()
            .iter()
            .filter(|f| !matches!(f.key, "owner_id" | "pipeline_id" | "stage_id"))
            .map(|f| (f.key.to_string(), field_label(&page, f.key, &custom)))
            .chain(custom.iter().map(|c| (format!("custom.{}", c.key), c.label.clone())))
            .collect(),
        error,
        notice: (!params.notice.is_empty()).then(|| page.t.get(&format!("crm.notice.{}", params.notice)).to_string()),
        page: page.clone(),
    };
    Ok(no_store(render(&view).map_err(&fail)?))
}

// ---------------------------------------------------------------- record form

struct FormField {
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
struct RecordView {
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
struct TimelineItem {
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

fn timeline_item(page: &Page, object: ObjectType, entry: crate::worklog::Entry, names: &Names) -> TimelineItem {
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
        "task" => (
            format!("{} · {}", page.t.get("crm.timeline.task"), text("title")),
            page.t.get(&format!("crm.task_status.{}", text("status"))).to_string(),
        ),
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
        at: entry
            .at
            .format(&time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]"))
            .unwrap_or_default(),
        actor: entry.actor_name.unwrap_or_default(),
        title,
        detail,
    }
}

fn input_for(kind: Kind) -> &'static str {
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

fn custom_input(kind: &str) -> &'static str {
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
fn form_fields(
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
fn form_to_input(object: ObjectType, custom: &[CustomField], body: &[(String, String)]) -> Map<String, Value> {
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
async fn record_view(
    tx: &mut OrgTx,
    page: &Page,
    principal: &Principal,
    object: ObjectType,
    id: Option<Uuid>,
    values: &Map<String, Value>,
    errors: &[FieldError],
    notice: Option<String>,
) -> Result<RecordView, AppError> {
    let custom = custom::definitions(tx, object).await?;
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
        Some(id) => crate::files::items(tx, &page.t, object, id, &names.members).await?,
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
) -> Result<Response, PageError> {
    let object = O::TYPE;
    let page = signed_in.page(&state, &format!("/crm/{}/new", object.plural()));
    let fail = fail(&page);
    let mut tx = principal.begin(&state.db).await.map_err(|e| fail(e.into()))?;
    if object == ObjectType::Deal {
        pipelines::ensure_default(&mut tx, state.clock.now()).await.map_err(&fail)?;
    }
    let mut defaults = Map::new();
    defaults.insert("owner_id".into(), json!(principal.user_id));
    let view = record_view(&mut tx, &page, &principal, object, None, &defaults, &[], None).await.map_err(&fail)?;
    tx.commit().await.map_err(|e| fail(e.into()))?;
    Ok(no_store(render(&view).map_err(&fail)?))
}

pub async fn create<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    body: Bytes,
) -> Result<Response, PageError> {
    let object = O::TYPE;
    let page = signed_in.page(&state, &format!("/crm/{}/new", object.plural()));
    let form = crate::http::parse(&body);
    signed_in.check_csrf(&state, crate::http::csrf(&form))?;
    let fail = fail(&page);
    let mut tx = principal.begin(&state.db).await.map_err(|e| fail(e.into()))?;
    let custom = custom::definitions(&mut tx, object).await.map_err(&fail)?;
    let input = form_to_input(object, &custom, &form);
    let ctx = WriteCtx { user: Some(principal.user_id), source: Source::Ui, now: state.clock.now(), import_id: None };
    match records::create(&mut tx, object, &input, &ctx).await {
        Ok(created) => {
            tx.commit().await.map_err(|e| fail(e.into()))?;
            Ok(Redirect::to(&format!("/crm/{}/{}?notice=created", object.plural(), created.id)).into_response())
        }
        Err(AppError::Validation(errors)) => {
            // The failed statement aborted the transaction: show the form from a fresh one.
            drop(tx);
            let mut tx = principal.begin(&state.db).await.map_err(|e| fail(e.into()))?;
            let view =
                record_view(&mut tx, &page, &principal, object, None, &input, &errors, None).await.map_err(&fail)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, no_store(render(&view).map_err(&fail)?)).into_response())
        }
        Err(other) => Err(fail(other)),
    }
}

pub async fn show<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    Query(params): Query<crate::http::NoticeParams>,
) -> Result<Response, PageError> {
    let object = O::TYPE;
    let page = signed_in.page(&state, &format!("/crm/{}/{id}", object.plural()));
    let fail = fail(&page);
    let id = crate::http::parse_id(&id).map_err(&fail)?;
    let mut tx = principal.begin(&state.db).await.map_err(|e| fail(e.into()))?;
    let record = records::get(&mut tx, object, id).await.map_err(&fail)?;
    // P0-04: reading a person's record is recorded.
    state
        .audit
        .record(&mut tx, AuditEvent::new("record.viewed").target(object.as_str(), id))
        .await
        .map_err(|e| fail(e.into()))?;
    let values = record.as_object().cloned().unwrap_or_default();
    let notice = params.text(&page);
    let view = record_view(&mut tx, &page, &principal, object, Some(id), &values, &[], notice).await.map_err(&fail)?;
    tx.commit().await.map_err(|e| fail(e.into()))?;
    Ok(no_store(render(&view).map_err(&fail)?))
}

pub async fn update<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let object = O::TYPE;
    let page = signed_in.page(&state, &format!("/crm/{}/{id}", object.plural()));
    let form = crate::http::parse(&body);
    signed_in.check_csrf(&state, crate::http::csrf(&form))?;
    let fail = fail(&page);
    let id = crate::http::parse_id(&id).map_err(&fail)?;
    let mut tx = principal.begin(&state.db).await.map_err(|e| fail(e.into()))?;
    let custom = custom::definitions(&mut tx, object).await.map_err(&fail)?;
    let input = form_to_input(object, &custom, &form);
    let ctx = WriteCtx { user: Some(principal.user_id), source: Source::Ui, now: state.clock.now(), import_id: None };
    match records::update(&mut tx, object, id, &input, &ctx).await {
        Ok(_) => {
            tx.commit().await.map_err(|e| fail(e.into()))?;
            Ok(Redirect::to(&format!("/crm/{}/{id}?notice=saved", object.plural())).into_response())
        }
        Err(AppError::Validation(errors)) => {
            drop(tx);
            let mut tx = principal.begin(&state.db).await.map_err(|e| fail(e.into()))?;
            let current = records::get(&mut tx, object, id).await.map_err(&fail)?;
            let mut values = current.as_object().cloned().unwrap_or_default();
            for (k, v) in input {
                values.insert(k, v);
            }
            let view = record_view(&mut tx, &page, &principal, object, Some(id), &values, &errors, None)
                .await
                .map_err(&fail)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, no_store(render(&view).map_err(&fail)?)).into_response())
        }
        Err(other) => Err(fail(other)),
    }
}

pub async fn delete<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let object = O::TYPE;
    let page = signed_in.page(&state, &format!("/crm/{}/{id}", object.plural()));
    let form = crate::http::parse(&body);
    signed_in.check_csrf(&state, crate::http::csrf(&form))?;
    let id = crate::http::parse_id(&id).map_err(|e| PageError::new(e, &page))?;
    delete_record(&state, &principal, object, id, Source::Ui).await.map_err(|e| PageError::new(e, &page))?;
    Ok(Redirect::to(&format!("/crm/{}?notice=deleted", object.plural())).into_response())
}

/// Bulk assign or delete from a list's checkboxes. Deleting asks for the count as confirmation.
pub async fn bulk<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    body: Bytes,
) -> Result<Response, PageError> {
    let object = O::TYPE;
    let page = signed_in.page(&state, &format!("/crm/{}", object.plural()));
    let form = crate::http::parse(&body);
    signed_in.check_csrf(&state, crate::http::csrf(&form))?;
    let value = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let ids: Vec<Uuid> = form.iter().filter(|(k, _)| k == "ids").filter_map(|(_, v)| v.parse().ok()).collect();
    let input = match value("action").as_str() {
        "assign" => match value("owner_id").parse() {
            Ok(owner_id) => BulkInput::Assign { ids, owner_id },
            Err(_) => return Err(PageError::new(AppError::field("owner_id", "required", "Choose a member."), &page)),
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
        _ => return Err(PageError::new(AppError::field("action", "invalid_choice", "Choose an action."), &page)),
    };
    match bulk_apply(&state, &principal, object, input, Source::Ui).await {
        Ok(_) => Ok(Redirect::to(&format!("/crm/{}?notice=bulk_done", object.plural())).into_response()),
        Err(AppError::Validation(errors)) => {
            let text = errors.iter().map(|e| error_text(&page, e)).collect::<Vec<_>>().join(" ");
            Err(PageError::new(AppError::BadRequest(text), &page))
        }
        Err(other) => Err(PageError::new(other, &page)),
    }
}

// ---------------------------------------------------------------- board

struct BoardCard {
    id: String,
    name: String,
    amount: String,
    amount_text: String,
    currency: String,
    company: String,
}

struct BoardColumnView {
    stage_id: String,
    name: String,
    count: i64,
    totals: String,
    totals_json: String,
    cards: Vec<BoardCard>,
}

#[derive(Template)]
#[template(path = "crm_board.html")]
struct BoardView {
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
) -> Result<Response, PageError> {
    let page = signed_in.page(&state, "/crm/deals/board");
    let fail = fail(&page);
    let mut tx = principal.begin(&state.db).await.map_err(|e| fail(e.into()))?;
    pipelines::ensure_default(&mut tx, state.clock.now()).await.map_err(&fail)?;
    let all = pipelines::all(&mut tx).await.map_err(&fail)?;
    let chosen = all
        .iter()
        .find(|p| p.pipeline_id.to_string() == query.pipeline)
        .or_else(|| all.first())
        .map(|p| p.pipeline_id)
        .ok_or_else(|| fail(AppError::NotFound))?;
    let board = pipelines::board(&mut tx, chosen, 100).await.map_err(&fail)?;
    let mut names = Names::default();
    let companies = board
        .columns
        .iter()
        .flat_map(|c| c.deals.iter())
        .filter_map(|d| d.get("company_id")?.as_str()?.parse().ok())
        .collect();
    names.load_companies(&mut tx, companies).await.map_err(&fail)?;
    tx.commit().await.map_err(|e| fail(e.into()))?;
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
    Ok(no_store(render(&view).map_err(&fail)?))
}

/// A card dropped on another column (or the no-script stage select). Scripts ask for JSON.
pub async fn move_deal(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let page = signed_in.page(&state, "/crm/deals/board");
    let form = crate::http::parse(&body);
    signed_in.check_csrf(&state, crate::http::csrf(&form))?;
    let fail = fail(&page);
    let id = crate::http::parse_id(&id).map_err(&fail)?;
    let stage: Uuid = form
        .iter()
        .find(|(k, _)| k == "stage_id")
        .and_then(|(_, v)| v.parse().ok())
        .ok_or_else(|| fail(AppError::field("stage_id", "required", "Choose a stage.")))?;
    let deal = pipelines::move_deal(&state, &principal, id, stage, Source::Ui).await.map_err(&fail)?;
    let wants_json =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/json"));
    if wants_json {
        return Ok(axum::Json(json!({ "id": id, "stage_id": deal.get("stage_id") })).into_response());
    }
    let pipeline = display(deal.get("pipeline_id"));
    Ok(Redirect::to(&format!("/crm/deals/board?pipeline={pipeline}")).into_response())
}

// ---------------------------------------------------------------- search

#[derive(Template)]
#[template(path = "crm_search.html")]
struct SearchView {
    page: Page,
    q: String,
    hits: Vec<(String, String, String, String)>,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

pub async fn search(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Query(query): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let page = signed_in.page(&state, "/crm/search");
    let fail = fail(&page);
    let mut hits = Vec::new();
    let mut error = None;
    if !query.q.trim().is_empty() {
        let mut tx = principal.begin(&state.db).await.map_err(|e| fail(e.into()))?;
        match crate::list::search(&mut tx, &query.q, 30).await {
            Ok(found) => {
                hits = found
                    .into_iter()
                    .map(|h| {
                        let plural = ObjectType::parse(&h.object).map(|o| o.plural()).unwrap_or("contacts");
                        (
                            plural.to_string(),
                            h.id.to_string(),
                            h.display_name,
                            page.t.get(&format!("crm.object.{}", h.object)).to_string(),
                        )
                    })
                    .collect()
            }
            Err(AppError::Validation(errors)) => {
                error = Some(errors.iter().map(|e| error_text(&page, e)).collect::<Vec<_>>().join(" "))
            }
            Err(other) => return Err(fail(other)),
        }
        tx.commit().await.map_err(|e| fail(e.into()))?;
    }
    let view = SearchView { page: page.clone(), q: query.q, hits, error };
    Ok(no_store(render(&view).map_err(&fail)?))
}

/// `/crm` opens the contacts.
pub async fn home() -> Redirect {
    Redirect::to("/crm/contacts")
}

#[derive(Debug, Default, Deserialize)]
pub struct LookupQuery {
    #[serde(default)]
    q: String,
}

/// `<option>`s of records matching `q`, for the link forms' search-as-you-type (htmx).
pub async fn lookup<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Query(query): Query<LookupQuery>,
) -> Result<Response, PageError> {
    let object = O::TYPE;
    let page = signed_in.page(&state, "/crm");
    let fail = fail(&page);
    let mut tx = principal.begin(&state.db).await.map_err(|e| fail(e.into()))?;
    let list = ListQuery { q: Some(query.q.clone()), limit: Some(20), ..ListQuery::default() };
    let found = crate::list::list(&mut tx, object, &list).await.map_err(&fail)?;
    tx.commit().await.map_err(|e| fail(e.into()))?;
    let view = OptionsView {
        options: found.items.iter().map(|r| (display(r.get("id")), display(r.get("display_name")))).collect(),
    };
    Ok(no_store(render(&view).map_err(&fail)?))
}

#[derive(Template)]
#[template(path = "crm_options.html")]
struct OptionsView {
    options: Vec<(String, String)>,
}

// ---------------------------------------------------------------- merge and conversion

struct MergeRow {
    key: String,
    label: String,
    this: String,
    other: String,
}

#[derive(Template)]
#[template(path = "crm_merge.html")]
struct MergeView {
    page: Page,
    plural: &'static str,
    id: String,
    other_id: String,
    this_title: String,
    other_title: String,
    rows: Vec<MergeRow>,
}

#[derive(Debug, Default, Deserialize)]
pub struct MergeQuery {
    #[serde(default)]
    other: String,
}

/// Both records side by side; a radio button per field whose values differ.
pub async fn merge_form<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    Query(query): Query<MergeQuery>,
) -> Result<Response, PageError> {
    let object = O::TYPE;
    let page = signed_in.page(&state, &format!("/crm/{}/{id}/merge", object.plural()));
    let fail = fail(&page);
    let id = crate::http::parse_id(&id).map_err(&fail)?;
    let other_id = crate::http::parse_id(&query.other).map_err(&fail)?;
    let mut tx = principal.begin(&state.db).await.map_err(|e| fail(e.into()))?;
    let this = records::get(&mut tx, object, id).await.map_err(&fail)?;
    let other = records::get(&mut tx, object, other_id).await.map_err(&fail)?;
    let custom = custom::definitions(&mut tx, object).await.map_err(&fail)?;
    let names = Names::load(&mut tx).await.map_err(&fail)?;
    tx.commit().await.map_err(|e| fail(e.into()))?;
    let mut keys: Vec<String> = object.fields().iter().map(|f| f.key.to_string()).collect();
    keys.extend(custom.iter().map(|c| format!("custom.{}", c.key)));
    let rows = keys
        .into_iter()
        .filter_map(|key| {
            let (a, b) =
                (cell_text(&page, object, &key, &this, &names), cell_text(&page, object, &key, &other, &names));
            (a != b).then(|| MergeRow { label: field_label(&page, &key, &custom), key, this: a, other: b })
        })
        .collect();
    let view = MergeView {
        page: page.clone(),
        plural: object.plural(),
        id: id.to_string(),
        other_id: other_id.to_string(),
        this_title: display(this.get("display_name")),
        other_title: display(other.get("display_name")),
        rows,
    };
    Ok(no_store(render(&view).map_err(&fail)?))
}

pub async fn merge_submit<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let object = O::TYPE;
    let page = signed_in.page(&state, &format!("/crm/{}/{id}", object.plural()));
    let form = crate::http::parse(&body);
    signed_in.check_csrf(&state, crate::http::csrf(&form))?;
    let fail = fail(&page);
    let id = crate::http::parse_id(&id).map_err(&fail)?;
    let other_id = form
        .iter()
        .find(|(k, _)| k == "other_id")
        .and_then(|(_, v)| v.parse().ok())
        .ok_or_else(|| fail(AppError::field("other_id", "required", "Choose the duplicate.")))?;
    let keep = form
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("keep.").map(|field| (field.to_string(), Value::String(v.clone()))))
        .collect();
    let input = crate::merge::MergeInput { other_id, keep };
    let mut tx = principal.begin(&state.db).await.map_err(|e| fail(e.into()))?;
    let write = crate::http::write_ctx(&state, &principal, Source::Ui);
    crate::merge::merge(&mut tx, object, id, &input, &write).await.map_err(&fail)?;
    let event = AuditEvent::new("record.merged").target(object.as_str(), id).payload(json!({ "merged_id": other_id }));
    state.audit.record(&mut tx, event).await.map_err(|e| fail(e.into()))?;
    tx.commit().await.map_err(|e| fail(e.into()))?;
    Ok(Redirect::to(&format!("/crm/{}/{id}?notice=merged", object.plural())).into_response())
}

/// "Convert" on a lead's page: a contact, its company, and a deal when a deal name is given.
pub async fn convert_lead(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let page = signed_in.page(&state, &format!("/crm/leads/{id}"));
    let form = crate::http::parse(&body);
    signed_in.check_csrf(&state, crate::http::csrf(&form))?;
    let value =
        |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_string()).unwrap_or_default();
    let fail = |e: AppError| match e {
        AppError::Validation(errors) => {
            let text =
                errors.iter().map(|e| format!("{}: {}", e.field, error_text(&page, e))).collect::<Vec<_>>().join(" ");
            PageError::new(AppError::BadRequest(text), &page)
        }
        other => PageError::new(other, &page),
    };
    let id = crate::http::parse_id(&id).map_err(fail)?;
    let deal_name = value("deal_name");
    let input = crate::merge::ConvertInput {
        deal: (!deal_name.is_empty()).then(|| crate::merge::ConvertPart {
            existing_id: None,
            fields: [("name".to_string(), json!(deal_name)), ("amount".to_string(), json!(value("deal_amount")))]
                .into_iter()
                .collect(),
        }),
        skip_company: value("skip_company") == "true",
        ..Default::default()
    };
    let mut tx = principal.begin(&state.db).await.map_err(|e| fail(e.into()))?;
    let write = crate::http::write_ctx(&state, &principal, Source::Ui);
    let converted = crate::merge::convert(&mut tx, id, &input, &write).await.map_err(fail)?;
    tx.commit().await.map_err(|e| fail(e.into()))?;
    Ok(Redirect::to(&format!("/crm/contacts/{}?notice=converted", converted.contact_id)).into_response())
}
