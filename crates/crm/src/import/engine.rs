//! The import engine: every cell parsed by the same code as `records::create` ([`parse_field`],
//! [`custom_fields::validate`], `check_identity`), then written per batch with set-based SQL (one
//! multi-row `insert … select from unnest(…)`, one `update … from unnest(…)`), never row by row.
//!
//! Dedupe: contacts and leads by normalized email, companies by domain. A key already in the
//! organization updates that record (only the mapped, non-empty cells); a key seen earlier in the
//! same file is a duplicate and is reported, not written.
//!
//! Each batch of the run commits in one transaction with its rejects, its counters and the
//! checkpoint (byte offset and row number of the next batch), so a crash loses at most the batch in
//! flight, which the retried job redoes from the same checkpoint.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::Path;

use kernel::i18n::Lang;
use kernel::{AppError, FieldError, OrgTx};
use serde::Serialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::problem::{self, Problem};
use super::{ImportRow, file};
use crate::custom_fields::{self, CustomField};
use crate::object::{FieldDef, ObjectType};
use crate::records::{check_identity, field_error, same_value};
use crate::values::{Cell, parse_field};

/// Where a column goes.
#[derive(Debug, Clone)]
enum Target {
    Field(&'static FieldDef),
    Custom(String),
}

/// The mapping, resolved against the object's fields.
#[derive(Debug, Clone)]
pub struct Plan {
    object: ObjectType,
    columns: Vec<(usize, Target)>,
    /// For deals: what pipeline, stage and company names in the batch refer to.
    deal_refs: Option<DealRefs>,
}

impl Plan {
    pub fn new(object: ObjectType, mapping: &BTreeMap<String, String>) -> Self {
        let mut columns = Vec::new();
        for (column, target) in mapping {
            let Ok(index) = column.parse::<usize>() else { continue };
            match target.strip_prefix("custom.") {
                Some(key) => columns.push((index, Target::Custom(key.to_string()))),
                None => {
                    if let Some(def) = object.field(target) {
                        columns.push((index, Target::Field(def)));
                    }
                }
            }
        }
        Self { object, columns, deal_refs: None }
    }

    /// Loads what the batch's deal rows refer to (pipelines and stages once, companies per batch).
    /// Nothing to do for other objects.
    pub async fn prepare(
        &mut self,
        tx: &mut OrgTx,
        rows: &[(i64, csv::StringRecord)],
        now: OffsetDateTime,
    ) -> Result<(), AppError> {
        if self.object != ObjectType::Deal {
            return Ok(());
        }
        let stages = match self.deal_refs.take() {
            Some(refs) => refs.stages,
            None => DealRefs::stages(tx, now).await?,
        };
        let company_column = self.columns.iter().find_map(|(i, t)| match t {
            Target::Field(def) if def.key == "company_id" => Some(*i),
            _ => None,
        });
        let names: Vec<String> = match company_column {
            Some(i) => rows
                .iter()
                .filter_map(|(_, r)| r.get(i).map(|t| t.trim().to_lowercase()).filter(|t| !t.is_empty()))
                .collect::<HashSet<_>>()
                .into_iter()
                .collect(),
            None => Vec::new(),
        };
        let companies = DealRefs::companies(tx, &names).await?;
        self.deal_refs = Some(DealRefs { stages, companies });
        Ok(())
    }

    fn fields(&self) -> Vec<&'static FieldDef> {
        self.columns
            .iter()
            .filter_map(|(_, t)| match t {
                Target::Field(def) => Some(*def),
                Target::Custom(_) => None,
            })
            .collect()
    }

    /// The dedupe column of the object, if any.
    fn key_field(&self) -> Option<&'static str> {
        match self.object {
            ObjectType::Contact | ObjectType::Lead => Some("email"),
            ObjectType::Company => Some("domain"),
            ObjectType::Deal => None,
        }
    }
}

/// A stage of the organization's pipelines, as deal rows name it.
#[derive(Debug, Clone)]
struct StageRef {
    pipeline_id: Uuid,
    pipeline_name: String,
    stage_id: Uuid,
    stage_name: String,
}

/// Deal rows name their pipeline, stage and company as people do — "Proposition", "Acme SAS",
/// "acme.fr" — or by id; this resolves them. Names compare folded (case, accents, spaces).
#[derive(Debug, Clone, Default)]
pub struct DealRefs {
    /// In pipeline order, then stage order: the first is the default stage.
    stages: Vec<StageRef>,
    /// Lower-cased name, domain or id → the companies it names (more than one: ambiguous).
    companies: HashMap<String, Vec<Uuid>>,
}

impl DealRefs {
    async fn stages(tx: &mut OrgTx, now: OffsetDateTime) -> Result<Vec<StageRef>, AppError> {
        crate::pipelines::ensure_default(tx, now).await?;
        let rows: Vec<(Uuid, String, Uuid, String)> = sqlx::query!(
            "select p.pipeline_id, p.name as pipeline_name, s.stage_id, s.name as stage_name
               from pipelines p join pipeline_stages s using (org_id, pipeline_id)
              where p.org_id = $1 order by p.position, p.created_at, s.position",
            tx.org().0
        )
        .fetch_all(tx.conn())
        .await?
        .into_iter()
        .map(|row| (row.pipeline_id, row.pipeline_name, row.stage_id, row.stage_name))
        .collect();
        Ok(rows
            .into_iter()
            .map(|(pipeline_id, p, stage_id, s)| StageRef {
                pipeline_id,
                pipeline_name: super::mapping::fold(&p),
                stage_id,
                stage_name: super::mapping::fold(&s),
            })
            .collect())
    }

