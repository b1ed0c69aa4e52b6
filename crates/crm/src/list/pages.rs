//! The list page of each record type: saved views as tabs, a filter bar with chips, sortable
//! column headers, a column chooser, keyset pages, a bulk-action bar over the selected rows and
//! export links. Everything lives in the query string (`view`, `q`, `f`, `sort`, `col`, `after`)
//! so a list's address can be shared; the older single-filter form (`field`, `op`, `value`) still
//! reads and is rewritten as an `f` chip.

use crate::actions;
use kernel::AppResult;

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use identity::signed_in::SignedIn;
use kernel::AppError;
use kernel::authz::Principal;
use kernel::web::{AppState, Page, render};
use serde_json::Value;

use crate::custom_fields::{self, CustomField};
use crate::display::{Names, cell_text, display, error_text, field_label};
use crate::http::Object;
use crate::list::{Filter, ListQuery, Op, Sort};
use crate::object::{Kind, ObjectType, RefKind};

pub(crate) struct ListColumn {
    key: String,
    label: String,
    sort_href: String,
    /// `aria-sort`: ascending, descending or none.
    sorted: &'static str,
    numeric: bool,
}

pub(crate) struct ListRow {
    id: String,
    title: String,
    cells: Vec<String>,
    selected: bool,
}

/// An active filter as a chip: its words and the address of the list without it.
pub(crate) struct Chip {
    text: String,
    remove_href: String,
}

/// A saved view as a tab.
pub(crate) struct ViewTab {
    href: String,
    name: String,
    shared: bool,
    current: bool,
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
    /// The operators of "Add filter": value and words (with the symbol where one is usual).
    ops: Vec<(&'static str, String)>,
    /// The single-filter inputs as typed, kept when that filter was refused.
    filter_field: String,
    filter_op: String,
    filter_value: String,
    sort: String,
    can_bulk: bool,
    can_export: bool,
    export_query: String,
    members: Vec<(String, String)>,
    tabs: Vec<ViewTab>,
    all_current: bool,
    current_view: String,
    /// The name of the saved view in force, for "Update «name»".
    current_view_name: String,
    can_delete_view: bool,
    /// The filters in force, as JSON, for "save as view".
    state_filters: String,
    chosen_columns: Vec<String>,
    editable_fields: Vec<(String, String)>,
    chips: Vec<Chip>,
    clear_href: Option<String>,
    /// Hidden inputs that carry the list's state into the filter bar (everything but `q` and the
    /// new filter) and into the column chooser (everything but `col`).
    filter_state: Vec<(&'static str, String)>,
    columns_state: Vec<(&'static str, String)>,
    /// The list's own address (query string), for the bulk form to come back to.
    list_query: String,
    selected_count: usize,
    error: Option<String>,
}

/// One filter of the address: `f=<field>:<op>:<value>` (the value may hold colons).
#[derive(Debug, Clone, PartialEq)]
struct UrlFilter {
    field: String,
    op: Op,
    value: String,
}

impl UrlFilter {
    fn parse(text: &str) -> Option<Self> {
        let mut parts = text.splitn(3, ':');
        let field = parts.next()?.trim().to_string();
        let op = Op::parse(parts.next()?.trim())?;
        let value = parts.next().unwrap_or_default().to_string();
        (!field.is_empty()).then_some(Self { field, op, value })
    }

    fn of(filter: &Filter) -> Self {
        let value = match &filter.value {
            Value::Array(items) => items.iter().map(|i| display(Some(i))).collect::<Vec<_>>().join(","),
            other => display(Some(other)),
        };
        Self { field: filter.field.clone(), op: filter.op, value }
    }

    fn encoded(&self) -> String {
        format!("{}:{}:{}", self.field, self.op.as_str(), self.value)
    }

    fn filter(&self) -> Filter {
        let value = match self.op {
            Op::IsEmpty | Op::IsNotEmpty => Value::Null,
            // "is one of" takes a comma-separated list in the address.
            Op::In => Value::Array(
                self.value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(|v| Value::String(v.to_string()))
                    .collect(),
            ),
            _ if self.value.is_empty() => Value::Null,
            _ => Value::String(self.value.clone()),
        };
        Filter { field: self.field.clone(), op: self.op, value }
    }
}

/// A list page's query string. Parsed by hand because `col` and `f` repeat.
#[derive(Debug, Default, Clone)]
pub struct ListPageParams {
    q: String,
    sort: String,
    after: String,
    field: String,
    op: String,
    value: String,
    view: String,
    columns: Vec<String>,
    filters: Vec<String>,
}

impl ListPageParams {
    pub(crate) fn parse(raw: Option<&str>) -> Self {
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
                "f" if !value.is_empty() => params.filters.push(value),
                _ => {}
            }
        }
        params
    }

    /// The filter of the "Add filter" inputs, if a field was chosen. On a field that compares by
    /// order (`comparable`: amounts, numbers, dates) the value may start with its operator, as in
    /// a spreadsheet (`>= 5 000`), and "contains" — the menu's default, which means nothing for a
    /// number — reads as "is".
    fn added_filter(&self, comparable: bool) -> Option<UrlFilter> {
        if self.field.is_empty() {
            return None;
        }
        let mut op = Op::parse(&self.op).unwrap_or(Op::Contains);
        let mut value = self.value.clone();
        if comparable {
            if let Some((typed, rest)) = typed_operator(&self.value) {
                op = typed;
                value = rest.to_string();
            } else if matches!(op, Op::Contains | Op::StartsWith) {
                op = Op::Eq;
            }
        }
        Some(UrlFilter { field: self.field.clone(), op, value })
    }
}

/// A value typed with its operator in front (`= 10 000`, `≠ 0`, `> 5000`, `>= 5 000`, `≤ 2026-03-31`):
/// the operator and the rest.
fn typed_operator(value: &str) -> Option<(Op, &str)> {
    const PREFIXES: [(&str, Op); 11] = [
        (">=", Op::Gte),
        ("≥", Op::Gte),
        ("<=", Op::Lte),
        ("≤", Op::Lte),
        ("!=", Op::Neq),
        ("<>", Op::Neq),
        ("≠", Op::Neq),
        ("==", Op::Eq),
        (">", Op::Gt),
        ("<", Op::Lt),
        ("=", Op::Eq),
    ];
    let value = value.trim_start();
    PREFIXES.iter().find_map(|(prefix, op)| value.strip_prefix(prefix).map(|rest| (*op, rest.trim())))
}

/// The symbol people know for an operator, shown next to its words in the "Add filter" menu.
fn op_symbol(op: Op) -> Option<&'static str> {
    match op {
        Op::Eq => Some("="),
        Op::Neq => Some("≠"),
        Op::Gt => Some(">"),
        Op::Gte => Some("≥"),
        Op::Lt => Some("<"),
        Op::Lte => Some("≤"),
        _ => None,
    }
}

