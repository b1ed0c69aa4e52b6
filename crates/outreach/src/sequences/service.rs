//! Sequences' writes and reads, which the API and the pages both call: sequences and their
//! status, steps (checked templates, the unsubscribe link in every email), previews and test
//! sends, enrollment. Each takes the member's tenant transaction, so visibility is the database's.

use futures_util::StreamExt;
use kernel::audit::{AuditEvent, AuditLog};
use kernel::{AppError, FieldError, OrgTx};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::Target;
use super::store::{self, EnrollmentScope, NewEnrollment, Sequence, StepRow};
use super::template::{self, Fields, TemplateError};

/// What a template may say about one recipient: the lead's or contact's own fields, its company's
/// name, and its custom fields by key (text values; a number or a date as written). `None` when
/// the record no longer exists (or is not visible in this transaction).
pub async fn recipient_fields(tx: &mut OrgTx, target: Target) -> Result<Option<Fields>, AppError> {
    Ok(recipient_fields_many(tx, &[target]).await?.remove(&target))
}

/// A record's own fields and custom values, as one query returns them.
struct RecordFields {
    first_name: String,
    last_name: String,
    email: String,
    title: String,
    company: String,
    custom: Value,
}

fn fields_of(record: RecordFields) -> Fields {
    let mut fields = Fields::new();
    if let Value::Object(values) = record.custom {
        for (key, value) in values {
            let text = match value {
                Value::String(text) => text,
                Value::Null => String::new(),
                other => other.to_string(),
            };
            fields.insert(key, text);
        }
    }
    // The record's own fields win over a custom field of the same key.
    for (key, value) in [
        ("first_name", record.first_name),
        ("last_name", record.last_name),
        ("email", record.email),
        ("title", record.title),
        ("company", record.company),
    ] {
        fields.insert(key.to_owned(), value);
    }
    fields
}

/// [`recipient_fields`] for many records at once (the planner's pass): two queries instead of
/// one per record. A record that no longer exists (or is not visible) is absent from the map.
pub async fn recipient_fields_many(
    tx: &mut OrgTx,
    targets: &[Target],
) -> Result<std::collections::HashMap<Target, Fields>, AppError> {
    let contacts: Vec<Uuid> =
        targets.iter().filter_map(|t| if let Target::Contact(id) = t { Some(*id) } else { None }).collect();
    let leads: Vec<Uuid> =
        targets.iter().filter_map(|t| if let Target::Lead(id) = t { Some(*id) } else { None }).collect();
    let mut found = std::collections::HashMap::with_capacity(targets.len());
    if !contacts.is_empty() {
        let rows = sqlx::query!(
            r#"select c.contact_id, c.first_name, c.last_name, c.email, c.title, c.custom,
                      coalesce((select co.name from contact_companies cc
                                  join companies co on co.org_id = cc.org_id and co.company_id = cc.company_id
                                 where cc.org_id = c.org_id and cc.contact_id = c.contact_id
                                 order by cc.is_primary desc, cc.created_at limit 1), '') as "company!"
                 from contacts c where c.org_id = $1 and c.contact_id = any($2)"#,
            tx.org().0,
            &contacts
        )
        .fetch_all(tx.conn())
        .await?;
        for r in rows {
            let record = RecordFields {
                first_name: r.first_name,
                last_name: r.last_name,
                email: r.email,
                title: r.title,
                company: r.company,
                custom: r.custom,
            };
            found.insert(Target::Contact(r.contact_id), fields_of(record));
        }
    }
    if !leads.is_empty() {
        let rows = sqlx::query!(
            "select lead_id, first_name, last_name, email, title, company_name, custom
               from leads where org_id = $1 and lead_id = any($2)",
            tx.org().0,
            &leads
        )
        .fetch_all(tx.conn())
        .await?;
        for r in rows {
            let record = RecordFields {
                first_name: r.first_name,
                last_name: r.last_name,
                email: r.email,
                title: r.title,
                company: r.company_name,
                custom: r.custom,
            };
            found.insert(Target::Lead(r.lead_id), fields_of(record));
        }
    }
    Ok(found)
}

// ---------------------------------------------------------------- sequences, steps, enrollments

/// The most steps a sequence has.
pub const MAX_STEPS: usize = 50;
/// The most records one enrollment request takes.
pub const MAX_ENROLL: usize = 10_000;
/// The fields every recipient has, whatever the organization's custom fields.
pub const BASE_FIELDS: &[&str] = &["first_name", "last_name", "email", "title", "company"];
/// What the body of every email must show: the recipient's one-click unsubscribe link.
pub const UNSUBSCRIBE_FIELD: &str = "unsubscribe_url";