    async fn companies(tx: &mut OrgTx, texts: &[String]) -> Result<HashMap<String, Vec<Uuid>>, AppError> {
        let mut found: HashMap<String, Vec<Uuid>> = HashMap::new();
        if texts.is_empty() {
            return Ok(found);
        }
        let rows: Vec<(Uuid, String, String)> = sqlx::query!(
            r#"select company_id, lower(name) as "name!", domain from companies
              where org_id = $1 and (lower(name) = any($2) or domain = any($2) or company_id::text = any($2))"#,
            tx.org().0,
            texts
        )
        .fetch_all(tx.conn())
        .await?
        .into_iter()
        .map(|row| (row.company_id, row.name, row.domain))
        .collect();
        for (id, name, domain) in rows {
            for key in [id.to_string(), name, domain].into_iter().filter(|k| !k.is_empty()) {
                let ids = found.entry(key).or_default();
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        Ok(found)
    }

    /// Fills `pipeline_id`, `stage_id` and `company_id` of a deal row from what it names: a stage
    /// alone brings its pipeline, a pipeline alone its first stage, neither the default stage.
    fn resolve(
        &self,
        pipeline: Option<&str>,
        stage: Option<&str>,
        company: Option<&str>,
        cells: &mut Vec<(&'static FieldDef, Cell)>,
        errors: &mut Vec<FieldError>,
    ) {
        let names = |text: &str, id: Uuid, name: &str| text == id.to_string() || super::mapping::fold(text) == name;
        let pipeline_id = match pipeline {
            None => None,
            Some(text) => match self.stages.iter().find(|s| names(text, s.pipeline_id, &s.pipeline_name)) {
                Some(s) => Some(s.pipeline_id),
                None => {
                    errors.push(FieldError::new("pipeline_id", "not_found", "No pipeline of this name."));
                    return;
                }
            },
        };
        let in_pipeline = |s: &&StageRef| pipeline_id.is_none_or(|p| s.pipeline_id == p);
        let chosen = match stage {
            Some(text) => self.stages.iter().filter(in_pipeline).find(|s| names(text, s.stage_id, &s.stage_name)),
            None => self.stages.iter().find(in_pipeline),
        };
        let Some(chosen) = chosen else {
            let field = if stage.is_some() { "stage_id" } else { "pipeline_id" };
            errors.push(FieldError::new(field, "not_found", "No stage of this name in the pipeline."));
            return;
        };
        push_ref(cells, "pipeline_id", chosen.pipeline_id, errors);
        push_ref(cells, "stage_id", chosen.stage_id, errors);
        if let Some(text) = company {
            match self.companies.get(&text.trim().to_lowercase()).map(Vec::as_slice) {
                Some([id]) => push_ref(cells, "company_id", *id, errors),
                Some([_, _, ..]) => errors.push(FieldError::new(
                    "company_id",
                    "ambiguous",
                    "Several companies have this name: give the domain instead.",
                )),
                _ => errors.push(FieldError::new("company_id", "not_found", "No company of this name or domain.")),
            }
        }
    }
}

fn push_ref(cells: &mut Vec<(&'static FieldDef, Cell)>, key: &str, id: Uuid, errors: &mut Vec<FieldError>) {
    let Some(def) = ObjectType::Deal.field(key) else { return };
    match parse_field(def, &Value::String(id.to_string())) {
        Ok(cell) => cells.push((def, cell)),
        Err(invalid) => errors.push(field_error(def.key, invalid)),
    }
}

/// One parsed row: non-empty builtin cells, submitted custom values, and its dedupe key.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub row: i64,
    cells: Vec<(&'static FieldDef, Cell)>,
    custom: Map<String, Value>,
    key: Option<String>,
    raw: Vec<String>,
    /// Cells kept out of their field but not refusing the row: a phone number that cannot be read
    /// (field, the cell as written). The row is written; the text goes to a note on the record.
    warnings: Vec<(&'static FieldDef, String)>,
}

impl Parsed {
    /// The warning the import's report shows for this row, naming each column.
    fn warning(&self) -> Option<Vec<Problem>> {
        warning(&self.warnings)
    }
}

fn warning(warnings: &[(&'static FieldDef, String)]) -> Option<Vec<Problem>> {
    if warnings.is_empty() {
        return None;
    }
    Some(warnings.iter().map(|(def, raw)| Problem::phone_kept(def.key, raw)).collect())
}

/// What an import does to a record that already has the row's key (email or domain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Leaves it as it is: only new keys create records.
    CreateOnly,
    /// Writes the fields the record has empty, never replaces a value (the default).
    FillEmpty,
    /// Writes every mapped, non-empty cell.
    Overwrite,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::CreateOnly, Mode::FillEmpty, Mode::Overwrite];

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "create_only" => Some(Self::CreateOnly),
            "fill_empty" => Some(Self::FillEmpty),
            "overwrite" => Some(Self::Overwrite),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreateOnly => "create_only",
            Self::FillEmpty => "fill_empty",
            Self::Overwrite => "overwrite",
        }
    }
}

/// A row refused, skipped as a duplicate, or kept with a warning, as the dry run's findings (the
/// API's JSON) and `import_rejects` hold it.
#[derive(Debug, Clone, Serialize)]
pub struct Reject {
    pub row: i64,
    /// `error`, `duplicate` or `warning`.
    pub kind: &'static str,
    /// The problems in English, as one text (what the API has always returned).
    pub reason: String,
    /// The first problem's code: the row's stable code.
    pub code: String,
    /// Every problem: field, code, English message.
    pub problems: Vec<Problem>,
    #[serde(skip)]
    pub raw: Vec<String>,
}

impl Reject {
    pub fn new(row: i64, kind: &'static str, problems: Vec<Problem>, raw: Vec<String>) -> Self {
        let code = problems.first().map(|p| p.code.clone()).unwrap_or_default();
        Self { row, kind, reason: problem::english(&problems), code, problems, raw }
    }

    fn errors(row: i64, errors: &[FieldError], raw: Vec<String>) -> Self {
        Self::new(row, "error", errors.iter().map(Problem::from).collect(), raw)
    }

    fn duplicate(row: i64, raw: Vec<String>) -> Self {
        Self::new(row, "duplicate", vec![Problem::duplicate()], raw)
    }
}

/// Parses one CSV record through the field descriptions. Empty cells are left out (an update
/// never clears a field; a create gets the field's empty value).
pub fn parse_row(plan: &Plan, record: &csv::StringRecord, row: i64) -> Result<Parsed, Reject> {
    let raw: Vec<String> = record.iter().map(str::to_string).collect();
    let mut errors = Vec::new();
    let mut cells = Vec::new();
    let mut custom = Map::new();
    let mut warnings = Vec::new();
    let (mut pipeline, mut stage, mut company) = (None, None, None);
    for (index, target) in &plan.columns {
        let text = record.get(*index).unwrap_or_default().trim();
        if text.is_empty() {
            continue;
        }
        if text.contains('\0') {
            // PostgreSQL text cannot hold a NUL: the row is refused, naming the field.
            let key = match target {
                Target::Field(def) => def.key.to_string(),
                Target::Custom(key) => format!("custom.{key}"),
            };
            errors.push(FieldError::new(key, "contains_nul", "This cell contains a NUL character (\\0)."));
            continue;
        }
        match target {
            Target::Field(def) if plan.deal_refs.is_some() && def.key == "pipeline_id" => pipeline = Some(text),
            Target::Field(def) if plan.deal_refs.is_some() && def.key == "stage_id" => stage = Some(text),
            Target::Field(def) if plan.deal_refs.is_some() && def.key == "company_id" => company = Some(text),
            Target::Field(def) => match parse_field(def, &Value::String(choice_code(def.kind, text).to_string())) {
                Ok(cell) => cells.push((*def, cell)),
                // Spreadsheets hold numbers no parser reads ("ext. 12", "06 12 34 56", two numbers
                // in one cell): the row is kept and the text goes to a note, with a warning.
                Err(invalid) if def.kind == crate::object::Kind::Phone && invalid.code == "invalid_phone" => {
                    warnings.push((*def, text.to_string()))
                }
                Err(invalid) => errors.push(field_error(def.key, invalid)),
            },
            Target::Custom(key) => {
                custom.insert(key.clone(), Value::String(text.to_string()));
            }
        }
    }
    if let Some(refs) = &plan.deal_refs {
        refs.resolve(pipeline, stage, company, &mut cells, &mut errors);
    }
    if !errors.is_empty() {
        return Err(Reject::errors(row, &errors, raw));
    }
    let key = plan
        .key_field()
        .and_then(|k| cells.iter().find(|(d, _)| d.key == k))
        .and_then(|(_, c)| c.sql.clone())
        .filter(|k| !k.is_empty());
    Ok(Parsed { row, cells, custom, key, raw, warnings })
}

/// The checks `records::create` makes beyond single fields: required fields, a name or an email,
/// and the custom fields. Returns the custom values to store.
pub fn check_create(
    object: ObjectType,
    defs: &[CustomField],
    row: &Parsed,
) -> Result<Map<String, Value>, Vec<FieldError>> {
    let mut errors = Vec::new();
    for def in object.fields().iter().filter(|d| d.required) {
        if !row.cells.iter().any(|(d, _)| d.key == def.key) {
            errors.push(FieldError::new(def.key, "required", "This field is required."));
        }
    }
    check_identity(object, &row.cells, &mut errors);
    let submitted = Value::Object(row.custom.clone());
    let custom = match custom_fields::validate(defs, &Map::new(), Some(&submitted)) {
        Ok(values) => values,
        Err(e) => {
            errors.extend(e.into_iter().map(|(k, i)| field_error(k, i)));
            Map::new()
        }
    };
    if errors.is_empty() { Ok(custom) } else { Err(errors) }
}

/// A change to an existing record: its changed builtin fields and custom values.
#[derive(Debug)]
struct Update {
    id: Uuid,
    /// The file row and its cells, for a reject.
    row: i64,
    raw: Vec<String>,
    /// Phone cells kept as a note (see [`Parsed::warnings`]).
    warnings: Vec<(&'static FieldDef, String)>,
    /// (field, new cell, old JSON)
    changed: Vec<(&'static FieldDef, Cell, Value)>,
    custom: Option<Map<String, Value>>,
    custom_changes: Vec<(String, Value, Value)>,
}

/// Whether a stored value counts as empty for [`Mode::FillEmpty`].
fn is_blank(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    }
}

fn check_update(
    defs: &[CustomField],
    row: &Parsed,
    id: Uuid,
    current: &Value,
    mode: Mode,
) -> Result<Update, Vec<FieldError>> {
    let current_custom = current.get("custom").and_then(Value::as_object).cloned().unwrap_or_default();
    let mut submitted = row.custom.clone();
    if mode == Mode::FillEmpty {
        submitted.retain(|key, _| is_blank(current_custom.get(key)));
    }
    let submitted = Value::Object(submitted);
    let merged = custom_fields::validate(defs, &current_custom, Some(&submitted))
        .map_err(|e| e.into_iter().map(|(k, i)| field_error(k, i)).collect::<Vec<_>>())?;
    let changed = row
        .cells
        .iter()
        .filter(|(def, _)| mode != Mode::FillEmpty || is_blank(current.get(def.key)))
        .filter(|(def, cell)| !same_value(current.get(def.key), &cell.json))
        .map(|(def, cell)| (*def, cell.clone(), current.get(def.key).cloned().unwrap_or(Value::Null)))
        .collect();
    let mut custom_changes = Vec::new();
    for (key, new) in &merged {
        let old = current_custom.get(key).cloned().unwrap_or(Value::Null);
        if &old != new {
            custom_changes.push((key.clone(), old, new.clone()));
        }
    }
    let custom = if custom_changes.is_empty() { None } else { Some(merged) };
    Ok(Update {
        id,
        row: row.row,
        raw: row.raw.clone(),
        warnings: row.warnings.clone(),
        changed,
        custom,
        custom_changes,
    })
}

/// What a batch comes to.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Counts {
    pub rows: i64,
    pub to_create: i64,
    pub to_update: i64,
    pub unchanged: i64,
    /// Rows whose key is already in the organization, left as they are (mode `create_only`).
    pub skipped: i64,
    pub duplicates: i64,
    pub errors: i64,
    /// Rows kept with a warning (a phone number kept as a note).
    pub warnings: i64,
}

/// One field an update would change, as the dry run shows a sample of them.
#[derive(Debug, Serialize)]
struct FieldDiff {
    field: String,
    old: Value,
    new: Value,
}

impl Update {
    fn diff(&self) -> Vec<FieldDiff> {
        let builtin = self.changed.iter().map(|(def, cell, old)| FieldDiff {
            field: def.key.to_string(),
            old: old.clone(),
            new: cell.json.clone(),
        });
        let custom = self.custom_changes.iter().map(|(key, old, new)| FieldDiff {
            field: format!("custom.{key}"),
            old: old.clone(),
            new: new.clone(),
        });
        builtin.chain(custom).collect()
    }
}

/// Existing records by dedupe key: id, the import that created it, the record as JSON.
async fn existing(
    tx: &mut OrgTx,
    object: ObjectType,
    key_field: &str,
    keys: &[String],
) -> Result<HashMap<String, (Uuid, Option<Uuid>, Value)>, AppError> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    // For leads the email is not unique: the oldest lead with the email is the one updated.
    let sql = format!(
        "select distinct on (t.{key}) t.{key}, t.{id}, t.import_id, to_jsonb(t) - 'search_text' - 'search_words'
           from {table} t where t.org_id = $1 and t.{key} = any($2)
          order by t.{key}, t.created_at, t.{id}",
        key = key_field,
        id = object.id_column(),
        table = object.table(),
    );
    let rows: Vec<(String, Uuid, Option<Uuid>, Value)> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tx.org()).bind(keys).fetch_all(tx.conn()).await?;
    Ok(rows.into_iter().map(|(k, id, import, record)| (k, (id, import, record))).collect())
}

fn hash_key(key: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// The import's file is no longer on the server (removed by hand, or lost with a disk). Its own
/// type, so a failed step is recorded with the code `file_missing` rather than a sentence.
#[derive(Debug, thiserror::Error)]
#[error("the uploaded file is no longer on the server: upload it again")]
pub struct FileMissing;

/// Reads a batch of `import`'s file off the async threads, with its delimiter and encoding.
pub async fn read(dir: &Path, org: Uuid, import: &ImportRow, offset: u64, max: usize) -> Result<file::Batch, AppError> {
    let path = file::path_of(dir, org, import.import_id);
    let delimiter = file::delimiter_byte(&import.delimiter);
    let encoding = import.encoding.clone();
    tokio::task::spawn_blocking(move || file::read_batch(&path, delimiter, &encoding, offset, max))
        .await
        .map_err(anyhow::Error::from)?
        .map_err(|e| match e.kind() {
            // Its own type: the failed import records the code `file_missing`.
            std::io::ErrorKind::NotFound => AppError::Internal(anyhow::Error::new(FileMissing)),
            _ => AppError::Internal(anyhow::Error::from(e)),
        })
}

/// A spreadsheet says "Qualifié" or "Qualified" where the API says `qualified`: for a choice
/// field, a cell holding an option's label in English or French (case ignored) is read as that
/// option's code. Only imports do this; the API takes the codes its document lists.
fn choice_code(kind: crate::object::Kind, text: &str) -> &str {
    let crate::object::Kind::Choice(options) = kind else {
        return text;
    };
    let wanted = text.trim().to_lowercase();
    options
        .iter()
        .find(|option| {
            [kernel::i18n::Lang::En, kernel::i18n::Lang::Fr].into_iter().any(|lang| {
                let key = format!("crm.choice.{option}");
                let label = kernel::i18n::T(lang).get(&key);
                label != key && label.to_lowercase() == wanted
            })
        })
        .copied()
        .unwrap_or(text)
}

/// The first rows, parsed, with their errors: what the mapping screen shows.
pub async fn preview(tx: &mut OrgTx, import: &ImportRow, dir: &Path, data_offset: u64) -> Result<Value, AppError> {
    let object = import.object()?;
    if !tokio::fs::try_exists(file::path_of(dir, tx.org().0, import.import_id)).await.unwrap_or(false) {
        // The file is gone (removed by hand, or a failed import's run could not find it): the
        // import's page still opens, without a preview, so it can be discarded or reverted.
        return Ok(json!([]));
    }
    let mut plan = Plan::new(object, &import.mapping.0);
    let defs = custom_fields::definitions(tx, object).await?;
    let batch = read(dir, tx.org().0, import, data_offset, 5).await?;
    plan.prepare(tx, &batch.rows, import.created_at).await?;
    let malformed = batch.malformed.iter().map(|(i, cells, problem)| {
        (*i, json!({ "row": *i + 2, "cells": cells, "values": {}, "error": problem.reason(), "problems": [problem.problem()] }))
    });
    let mut rows: Vec<(i64, Value)> = batch
        .rows
        .iter()
        .map(|(i, record)| {
            let row = *i + 2;
            let cells: Vec<&str> = record.iter().collect();
            match parse_row(&plan, record, row) {
                Err(reject) => {
                    json!({ "row": row, "cells": cells, "values": {}, "error": reject.reason, "problems": reject.problems })
                }
                Ok(parsed) => {
                    let mut values: Map<String, Value> =
                        parsed.cells.iter().map(|(d, c)| (d.key.to_string(), c.json.clone())).collect();
                    let problems: Vec<Problem> = match check_create(object, &defs, &parsed) {
                        Ok(custom) => {
                            for (k, v) in custom {
                                values.insert(format!("custom.{k}"), v);
                            }
                            Vec::new()
                        }
                        Err(errors) => errors.iter().map(Problem::from).collect(),
                    };
                    let error =
                        if problems.is_empty() { Value::Null } else { Value::String(problem::english(&problems)) };
                    json!({ "row": row, "cells": cells, "values": values, "error": error, "problems": problems })
                }
            }
        })
        .zip(batch.rows.iter().map(|(i, _)| *i))
        .map(|(value, i)| (i, value))
        .chain(malformed)
        .collect();
    rows.sort_by_key(|(i, _)| *i);
    Ok(Value::Array(rows.into_iter().map(|(_, v)| v).collect()))
}

/// The dry run: the whole file, classified as the run would, nothing written but the findings.
/// Duplicates within the file are found with a set of 64-bit key hashes (16 bytes a row: 16 MB for
/// a million rows) — the one part of the dry run whose memory grows with the file.
pub async fn dry_run(tx: &mut OrgTx, import: &ImportRow, dir: &Path, data_offset: u64) -> Result<Value, AppError> {
    const KEPT_ERRORS: usize = 100;
    /// Updated records whose changes (old → new) the report shows.
    const KEPT_DIFFS: usize = 20;
    let object = import.object()?;
    let mode = import.mode()?;
    let mut diffs: Vec<Value> = Vec::new();
    let mut plan = Plan::new(object, &import.mapping.0);
    let defs = custom_fields::definitions(tx, object).await?;
    let mut counts = Counts::default();
    let mut kept: Vec<Reject> = Vec::new();
    let mut seen: HashSet<u64> = HashSet::new();
    let mut offset = data_offset;
    let mut next_row = 0i64;
    loop {
        let batch = read(dir, tx.org().0, import, offset, 5000).await?;
        plan.prepare(tx, &batch.rows, import.created_at).await?;
        let mut parsed = Vec::new();
        let mut rejects = malformed_rejects(&batch, next_row);
        counts.rows += batch.malformed.len() as i64;
        for (i, record) in &batch.rows {
            match parse_row(&plan, record, next_row + i + 2) {
                Ok(p) => parsed.push(p),
                Err(r) => rejects.push(r),
            }
        }
        next_row += batch.consumed;
        counts.rows += batch.rows.len() as i64;
        let keys: Vec<String> = parsed.iter().filter_map(|p| p.key.clone()).collect();
        let found = match plan.key_field() {
            Some(k) => existing(tx, object, k, &keys).await?,
            None => HashMap::new(),
        };
        for p in parsed {
            if let Some(key) = &p.key
                && !seen.insert(hash_key(key))
            {
                rejects.push(Reject::duplicate(p.row, Vec::new()));
                continue;
            }
            let written = match p.key.as_ref().and_then(|k| found.get(k)) {
                Some(_) if mode == Mode::CreateOnly => {
                    counts.skipped += 1;
                    false
                }
                Some((id, _, current)) => match check_update(&defs, &p, *id, current, mode) {
                    Ok(u) if u.changed.is_empty() && u.custom.is_none() => {
                        counts.unchanged += 1;
                        // The phone kept as a note is still written.
                        true
                    }
                    Ok(u) => {
                        counts.to_update += 1;
                        if diffs.len() < KEPT_DIFFS {
                            diffs.push(json!({ "row": p.row, "key": p.key, "changes": u.diff() }));
                        }
                        true
                    }
                    Err(errors) => {
                        rejects.push(Reject::errors(p.row, &errors, Vec::new()));
                        false
                    }
                },
                None => match check_create(object, &defs, &p) {
                    Ok(_) => {
                        counts.to_create += 1;
                        true
                    }
                    Err(errors) => {
                        rejects.push(Reject::errors(p.row, &errors, Vec::new()));
                        false
                    }
                },
            };
            if written && let Some(problems) = p.warning() {
                rejects.push(Reject::new(p.row, "warning", problems, Vec::new()));
            }
        }
        rejects.sort_by_key(|r| r.row);
        for r in rejects {
            match r.kind {
                "duplicate" => counts.duplicates += 1,
                "warning" => counts.warnings += 1,
                _ => counts.errors += 1,
            }
            if kept.len() < KEPT_ERRORS {
                kept.push(r);
            }
        }
        offset = batch.next_offset;
        if batch.at_end {
            break;
        }
    }
    Ok(json!({ "counts": counts, "rejects": kept, "mode": mode.as_str(), "updates": diffs }))
}

/// The rows of a batch that are not well-formed CSV (an unbalanced quote), as rejects numbered
/// like every row: `first_row` is the number of records before the batch.
fn malformed_rejects(batch: &file::Batch, first_row: i64) -> Vec<Reject> {
    batch
        .malformed
        .iter()
        .map(|(i, cells, problem)| Reject::new(first_row + i + 2, "error", vec![problem.problem()], cells.clone()))
        .collect()
}

/// What one batch of the run did.
#[derive(Debug, Default, Clone, Copy)]
pub struct BatchOutcome {
    pub counts: Counts,
    pub at_end: bool,
}

/// Runs the next batch of `import` (status `running`) in `tx` and moves its checkpoint. The
/// caller commits.
pub async fn run_batch(
    tx: &mut OrgTx,
    import: &ImportRow,
    dir: &Path,
    now: OffsetDateTime,
) -> Result<BatchOutcome, AppError> {
    let object = import.object()?;
    let mode = import.mode()?;
    let mut plan = Plan::new(object, &import.mapping.0);
    let defs = custom_fields::definitions(tx, object).await?;
    let batch = read(dir, tx.org().0, import, import.next_offset as u64, import.batch_rows.max(1) as usize).await?;
    plan.prepare(tx, &batch.rows, now).await?;
    let mut counts = Counts { rows: (batch.rows.len() + batch.malformed.len()) as i64, ..Counts::default() };
    let mut rejects: Vec<Reject> = malformed_rejects(&batch, import.next_row);
    let mut parsed = Vec::with_capacity(batch.rows.len());
    for (i, record) in &batch.rows {
        match parse_row(&plan, record, import.next_row + i + 2) {
            Ok(p) => parsed.push(p),
            Err(r) => rejects.push(r),
        }
    }
    drop(batch.rows);

    // Dedupe: within the batch, against records this import created in earlier batches (their
    // `import_id`), and against existing records it already updated (`import_touched`).
    let keys: Vec<String> = parsed.iter().filter_map(|p| p.key.clone()).collect();
    let found = match plan.key_field() {
        Some(k) => existing(tx, object, k, &keys).await?,
        None => HashMap::new(),
    };
    let mut in_batch: HashSet<String> = HashSet::new();
    let mut warnings: Vec<Reject> = Vec::new();
    // The notes keeping unreadable phones are written in the language of who started the import.
    let lang = creator_lang(tx, import.created_by).await?;
    let mut creates: Vec<(Parsed, Map<String, Value>)> = Vec::new();
    let mut to_update: Vec<(Parsed, Uuid)> = Vec::new();
    for p in parsed {
        if let Some(key) = &p.key
            && !in_batch.insert(key.clone())
        {
            rejects.push(Reject::duplicate(p.row, p.raw));
            continue;
        }
        match p.key.as_ref().and_then(|k| found.get(k)) {
            Some((_, Some(created_by_import), _)) if *created_by_import == import.import_id => {
                rejects.push(Reject::duplicate(p.row, p.raw));
            }
            Some(_) if mode == Mode::CreateOnly => counts.skipped += 1,
            Some((id, _, _)) => to_update.push((p, *id)),
            None => match check_create(object, &defs, &p) {
                Ok(custom) => creates.push((p, custom)),
                Err(errors) => rejects.push(Reject::errors(p.row, &errors, p.raw)),
            },
        }
    }
    if !to_update.is_empty() {
        let keys: Vec<String> = to_update.iter().filter_map(|(p, _)| p.key.clone()).collect();
        let fresh: Vec<String> = sqlx::query_scalar!(
            "insert into import_touched (org_id, import_id, key) select $1, $2, k from unnest($3::text[]) k
             on conflict do nothing returning key",
            tx.org().0,
            import.import_id,
            &keys
        )
        .fetch_all(tx.conn())
        .await?;
        let fresh: HashSet<String> = fresh.into_iter().collect();
        let mut updates = Vec::new();
        let mut notes_only = Vec::new();
        for (p, id) in to_update {
            if !p.key.as_ref().is_some_and(|k| fresh.contains(k)) {
                rejects.push(Reject::duplicate(p.row, p.raw));
                continue;
            }
            let current = p.key.as_ref().and_then(|k| found.get(k)).map(|(_, _, r)| r.clone()).unwrap_or(Value::Null);
            match check_update(&defs, &p, id, &current, mode) {
                Ok(u) if u.changed.is_empty() && u.custom.is_none() => {
                    counts.unchanged += 1;
                    // Nothing to change, but a phone kept as a note is still written.
                    if !u.warnings.is_empty() {
                        notes_only.push(u);
                    }
                }
                Ok(u) => updates.push(u),
                Err(errors) => rejects.push(Reject::errors(p.row, &errors, p.raw)),
            }
        }
        let writer = Writer { object, plan: &plan, import, now, lang };
        counts.to_update = write_isolating(tx, &updates, &writer, &mut rejects).await?;
        let notes: Vec<(Uuid, &[(&'static FieldDef, String)])> =
            notes_only.iter().map(|u| (u.id, u.warnings.as_slice())).collect();
        write_phone_notes(tx, object, import, &notes, lang, now).await?;
        for u in updates.iter().chain(&notes_only) {
            if let Some(problems) = warning(&u.warnings) {
                warnings.push(Reject::new(u.row, "warning", problems, u.raw.clone()));
            }
        }
    }
    let writer = Writer { object, plan: &plan, import, now, lang };
    counts.to_create = write_isolating(tx, &creates, &writer, &mut rejects).await?;
    for (p, _) in &creates {
        if let Some(problems) = p.warning() {
            warnings.push(Reject::new(p.row, "warning", problems, p.raw.clone()));
        }
    }
    counts.duplicates = rejects.iter().filter(|r| r.kind == "duplicate").count() as i64;
    counts.errors = rejects.len() as i64 - counts.duplicates;
    // A row the database refused after all was not written: no warning for it.
    let refused: HashSet<i64> = rejects.iter().map(|r| r.row).collect();
    warnings.retain(|w| !refused.contains(&w.row));
    counts.warnings = warnings.len() as i64;
    write_rejects(tx, import.import_id, &rejects).await?;
    write_rejects(tx, import.import_id, &warnings).await?;

    sqlx::query!(
        "update imports set next_offset = $3, next_row = next_row + $11, batches_done = batches_done + 1,
                rows_done = rows_done + $4, created_count = created_count + $5, updated_count = updated_count + $6,
                duplicate_count = duplicate_count + $7, error_count = error_count + $8, updated_at = $9,
                warning_count = warning_count + $12,
                status = case when $10 then 'done' else status end,
                finished_at = case when $10 then $9 else finished_at end
          where org_id = $1 and import_id = $2",
        tx.org().0,
        import.import_id,
        batch.next_offset as i64,
        counts.rows,
        counts.to_create,
        counts.to_update,
        counts.duplicates,
        counts.errors,
        now,
        batch.at_end,
        batch.consumed,
        counts.warnings
    )
    .execute(tx.conn())
    .await?;
    Ok(BatchOutcome { counts, at_end: batch.at_end })
}

/// The problem to give when the database refused a row's data (a constraint, a value out of
/// range) rather than failing for a reason of its own; `None` for any other error.
fn refused_row(error: &AppError) -> Option<Problem> {
    let AppError::Internal(error) = error else { return None };
    let Some(sqlx::Error::Database(db)) = error.downcast_ref::<sqlx::Error>() else { return None };
    let code = db.code()?;
    // The constraint's name stays in the log, not in what the person reads.
    (code.starts_with("23") || code.starts_with("22")).then(|| {
        tracing::info!(constraint = db.constraint(), "import row refused by the database");
        Problem::refused_by_database()
    })
}

/// A set-based write of some rows of a batch (creates or updates), for [`write_isolating`].
trait WriteRows<T> {
    fn write<'a>(
        &'a self,
        tx: &'a mut OrgTx,
        rows: &'a [T],
    ) -> impl std::future::Future<Output = Result<(), AppError>> + Send + 'a;

    /// The file row and its cells, for a reject.
    fn identify(item: &T) -> (i64, Vec<String>);
}

/// What every write of a batch needs.
struct Writer<'a> {
    object: ObjectType,
    plan: &'a Plan,
    import: &'a ImportRow,
    now: OffsetDateTime,
    /// The language of the notes that keep unreadable phones.
    lang: Lang,
}

impl WriteRows<(Parsed, Map<String, Value>)> for Writer<'_> {
    fn write<'a>(
        &'a self,
        tx: &'a mut OrgTx,
        rows: &'a [(Parsed, Map<String, Value>)],
    ) -> impl std::future::Future<Output = Result<(), AppError>> + Send + 'a {
        write_creates(tx, self.object, self.plan, self.import, rows, self.lang, self.now)
    }

