//! Work on records (issue #4 item 2): notes in Markdown, tasks with assignee, due date, status and
//! reminder, and activities (calls, meetings, logged emails) with outcome and time — and the
//! record's timeline, which merges them with the field-level history, newest first.
//!
//! Every item belongs to one record and follows its visibility: the parent is read first in the
//! member's transaction, so an item of a record the member cannot see answers 404.
//!
//! Files: this one holds the types and rules; [`store`] the SQL, [`service`] the writes (and the
//! timeline) that the API ([`api`]) and the record page ([`pages`]) both call, [`jobs`] the task
//! reminder mails.

pub mod api;
pub mod jobs;
pub mod pages;
pub mod service;
pub mod store;

use kernel::{AppError, FieldError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::object::ObjectType;

pub use service::{move_work, timeline};

/// The tables of the work done on a record — each row belongs to exactly one record, through one
/// of `lead_id`, `contact_id`, `company_id`, `deal_id`. Merge and conversion move them.
pub(crate) const WORK_TABLES: [&str; 4] = ["notes", "tasks", "activities", "files"];

/// Markdown as safe HTML: no script, no event handler, no style, and no remote image (an image
/// would tell its server who read the note and when); links open without a referrer.
pub fn render_markdown(markdown: &str) -> String {
    let parser = pulldown_cmark::Parser::new_ext(
        markdown,
        pulldown_cmark::Options::ENABLE_TABLES | pulldown_cmark::Options::ENABLE_STRIKETHROUGH,
    );
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, parser);
    let mut tags: std::collections::HashSet<&str> = ammonia::Builder::default().clone_tags();
    tags.remove("img");
    ammonia::Builder::default()
        .tags(tags)
        .url_schemes(["http", "https", "mailto", "tel"].into_iter().collect())
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(&html)
        .to_string()
}

fn check_text(errors: &mut Vec<FieldError>, field: &str, text: &str, min: usize, max: usize) {
    let length = text.trim().chars().count();
    if length < min {
        errors.push(FieldError::new(field, "required", "This field is required."));
    } else if length > max {
        errors.push(FieldError::new(field, "too_long", format!("At most {max} characters.")));
    }
}

fn check_reminder(errors: &mut Vec<FieldError>, remind_at: Option<OffsetDateTime>, due_at: Option<OffsetDateTime>) {
    if let (Some(remind), Some(due)) = (remind_at, due_at)
        && remind > due
    {
        errors.push(FieldError::new("remind_at", "after_due", "The reminder comes after the due date."));
    }
}

fn errors_or_ok(errors: Vec<FieldError>) -> Result<(), AppError> {
    if errors.is_empty() { Ok(()) } else { Err(AppError::Validation(errors)) }
}

/// The three kinds of work item, each in its own table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkItem {
    Note,
    Task,
    Activity,
}

impl WorkItem {
    pub fn table(self) -> &'static str {
        match self {
            Self::Note => "notes",
            Self::Task => "tasks",
            Self::Activity => "activities",
        }
    }

    /// The audit event of its deletion.
    pub fn deleted_event(self) -> &'static str {
        match self {
            Self::Note => "note.deleted",
            Self::Task => "task.deleted",
            Self::Activity => "activity.deleted",
        }
    }

    pub fn id_column(self) -> &'static str {
        match self {
            Self::Note => "note_id",
            Self::Task => "task_id",
            Self::Activity => "activity_id",
        }
    }
}

// ---------------------------------------------------------------- notes

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NoteInput {
    /// Markdown, 1 to 100,000 characters.
    pub body: String,
}

pub fn validate_note(body: &str) -> Result<(), AppError> {
    let mut errors = Vec::new();
    check_text(&mut errors, "body", body, 1, 100_000);
    errors_or_ok(errors)
}

// ---------------------------------------------------------------- tasks

/// The statuses of a task.
pub const TASK_STATUSES: &[&str] = &["open", "done", "cancelled"];

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TaskInput {
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// A member; defaults to the creator.
    pub assignee_id: Option<Uuid>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub remind_at: Option<OffsetDateTime>,
}