/// Who acts, and whether they see every member's sequences (managers, owners).
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    pub user: Uuid,
    pub sees_all: bool,
}

/// What an action needs of the viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Read it: the owner, or a manager or owner of the organization.
    See,
    /// Pause or resume it: the same.
    Steer,
    /// Change it, enroll into it, test it: its owner only.
    Edit,
}

/// The sequence if the viewer may do `need` with it: another member's sequence is 404 to a user
/// (they cannot tell it exists), and 403 to a manager for what only its owner does.
async fn sequence_for(tx: &mut OrgTx, viewer: Viewer, id: Uuid, need: Need) -> Result<Sequence, AppError> {
    let sequence = store::get(tx, id, need != Need::See).await?.ok_or(AppError::NotFound)?;
    let own = sequence.owner_id == Some(viewer.user);
    if own {
        return Ok(sequence);
    }
    match (viewer.sees_all, need) {
        (false, _) => Err(AppError::NotFound),
        (true, Need::See | Need::Steer) => Ok(sequence),
        (true, Need::Edit) => Err(AppError::Forbidden),
    }
}

/// A sequence the viewer may read, with its steps.
pub async fn show(tx: &mut OrgTx, viewer: Viewer, id: Uuid) -> Result<(Sequence, Vec<StepRow>), AppError> {
    let sequence = sequence_for(tx, viewer, id, Need::See).await?;
    let steps = store::steps(tx, id).await?;
    Ok((sequence, steps))
}

/// A sequence's settings as written by a member; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceInput {
    #[serde(default, deserialize_with = "crate::openapi::non_null")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::openapi::non_null")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "crate::openapi::non_null")]
    pub mailbox_ids: Option<Vec<Uuid>>,
    #[serde(default, deserialize_with = "crate::openapi::non_null")]
    pub tracking: Option<bool>,
}

/// One step as written by a member. Only the fields of its kind are kept.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StepInput {
    pub kind: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub in_thread: bool,
    #[serde(default)]
    pub wait_days: i64,
    #[serde(default)]
    pub task_title: String,
}

/// The fields a template may use in this organization, each with a sample value: the record's
/// own, every custom field of contacts and leads, the unsubscribe link and the sender's name.
pub async fn known_fields(tx: &mut OrgTx) -> Result<Fields, AppError> {
    let mut known = Fields::new();
    for object in [crm::object::ObjectType::Contact, crm::object::ObjectType::Lead] {
        for field in crm::custom_fields::definitions(tx, object).await? {
            known.insert(field.key, "Sample".into());
        }
    }
    for key in BASE_FIELDS {
        known.insert((*key).into(), "Sample".into());
    }
    known.insert(UNSUBSCRIBE_FIELD.into(), "https://relais.invalid/u/sample".into());
    // The planner gives every email the sending mailbox's name as well.
    known.insert("sender_name".into(), "Sample".into());
    Ok(known)
}

/// A template error at a field, its message naming the variable (`` `nickname` ``).
fn template_error(field: String, error: &TemplateError) -> FieldError {
    FieldError::new(field, error.code(), format!("{error}"))
}