    fn identify((parsed, _): &(Parsed, Map<String, Value>)) -> (i64, Vec<String>) {
        (parsed.row, parsed.raw.clone())
    }
}

impl WriteRows<Update> for Writer<'_> {
    fn write<'a>(
        &'a self,
        tx: &'a mut OrgTx,
        rows: &'a [Update],
    ) -> impl std::future::Future<Output = Result<(), AppError>> + Send + 'a {
        write_updates(tx, self.object, self.plan, self.import, rows, self.lang, self.now)
    }

    fn identify(update: &Update) -> (i64, Vec<String>) {
        (update.row, update.raw.clone())
    }
}

/// Writes `items` with one set-based `write`; if the database refuses one row's data, writes them
/// one at a time instead, each under a savepoint, so that row alone becomes a reject and the rest
/// of the batch is kept. Returns how many were written.
///
/// Validation in Rust mirrors the table's checks, so this is the rare path: a reference to a
/// member or department deleted since, a concurrent create of the same email.
async fn write_isolating<T, W: WriteRows<T>>(
    tx: &mut OrgTx,
    items: &[T],
    writer: &W,
    rejects: &mut Vec<Reject>,
) -> Result<i64, AppError> {
    if items.is_empty() {
        return Ok(0);
    }
    sqlx::query!("savepoint import_rows").execute(tx.conn()).await?;
    match writer.write(tx, items).await {
        Ok(()) => {
            sqlx::query!("release savepoint import_rows").execute(tx.conn()).await?;
            return Ok(items.len() as i64);
        }
        Err(error) if refused_row(&error).is_some() => {
            sqlx::query!("rollback to savepoint import_rows").execute(tx.conn()).await?;
        }
        Err(error) => return Err(error),
    }
    let mut written = 0;
    for item in items {
        sqlx::query!("savepoint import_row").execute(tx.conn()).await?;
        match writer.write(tx, std::slice::from_ref(item)).await {
            Ok(()) => {
                sqlx::query!("release savepoint import_row").execute(tx.conn()).await?;
                written += 1;
            }
            Err(error) => {
                let Some(problem) = refused_row(&error) else { return Err(error) };
                sqlx::query!("rollback to savepoint import_row").execute(tx.conn()).await?;
                let (row, raw) = W::identify(item);
                rejects.push(Reject::new(row, "error", vec![problem], raw));
            }
        }
    }
    sqlx::query!("release savepoint import_rows").execute(tx.conn()).await?;
    Ok(written)
}

