//! The work log's writes, and the timeline: each is the one function the API and the record page
//! both call. Adding or changing an item is not audited: the items themselves, with their author
//! and time, are the record's history. Deleting one is (`note.deleted`, `task.deleted`,
//! `activity.deleted`, naming the record, never the text): it erases that history.

use kernel::audit::{AuditEvent, AuditLog};
use kernel::{AppError, OrgTx};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    ActivityInput, Entry, TaskChange, TaskInput, TimelineCursor, TimelinePage, WorkItem, jobs, render_markdown, store,
    validate_activity, validate_note, validate_task, validate_task_change,
};
use crate::object::ObjectType;

pub async fn add_note(
    tx: &mut OrgTx,
    object: ObjectType,
    id: Uuid,
    author: Uuid,
    body: &str,
    now: OffsetDateTime,
) -> Result<Uuid, AppError> {
    store::check_parent(tx, object, id).await?;
    validate_note(body)?;
    store::insert_note(tx, object, id, author, body, now).await
}

/// Adds a task; its reminder, if any, is scheduled in the same transaction.
pub async fn add_task(
    tx: &mut OrgTx,
    object: ObjectType,
    id: Uuid,
    creator: Uuid,
    input: &TaskInput,
    now: OffsetDateTime,
) -> Result<Uuid, AppError> {
    store::check_parent(tx, object, id).await?;
    validate_task(input)?;
    super::check_reminder_not_past(input.remind_at, now)?;
    let task = store::insert_task(tx, object, id, creator, input, now).await?;
    jobs::schedule(tx, task, input.remind_at, now).await?;
    Ok(task)
}

/// Changes a task whose record the member can see; a new `remind_at` schedules its reminder (a
/// time already past by more than a minute is refused), `null` removes it.
pub async fn change_task(tx: &mut OrgTx, task: Uuid, change: &TaskChange, now: OffsetDateTime) -> Result<(), AppError> {
    store::lock_item(tx, WorkItem::Task, task).await?;
    validate_task_change(change)?;
    let new_time = change.remind_at.flatten();
    // A client sending the task back unchanged is not setting a new reminder.
    if new_time.is_some() && new_time != store::remind_at(tx, task).await? {
        super::check_reminder_not_past(new_time, now)?;
    }
    store::update_task(tx, task, change, now).await?;
    jobs::schedule(tx, task, new_time, now).await
}

pub async fn add_activity(
    tx: &mut OrgTx,
    object: ObjectType,
    id: Uuid,
    author: Uuid,
    input: &ActivityInput,
    now: OffsetDateTime,
) -> Result<Uuid, AppError> {
    store::check_parent(tx, object, id).await?;
    validate_activity(input, now)?;
    store::insert_activity(tx, object, id, author, input, now).await
}

/// One activity of [`add_activities`]: on which record, by whom.
#[derive(Debug)]
pub struct NewActivity {
    pub object: ObjectType,
    pub record_id: Uuid,
    pub author: Uuid,
    pub input: ActivityInput,
}

/// Many activities at once, for a module that logs work in bulk (outreach puts every message it
/// sends on its record's timeline): validated like [`add_activity`] (one invalid entry writes
/// nothing), written in one statement. An entry whose record no longer exists or is not visible
/// in this transaction is left out rather than failing the others; returns how many were written.
pub async fn add_activities(tx: &mut OrgTx, entries: &[NewActivity], now: OffsetDateTime) -> Result<u64, AppError> {
    for entry in entries {
        validate_activity(&entry.input, now)?;
    }
    store::insert_activities(tx, entries, now).await
}

/// Deletes a note, task or activity of a visible record, and audits it.
pub async fn delete_item(tx: &mut OrgTx, audit: &AuditLog, item: WorkItem, id: Uuid) -> Result<(), AppError> {
    let parent = store::lock_item(tx, item, id).await?;
    store::delete_item(tx, item, id).await?;
    let payload = match parent {
        Some((object, record)) => json!({ "object": object.as_str(), "record_id": record }),
        None => json!({}),
    };
    audit.record(tx, AuditEvent::new(item.deleted_event()).target(item.table(), id).payload(payload)).await?;
    Ok(())
}

/// The record's timeline, newest first, `limit` entries before the cursor (`<time>|<id>`).
pub async fn timeline(
    tx: &mut OrgTx,
    object: ObjectType,
    id: Uuid,
    before: Option<&str>,
    limit: i64,
    kind: Option<&str>,
) -> Result<TimelinePage, AppError> {
    store::check_parent(tx, object, id).await?;
    let cursor = TimelineCursor::parse(before)?;
    let rows = store::timeline_rows(tx, object, id, cursor, limit + 1, kind).await?;
    let names = store::member_names(tx).await?;
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
        entries.last().and_then(TimelineCursor::after)
    } else {
        None
    };
    Ok(TimelinePage { entries, next_cursor })
}

/// Moves every note, task, activity and file of one record to another (of any type): a converted
/// lead's work follows it to the contact it became. Column names come from `ObjectType`, never
/// from input.
pub async fn move_work(tx: &mut OrgTx, from: (ObjectType, Uuid), to: (ObjectType, Uuid)) -> Result<(), AppError> {
    let (from_column, to_column) = (from.0.id_column(), to.0.id_column());
    for table in super::WORK_TABLES {
        let statement = if from_column == to_column {
            format!("update {table} set {to_column} = $3 where org_id = $1 and {from_column} = $2")
        } else {
            format!(
                "update {table} set {from_column} = null, {to_column} = $3 where org_id = $1 and {from_column} = $2"
            )
        };
        sqlx::query(sqlx::AssertSqlSafe(statement)).bind(tx.org()).bind(from.1).bind(to.1).execute(tx.conn()).await?;
    }
    Ok(())
}

/// The member's open tasks on records they can see, soonest due first (the API's `GET /tasks`
/// and the "My tasks" page).
pub async fn open_tasks(tx: &mut OrgTx, member: Uuid) -> Result<Vec<Value>, AppError> {
    super::store::open_tasks_of(tx, member).await
}