/// Checks the steps of a sequence of `kind`, naming each refused field (`steps[3].body`), and
/// returns them as they are stored (positions from 1, ids to be given).
pub fn check_steps(kind: &str, steps: &[StepInput], known: &Fields) -> Result<Vec<StepRow>, Vec<FieldError>> {
    let mut errors = Vec::new();
    if steps.len() > MAX_STEPS {
        errors.push(FieldError::new("steps", "too_many", format!("At most {MAX_STEPS} steps.")));
        return Err(errors);
    }
    if kind == "campaign" && (steps.len() > 1 || steps.iter().any(|s| s.kind != "email")) {
        errors.push(FieldError::new("steps", "campaign_single_email", "A campaign is exactly one email step."));
    }
    // The unsubscribe link must come out of the body when it is rendered: a marker value shows
    // whether it does (a link inside `{% if false %}` does not count).
    let marker = "https://relais.invalid/u/unsubscribe-marker";
    let mut with_marker = known.clone();
    with_marker.insert(UNSUBSCRIBE_FIELD.into(), marker.into());
    let mut rows = Vec::new();
    let mut seen_email = false;
    for (i, step) in steps.iter().enumerate() {
        let at = |name: &str| format!("steps[{i}].{name}");
        let mut row = StepRow {
            step_id: Uuid::nil(),
            position: i16::try_from(i + 1).unwrap_or(i16::MAX),
            kind: step.kind.clone(),
            subject: String::new(),
            body: String::new(),
            in_thread: false,
            wait_days: 0,
            task_title: String::new(),
        };
        match step.kind.as_str() {
            "email" => {
                row.subject = step.subject.trim().to_owned();
                row.body = step.body.clone();
                row.in_thread = step.in_thread;
                if step.in_thread && !seen_email {
                    errors.push(FieldError::new(
                        at("in_thread"),
                        "first_email_in_thread",
                        "The first email starts the thread: it cannot answer in one.",
                    ));
                }
                seen_email = true;
                if row.subject.is_empty() && !step.in_thread {
                    errors.push(FieldError::new(
                        at("subject"),
                        "required",
                        "Give a subject (or answer in the thread).",
                    ));
                } else if row.subject.chars().count() > 300 {
                    errors.push(FieldError::new(at("subject"), "too_long", "At most 300 characters."));
                } else if let Err(error) = template::check(&row.subject, known) {
                    errors.push(template_error(at("subject"), &error));
                }
                if row.body.trim().is_empty() {
                    errors.push(FieldError::new(at("body"), "required", "Write the email."));
                } else if row.body.chars().count() > 50_000 {
                    errors.push(FieldError::new(at("body"), "too_long", "At most 50,000 characters."));
                } else if let Err(error) = template::check(&row.body, known) {
                    errors.push(template_error(at("body"), &error));
                } else if !template::render(&row.body, &with_marker).is_ok_and(|text| text.contains(marker)) {
                    errors.push(FieldError::new(
                        at("body"),
                        "unsubscribe_link_missing",
                        "Every email must show the recipient's unsubscribe link: add {{ unsubscribe_url }}.",
                    ));
                }
            }
            "wait" => {
                if !(1..=365).contains(&step.wait_days) {
                    errors.push(FieldError::new(at("wait_days"), "out_of_range", "Wait from 1 to 365 days."));
                }
                row.wait_days = i16::try_from(step.wait_days.clamp(0, 365)).unwrap_or(0);
            }
            "task" => {
                row.task_title = step.task_title.trim().to_owned();
                if row.task_title.is_empty() {
                    errors.push(FieldError::new(at("task_title"), "required", "Give the task a title."));
                } else if row.task_title.chars().count() > 200 {
                    errors.push(FieldError::new(at("task_title"), "too_long", "At most 200 characters."));
                }
            }
            _ => errors.push(FieldError::new(at("kind"), "invalid_choice", "One of email, wait, task.")),
        }
        rows.push(row);
    }
    if errors.is_empty() { Ok(rows) } else { Err(errors) }
}

/// Checks name, kind, tracking and mailboxes into `sequence` (the settings given), collecting
/// every refused field.
async fn apply_settings(
    tx: &mut OrgTx,
    sequence: &mut Sequence,
    input: &SequenceInput,
    errors: &mut Vec<FieldError>,
) -> Result<(), AppError> {
    if let Some(name) = &input.name {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            errors.push(FieldError::new("name", "invalid_length", "Give a name of 1 to 200 characters."));
        }
        sequence.name = name.to_owned();
    }
    if let Some(kind) = &input.kind {
        if kind == "sequence" || kind == "campaign" {
            sequence.kind = kind.clone();
        } else {
            errors.push(FieldError::new("kind", "invalid_choice", "One of sequence, campaign."));
        }
    }
    if let Some(tracking) = input.tracking {
        // Off by default; turning it on is the owner's choice, said on the sequence's pages.
        sequence.tracking = tracking;
    }
    if let Some(ids) = &input.mailbox_ids {
        let owner = sequence.owner_id.unwrap_or_default();
        let own: Vec<Uuid> = store::own_mailboxes(tx, owner).await?.into_iter().map(|(id, _, _)| id).collect();
        let mut chosen: Vec<Uuid> = Vec::new();
        for id in ids {
            if !chosen.contains(id) {
                chosen.push(*id);
            }
        }
        if chosen.iter().any(|id| !own.contains(id)) {
            errors.push(FieldError::new("mailbox_ids", "not_your_mailbox", "Choose among your own mailboxes."));
        } else if chosen.len() > 20 {
            errors.push(FieldError::new("mailbox_ids", "too_many", "At most 20 mailboxes."));
        }
        sequence.mailbox_ids = chosen;
    }
    Ok(())
}

