//! CSV import of leads, contacts and companies (issue #4 item 7): upload → mapping with header
//! auto-match and preview → dry run → run as background jobs, one batch per job → rejects CSV →
//! revert.
//!
//! Why one batch per job: a batch, its rejects, its counters and the checkpoint commit with the
//! job's completion in the job's own tenant transaction (kernel::jobs), and the job enqueues the
//! next batch in that same transaction. A crash anywhere loses only the batch in flight; the job
//! queue retries it from the committed checkpoint, so nothing is imported twice or left
//! half-written, and no handler runs longer than one batch.
//!
//! Layout: this file holds the types, the rules and the constants; [`store`] the SQL of the
//! `imports` rows, [`service`] each step a person takes (upload, mapping, dry run, run, revert,
//! rejects) with its audit event, the one function the API ([`api`]) and the pages ([`pages`])
//! both call; [`jobs`] the background batches; [`engine`] parses, checks and writes the rows;
//! [`file`] reads the CSV file; [`mapping`] matches its columns to fields; [`openapi`] documents
//! the API.

pub mod api;
pub mod engine;
pub mod file;
pub mod jobs;
pub mod mapping;
pub mod openapi;
pub mod pages;
pub mod problem;
pub mod service;
pub mod store;

use std::collections::BTreeMap;
use std::path::PathBuf;

use kernel::AppError;
use kernel::audit::AuditLog;
use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use kernel::clock::Clock;
use kernel::db::Db;
use kernel::web::AppState;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::object::ObjectType;

// The paths the CRM module (jobs) and `relais bench crm` use.
pub use jobs::{register, run_to_end};
pub use service::{create_import, start_run};

pub const DRY_RUN_JOB: &str = "crm.import.dry_run";
pub const RUN_JOB: &str = "crm.import.run";
pub const REVERT_JOB: &str = "crm.import.revert";
/// Removes the import files an interrupted upload or a crash left behind ([`jobs`]).
pub const SWEEP_JOB: &str = "crm.import.sweep";
/// A batch that keeps failing is retried this many times, then the import is marked failed.
const MAX_ATTEMPTS: i32 = 5;
pub const DEFAULT_BATCH_ROWS: i32 = 5000;

/// Where uploaded files are kept: `<data dir>/imports/<org>/<import>.csv`.
pub fn imports_dir(state: &AppState) -> PathBuf {
    state.config.data_dir.join("imports")
}

/// What the import services use of the application, named rather than the whole state: the
/// database, the clock (the time stamped on the step and its jobs), the audit log and the
/// directory of uploaded files. `&AppState` converts into it, so a handler passes its state as it
/// is.
pub struct ImportCtx<'a> {
    pub db: &'a Db,
    pub clock: &'a Clock,
    pub audit: &'a AuditLog,
    /// `<data dir>/imports`.
    pub dir: PathBuf,
}

impl<'a> From<&'a AppState> for ImportCtx<'a> {
    fn from(state: &'a AppState) -> Self {
        Self { db: &state.db, clock: &state.clock, audit: &state.audit, dir: imports_dir(state) }
    }
}

fn importable(object: Option<&str>) -> Result<ObjectType, AppError> {
    match object.and_then(ObjectType::parse) {
        Some(t) => Ok(t),
        None => Err(AppError::field("object", "invalid_choice", "Choose contacts, leads, companies or deals.")),
    }
}

fn clean_file_name(name: Option<&str>) -> String {
    let name = name.unwrap_or_default();
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    if cleaned.trim().is_empty() { "import.csv".into() } else { cleaned.trim().to_string() }
}

/// Whether the import has not started yet: its mapping can change and a dry run or the run can
/// start.
fn not_started(row: &ImportRow) -> Result<(), AppError> {
    if matches!(row.status.as_str(), "uploaded" | "dry_run_done") {
        Ok(())
    } else {
        Err(AppError::Conflict("the import has already started".into()))
    }
}

