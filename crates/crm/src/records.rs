//! Reading and writing CRM records, for every object type, through the field descriptions of
//! [`crate::object`]. Every write validates all fields at once, refuses the whole change on any
//! error, and records a field-level history row per changed field in the same transaction.
//!
//! Visibility is not checked here: row-level security does it (migration 0011), so a record a
//! member may not see is simply absent — a read answers 404 and a write changes nothing.

use kernel::{AppError, FieldError, OrgTx};
use serde::Serialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::custom;
use crate::object::{FieldDef, Kind, ObjectType, RefKind};
use crate::record_events;
use crate::values::{Cell, parse_field};

/// Where a change came from, kept in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Ui,
    Api,
    Import,
    Form,
    Merge,
    System,
}

impl Source {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Ui => "ui",
            Self::Api => "api",
            Self::Import => "import",
            Self::Form => "form",
            Self::Merge => "merge",
            Self::System => "system",
        }
    }
}

/// Who writes, from where, when.
#[derive(Debug, Clone, Copy)]
pub struct WriteCtx {
    pub user: Option<Uuid>,
    pub source: Source,
    pub now: OffsetDateTime,
    pub import_id: Option<Uuid>,
}

/// A record as the API shows it: every column except internal ones, plus `id`, `object` and
/// `display_name`.
/// A deal's amount is given as a decimal string ("48000.00"): as a JSON number it would pass
/// through binary floating point and lose cents on large amounts.
pub fn select_sql(object: ObjectType) -> String {
    let amount = if object == ObjectType::Deal { " || jsonb_build_object('amount', t.amount::text)" } else { "" };
    format!(
        "jsonb_build_object('id', t.{id}, 'object', '{name}', 'display_name', {title})
           || (to_jsonb(t) - 'org_id' - 'search_text' - 'search_words' - 'import_id' - '{id}' - 'last_name_key' - 'name_key'){amount}",
        id = object.id_column(),
        name = object.as_str(),
        title = object.title_sql(),
    )
}

/// The record, if it exists and the member may see it.
pub async fn get(tx: &mut OrgTx, object: ObjectType, id: Uuid) -> Result<Value, AppError> {
    find(tx, object, id, false).await?.ok_or(AppError::NotFound)
}

async fn find(tx: &mut OrgTx, object: ObjectType, id: Uuid, lock: bool) -> Result<Option<Value>, AppError> {
    let sql = format!(
        "select {} from {} t where t.org_id = $1 and t.{} = $2{}",
        select_sql(object),
        object.table(),
        object.id_column(),
        if lock { " for update" } else { "" }
    );
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(tx.org()).bind(id).fetch_optional(tx.conn()).await?)
}