/// For a custom number or amount column (`custom.<key>`), whether it is an amount (two decimals);
/// `None` for any other column.
fn custom_decimal(custom: &[CustomField], column: &str) -> Option<bool> {
    let key = column.strip_prefix("custom.")?;
    let field = custom.iter().find(|c| c.key == key)?;
    matches!(field.kind.as_str(), "number" | "currency").then_some(field.kind == "currency")
}

/// Whether a field compares by order — an amount, a number, a date — rather than as text.
fn comparable(object: ObjectType, custom: &[CustomField], field: &str) -> bool {
    match field.strip_prefix("custom.") {
        Some(key) => custom.iter().any(|c| c.key == key && matches!(c.kind.as_str(), "number" | "currency" | "date")),
        None => matches!(
            object.readable(field).map(|d| d.kind),
            Some(Kind::Money | Kind::Percent | Kind::Date | Kind::Timestamp)
        ),
    }
}

/// The state a list's links carry: a saved view, the search, the filters beyond the view's, the
/// sort and the chosen columns.
#[derive(Debug, Clone, Default)]
struct ListState {
    view: String,
    q: String,
    filters: Vec<UrlFilter>,
    sort: String,
    columns: Vec<String>,
}

impl ListState {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if !self.view.is_empty() {
            pairs.push(("view", self.view.clone()));
        }
        if !self.q.is_empty() {
            pairs.push(("q", self.q.clone()));
        }
        for filter in &self.filters {
            pairs.push(("f", filter.encoded()));
        }
        if !self.sort.is_empty() {
            pairs.push(("sort", self.sort.clone()));
        }
        for column in &self.columns {
            pairs.push(("col", column.clone()));
        }
        pairs
    }

    fn query(&self, after: Option<&str>) -> String {
        let mut parts: Vec<String> =
            self.pairs().into_iter().map(|(name, value)| format!("{name}={}", encode(&value))).collect();
        if let Some(after) = after {
            parts.push(format!("after={}", encode(after)));
        }
        parts.join("&")
    }

    fn href(&self, plural: &str, after: Option<&str>) -> String {
        let query = self.query(after);
        if query.is_empty() { format!("/crm/{plural}") } else { format!("/crm/{plural}?{query}") }
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
    let params = ListPageParams::parse(raw.as_deref());
    let page = signed_in.page(&state, &format!("/crm/{}", O::TYPE.plural()));
    list_response(&state, &page, &principal, O::TYPE, params, None, &[]).await
}