/// Inserts the batch's new records and their `imported` history rows: two statements.
///
/// Why one history row per created record: the record's timeline then starts with "imported
/// (file, by whom)" like any record starts with "created"; it is one set-based insert per batch,
/// about a third of the batch's write time (measured in docs/benchmarks.md).
async fn write_creates(
    tx: &mut OrgTx,
    object: ObjectType,
    plan: &Plan,
    import: &ImportRow,
    creates: &[(Parsed, Map<String, Value>)],
    lang: Lang,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    if creates.is_empty() {
        return Ok(());
    }
    let mut fields = plan.fields();
    let owner_mapped = fields.iter().any(|f| f.key == "owner_id");
    if !owner_mapped && let Some(owner) = object.field("owner_id") {
        fields.push(owner);
    }
    if object == ObjectType::Deal {
        // Always written: `DealRefs::resolve` gave every row its pipeline and stage.
        for key in ["pipeline_id", "stage_id"] {
            if let Some(def) = object.field(key).filter(|d| !fields.iter().any(|f| f.key == d.key)) {
                fields.push(def);
            }
        }
    }
    let ids: Vec<Uuid> = creates.iter().map(|_| Uuid::now_v7()).collect();
    let customs: Vec<String> = creates.iter().map(|(_, c)| Value::Object(c.clone()).to_string()).collect();
    let mut columns: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(creates.len()); fields.len()];
    for (p, _) in creates {
        for (i, def) in fields.iter().enumerate() {
            let value = match p.cells.iter().find(|(d, _)| d.key == def.key) {
                Some((_, cell)) => cell.sql.clone(),
                None if def.key == "owner_id" => import.created_by.map(|u| u.to_string()),
                // The column's default, as a create through the API gets when it gives none: a
                // mapped column whose cell is empty (or missing, on a row shorter than the header)
                // must not write an empty status the table refuses — the dry run counted the row.
                None if def.kept => kept_default(def.key).map(str::to_string),
                None => Cell::empty(def.kind).sql,
            };
            columns[i].push(value);
        }
    }
    let names: Vec<&str> = fields.iter().map(|f| f.key).collect();
    let aliases: Vec<String> = (0..fields.len()).map(|i| format!("c{i}")).collect();
    let selects: Vec<String> =
        fields.iter().enumerate().map(|(i, f)| format!("u.c{i}::{}", f.kind.sql_type())).collect();
    let params: Vec<String> = (0..fields.len()).map(|i| format!("${}::text[]", i + 7)).collect();
    // A deal enters its stage when it is created.
    let (deal_column, deal_value) = if object == ObjectType::Deal { (", stage_changed_at", ", $5") } else { ("", "") };
    let sql = format!(
        "insert into {table} (org_id, {id}, custom, created_by, created_at, updated_at, import_id{deal_column}{sep}{names})
         select $1, u.id, u.custom::jsonb, $4, $5, $5, $6{deal_value}{sep}{selects}
           from unnest($2::uuid[], $3::text[]{sep}{params}) as u(id, custom{sep}{aliases})",
        table = object.table(),
        id = object.id_column(),
        sep = if fields.is_empty() { "" } else { ", " },
        names = names.join(", "),
        selects = selects.join(", "),
        params = params.join(", "),
        aliases = aliases.join(", "),
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tx.org())
        .bind(&ids)
        .bind(&customs)
        .bind(import.created_by)
        .bind(now)
        .bind(import.import_id);
    for column in &columns {
        query = query.bind(column);
    }
    query.execute(tx.conn()).await?;
    if object == ObjectType::Deal {
        // Deals imported into a won or lost stage are closed, as when moved there.
        sqlx::query!(
            "update deals d set closed_at = $3 from pipeline_stages s
              where d.org_id = $1 and d.deal_id = any($2) and s.org_id = d.org_id and s.stage_id = d.stage_id
                and s.outcome <> 'open'",
            tx.org().0,
            &ids,
            now
        )
        .execute(tx.conn())
        .await?;
    }
    let change_ids: Vec<Uuid> = ids.iter().map(|_| Uuid::now_v7()).collect();
    let sql = format!(
        "insert into record_changes (org_id, change_id, {id}, action, field, changed_by, source, import_id, changed_at)
         select $1, u.change_id, u.id, 'imported', '', $4, 'import', $5, $6
           from unnest($2::uuid[], $3::uuid[]) as u(change_id, id)",
        id = object.id_column()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tx.org())
        .bind(&change_ids)
        .bind(&ids)
        .bind(import.created_by)
        .bind(import.import_id)
        .bind(now)
        .execute(tx.conn())
        .await?;
    let notes: Vec<(Uuid, &[(&'static FieldDef, String)])> =
        ids.iter().zip(creates).map(|(id, (p, _))| (*id, p.warnings.as_slice())).collect();
    write_phone_notes(tx, object, import, &notes, lang, now).await?;
    Ok(())
}

/// The column default of a [`FieldDef::kept`] field (the lead's status, the deal's currency), as
/// the table declares it.
fn kept_default(key: &str) -> Option<&'static str> {
    match key {
        "status" => Some("new"),
        "currency" => Some("EUR"),
        _ => None,
    }
}

/// The language of the member who started the import (English when unknown).
async fn creator_lang(tx: &mut OrgTx, user: Option<Uuid>) -> Result<Lang, AppError> {
    let Some(user) = user else { return Ok(Lang::En) };
    let language =
        sqlx::query_scalar!("select language from users where org_id = $1 and user_id = $2", tx.org().0, user)
            .fetch_optional(tx.conn())
            .await?;
    Ok(language.as_deref().and_then(Lang::parse).unwrap_or(Lang::En))
}

/// Keeps the phone cells an import could not read as notes on their records ("Phone number not
/// recognised on import (Phone): 06 90 12"), so nothing typed in the file is lost while the phone
/// field itself keeps only valid numbers (its table check and the API say E.164).
async fn write_phone_notes(
    tx: &mut OrgTx,
    object: ObjectType,
    import: &ImportRow,
    rows: &[(Uuid, &[(&'static FieldDef, String)])],
    lang: Lang,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    let t = kernel::i18n::T(lang);
    let (mut ids, mut records, mut bodies) = (Vec::new(), Vec::new(), Vec::new());
    for (record, warnings) in rows {
        for (def, text) in warnings.iter() {
            ids.push(Uuid::now_v7());
            records.push(*record);
            let field = t.get(&format!("crm.field.{}", def.key)).to_string();
            bodies.push(
                t.fmt("crm.import.phone_note", &[("field", &field), ("file", &import.file_name), ("text", text)]),
            );
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "insert into notes (org_id, note_id, {id}, body, author_id, created_at, updated_at)
         select $1, u.nid, u.rid, u.body, $5, $6, $6 from unnest($2::uuid[], $3::uuid[], $4::text[]) as u(nid, rid, body)",
        id = object.id_column()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tx.org())
        .bind(&ids)
        .bind(&records)
        .bind(&bodies)
        .bind(import.created_by)
        .bind(now)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Updates existing records (only changed, non-empty cells) and writes one history row per
/// changed field, old → new, so a revert can restore them.
async fn write_updates(
    tx: &mut OrgTx,
    object: ObjectType,
    plan: &Plan,
    import: &ImportRow,
    updates: &[Update],
    lang: Lang,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    if updates.is_empty() {
        return Ok(());
    }
    let fields = plan.fields();
    let ids: Vec<Uuid> = updates.iter().map(|u| u.id).collect();
    let customs: Vec<Option<String>> =
        updates.iter().map(|u| u.custom.as_ref().map(|c| Value::Object(c.clone()).to_string())).collect();
    let mut columns: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(updates.len()); fields.len()];
    for u in updates {
        for (i, def) in fields.iter().enumerate() {
            columns[i].push(u.changed.iter().find(|(d, _, _)| d.key == def.key).and_then(|(_, c, _)| c.sql.clone()));
        }
    }
    let sets: Vec<String> = fields
        .iter()
        .enumerate()
        .map(|(i, f)| format!("{k} = coalesce(u.c{i}::{ty}, t.{k})", k = f.key, ty = f.kind.sql_type()))
        .collect();
    let params: Vec<String> = (0..fields.len()).map(|i| format!("${}::text[]", i + 5)).collect();
    let aliases: Vec<String> = (0..fields.len()).map(|i| format!("c{i}")).collect();
    let sep = if fields.is_empty() { "" } else { ", " };
    let sql = format!(
        "update {table} t set updated_at = $4, custom = coalesce(u.custom::jsonb, t.custom){sep}{sets}
           from unnest($2::uuid[], $3::text[]{sep}{params}) as u(id, custom{sep}{aliases})
          where t.org_id = $1 and t.{id} = u.id",
        table = object.table(),
        id = object.id_column(),
        sets = sets.join(", "),
        params = params.join(", "),
        aliases = aliases.join(", "),
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tx.org()).bind(&ids).bind(&customs).bind(now);
    for column in &columns {
        query = query.bind(column);
    }
    query.execute(tx.conn()).await?;

    let (mut change_ids, mut record_ids, mut names, mut olds, mut news) = (vec![], vec![], vec![], vec![], vec![]);
    for u in updates {
        for (def, cell, old) in &u.changed {
            change_ids.push(Uuid::now_v7());
            record_ids.push(u.id);
            names.push(def.key.to_string());
            olds.push(old.to_string());
            news.push(cell.json.to_string());
        }
        for (key, old, new) in &u.custom_changes {
            change_ids.push(Uuid::now_v7());
            record_ids.push(u.id);
            names.push(format!("custom.{key}"));
            olds.push(old.to_string());
            news.push(new.to_string());
        }
    }
    let sql = format!(
        "insert into record_changes (org_id, change_id, {id}, action, field, old_value, new_value, changed_by, source,
                                     import_id, changed_at)
         select $1, u.cid, u.rid, 'updated', u.field, u.old::jsonb, u.new::jsonb, $7, 'import', $8, $9
           from unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[]) as u(cid, rid, field, old, new)",
        id = object.id_column()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tx.org())
        .bind(&change_ids)
        .bind(&record_ids)
        .bind(&names)
        .bind(&olds)
        .bind(&news)
        .bind(import.created_by)
        .bind(import.import_id)
        .bind(now)
        .execute(tx.conn())
        .await?;
    let notes: Vec<(Uuid, &[(&'static FieldDef, String)])> =
        updates.iter().map(|u| (u.id, u.warnings.as_slice())).collect();
    write_phone_notes(tx, object, import, &notes, lang, now).await?;
    Ok(())
}

async fn write_rejects(tx: &mut OrgTx, import_id: Uuid, rejects: &[Reject]) -> Result<(), AppError> {
    if rejects.is_empty() {
        return Ok(());
    }
    let rows: Vec<i64> = rejects.iter().map(|r| r.row).collect();
    let kinds: Vec<&str> = rejects.iter().map(|r| r.kind).collect();
    // A NUL cannot be stored in text or jsonb: the kept cells and reasons go without it.
    let reasons: Vec<String> = rejects.iter().map(|r| r.reason.replace('\0', "")).collect();
    let problems: Vec<String> = rejects
        .iter()
        .map(|r| json!(r.problems.iter().map(Problem::without_nul).collect::<Vec<_>>()).to_string())
        .collect();
    let cells: Vec<String> = rejects
        .iter()
        .map(|r| json!(r.raw.iter().map(|c| c.replace('\0', "")).collect::<Vec<_>>()).to_string())
        .collect();
    sqlx::query!(
        "insert into import_rejects (org_id, import_id, row_number, kind, reason, cells, problems)
         select $1, $2, u.r, u.k, u.reason, u.cells::jsonb, u.problems::jsonb
           from unnest($3::int8[], $4::text[], $5::text[], $6::text[], $7::text[]) as u(r, k, reason, cells, problems)
         on conflict do nothing",
        tx.org().0,
        import_id,
        &rows,
        // Borrowed texts encode as text[] too; the macro expects owned strings unless told.
        &kinds as &[&str],
        &reasons,
        &cells,
        &problems
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Undoing an import, step by step (each step is one job run and one transaction):
/// [`restore_updated`] puts back every field the import updated, from the history's old values,
/// and writes the restoring change to the history; then [`delete_created`] deletes the records it
/// created, a batch at a time (their history, notes and tasks go by cascade); [`finish_revert`]
/// marks it reverted.
pub async fn restore_updated(
    tx: &mut OrgTx,
    import: &ImportRow,
    user: Option<Uuid>,
    now: OffsetDateTime,
) -> Result<u64, AppError> {
    let object = import.object()?;
    let id = object.id_column();
    let table = object.table();
    let fields: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select distinct field from record_changes
          where org_id = $1 and import_id = $2 and action = 'updated' and {id} is not null"
    )))
    .bind(tx.org())
    .bind(import.import_id)
    .fetch_all(tx.conn())
    .await?;
    let mut restored = 0;
    for field in &fields {
        let set = match field.strip_prefix("custom.") {
            Some(_) => "custom = case when rc.old_value is null or jsonb_typeof(rc.old_value) = 'null'
                                     then t.custom - substr($3, 8)
                                     else jsonb_set(t.custom, array[substr($3, 8)], rc.old_value) end"
                .to_string(),
            None => {
                let Some(def) = object.field(field) else { continue };
                format!("{k} = (rc.old_value #>> '{{}}')::{ty}", k = def.key, ty = def.kind.sql_type())
            }
        };
        let sql = format!(
            "update {table} t set {set}, updated_at = $4 from record_changes rc
              where t.org_id = $1 and rc.org_id = $1 and rc.import_id = $2 and rc.action = 'updated'
                and rc.field = $3 and rc.{id} = t.{id}"
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tx.org())
            .bind(import.import_id)
            .bind(field)
            .bind(now)
            .execute(tx.conn())
            .await?;
        restored += done.rows_affected();
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "insert into record_changes (org_id, change_id, {id}, action, field, old_value, new_value, changed_by, source,
                                     changed_at)
         select org_id, gen_random_uuid(), {id}, 'updated', field, new_value, old_value, $3, 'system', $4
           from record_changes where org_id = $1 and import_id = $2 and action = 'updated' and {id} is not null"
    )))
    .bind(tx.org())
    .bind(import.import_id)
    .bind(user)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(restored)
}

/// Deletes up to `limit` of the records the import created; returns how many.
pub async fn delete_created(tx: &mut OrgTx, import: &ImportRow, limit: i64) -> Result<u64, AppError> {
    let object = import.object()?;
    let (id, table) = (object.id_column(), object.table());
    let sql = format!(
        "delete from {table} where org_id = $1 and {id} in
           (select {id} from {table} where org_id = $1 and import_id = $2 limit $3)"
    );
    let deleted = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tx.org())
        .bind(import.import_id)
        .bind(limit)
        .execute(tx.conn())
        .await?;
    Ok(deleted.rows_affected())
}

/// The last step: forgets what the import touched and marks it reverted.
pub async fn finish_revert(tx: &mut OrgTx, import: &ImportRow, now: OffsetDateTime) -> Result<(), AppError> {
    sqlx::query!("delete from import_touched where org_id = $1 and import_id = $2", tx.org().0, import.import_id)
        .execute(tx.conn())
        .await?;
    sqlx::query!(
        "update imports set status = 'reverted', reverted_at = $3, updated_at = $3 where org_id = $1 and import_id = $2",
        tx.org().0,
        import.import_id,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}
