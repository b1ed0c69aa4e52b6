//! Work on records (issue #4 item 2): notes in Markdown, tasks with assignee, due date, status and
//! reminder, and activities (calls, meetings, logged emails) with outcome and time — and the
//! record's timeline, which merges them with the field-level history, newest first.
//!
//! Every item belongs to one record and follows its visibility: the parent is read first in the
//! member's transaction, so an item of a record the member cannot see answers 404.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use kernel::authz::Principal;
use kernel::error::ApiJson;
use kernel::web::AppState;
use kernel::{AppError, FieldError, OrgTx};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::http::{Object, parse_id};
use crate::object::ObjectType;
use crate::records;

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

/// The record an item belongs to, checked visible.
async fn parent(tx: &mut OrgTx, object: ObjectType, id: Uuid) -> Result<(), AppError> {
    records::get(tx, object, id).await.map(|_| ())
}

// ---------------------------------------------------------------- notes

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NoteInput {
    /// Markdown, 1 to 100,000 characters.
    pub body: String,
}

pub async fn add_note(
    tx: &mut OrgTx,
    object: ObjectType,
    id: Uuid,
    author: Uuid,
    body: &str,
    now: OffsetDateTime,
) -> Result<Uuid, AppError> {
    parent(tx, object, id).await?;
    let mut errors = Vec::new();
    check_text(&mut errors, "body", body, 1, 100_000);
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let note = Uuid::now_v7();
    let sql = format!(
        "insert into notes (org_id, note_id, {}, body, author_id, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $6)",
        object.id_column()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tx.org())
        .bind(note)
        .bind(id)
        .bind(body.trim())
        .bind(author)
        .bind(now)
        .execute(tx.conn())
        .await?;
    Ok(note)
}

// ---------------------------------------------------------------- tasks

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