/// Creates a draft sequence of the viewer (with its steps, when given). Audited.
pub async fn create(
    tx: &mut OrgTx,
    audit: &AuditLog,
    viewer: Viewer,
    input: &SequenceInput,
    steps: Option<&[StepInput]>,
    now: OffsetDateTime,
) -> Result<Sequence, AppError> {
    let mut sequence = Sequence {
        sequence_id: Uuid::now_v7(),
        name: String::new(),
        kind: "sequence".into(),
        owner_id: Some(viewer.user),
        status: "draft".into(),
        tracking: false,
        mailbox_ids: Vec::new(),
        created_at: now,
        updated_at: now,
    };
    let mut errors = Vec::new();
    let input = SequenceInput { name: Some(input.name.clone().unwrap_or_default()), ..input.clone() };
    apply_settings(tx, &mut sequence, &input, &mut errors).await?;
    let rows = match steps {
        Some(steps) if errors.iter().all(|e| e.field != "kind") => {
            let known = known_fields(tx).await?;
            match check_steps(&sequence.kind, steps, &known) {
                Ok(rows) => rows,
                Err(more) => {
                    errors.extend(more);
                    Vec::new()
                }
            }
        }
        _ => Vec::new(),
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    store::insert(tx, &sequence).await?;
    for mut row in rows {
        row.step_id = Uuid::now_v7();
        store::upsert_step(tx, sequence.sequence_id, &row).await?;
    }
    audit
        .record(
            tx,
            AuditEvent::new("outreach.sequence.created")
                .target("outreach_sequence", sequence.sequence_id)
                .payload(json!({ "kind": sequence.kind })),
        )
        .await?;
    Ok(sequence)
}

/// Changes a sequence's settings (its owner only; not once archived). Audited.
pub async fn update(
    tx: &mut OrgTx,
    audit: &AuditLog,
    viewer: Viewer,
    id: Uuid,
    input: &SequenceInput,
    now: OffsetDateTime,
) -> Result<Sequence, AppError> {
    let mut sequence = sequence_for(tx, viewer, id, Need::Edit).await?;
    refuse_archived(&sequence)?;
    let mut errors = Vec::new();
    apply_settings(tx, &mut sequence, input, &mut errors).await?;
    if sequence.kind == "campaign" && errors.iter().all(|e| e.field != "kind") {
        let steps = store::steps(tx, id).await?;
        if steps.len() > 1 || steps.iter().any(|s| s.kind != "email") {
            errors.push(FieldError::new("kind", "campaign_single_email", "A campaign is exactly one email step."));
        }
    }
    if sequence.status == "active" && input.mailbox_ids.as_ref().is_some_and(Vec::is_empty) {
        errors.push(FieldError::new(
            "mailbox_ids",
            "mailbox_required",
            "An active sequence sends from at least one mailbox.",
        ));
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    sequence.updated_at = now;
    store::update(tx, &sequence).await?;
    audit
        .record(
            tx,
            AuditEvent::new("outreach.sequence.updated")
                .target("outreach_sequence", id)
                .payload(json!({ "settings": true })),
        )
        .await?;
    Ok(sequence)
}

fn refuse_archived(sequence: &Sequence) -> Result<(), AppError> {
    if sequence.status == "archived" {
        return Err(AppError::field(
            "status",
            "sequence_archived",
            "This sequence is archived: it can no longer change.",
        ));
    }
    Ok(())
}

/// Replaces a sequence's steps (its owner only). A draft's are replaced whole; once the sequence
/// has run, steps keep their ids by position (messages and figures refer to them), and a step
/// that already has messages cannot be removed. Audited.
pub async fn set_steps(
    tx: &mut OrgTx,
    audit: &AuditLog,
    viewer: Viewer,
    id: Uuid,
    steps: &[StepInput],
    now: OffsetDateTime,
) -> Result<Vec<StepRow>, AppError> {
    let mut sequence = sequence_for(tx, viewer, id, Need::Edit).await?;
    refuse_archived(&sequence)?;
    let known = known_fields(tx).await?;
    let mut rows = check_steps(&sequence.kind, steps, &known).map_err(AppError::Validation)?;
    let old = store::steps(tx, id).await?;
    let removed: Vec<Uuid> = old.iter().skip(rows.len()).map(|s| s.step_id).collect();
    if sequence.status == "draft" {
        for row in &mut rows {
            row.step_id = Uuid::now_v7();
        }
        let all: Vec<Uuid> = old.iter().map(|s| s.step_id).collect();
        store::delete_steps(tx, id, &all).await?;
    } else {
        let used = store::steps_with_messages(tx, &removed).await?;
        let errors: Vec<FieldError> = old
            .iter()
            .enumerate()
            .filter(|(_, s)| used.contains(&s.step_id))
            .map(|(i, _)| {
                FieldError::new(
                    format!("steps[{i}]"),
                    "step_has_messages",
                    format!("Step {} has messages: it cannot be removed.", i + 1),
                )
            })
            .collect();
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        for (row, previous) in rows.iter_mut().zip(old.iter()) {
            row.step_id = previous.step_id;
        }
        for row in rows.iter_mut().skip(old.len()) {
            row.step_id = Uuid::now_v7();
        }
        store::delete_steps(tx, id, &removed).await?;
    }
    for row in &rows {
        store::upsert_step(tx, id, row).await?;
    }
    sequence.updated_at = now;
    store::update(tx, &sequence).await?;
    audit
        .record(
            tx,
            AuditEvent::new("outreach.sequence.updated")
                .target("outreach_sequence", id)
                .payload(json!({ "steps": rows.len() })),
        )
        .await?;
    Ok(rows)
}

/// A change of a sequence's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Draft → active (its owner), or paused → active (its owner, a manager).
    Activate,
    /// Active → paused (its owner, a manager).
    Pause,
    /// Any → archived (its owner): its running enrollments stop.
    Archive,
}

impl Transition {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "activate" | "resume" => Some(Self::Activate),
            "pause" => Some(Self::Pause),
            "archive" => Some(Self::Archive),
            _ => None,
        }
    }
}