/// The `imports` row as the engine needs it.
#[derive(Debug, Clone, Serialize)]
pub struct ImportRow {
    pub import_id: Uuid,
    pub object_type: String,
    pub status: String,
    pub file_name: String,
    pub size_bytes: i64,
    /// The encoding the file is read with: the detected one until the person chooses another.
    pub encoding: String,
    /// What the upload's detection found (see `file`'s encoding rule).
    pub detected_encoding: String,
    /// Invalid UTF-8 sequences found on upload: each is read as U+FFFD when the file is read as
    /// UTF-8.
    pub invalid_utf8: i64,
    pub delimiter: String,
    pub headers: sqlx::types::Json<Vec<String>>,
    pub mapping: sqlx::types::Json<BTreeMap<String, String>>,
    pub dry_run: Option<sqlx::types::Json<Value>>,
    pub next_offset: i64,
    pub next_row: i64,
    pub batches_done: i32,
    pub batch_rows: i32,
    pub rows_done: i64,
    pub created_count: i64,
    pub updated_count: i64,
    pub duplicate_count: i64,
    pub error_count: i64,
    /// Rows kept with a warning (a phone number kept as a note on the record).
    pub warning_count: i64,
    /// What the import does to a record that already has the row's key: `create_only`,
    /// `fill_empty` (the default) or `overwrite` ([`engine::Mode`]).
    pub mode: String,
    /// When failed: why, in English (the API's message; for an operator it may carry the job
    /// queue's detail).
    pub last_error: Option<String>,
    /// The same as a stable code, what pages translate: `file_missing`, `job_stopped` or
    /// `step_failed` (docs/crm.md).
    pub last_error_code: Option<String>,
    pub created_by: Option<Uuid>,
    /// While reverting: the fields restored so far (null until that step is done) and the records
    /// deleted so far.
    pub revert_restored_fields: Option<i64>,
    pub revert_deleted: i64,
    pub reverted_by: Option<Uuid>,
    /// When `failed`: the step that failed (`dry_run`, `run` or `revert`), which a retry resumes.
    pub failed_step: Option<String>,
    /// How many times a failed step was retried.
    pub retries: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
}

impl ImportRow {
    pub fn object(&self) -> Result<ObjectType, AppError> {
        ObjectType::parse(&self.object_type).ok_or_else(|| anyhow::anyhow!("unknown object type in imports").into())
    }

    pub fn mode(&self) -> Result<engine::Mode, AppError> {
        engine::Mode::parse(&self.mode).ok_or_else(|| anyhow::anyhow!("unknown import mode in imports").into())
    }

    /// Why the import failed, in `t`'s language; none when it did not. Never the stored English
    /// text, which may carry a technical detail.
    pub fn failure(&self, t: &kernel::i18n::T) -> Option<String> {
        self.last_error.as_ref()?;
        let code = self.last_error_code.as_deref().unwrap_or("step_failed");
        let key = format!("crm.import.failure_{code}");
        let text = t.get(&key);
        Some(if text == key { t.get("crm.import.failure_step_failed") } else { text }.to_string())
    }
}

/// An import as the API shows it, with its progress.
#[derive(Debug, Serialize)]
pub struct ImportView {
    #[serde(flatten)]
    pub import: ImportRow,
    /// Percent of the file processed (by bytes), 0–100.
    pub progress: u8,
}

pub fn view(import: ImportRow) -> ImportView {
    let progress = match import.status.as_str() {
        "done" | "reverted" => 100,
        "reverting" if import.created_count > 0 => {
            ((import.revert_deleted as f64 / import.created_count as f64) * 100.0).floor().min(99.0) as u8
        }
        // A dry run writes nothing: an import that failed (or was discarded) during it has made
        // no progress.
        "failed" | "discarded" if import.failed_step.as_deref() == Some("dry_run") => 0,
        "running" | "failed" | "discarded" if import.size_bytes > 0 => {
            ((import.next_offset.max(0) as f64 / import.size_bytes as f64) * 100.0).floor().min(99.0) as u8
        }
        _ => 0,
    };
    ImportView { import, progress }
}

pub const TABLES: &[TableEntry] = &[
    TableEntry {
        table: "imports",
        module: "crm",
        description: "CSV imports: object type, file name and size, detected encoding and delimiter, header row, \
                      column mapping, dry-run findings, progress checkpoint and counters, who started it.",
        subject: Subject::NoPerson,
        personal_columns: &["headers", "dry_run", "created_by"],
        purpose: "CRM: importing the customer organization's records from spreadsheets (issue #4)",
        legal_basis: LegalBasis::Contract,
        retention: Retention::AccountLifetimePlusDays { days: 30 },
        erasure: Erasure::Delete,
        tenant: true,
    },
    TableEntry {
        table: "import_rejects",
        module: "crm",
        description: "Rows an import refused or skipped as duplicates, and rows kept with a warning: row number, \
                      reason (English), its problems as codes (with a phone cell kept as a note) and the original cells.",
        subject: Subject::CrmContact,
        personal_columns: &["cells", "reason", "problems"],
        purpose: "CRM: importing the customer organization's records from spreadsheets (issue #4)",
        legal_basis: LegalBasis::Contract,
        retention: Retention::AccountLifetimePlusDays { days: 30 },
        erasure: Erasure::Delete,
        tenant: true,
    },
    TableEntry {
        table: "import_touched",
        module: "crm",
        description: "Dedupe keys (normalized email or domain) of existing records an import updated.",
        subject: Subject::CrmContact,
        personal_columns: &["key"],
        purpose: "CRM: importing the customer organization's records from spreadsheets (issue #4)",
        legal_basis: LegalBasis::Contract,
        retention: Retention::AccountLifetimePlusDays { days: 30 },
        erasure: Erasure::Delete,
        tenant: true,
    },
];