/// Renders a list: on its own, or again after a bulk action was refused (`error`), with the rows
/// that were `selected` still ticked.
pub(crate) async fn list_response(
    state: &AppState,
    page: &Page,
    principal: &Principal,
    object: ObjectType,
    mut params: ListPageParams,
    bulk_error: Option<String>,
    selected: &[String],
) -> AppResult<Response> {
    let mut tx = principal.begin(&state.db).await?;
    let custom = custom_fields::definitions(&mut tx, object).await?;
    let views = crate::views::visible(&mut tx, principal.user_id, Some(object)).await?;
    // A saved view gives its filters; its sort, search and columns apply unless the page asks otherwise.
    let mut view_filters: Vec<Filter> = Vec::new();
    let current_view = views.iter().find(|v| v.view_id.to_string() == params.view).cloned();
    if let Some(view) = &current_view {
        view_filters.extend(view.filters.0.iter().cloned());
        if params.sort.is_empty() {
            params.sort = view.sort.clone();
        }
        if params.q.is_empty() {
            params.q = view.q.clone();
        }
        if params.columns.is_empty() {
            params.columns = view.columns.0.clone();
        }
    } else {
        params.view.clear();
    }
    let mut url_filters: Vec<UrlFilter> = params.filters.iter().filter_map(|f| UrlFilter::parse(f)).collect();
    let added = params.added_filter(comparable(object, &custom, &params.field));
    if let Some(filter) = &added {
        url_filters.push(filter.clone());
    }
    let mut filters = view_filters.clone();
    filters.extend(url_filters.iter().map(UrlFilter::filter));
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
    let (result, list_error) = match crate::list::list(&mut tx, object, &query).await {
        Ok(result) => (result, None),
        Err(AppError::Validation(errors)) => {
            // Each message names the filter's field: "Montant : Saisissez un montant comme 1250,50."
            let known = |key: &str| match key.strip_prefix("custom.") {
                Some(k) => custom.iter().any(|c| c.key == k),
                None => object.readable(key).is_some(),
            };
            let text = errors
                .iter()
                .map(|e| match e.field.strip_prefix("filter.").filter(|key| known(key)) {
                    Some(key) => format!(
                        "{}{} {}",
                        field_label(page, key, &custom),
                        page.t.get("punct.colon"),
                        error_text(page, e)
                    ),
                    None => error_text(page, e),
                })
                .collect::<Vec<_>>()
                .join(" ");
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

    // A refused "Add filter" stays in its inputs (to correct it), not as a chip.
    let refused_added = list_error.is_some() && added.is_some();
    if refused_added {
        url_filters.pop();
    }
    let keys: Vec<String> = if params.columns.is_empty() {
        // Deals show the amount with its currency: a separate currency column says it twice.
        let mut keys: Vec<String> = object
            .default_columns()
            .iter()
            .filter(|k| !(object == ObjectType::Deal && **k == "currency"))
            .map(|k| k.to_string())
            .collect();
        keys.extend(custom.iter().take(3).map(|c| format!("custom.{}", c.key)));
        keys
    } else {
        params.columns.iter().filter(|k| crate::records::sort_parts(object, k).is_some()).cloned().collect()
    };
    let list_state = ListState {
        view: params.view.clone(),
        q: params.q.clone(),
        filters: url_filters.clone(),
        sort: params.sort.clone(),
        columns: params.columns.clone(),
    };
    let current_sort = if params.sort.is_empty() { object.default_sort().to_string() } else { params.sort.clone() };
    let plural = object.plural();
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
                label: field_label(page, key, &custom),
                sort_href: ListState { sort: next, ..list_state.clone() }.href(plural, None),
                sorted,
                numeric: matches!(object.readable(key).map(|d| d.kind), Some(Kind::Money | Kind::Percent))
                    || custom_decimal(&custom, key).is_some(),
            }
        })
        .collect();
    let rows: Vec<ListRow> = result
        .items
        .iter()
        .map(|record| {
            let id = display(record.get("id"));
            ListRow {
                selected: selected.contains(&id),
                id,
                title: display(record.get("display_name")),
                cells: keys
                    .iter()
                    .map(|k| {
                        let text = cell_text(page, object, k, record, &names);
                        match custom_decimal(&custom, k) {
                            Some(cents) => crate::display::decimal(&text, page.t.0, cents),
                            None => text,
                        }
                    })
                    .collect(),
            }
        })
        .collect();

    // Chips: the view's filters then the address's; removing one keeps the others (a view's
    // filter removed turns the rest into plain filters of "All").
    let chip_text = |filter: &UrlFilter| {
        let label = field_label(page, &filter.field, &custom);
        let op = page.t.get(&format!("crm.op.{}", filter.op.as_str())).to_string();
        let value = match object.readable(&filter.field).map(|d| d.kind) {
            Some(Kind::Ref(kind)) if !filter.value.is_empty() => names.of(kind, &filter.value),
            Some(Kind::Choice(_)) if !filter.value.is_empty() && filter.op != Op::In => {
                page.t.get(&format!("crm.choice.{}", filter.value)).to_string()
            }
            _ => filter.value.clone(),
        };
        if matches!(filter.op, Op::IsEmpty | Op::IsNotEmpty) {
            format!("{label} {op}")
        } else if page.t.lang() == "fr" {
            format!("{label} {op} \u{ab}\u{a0}{value}\u{a0}\u{bb}")
        } else {
            format!("{label} {op} \u{201c}{value}\u{201d}")
        }
    };
    let view_chips: Vec<UrlFilter> = view_filters.iter().map(UrlFilter::of).collect();
    let mut chips = Vec::new();
    for (i, filter) in view_chips.iter().enumerate() {
        let mut rest: Vec<UrlFilter> =
            view_chips.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, f)| f.clone()).collect();
        rest.extend(url_filters.iter().cloned());
        let without = ListState { view: String::new(), filters: rest, ..list_state.clone() };
        chips.push(Chip { text: chip_text(filter), remove_href: without.href(plural, None) });
    }
    for (i, filter) in url_filters.iter().enumerate() {
        let rest = url_filters.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, f)| f.clone()).collect();
        let without = ListState { filters: rest, ..list_state.clone() };
        chips.push(Chip { text: chip_text(filter), remove_href: without.href(plural, None) });
    }
    let clear_href = (!chips.is_empty() || !params.q.is_empty())
        .then(|| ListState { view: params.view.clone(), ..Default::default() }.href(plural, None));

    let mut filter_fields: Vec<(String, String)> = object
        .fields()
        .iter()
        .chain(object.system_fields())
        .map(|f| (f.key.to_string(), field_label(page, f.key, &custom)))
        .collect();
    filter_fields.extend(custom.iter().map(|c| (format!("custom.{}", c.key), c.label.clone())));
    let filter_state = ListState { q: String::new(), ..list_state.clone() }.pairs();
    let columns_state = ListState { columns: Vec::new(), ..list_state.clone() }.pairs();
    let refused_bulk = bulk_error.is_some();
    let refused_filter = list_error.is_some();
    let error = match (bulk_error, list_error) {
        (Some(a), Some(b)) => Some(format!("{a} {b}")),
        (a, b) => a.or(b),
    };
    let (filter_field, filter_op, filter_value) = match (&added, refused_added) {
        (Some(_), true) => (params.field.clone(), params.op.clone(), params.value.clone()),
        _ => Default::default(),
    };
    let view = ListView {
        plural,
        next_href: result.next_cursor.as_deref().map(|c| list_state.href(plural, Some(c))),
        columns,
        q: params.q.clone(),
        filter_fields,
        ops: Op::ALL
            .iter()
            .map(|op| {
                let words = page.t.get(&format!("crm.op.{}", op.as_str())).to_string();
                (op.as_str(), op_symbol(*op).map(|s| format!("{words} ({s})")).unwrap_or(words))
            })
            .collect(),
        filter_field,
        filter_op,
        filter_value,
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
        tabs: views
            .iter()
            .map(|v| ViewTab {
                href: format!("/crm/{plural}?view={}", v.view_id),
                name: v.name.clone(),
                shared: v.shared,
                current: v.view_id.to_string() == params.view,
            })
            .collect(),
        all_current: params.view.is_empty(),
        current_view: params.view.clone(),
        current_view_name: current_view.as_ref().map(|v| v.name.clone()).unwrap_or_default(),
        can_delete_view: current_view
            .as_ref()
            .is_some_and(|v| v.owner_id == principal.user_id || principal.grant(actions::CRM_CONFIGURE).allows()),
        state_filters: serde_json::to_string(&filters).unwrap_or_else(|_| "[]".into()),
        chosen_columns: keys.clone(),
        editable_fields: object
            .fields()
            .iter()
            .filter(|f| !matches!(f.key, "owner_id" | "pipeline_id" | "stage_id"))
            .map(|f| (f.key.to_string(), field_label(page, f.key, &custom)))
            .chain(custom.iter().map(|c| (format!("custom.{}", c.key), c.label.clone())))
            .collect(),
        chips,
        clear_href,
        filter_state,
        columns_state,
        list_query: list_state.query((!params.after.is_empty()).then_some(params.after.as_str())),
        selected_count: rows.iter().filter(|r| r.selected).count(),
        rows,
        error,
        page: page.clone(),
    };
    // A refused bulk action or filter is a refused form: the list page again (422), the message
    // naming the field, what was typed kept.
    let status = if refused_bulk || refused_filter { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok(crate::http::page_response(status, render(&view)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_filters_round_trip_and_keep_colons_in_values() {
        let filter = UrlFilter::parse("created_at:gt:2026-03-01T10:00").unwrap();
        assert_eq!(filter.field, "created_at");
        assert_eq!(filter.op, Op::Gt);
        assert_eq!(filter.value, "2026-03-01T10:00");
        assert_eq!(UrlFilter::parse(&filter.encoded()), Some(filter));
        assert_eq!(UrlFilter::parse("city:nope:Lyon"), None, "an unknown operator is not a filter");
        let one_of = UrlFilter::parse("status:in:new, qualified").unwrap().filter();
        assert_eq!(one_of.value, serde_json::json!(["new", "qualified"]));
    }

    /// Issue #11: on an amount, "= 10 000", "> 5000", ">= 5 000" carry their operator; the menu's
    /// default ("contains") reads as "is"; a text field keeps its value as typed.
    #[test]
    fn amounts_take_their_operator_from_the_value() {
        let added = |op: &str, value: &str, comparable: bool| {
            let params =
                ListPageParams { field: "amount".into(), op: op.into(), value: value.into(), ..Default::default() };
            let filter = params.added_filter(comparable).unwrap();
            (filter.op, filter.value)
        };
        assert_eq!(added("contains", "= 10 000", true), (Op::Eq, "10 000".into()));
        assert_eq!(added("contains", "10 000", true), (Op::Eq, "10 000".into()));
        assert_eq!(added("eq", "> 5000", true), (Op::Gt, "5000".into()));
        assert_eq!(added("contains", ">= 5 000", true), (Op::Gte, "5 000".into()));
        assert_eq!(added("contains", "≤ 2026-03-31", true), (Op::Lte, "2026-03-31".into()));
        assert_eq!(added("contains", "≠ 0", true), (Op::Neq, "0".into()));
        assert_eq!(added("contains", "<> 0", true), (Op::Neq, "0".into()));
        assert_eq!(added("lt", "100", true), (Op::Lt, "100".into()));
        assert_eq!(added("contains", "= Lyon", false), (Op::Contains, "= Lyon".into()));
    }
}