/// Moves a sequence to its next status. Audited `outreach.sequence.activated|paused|archived`.
pub async fn transition(
    tx: &mut OrgTx,
    audit: &AuditLog,
    viewer: Viewer,
    id: Uuid,
    to: Transition,
    now: OffsetDateTime,
) -> Result<Sequence, AppError> {
    let peek = sequence_for(tx, viewer, id, Need::Steer).await?;
    let need = match (to, peek.status.as_str()) {
        (Transition::Activate, "paused") | (Transition::Pause, _) => Need::Steer,
        _ => Need::Edit,
    };
    let mut sequence = sequence_for(tx, viewer, id, need).await?;
    let from = sequence.status.clone();
    let invalid = || AppError::field("status", "invalid_transition", "This sequence cannot make this change now.");
    let action = match (to, from.as_str()) {
        (Transition::Activate, "draft") => {
            let steps = store::steps(tx, id).await?;
            let mut errors = Vec::new();
            if !steps.iter().any(|s| s.kind == "email") {
                errors.push(FieldError::new("steps", "email_step_required", "Add at least one email step first."));
            }
            let own: Vec<Uuid> = store::own_mailboxes(tx, sequence.owner_id.unwrap_or_default())
                .await?
                .into_iter()
                .map(|(id, _, _)| id)
                .collect();
            if !sequence.mailbox_ids.iter().any(|m| own.contains(m)) {
                errors.push(FieldError::new(
                    "mailbox_ids",
                    "mailbox_required",
                    "Choose at least one of your mailboxes first.",
                ));
            }
            if !errors.is_empty() {
                return Err(AppError::Validation(errors));
            }
            sequence.status = "active".into();
            store::update(tx, &Sequence { updated_at: now, ..sequence.clone() }).await?;
            // Who was enrolled while it was a draft starts now.
            store::start_waiting(tx, id, now).await?;
            crate::sending::service::wake(tx, now).await?;
            "outreach.sequence.activated"
        }
        (Transition::Activate, "paused") => {
            sequence.status = "active".into();
            store::update(tx, &Sequence { updated_at: now, ..sequence.clone() }).await?;
            crate::sending::service::wake(tx, now).await?;
            "outreach.sequence.activated"
        }
        (Transition::Pause, "active") => {
            sequence.status = "paused".into();
            store::update(tx, &Sequence { updated_at: now, ..sequence.clone() }).await?;
            // Nothing more leaves while paused: what was planned is taken back, planned again on resume.
            store::unplan(tx, id, None, "sequence_paused", now).await?;
            "outreach.sequence.paused"
        }
        (Transition::Archive, "draft" | "active" | "paused") => {
            sequence.status = "archived".into();
            store::update(tx, &Sequence { updated_at: now, ..sequence.clone() }).await?;
            for enrollment in store::running_enrollments(tx, id).await? {
                crate::sending::service::stop_enrollment(tx, enrollment, "stopped", "sequence_archived", now).await?;
            }
            "outreach.sequence.archived"
        }
        _ => return Err(invalid()),
    };
    sequence.updated_at = now;
    audit
        .record(
            tx,
            AuditEvent::new(action)
                .target("outreach_sequence", id)
                .payload(json!({ "from": from, "by_owner": sequence.owner_id == Some(viewer.user) })),
        )
        .await?;
    Ok(sequence)
}

// ---------------------------------------------------------------- preview and test

/// An email step as one recipient would get it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Preview {
    pub step_id: Uuid,
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// The email step `step` (the first email step when `None`) of a sequence and, for a follow-up
/// in the thread without a subject, the subject it answers. Error fields name `step_id`.
fn email_step(steps: &[StepRow], step: Option<Uuid>) -> Result<(usize, &StepRow, Option<&StepRow>), AppError> {
    let found = match step {
        Some(id) => steps.iter().enumerate().find(|(_, s)| s.step_id == id),
        None => steps.iter().enumerate().find(|(_, s)| s.kind == "email"),
    };
    let Some((index, step)) = found else {
        return Err(AppError::field("step_id", "not_found", "No such step in this sequence."));
    };
    if step.kind != "email" {
        return Err(AppError::field("step_id", "not_an_email", "Choose an email step."));
    }
    let parent = steps[..index].iter().rev().find(|s| s.kind == "email" && !s.subject.trim().is_empty());
    Ok((index, step, parent))
}