pub async fn add_task(
    tx: &mut OrgTx,
    object: ObjectType,
    id: Uuid,
    creator: Uuid,
    input: &TaskInput,
    now: OffsetDateTime,
) -> Result<Uuid, AppError> {
    parent(tx, object, id).await?;
    let mut errors = Vec::new();
    check_text(&mut errors, "title", &input.title, 1, 200);
    check_text(&mut errors, "description", &input.description, 0, 10_000);
    if let (Some(remind), Some(due)) = (input.remind_at, input.due_at)
        && remind > due
    {
        errors.push(FieldError::new("remind_at", "after_due", "The reminder comes after the due date."));
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let task = Uuid::now_v7();
    let sql = format!(
        "insert into tasks (org_id, task_id, {}, title, description, assignee_id, due_at, remind_at, created_by, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        object.id_column()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tx.org())
        .bind(task)
        .bind(id)
        .bind(input.title.trim())
        .bind(input.description.trim())
        .bind(input.assignee_id.unwrap_or(creator))
        .bind(input.due_at)
        .bind(input.remind_at)
        .bind(creator)
        .bind(now)
        .execute(tx.conn())
        .await
        .map_err(|e| {
            kernel::error::on_constraint(e, |name| {
                name.contains("assignee").then(|| AppError::field("assignee_id", "not_found", "No such member."))
            })
        })?;
    crate::reminders::schedule(tx, task, input.remind_at, now).await?;
    Ok(task)
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
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub remind_at: Option<OffsetDateTime>,
}

/// Changes a task whose record the member can see; a new `remind_at` in the future schedules its
/// reminder.
pub async fn change_task(tx: &mut OrgTx, task: Uuid, change: &TaskChange, now: OffsetDateTime) -> Result<(), AppError> {
    check_item_parent(tx, "tasks", "task_id", task).await?;
    let mut errors = Vec::new();
    if let Some(status) = &change.status
        && !matches!(status.as_str(), "open" | "done" | "cancelled")
    {
        errors.push(FieldError::new("status", "invalid_choice", "open, done or cancelled."));
    }
    if let Some(title) = &change.title {
        check_text(&mut errors, "title", title, 1, 200);
    }
    if let (Some(remind), Some(due)) = (change.remind_at, change.due_at)
        && remind > due
    {
        errors.push(FieldError::new("remind_at", "after_due", "The reminder comes after the due date."));
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    // A moved reminder is a new one: `reminded_at` is cleared so that it is mailed at its new time.
    sqlx::query(
        "update tasks set status = coalesce($3, status), title = coalesce($4, title), assignee_id = coalesce($5, assignee_id),
                due_at = coalesce($6, due_at), updated_at = $7,
                completed_at = case when coalesce($3, status) = 'done' then coalesce(completed_at, $7) else null end,
                remind_at = coalesce($8, remind_at),
                reminded_at = case when $8::timestamptz is distinct from remind_at and $8 is not null then null
                                   else reminded_at end
          where org_id = $1 and task_id = $2",
    )
    .bind(tx.org())
    .bind(task)
    .bind(change.status.as_deref())
    .bind(change.title.as_deref().map(str::trim))
    .bind(change.assignee_id)
    .bind(change.due_at)
    .bind(now)
    .bind(change.remind_at)
    .execute(tx.conn())
    .await
    .map_err(|e| {
        kernel::error::on_constraint(e, |name| {
            name.contains("assignee").then(|| AppError::field("assignee_id", "not_found", "No such member."))
        })
    })?;
    crate::reminders::schedule(tx, task, change.remind_at, now).await?;
    Ok(())
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

pub async fn add_activity(
    tx: &mut OrgTx,
    object: ObjectType,
    id: Uuid,
    author: Uuid,
    input: &ActivityInput,
    now: OffsetDateTime,
) -> Result<Uuid, AppError> {
    parent(tx, object, id).await?;
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
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let activity = Uuid::now_v7();
    let sql = format!(
        "insert into activities (org_id, activity_id, {}, kind, subject, body, outcome, occurred_at, duration_minutes, author_id, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        object.id_column()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tx.org())
        .bind(activity)
        .bind(id)
        .bind(&input.kind)
        .bind(input.subject.trim())
        .bind(input.body.trim())
        .bind(input.outcome.trim())
        .bind(input.occurred_at.unwrap_or(now))
        .bind(input.duration_minutes)
        .bind(author)
        .bind(now)
        .execute(tx.conn())
        .await?;
    Ok(activity)
}

/// The record a work item points at (exactly one of the four).
type ItemLinks = (Option<Uuid>, Option<Uuid>, Option<Uuid>, Option<Uuid>);

/// Finds a work item, locks it, and checks that the member can see its record (404 otherwise).
async fn check_item_parent(
    tx: &mut OrgTx,
    table: &'static str,
    id_column: &'static str,
    id: Uuid,
) -> Result<(), AppError> {
    let sql = format!(
        "select lead_id, contact_id, company_id, deal_id from {table} where org_id = $1 and {id_column} = $2 for update"
    );
    let row: Option<ItemLinks> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tx.org()).bind(id).fetch_optional(tx.conn()).await?;
    let (lead, contact, company, deal) = row.ok_or(AppError::NotFound)?;
    let links = [
        (ObjectType::Lead, lead),
        (ObjectType::Contact, contact),
        (ObjectType::Company, company),
        (ObjectType::Deal, deal),
    ];
    for (object, parent_id) in links {
        if let Some(parent_id) = parent_id {
            parent(tx, object, parent_id).await?;
        }
    }
    Ok(())
}

/// Deletes a note, task or activity of a visible record.
pub async fn delete_item(
    tx: &mut OrgTx,
    table: &'static str,
    id_column: &'static str,
    id: Uuid,
) -> Result<(), AppError> {
    check_item_parent(tx, table, id_column, id).await?;
    let sql = format!("delete from {table} where org_id = $1 and {id_column} = $2");
    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tx.org()).bind(id).execute(tx.conn()).await?;
    Ok(())
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

/// The record's timeline, newest first, `limit` entries before the cursor (`<time>|<id>`).
pub async fn timeline(
    tx: &mut OrgTx,
    object: ObjectType,
    id: Uuid,
    before: Option<&str>,
    limit: i64,
) -> Result<TimelinePage, AppError> {
    parent(tx, object, id).await?;
    let cursor = match before.filter(|b| !b.is_empty()) {
        None => None,
        Some(text) => {
            let parsed = text.split_once('|').and_then(|(at, id)| {
                Some((
                    OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()?,
                    Uuid::parse_str(id).ok()?,
                ))
            });
            Some(parsed.ok_or_else(|| AppError::field("before", "invalid_cursor", "This cursor is not valid."))?)
        }
    };
    let column = object.id_column();
    let sql = format!(
        "select * from (
           select 'change' as kind, c.change_id as id, c.changed_at as at, c.changed_by as actor_id,
                  jsonb_build_object('action', c.action, 'field', c.field, 'old', c.old_value, 'new', c.new_value, 'source', c.source) as data
             from record_changes c where c.org_id = $1 and c.{column} = $2
           union all
           select 'note', n.note_id, n.created_at, n.author_id, jsonb_build_object('body', n.body)
             from notes n where n.org_id = $1 and n.{column} = $2
           union all
           select 'task', t.task_id, t.created_at, t.created_by,
                  jsonb_build_object('title', t.title, 'description', t.description, 'status', t.status, 'due_at', t.due_at,
                                     'assignee_id', t.assignee_id, 'remind_at', t.remind_at)
             from tasks t where t.org_id = $1 and t.{column} = $2
           union all
           select 'activity', a.activity_id, a.occurred_at, a.author_id,
                  jsonb_build_object('kind', a.kind, 'subject', a.subject, 'body', a.body, 'outcome', a.outcome,
                                     'duration_minutes', a.duration_minutes)
             from activities a where a.org_id = $1 and a.{column} = $2
           union all
           select 'file', f.file_id, f.created_at, f.uploaded_by,
                  jsonb_build_object('name', f.name, 'content_type', f.content_type, 'size_bytes', f.size_bytes)
             from files f where f.org_id = $1 and f.{column} = $2
         ) e
         where ($3::timestamptz is null or (e.at, e.id) < ($3, $4))
         order by e.at desc, e.id desc limit $5"
    );
    let rows: Vec<(String, Uuid, OffsetDateTime, Option<Uuid>, Value)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tx.org())
        .bind(id)
        .bind(cursor.map(|c| c.0))
        .bind(cursor.map(|c| c.1))
        .bind(limit + 1)
        .fetch_all(tx.conn())
        .await?;
    let names: Vec<(Uuid, String)> =
        sqlx::query_as("select user_id, first_name || ' ' || last_name from users where org_id = $1")
            .bind(tx.org())
            .fetch_all(tx.conn())
            .await?;
    let mut entries: Vec<Entry> = rows
        .into_iter()
        .map(|(kind, id, at, actor_id, mut data)| {
            if kind == "note"
                && let Some(body) = data.get("body").and_then(Value::as_str)
            {
                data["html"] = json!(render_markdown(body));
            }
            let actor_name = actor_id.and_then(|a| names.iter().find(|(u, _)| *u == a).map(|(_, n)| n.clone()));
            Entry { kind, id, at, actor_id, actor_name, data }
        })
        .collect();
    let next_cursor = if entries.len() > limit as usize {
        entries.truncate(limit as usize);
        entries.last().and_then(|e| {
            e.at.format(&time::format_description::well_known::Rfc3339).ok().map(|at| format!("{at}|{}", e.id))
        })
    } else {
        None
    };
    Ok(TimelinePage { entries, next_cursor })
}

// ---------------------------------------------------------------- API

pub async fn api_add_note<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<NoteInput>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let note = add_note(&mut tx, O::TYPE, id, principal.user_id, &input.body, state.clock.now()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(json!({ "note_id": note, "html": render_markdown(&input.body) }))))
}