pub fn validate_task(input: &TaskInput) -> Result<(), AppError> {
    let mut errors = Vec::new();
    check_text(&mut errors, "title", &input.title, 1, 200);
    check_text(&mut errors, "description", &input.description, 0, 10_000);
    check_reminder(&mut errors, input.remind_at, input.due_at);
    errors_or_ok(errors)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TaskChange {
    /// `open`, `done` or `cancelled`.
    pub status: Option<String>,
    pub title: Option<String>,
    pub assignee_id: Option<Uuid>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<OffsetDateTime>,
    /// A new reminder time: the reminder is mailed again at that time, even if an earlier one was.
    /// `null` removes the reminder; leaving the field out keeps it.
    #[serde(default, deserialize_with = "present_time")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub remind_at: Option<Option<OffsetDateTime>>,
}

/// Lets a PATCH tell "set to null" (`Some(None)`) from "leave it alone" (`None`) for a time.
fn present_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<OffsetDateTime>>, D::Error> {
    time::serde::rfc3339::option::deserialize(d).map(Some)
}

/// How far in the past a new reminder may be and still be mailed (at once): a form's minute
/// precision and clock skew. Further in the past, it is refused (it could never be sent on time).
pub const REMINDER_GRACE: time::Duration = time::Duration::minutes(1);

/// Refuses a new reminder time that has already passed (beyond [`REMINDER_GRACE`]), naming
/// `remind_at`.
pub fn check_reminder_not_past(remind_at: Option<OffsetDateTime>, now: OffsetDateTime) -> Result<(), AppError> {
    match remind_at {
        Some(at) if at < now - REMINDER_GRACE => Err(AppError::field(
            "remind_at",
            "in_the_past",
            "The reminder time has already passed: choose a time to come.",
        )),
        _ => Ok(()),
    }
}

pub fn validate_task_change(change: &TaskChange) -> Result<(), AppError> {
    let mut errors = Vec::new();
    if let Some(status) = &change.status
        && !TASK_STATUSES.contains(&status.as_str())
    {
        errors.push(FieldError::new("status", "invalid_choice", "open, done or cancelled."));
    }
    if let Some(title) = &change.title {
        check_text(&mut errors, "title", title, 1, 200);
    }
    check_reminder(&mut errors, change.remind_at.flatten(), change.due_at);
    errors_or_ok(errors)
}

/// A task as its reminder job reads it.
pub struct ReminderTask {
    pub title: String,
    pub status: String,
    pub due_at: Option<OffsetDateTime>,
    pub remind_at: Option<OffsetDateTime>,
    pub reminded_at: Option<OffsetDateTime>,
    pub assignee_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
}

impl ReminderTask {
    /// The path of the task's record page, or the CRM's home for a task on no record.
    pub fn record_path(&self) -> String {
        [
            (ObjectType::Lead, self.lead_id),
            (ObjectType::Contact, self.contact_id),
            (ObjectType::Company, self.company_id),
            (ObjectType::Deal, self.deal_id),
        ]
        .into_iter()
        .find_map(|(object, id)| id.map(|id| format!("/crm/{}/{id}", object.plural())))
        .unwrap_or_else(|| "/crm".into())
    }
}

// ---------------------------------------------------------------- activities

pub const ACTIVITY_KINDS: &[&str] = &["call", "meeting", "email"];

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ActivityInput {
    /// `call`, `meeting` or `email`.
    pub kind: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub body: String,
    /// Free text, e.g. "reached", "voicemail", "no show".
    #[serde(default)]
    pub outcome: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub occurred_at: Option<OffsetDateTime>,
    pub duration_minutes: Option<i32>,
}

pub fn validate_activity(input: &ActivityInput, now: OffsetDateTime) -> Result<(), AppError> {
    let mut errors = Vec::new();
    if !ACTIVITY_KINDS.contains(&input.kind.as_str()) {
        errors.push(FieldError::new("kind", "invalid_choice", "call, meeting or email."));
    }
    check_text(&mut errors, "subject", &input.subject, 0, 200);
    check_text(&mut errors, "body", &input.body, 0, 20_000);
    check_text(&mut errors, "outcome", &input.outcome, 0, 100);
    if input.duration_minutes.is_some_and(|d| !(0..=1440).contains(&d)) {
        errors.push(FieldError::new("duration_minutes", "invalid_duration", "From 0 to 1440 minutes."));
    }
    if input.occurred_at.is_some_and(|at| at > now + time::Duration::days(366)) {
        errors.push(FieldError::new("occurred_at", "invalid_date", "Too far in the future."));
    }
    errors_or_ok(errors)
}

// ---------------------------------------------------------------- timeline

/// One entry of a record's timeline.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Entry {
    /// `change`, `note`, `task`, `activity` or `file`.
    pub kind: String,
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    pub actor_id: Option<Uuid>,
    pub actor_name: Option<String>,
    /// What happened: the fields of the change, note, task or activity.
    #[schema(value_type = Object)]
    pub data: Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TimelinePage {
    pub entries: Vec<Entry>,
    /// Pass as `before` for older entries.
    pub next_cursor: Option<String>,
}

/// A place in a timeline, `<time>|<id>`: the entries before it come next.
#[derive(Debug, Clone, Copy)]
pub struct TimelineCursor {
    pub at: OffsetDateTime,
    pub id: Uuid,
}

impl TimelineCursor {
    /// The cursor of `before`, none when it is absent or empty.
    pub fn parse(before: Option<&str>) -> Result<Option<Self>, AppError> {
        let Some(text) = before.filter(|b| !b.is_empty()) else { return Ok(None) };
        let parsed = text.split_once('|').and_then(|(at, id)| {
            Some(Self { at: OffsetDateTime::parse(at, &Rfc3339).ok()?, id: Uuid::parse_str(id).ok()? })
        });
        parsed.map(Some).ok_or_else(|| AppError::field("before", "invalid_cursor", "This cursor is not valid."))
    }

    /// The cursor after `entry`, as the API gives it.
    pub fn after(entry: &Entry) -> Option<String> {
        entry.at.format(&Rfc3339).ok().map(|at| format!("{at}|{}", entry.id))
    }
}