/// Renders one email step for `fields`; a template error names the step's field.
fn render_step(
    index: usize,
    step: &StepRow,
    parent: Option<&StepRow>,
    fields: &Fields,
) -> Result<(String, String), AppError> {
    let subject_source = match (step.in_thread, step.subject.trim().is_empty(), parent) {
        (true, true, Some(parent)) => format!("Re: {}", parent.subject),
        _ => step.subject.clone(),
    };
    let subject_field = if step.subject.trim().is_empty() && parent.is_some() {
        let parent_index = index.saturating_sub(1);
        format!("steps[{parent_index}].subject")
    } else {
        format!("steps[{index}].subject")
    };
    let subject = template::render(&subject_source, fields)
        .map_err(|e| AppError::Validation(vec![template_error(subject_field, &e)]))?;
    let body = template::render(&step.body, fields)
        .map_err(|e| AppError::Validation(vec![template_error(format!("steps[{index}].body"), &e)]))?;
    Ok((subject.lines().next().unwrap_or_default().trim().to_owned(), body))
}

/// An email step rendered for one record the viewer sees (`None` renders the first email step).
pub async fn preview(
    tx: &mut OrgTx,
    viewer: Viewer,
    id: Uuid,
    target: Target,
    step: Option<Uuid>,
    public_origin: &str,
) -> Result<Preview, AppError> {
    sequence_for(tx, viewer, id, Need::See).await?;
    let steps = store::steps(tx, id).await?;
    let (index, step, parent) = email_step(&steps, step)?;
    let target_field = match target {
        Target::Contact(_) => "contact_id",
        Target::Lead(_) => "lead_id",
    };
    let Some(mut fields) = recipient_fields(tx, target).await? else {
        return Err(AppError::field(target_field, "not_found", "No such record, or you do not see it."));
    };
    fields.insert(UNSUBSCRIBE_FIELD.into(), format!("{public_origin}/u/preview"));
    let to = fields.get("email").cloned().unwrap_or_default();
    let (subject, body) = render_step(index, step, parent, &fields)?;
    Ok(Preview { step_id: step.step_id, to, subject, body })
}

/// A test of one email step: which, and from which of the member's mailboxes.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSend {
    pub step_id: Uuid,
    pub mailbox_id: Uuid,
}

/// Sends one email step to the viewer's own address from one of their mailboxes, rendered with
/// their own fields (their name, job title, organization; a custom field shows its key). Returns
/// the message's id.
pub async fn send_test(
    tx: &mut OrgTx,
    audit: &AuditLog,
    viewer: Viewer,
    id: Uuid,
    test: &TestSend,
    public_origin: &str,
    now: OffsetDateTime,
) -> Result<Uuid, AppError> {
    let (step, mailbox) = (test.step_id, test.mailbox_id);
    sequence_for(tx, viewer, id, Need::Edit).await?;
    let steps = store::steps(tx, id).await?;
    let (index, step_row, parent) = email_step(&steps, Some(step))?;
    let mailboxes = store::own_mailboxes(tx, viewer.user).await?;
    let Some((_, from_address, _)) = mailboxes.iter().find(|(m, _, status)| *m == mailbox && status == "active") else {
        return Err(AppError::field("mailbox_id", "not_your_mailbox", "Choose one of your active mailboxes."));
    };
    let (first_name, last_name, email, title, company) =
        store::member_sample(tx, viewer.user).await?.ok_or(AppError::NotFound)?;
    let mut fields = Fields::new();
    for (key, _) in known_fields(tx).await? {
        fields.insert(key.clone(), format!("[{key}]"));
    }
    for (key, value) in [
        ("first_name", first_name),
        ("last_name", last_name),
        ("email", email.clone()),
        ("title", title),
        ("company", company),
    ] {
        fields.insert(key.into(), value);
    }
    fields.insert(UNSUBSCRIBE_FIELD.into(), format!("{public_origin}/u/test"));
    let (subject, body) = render_step(index, step_row, parent, &fields)?;
    let message =
        crate::sending::service::send_test(tx, now, mailbox, from_address, &email, id, step, &subject, &body).await?;
    audit
        .record(
            tx,
            AuditEvent::new("outreach.sequence.test_sent")
                .target("outreach_sequence", id)
                .payload(json!({ "step_id": step, "mailbox_id": mailbox })),
        )
        .await?;
    Ok(message)
}