/// Parsed input: builtin columns, and the custom object as submitted.
struct Parsed {
    cells: Vec<(&'static FieldDef, Cell)>,
    custom: Option<Value>,
}

pub(crate) fn field_error(field: impl Into<String>, invalid: crate::values::Invalid) -> FieldError {
    FieldError::new(field, invalid.code, invalid.message)
}

/// Parses every submitted key; unknown and read-only keys are errors, so a typo never silently
/// drops data.
fn parse_input(object: ObjectType, input: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Parsed {
    let mut cells = Vec::new();
    let mut custom = None;
    for (key, value) in input {
        if key == "custom" {
            custom = Some(value.clone());
            continue;
        }
        match object.field(key) {
            Some(def) => match parse_field(def, value) {
                Ok(cell) => cells.push((def, cell)),
                Err(invalid) => errors.push(field_error(key.as_str(), invalid)),
            },
            None if object.readable(key).is_some() || matches!(key.as_str(), "id" | "object" | "display_name") => {
                errors.push(FieldError::new(key.as_str(), "read_only", "This field is maintained by Relais."))
            }
            None => errors.push(FieldError::new(key.as_str(), "unknown_field", "No such field.")),
        }
    }
    Parsed { cells, custom }
}

fn custom_errors(errors: Vec<(String, crate::values::Invalid)>) -> impl Iterator<Item = FieldError> {
    errors.into_iter().map(|(k, e)| field_error(k, e))
}

/// A record was created, with the records that look like the same person or company.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Created {
    pub id: Uuid,
    #[schema(value_type = Object)]
    pub record: Value,
    /// Records sharing a normalized email, phone or domain with the new one (issue #4 item 5).
    pub possible_duplicates: Vec<DuplicateHint>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DuplicateHint {
    pub object: String,
    pub id: Uuid,
    pub display_name: String,
    /// The field that matched: `email`, `phone` or `domain`.
    pub matched_on: String,
}

fn cell_of<'a>(cells: &'a [(&'static FieldDef, Cell)], key: &str) -> Option<&'a Cell> {
    cells.iter().find(|(d, _)| d.key == key).map(|(_, c)| c)
}

fn has_value(cells: &[(&'static FieldDef, Cell)], key: &str) -> bool {
    cell_of(cells, key).is_some_and(|c| !c.is_empty())
}

/// A contact or lead needs a name or an email; the database checks it too.
pub(crate) fn check_identity(object: ObjectType, cells: &[(&'static FieldDef, Cell)], errors: &mut Vec<FieldError>) {
    let keys: &[&str] = match object {
        ObjectType::Contact => &["first_name", "last_name", "email"],
        ObjectType::Lead => &["first_name", "last_name", "email", "company_name"],
        _ => return,
    };
    // A refused name or email is already reported; "give a name" would only repeat it.
    let refused = errors.iter().any(|e| keys.contains(&e.field.as_str()));
    if !refused && !keys.iter().any(|k| has_value(cells, k)) {
        errors.push(FieldError::new(
            "last_name",
            "name_or_email_required",
            "Give at least a name or an email address.",
        ));
    }
}

/// Fills a deal's pipeline and stage: the stage's pipeline, else the pipeline's first stage, else
/// the organization's first pipeline.
async fn resolve_deal_stage(
    tx: &mut OrgTx,
    now: OffsetDateTime,
    cells: &mut Vec<(&'static FieldDef, Cell)>,
    errors: &mut Vec<FieldError>,
) -> Result<(), AppError> {
    let pipeline = cell_of(cells, "pipeline_id").and_then(|c| c.sql.clone());
    let stage = cell_of(cells, "stage_id").and_then(|c| c.sql.clone());
    let found: Option<(Uuid, Uuid)> = match (&pipeline, &stage) {
        (_, Some(stage)) => {
            sqlx::query_as(
                "select pipeline_id, stage_id from pipeline_stages where org_id = $1 and stage_id = $2::uuid",
            )
            .bind(tx.org())
            .bind(stage)
            .fetch_optional(tx.conn())
            .await?
        }
        (Some(pipeline), None) => {
            sqlx::query_as(
                "select pipeline_id, stage_id from pipeline_stages where org_id = $1 and pipeline_id = $2::uuid
              order by position limit 1",
            )
            .bind(tx.org())
            .bind(pipeline)
            .fetch_optional(tx.conn())
            .await?
        }
        (None, None) => {
            crate::pipelines::ensure_default(tx, now).await?;
            sqlx::query_as(
                "select s.pipeline_id, s.stage_id from pipelines p join pipeline_stages s using (org_id, pipeline_id)
              where p.org_id = $1 order by p.position, p.created_at, s.position limit 1",
            )
            .bind(tx.org())
            .fetch_optional(tx.conn())
            .await?
        }
    };
    let Some((found_pipeline, found_stage)) = found else {
        let field = if stage.is_some() { "stage_id" } else { "pipeline_id" };
        errors.push(FieldError::new(field, "not_found", "No such pipeline or stage."));
        return Ok(());
    };
    if let Some(p) = &pipeline
        && *p != found_pipeline.to_string()
    {
        errors.push(FieldError::new("stage_id", "stage_not_in_pipeline", "This stage belongs to another pipeline."));
        return Ok(());
    }
    set_cell(cells, "pipeline_id", found_pipeline);
    set_cell(cells, "stage_id", found_stage);
    Ok(())
}

fn set_cell(cells: &mut Vec<(&'static FieldDef, Cell)>, key: &'static str, id: Uuid) {
    let def = ObjectType::Deal.field(key);
    cells.retain(|(d, _)| d.key != key);
    if let Some(def) = def {
        cells.push((def, Cell { json: Value::String(id.to_string()), sql: Some(id.to_string()) }));
    }
}

/// Maps a refused write to the field that caused it; anything unexpected stays internal.
fn map_db_error(object: ObjectType, error: sqlx::Error) -> AppError {
    if let sqlx::Error::Database(db) = &error {
        if db.code().as_deref() == Some("42501") {
            return AppError::field(
                "owner_id",
                "outside_visibility",
                "You can only own records yourself or share them with one of your departments.",
            );
        }
        if let Some(name) = db.constraint() {
            if name.ends_with("_email") && object == ObjectType::Contact {
                return AppError::field("email", "duplicate", "Another contact already has this email address.");
            }
            for def in object.fields() {
                if name.contains(&format!("_{}_fkey", def.key))
                    || (def.key == "stage_id" && name.contains("stage_id_fkey"))
                {
                    return AppError::field(def.key, "not_found", "The referenced record does not exist.");
                }
            }
        }
    }
    error.into()
}

/// Creates a record. Every field is checked; nothing is written unless all are valid.
pub async fn create(
    tx: &mut OrgTx,
    object: ObjectType,
    input: &Map<String, Value>,
    ctx: &WriteCtx,
) -> Result<Created, AppError> {
    let mut errors = Vec::new();
    let Parsed { mut cells, custom } = parse_input(object, input, &mut errors);
    for def in object.fields().iter().filter(|d| d.required) {
        if !cells.iter().any(|(d, _)| d.key == def.key) && !errors.iter().any(|e| e.field == def.key) {
            errors.push(FieldError::new(def.key, "required", "This field is required."));
        }
    }
    check_identity(object, &cells, &mut errors);
    if object == ObjectType::Deal {
        resolve_deal_stage(tx, ctx.now, &mut cells, &mut errors).await?;
    }
    if let (Some(user), false) = (ctx.user, cells.iter().any(|(d, _)| d.key == "owner_id")) {
        set_owner(object, &mut cells, user);
    }
    let definitions = custom::definitions(tx, object).await?;
    let custom_values = match custom::validate(&definitions, &Map::new(), custom.as_ref()) {
        Ok(values) => values,
        Err(e) => {
            errors.extend(custom_errors(e));
            Map::new()
        }
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let id = Uuid::now_v7();
    insert_row(tx, object, id, &cells, &custom_values, ctx).await?;
    record_change(tx, object, id, "created", "", None, None, ctx).await?;
    let possible_duplicates = duplicates_of(tx, object, id).await?;
    let record = get(tx, object, id).await?;
    let facts = json!({ "record": record });
    record_events::record_event(tx, record_events::CREATED, object, id, ctx.source, ctx.now, facts).await?;
    Ok(Created { id, record, possible_duplicates })
}

fn set_owner(object: ObjectType, cells: &mut Vec<(&'static FieldDef, Cell)>, user: Uuid) {
    if let Some(def) = object.field("owner_id") {
        cells.push((def, Cell { json: Value::String(user.to_string()), sql: Some(user.to_string()) }));
    }
}

async fn insert_row(
    tx: &mut OrgTx,
    object: ObjectType,
    id: Uuid,
    cells: &[(&'static FieldDef, Cell)],
    custom_values: &Map<String, Value>,
    ctx: &WriteCtx,
) -> Result<(), AppError> {
    let mut columns =
        vec!["org_id", object.id_column(), "custom", "created_by", "created_at", "updated_at", "import_id"];
    let mut values =
        vec!["$1".to_string(), "$2".into(), "$3".into(), "$4".into(), "$5".into(), "$5".into(), "$6".into()];
    if object == ObjectType::Deal {
        columns.push("stage_changed_at");
        values.push("$5".into());
    }
    for (i, (def, _)) in cells.iter().enumerate() {
        columns.push(def.key);
        values.push(format!("${}::{}", i + 7, def.kind.sql_type()));
    }
    let sql = format!("insert into {} ({}) values ({})", object.table(), columns.join(", "), values.join(", "));
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tx.org())
        .bind(id)
        .bind(sqlx::types::Json(custom_values))
        .bind(ctx.user)
        .bind(ctx.now)
        .bind(ctx.import_id);
    for (_, cell) in cells {
        query = query.bind(cell.sql.clone());
    }
    query.execute(tx.conn()).await.map_err(|e| map_db_error(object, e))?;
    Ok(())
}

/// Writes one history row.
#[allow(clippy::too_many_arguments)]
pub async fn record_change(
    tx: &mut OrgTx,
    object: ObjectType,
    id: Uuid,
    action: &str,
    field: &str,
    old: Option<&Value>,
    new: Option<&Value>,
    ctx: &WriteCtx,
) -> Result<(), AppError> {
    let sql = format!(
        "insert into record_changes (org_id, change_id, {}, action, field, old_value, new_value, changed_by, source,
                                     import_id, changed_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        object.id_column()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tx.org())
        .bind(Uuid::now_v7())
        .bind(id)
        .bind(action)
        .bind(field)
        .bind(old.map(sqlx::types::Json))
        .bind(new.map(sqlx::types::Json))
        .bind(ctx.user)
        .bind(ctx.source.as_str())
        .bind(ctx.import_id)
        .bind(ctx.now)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Changes the submitted fields of a record (PATCH semantics). Unchanged values write nothing;
/// each changed field leaves a history row with its old and new value.
pub async fn update(
    tx: &mut OrgTx,
    object: ObjectType,
    id: Uuid,
    patch: &Map<String, Value>,
    ctx: &WriteCtx,
) -> Result<Value, AppError> {
    let current = find(tx, object, id, true).await?.ok_or(AppError::NotFound)?;
    let mut errors = Vec::new();
    let Parsed { mut cells, custom } = parse_input(object, patch, &mut errors);
    if object == ObjectType::Deal && (has_value(&cells, "pipeline_id") || has_value(&cells, "stage_id")) {
        // A new pipeline without a stage lands in its first stage; a new stage brings its pipeline.
        resolve_deal_stage(tx, ctx.now, &mut cells, &mut errors).await?;
    }
    let mut merged_identity: Vec<(&'static FieldDef, Cell)> = object
        .fields()
        .iter()
        .map(|d| (d, Cell { json: current.get(d.key).cloned().unwrap_or(Value::Null), sql: None }))
        .collect();
    for (def, cell) in &cells {
        merged_identity.retain(|(d, _)| d.key != def.key);
        merged_identity.push((def, cell.clone()));
    }
    check_identity(object, &merged_identity, &mut errors);
    let current_custom = current.get("custom").and_then(Value::as_object).cloned().unwrap_or_default();
    let definitions = custom::definitions(tx, object).await?;
    let custom_values = match custom::validate(&definitions, &current_custom, custom.as_ref()) {
        Ok(values) => values,
        Err(e) => {
            errors.extend(custom_errors(e));
            Map::new()
        }
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let changed: Vec<&(&'static FieldDef, Cell)> =
        cells.iter().filter(|(def, cell)| !same_value(current.get(def.key), &cell.json)).collect();
    let custom_changed = custom_values != current_custom;
    if changed.is_empty() && !custom_changed {
        return Ok(current);
    }
    let mut sets = vec!["updated_at = $3".to_string(), "custom = $4".to_string()];
    for (i, (def, _)) in changed.iter().enumerate() {
        sets.push(format!("{} = ${}::{}", def.key, i + 5, def.kind.sql_type()));
    }
    if object == ObjectType::Deal && changed.iter().any(|(d, _)| d.key == "stage_id") {
        sets.push("stage_changed_at = $3".into());
    }
    let sql = format!(
        "update {} t set {} where t.org_id = $1 and t.{} = $2",
        object.table(),
        sets.join(", "),
        object.id_column()
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tx.org())
        .bind(id)
        .bind(ctx.now)
        .bind(sqlx::types::Json(&custom_values));
    for (_, cell) in &changed {
        query = query.bind(cell.sql.clone());
    }
    query.execute(tx.conn()).await.map_err(|e| map_db_error(object, e))?;
    if object == ObjectType::Deal && changed.iter().any(|(d, _)| d.key == "stage_id") {
        // `closed_at` follows the new stage: computed from the row as updated.
        let sql = "update deals t set closed_at = case when s.outcome = 'open' then null else $3 end
                     from pipeline_stages s where t.org_id = $1 and t.deal_id = $2
                      and s.org_id = t.org_id and s.stage_id = t.stage_id";
        sqlx::query(sql).bind(tx.org()).bind(id).bind(ctx.now).execute(tx.conn()).await?;
    }
    for (def, cell) in &changed {
        record_change(tx, object, id, "updated", def.key, current.get(def.key), Some(&cell.json), ctx).await?;
    }
    let mut fields: Vec<String> = changed.iter().map(|(d, _)| d.key.to_string()).collect();
    for key in custom_keys(&current_custom, &custom_values) {
        let (old, new) = (current_custom.get(&key), custom_values.get(&key));
        if old != new {
            record_change(tx, object, id, "updated", &format!("custom.{key}"), old, new, ctx).await?;
            fields.push(format!("custom.{key}"));
        }
    }
    let record = get(tx, object, id).await?;
    if let Some((_, stage)) = changed.iter().find(|(d, _)| d.key == "stage_id") {
        let facts = json!({ "record": record, "from_stage_id": current.get("stage_id"), "to_stage_id": stage.json });
        record_events::record_event(tx, record_events::STAGE_CHANGED, object, id, ctx.source, ctx.now, facts).await?;
    }
    let facts = json!({ "record": record, "changed_fields": fields });
    record_events::record_event(tx, record_events::UPDATED, object, id, ctx.source, ctx.now, facts).await?;
    Ok(record)
}

fn custom_keys(a: &Map<String, Value>, b: &Map<String, Value>) -> Vec<String> {
    let mut keys: Vec<String> = a.keys().chain(b.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    keys
}

/// JSON from the database and a parsed cell may spell one value differently (`12.5` vs `12.50`).
pub(crate) fn same_value(current: Option<&Value>, new: &Value) -> bool {
    let number = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse::<f64>().ok(),
        _ => None,
    };
    match (current.unwrap_or(&Value::Null), new) {
        (a @ (Value::Number(_) | Value::String(_)), b @ Value::Number(_)) => {
            number(a).is_some() && number(a) == number(b)
        }
        (a, b) => a == b,
    }
}

/// Deletes a record and, by cascade, its notes, tasks, activities and history. `only_owned_by`
/// narrows a member whose grant is their own records.
pub async fn delete(
    tx: &mut OrgTx,
    object: ObjectType,
    id: Uuid,
    only_owned_by: Option<Uuid>,
    source: Source,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    let sql = format!(
        "delete from {} where org_id = $1 and {} = $2 and ($3::uuid is null or owner_id = $3)",
        object.table(),
        object.id_column()
    );
    let done =
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tx.org()).bind(id).bind(only_owned_by).execute(tx.conn()).await?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    record_events::record_event(tx, record_events::DELETED, object, id, source, now, json!({})).await
}

/// Deletes one row of an org's table by its id; `NotFound` when there is none (or RLS hides it).
/// `table` and `id_column` are names from the code, never from input.
pub(crate) async fn delete_by_id(
    tx: &mut OrgTx,
    table: &'static str,
    id_column: &'static str,
    id: Uuid,
) -> Result<(), AppError> {
    let sql = format!("delete from {table} where org_id = $1 and {id_column} = $2");
    let done = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tx.org()).bind(id).execute(tx.conn()).await?;
    if done.rows_affected() == 0 { Err(AppError::NotFound) } else { Ok(()) }
}

/// Other records that share the record's normalized email, E.164 phone or domain.
pub async fn duplicates_of(tx: &mut OrgTx, object: ObjectType, id: Uuid) -> Result<Vec<DuplicateHint>, AppError> {
    let sql = match object {
        ObjectType::Contact => {
            "select 'contact' as object, o.contact_id as id,
                    coalesce(nullif(trim(o.first_name || ' ' || o.last_name), ''), o.email) as display_name,
                    case when o.email <> '' and o.email = c.email then 'email' else 'phone' end as matched_on
               from contacts c join contacts o on o.org_id = c.org_id and o.contact_id <> c.contact_id
              where c.org_id = $1 and c.contact_id = $2
                and ((c.email <> '' and o.email = c.email) or (c.phone <> '' and o.phone = c.phone)
                     or (c.mobile <> '' and o.mobile = c.mobile))
              limit 10"
        }
        ObjectType::Lead => {
            "select 'lead' as object, o.lead_id as id,
                    coalesce(nullif(trim(o.first_name || ' ' || o.last_name), ''), o.email) as display_name,
                    case when o.email <> '' and o.email = c.email then 'email' else 'phone' end as matched_on
               from leads c join leads o on o.org_id = c.org_id and o.lead_id <> c.lead_id
              where c.org_id = $1 and c.lead_id = $2
                and ((c.email <> '' and o.email = c.email) or (c.phone <> '' and o.phone = c.phone))
             union all
             select 'contact', o.contact_id, coalesce(nullif(trim(o.first_name || ' ' || o.last_name), ''), o.email),
                    'email'
               from leads c join contacts o on o.org_id = c.org_id and o.email = c.email
              where c.org_id = $1 and c.lead_id = $2 and c.email <> ''
              limit 10"
        }
        ObjectType::Company => {
            "select 'company' as object, o.company_id as id, o.name as display_name, 'domain' as matched_on
               from companies c join companies o on o.org_id = c.org_id and o.company_id <> c.company_id
              where c.org_id = $1 and c.company_id = $2 and c.domain <> '' and o.domain = c.domain
              limit 10"
        }
        ObjectType::Deal => return Ok(Vec::new()),
    };
    Ok(sqlx::query_as(sql).bind(tx.org()).bind(id).fetch_all(tx.conn()).await?)
}

/// The SQL type of a value a field's sort and filters compare.
pub fn sort_parts(object: ObjectType, key: &str) -> Option<(String, &'static str)> {
    if let Some(custom) = key.strip_prefix("custom.") {
        if !custom.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') || custom.is_empty() {
            return None;
        }
        return Some((format!("coalesce(t.custom -> '{custom}', 'null'::jsonb)"), "jsonb"));
    }
    let def = object.readable(key)?;
    // Stored lower-case keys (migration 0015): a keyset condition on them can use the index under
    // row-level security, where one on `lower(...)` cannot.
    let stored_key = match (object, key) {
        (ObjectType::Contact | ObjectType::Lead, "last_name") => Some("last_name_key"),
        (ObjectType::Company | ObjectType::Deal, "name") => Some("name_key"),
        _ => None,
    };
    if let Some(column) = stored_key {
        return Some((format!("t.{column}"), "text"));
    }
    Some(match def.kind {
        // Never NULL: the bare column, so its index serves the sort and the keyset.
        Kind::Timestamp if matches!(key, "created_at" | "updated_at" | "stage_changed_at") => {
            (format!("t.{key}"), "timestamptz")
        }
        kind if kind.empty_is_blank_text() => (format!("lower(t.{key})"), "text"),
        Kind::Money => (format!("coalesce(t.{key}, -1e18)"), "numeric"),
        Kind::Percent => (format!("coalesce(t.{key}, -1)"), "smallint"),
        Kind::Date => (format!("coalesce(t.{key}, '-infinity'::date)"), "date"),
        Kind::Timestamp => (format!("coalesce(t.{key}, '-infinity'::timestamptz)"), "timestamptz"),
        Kind::Ref(_) => (format!("coalesce(t.{key}, '00000000-0000-0000-0000-000000000000'::uuid)"), "uuid"),
        _ => (format!("t.{key}"), "text"),
    })
}

/// The member a reference names, for display; other references are shown by id.
pub fn ref_kind(object: ObjectType, key: &str) -> Option<RefKind> {
    match object.readable(key)?.kind {
        Kind::Ref(r) => Some(r),
        _ => None,
    }
}

/// Stored JSON for a history row about a whole record (merge, conversion).
pub fn summary(record: &Value) -> Value {
    json!({ "id": record.get("id"), "display_name": record.get("display_name") })
}