pub async fn api_add_task<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<TaskInput>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let task = add_task(&mut tx, O::TYPE, id, principal.user_id, &input, state.clock.now()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(json!({ "task_id": task }))))
}

pub async fn api_add_activity<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ActivityInput>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let activity = add_activity(&mut tx, O::TYPE, id, principal.user_id, &input, state.clock.now()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(json!({ "activity_id": activity }))))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct TimelineParams {
    pub before: Option<String>,
    pub limit: Option<i64>,
}

pub async fn api_timeline<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(params): Query<TimelineParams>,
) -> Result<Json<TimelinePage>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let page =
        timeline(&mut tx, O::TYPE, id, params.before.as_deref(), params.limit.unwrap_or(50).clamp(1, 200)).await?;
    tx.commit().await?;
    Ok(Json(page))
}

pub async fn api_change_task(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(change): ApiJson<TaskChange>,
) -> Result<StatusCode, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    change_task(&mut tx, id, &change, state.clock.now()).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn api_delete(
    state: AppState,
    principal: Principal,
    id: String,
    table: &'static str,
    column: &'static str,
) -> Result<StatusCode, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    delete_item(&mut tx, table, column, id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn api_delete_note(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    api_delete(state, principal, id, "notes", "note_id").await
}

pub async fn api_delete_task(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    api_delete(state, principal, id, "tasks", "task_id").await
}

pub async fn api_delete_activity(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    api_delete(state, principal, id, "activities", "activity_id").await
}

/// The member's open tasks, soonest due first.
pub async fn api_my_tasks(State(state): State<AppState>, principal: Principal) -> Result<Json<Vec<Value>>, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let tasks: Vec<Value> = sqlx::query_scalar(
        "select to_jsonb(t) - 'org_id' from tasks t where t.org_id = $1 and t.assignee_id = $2 and t.status = 'open'
          order by t.due_at nulls last, t.created_at limit 200",
    )
    .bind(tx.org())
    .bind(principal.user_id)
    .fetch_all(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(Json(tasks))
}