// ---------------------------------------------------------------- enrollment

/// Whom to enroll: records by id and/or every record of a saved view of contacts or leads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollInput {
    #[serde(default)]
    pub contact_ids: Vec<Uuid>,
    #[serde(default)]
    pub lead_ids: Vec<Uuid>,
    #[serde(default, deserialize_with = "crate::openapi::non_null")]
    pub view_id: Option<Uuid>,
}

/// What an enrollment request did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Enrolled {
    /// New enrollments that will be written to.
    pub enrolled: u64,
    /// New enrollments that will not (no address, suppressed), each with its reason.
    pub skipped: u64,
    /// Records already in the sequence: left as they were.
    pub already: u64,
    /// Ids of records that do not exist or that the member does not see: ignored.
    pub not_found: u64,
}

/// The ids of every record of a saved view the member sees (contacts or leads only), at most
/// `max + 1` (the caller refuses more than `max`).
async fn view_targets(tx: &mut OrgTx, me: Uuid, view: Uuid, max: usize) -> Result<Vec<Target>, AppError> {
    let saved = match crm::views::store::find(tx, me, view).await {
        Ok(saved) => saved,
        Err(AppError::NotFound) => {
            return Err(AppError::field("view_id", "not_found", "No such saved view, or you do not see it."));
        }
        Err(other) => return Err(other),
    };
    let object = crm::object::ObjectType::parse(&saved.object_type);
    let make: fn(Uuid) -> Target = match object {
        Some(crm::object::ObjectType::Contact) => Target::Contact,
        Some(crm::object::ObjectType::Lead) => Target::Lead,
        _ => return Err(AppError::field("view_id", "not_people", "Choose a view of contacts or leads.")),
    };
    let query = crm::list::ListQuery {
        filters: saved.filters.0.clone(),
        sort: None,
        after: None,
        limit: None,
        q: (!saved.q.is_empty()).then(|| saved.q.clone()),
    };
    let object = object.unwrap_or(crm::object::ObjectType::Contact);
    let mut targets = Vec::new();
    let mut stream = crm::list::stream_all(tx, object, &query).await?;
    while let Some(row) = stream.next().await {
        let (_, _, id) = row?;
        targets.push(make(id));
        if targets.len() > max {
            break;
        }
    }
    Ok(targets)
}

/// Enrolls records the viewer sees into their sequence. Each gets an enrollment: active, or
/// skipped with its reason (`no_email`, `suppressed`); one already in the sequence is left as it
/// is. In an active sequence the first step is due at once; in a draft, at activation. Audited.
pub async fn enroll(
    tx: &mut OrgTx,
    audit: &AuditLog,
    viewer: Viewer,
    id: Uuid,
    input: &EnrollInput,
    now: OffsetDateTime,
) -> Result<Enrolled, AppError> {
    let sequence = sequence_for(tx, viewer, id, Need::Edit).await?;
    refuse_archived(&sequence)?;
    let mut targets: Vec<Target> = Vec::new();
    for id in &input.contact_ids {
        targets.push(Target::Contact(*id));
    }
    for id in &input.lead_ids {
        targets.push(Target::Lead(*id));
    }
    let over = |field: &str| AppError::field(field, "too_many", format!("At most {MAX_ENROLL} records at once."));
    if targets.len() > MAX_ENROLL {
        return Err(over(if input.contact_ids.is_empty() { "lead_ids" } else { "contact_ids" }));
    }
    if let Some(view) = input.view_id {
        targets.extend(view_targets(tx, viewer.user, view, MAX_ENROLL).await?);
        if targets.len() > MAX_ENROLL {
            return Err(over("view_id"));
        }
    }
    if targets.is_empty() && input.view_id.is_none() {
        return Err(AppError::field("contact_ids", "required", "Choose whom to enroll."));
    }
    let mut seen = std::collections::HashSet::new();
    targets.retain(|t| seen.insert(*t));

    let mut done = Enrolled::default();
    let next_run_at = (sequence.status != "draft").then_some(now);
    for contacts in [true, false] {
        let ids: Vec<Uuid> = targets
            .iter()
            .filter_map(|t| match (t, contacts) {
                (Target::Contact(id), true) | (Target::Lead(id), false) => Some(*id),
                _ => None,
            })
            .collect();
        for chunk in ids.chunks(1000) {
            let visible = store::visible_addresses(tx, contacts, chunk).await?;
            done.not_found += (chunk.len() - visible.len()) as u64;
            let ids: Vec<Uuid> = visible.iter().map(|(id, _)| *id).collect();
            let already = store::already_enrolled(tx, id, contacts, &ids).await?;
            for (record, email) in visible {
                if already.contains(&record) {
                    done.already += 1;
                    continue;
                }
                let email = email.trim().to_lowercase();
                let (state, reason) = if email.is_empty() {
                    ("skipped", "no_email")
                } else if crate::suppression::store::is_suppressed(tx, &email).await? {
                    ("skipped", "suppressed")
                } else {
                    ("active", "")
                };
                let target = if contacts { Target::Contact(record) } else { Target::Lead(record) };
                let new = NewEnrollment {
                    target,
                    email: &email,
                    state,
                    reason,
                    next_run_at: if state == "active" { next_run_at } else { None },
                };
                if !store::insert_enrollment(tx, id, viewer.user, &new, now).await? {
                    done.already += 1;
                } else if state == "active" {
                    done.enrolled += 1;
                } else {
                    done.skipped += 1;
                }
            }
        }
    }
    if done.enrolled > 0 && sequence.status == "active" {
        crate::sending::service::wake(tx, now).await?;
    }
    audit
        .record(
            tx,
            AuditEvent::new("outreach.sequence.enrolled").target("outreach_sequence", id).payload(json!({
                "enrolled": done.enrolled, "skipped": done.skipped, "already": done.already, "not_found": done.not_found,
                "view_id": input.view_id,
            })),
        )
        .await?;
    Ok(done)
}

