//! The list page of each record type: search, a filter, sort, chosen columns, saved views, keyset
//! pages, bulk actions and export links.

use crate::actions;
use kernel::AppResult;

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use identity::signed_in::SignedIn;
use kernel::AppError;
use kernel::authz::Principal;
use kernel::web::{AppState, Page, render};
use serde_json::Value;

use crate::custom_fields::{self};
use crate::display::{Names, cell_text, display, error_text, field_label, no_store};
use crate::http::Object;
use crate::list::{Filter, ListQuery, Op, Sort};
use crate::object::{ObjectType, RefKind};

pub(crate) struct ListColumn {
    key: String,
    label: String,
    sort_href: String,
    sorted: &'static str,
}

pub(crate) struct ListRow {
    id: String,
    title: String,
    cells: Vec<String>,
}

#[derive(Template)]
#[template(path = "crm_list.html")]
pub(crate) struct ListView {
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
                "view" => params.view = value,
                "col" if !value.is_empty() => params.columns.push(value),
                _ => {}
            }
        }
        params
    }
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

pub(crate) fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

pub async fn list<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    RawQuery(raw): RawQuery,
) -> AppResult<Response> {
    let object = O::TYPE;
    let mut params = ListPageParams::parse(raw.as_deref());
    let page = signed_in.page(&state, &format!("/crm/{}", object.plural()));
    let mut tx = principal.begin(&state.db).await?;
    let custom = custom_fields::definitions(&mut tx, object).await?;
    let views = crate::views::visible(&mut tx, principal.user_id, Some(object)).await?;
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
        Err(other) => return Err(other),
    };
    let mut names = Names::load(&mut tx).await?;
    if object == ObjectType::Deal {
        let ids = result.items.iter().filter_map(|r| r.get("company_id")?.as_str()?.parse().ok()).collect();
        names.load_companies(&mut tx, ids).await?;
    }
    tx.commit().await?;

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
        page: page.clone(),
    };
    Ok(no_store(render(&view)?))
}