/// A sequence's enrollments, newest first.
pub async fn enrollments(
    tx: &mut OrgTx,
    viewer: Viewer,
    id: Uuid,
    state: Option<String>,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<store::EnrollmentRow>, AppError> {
    sequence_for(tx, viewer, id, Need::See).await?;
    store::enrollments(tx, EnrollmentScope::Sequence { sequence: id, state, before, limit }).await
}

/// A record's enrollments in every sequence (the record must be one the viewer sees).
pub async fn record_enrollments(tx: &mut OrgTx, target: Target) -> Result<Vec<store::EnrollmentRow>, AppError> {
    if !store::record_visible(tx, target).await? {
        return Err(AppError::NotFound);
    }
    store::enrollments(tx, EnrollmentScope::Record(target)).await
}

/// What a member does to one enrollment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrollmentAction {
    Pause,
    Resume,
    Stop,
}

impl EnrollmentAction {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pause" => Some(Self::Pause),
            "resume" => Some(Self::Resume),
            "stop" => Some(Self::Stop),
            _ => None,
        }
    }
}

/// Pauses, resumes or stops one person's sequence (the sequence's owner, a manager). Audited.
pub async fn act_on_enrollment(
    tx: &mut OrgTx,
    audit: &AuditLog,
    viewer: Viewer,
    enrollment: Uuid,
    action: EnrollmentAction,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    let (state, sequence, owner) = store::lock_enrollment(tx, enrollment).await?.ok_or(AppError::NotFound)?;
    if owner != Some(viewer.user) && !viewer.sees_all {
        return Err(AppError::NotFound);
    }
    let refused = || AppError::field("state", "invalid_transition", "This enrollment cannot make this change now.");
    let event = match (action, state.as_str()) {
        (EnrollmentAction::Pause, "active") => {
            store::set_enrollment_state(tx, enrollment, "paused", now).await?;
            store::unplan(tx, sequence, Some(enrollment), "enrollment_paused", now).await?;
            "outreach.enrollment.paused"
        }
        (EnrollmentAction::Resume, "paused") => {
            store::set_enrollment_state(tx, enrollment, "active", now).await?;
            resume_due(tx, enrollment, now).await?;
            crate::sending::service::wake(tx, now).await?;
            "outreach.enrollment.resumed"
        }
        (EnrollmentAction::Stop, "active" | "paused") => {
            crate::sending::service::stop_enrollment(tx, enrollment, "stopped", "stopped_by_member", now).await?;
            "outreach.enrollment.stopped"
        }
        _ => return Err(refused()),
    };
    audit
        .record(
            tx,
            AuditEvent::new(event)
                .target("outreach_enrollment", enrollment)
                .payload(json!({ "sequence_id": sequence })),
        )
        .await?;
    Ok(())
}

/// A resumed enrollment with nothing due and no message under way (its email was sent while it
/// was paused, and sending only moves active enrollments on) gets its next step due now.
async fn resume_due(tx: &mut OrgTx, enrollment: Uuid, now: OffsetDateTime) -> Result<(), AppError> {
    sqlx::query!(
        "update outreach_enrollments e set next_run_at = $3
          where e.org_id = $1 and e.enrollment_id = $2 and e.next_run_at is null
            and not exists (select 1 from outreach_messages m where m.org_id = $1 and m.enrollment_id = $2
                             and m.state in ('planned', 'sending', 'review'))",
        tx.org().0,
        enrollment,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}
