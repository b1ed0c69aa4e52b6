//! The work log's SQL: notes, tasks and activities, the timeline's rows, and the reminder's reads.

use kernel::{AppError, OrgTx};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{ActivityInput, ReminderTask, TaskChange, TaskInput, TimelineCursor, WorkItem};
use crate::object::ObjectType;
use crate::records;

/// The task's assignee must be a member of the organization: the database's foreign key says so,
/// this names the field.
fn assignee_error(error: sqlx::Error) -> AppError {
    kernel::error::on_constraint(error, |name| {
        name.contains("assignee").then(|| AppError::field("assignee_id", "not_found", "No such member."))
    })
}

/// The record an item belongs to, checked visible.
pub async fn check_parent(tx: &mut OrgTx, object: ObjectType, id: Uuid) -> Result<(), AppError> {
    records::get(tx, object, id).await.map(|_| ())
}

/// The record a work item points at (exactly one of the four).
type ItemLinks = (Option<Uuid>, Option<Uuid>, Option<Uuid>, Option<Uuid>);

/// Finds a work item, locks it, and checks that the member can see its record (404 otherwise).
/// Locks a work item whose record the member can see; returns that record (404 otherwise).
pub async fn lock_item(tx: &mut OrgTx, item: WorkItem, id: Uuid) -> Result<Option<(ObjectType, Uuid)>, AppError> {
    let sql = format!(
        "select lead_id, contact_id, company_id, deal_id from {} where org_id = $1 and {} = $2 for update",
        item.table(),
        item.id_column()
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
    let mut parent = None;
    for (object, parent_id) in links {
        if let Some(parent_id) = parent_id {
            check_parent(tx, object, parent_id).await?;
            parent = parent.or(Some((object, parent_id)));
        }
    }
    Ok(parent)
}

pub async fn delete_item(tx: &mut OrgTx, item: WorkItem, id: Uuid) -> Result<(), AppError> {
    let sql = format!("delete from {} where org_id = $1 and {} = $2", item.table(), item.id_column());
    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tx.org()).bind(id).execute(tx.conn()).await?;
    Ok(())
}

pub async fn insert_note(
    tx: &mut OrgTx,
    object: ObjectType,
    id: Uuid,
    author: Uuid,
    body: &str,
    now: OffsetDateTime,
) -> Result<Uuid, AppError> {
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

pub async fn insert_task(
    tx: &mut OrgTx,
    object: ObjectType,
    id: Uuid,
    creator: Uuid,
    input: &TaskInput,
    now: OffsetDateTime,
) -> Result<Uuid, AppError> {
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
        .map_err(assignee_error)?;
    Ok(task)
}

pub async fn update_task(tx: &mut OrgTx, task: Uuid, change: &TaskChange, now: OffsetDateTime) -> Result<(), AppError> {
    // A moved reminder is a new one: `reminded_at` is cleared so that it is mailed at its new time.
    sqlx::query!(
        "update tasks set status = coalesce($3, status), title = coalesce($4, title), assignee_id = coalesce($5, assignee_id),
                due_at = coalesce($6, due_at), updated_at = $7,
                completed_at = case when coalesce($3, status) = 'done' then coalesce(completed_at, $7) else null end,
                remind_at = case when $9 then null else coalesce($8, remind_at) end,
                reminded_at = case when $9 then null
                                   when $8::timestamptz is distinct from remind_at and $8 is not null then null
                                   else reminded_at end
          where org_id = $1 and task_id = $2",
        tx.org().0,
        task,
        change.status.as_deref(),
        change.title.as_deref().map(str::trim),
        change.assignee_id,
        change.due_at,
        now,
        change.remind_at.flatten(),
        change.remind_at == Some(None)
    )
    .execute(tx.conn())
    .await
    .map_err(assignee_error)?;
    Ok(())
}

/// The task's reminder time, if it has one.
pub async fn remind_at(tx: &mut OrgTx, task: Uuid) -> Result<Option<OffsetDateTime>, AppError> {
    Ok(sqlx::query_scalar!("select remind_at from tasks where org_id = $1 and task_id = $2", tx.org().0, task)
        .fetch_optional(tx.conn())
        .await?
        .flatten())
}

/// A member's open tasks, soonest due first, as the API shows them: only those on a record the
/// caller can see now (a task assigned before the record was hidden, or seen through an API key
/// of narrower scope, shows nothing of it). Each `exists` reads the record under its row-level
/// security.
pub async fn open_tasks_of(tx: &mut OrgTx, assignee: Uuid) -> Result<Vec<Value>, AppError> {
    Ok(sqlx::query_scalar!(
        r#"select to_jsonb(t) - 'org_id' as "task!" from tasks t
            where t.org_id = $1 and t.assignee_id = $2 and t.status = 'open'
              and (exists (select 1 from leads r where r.org_id = t.org_id and r.lead_id = t.lead_id)
                or exists (select 1 from contacts r where r.org_id = t.org_id and r.contact_id = t.contact_id)
                or exists (select 1 from companies r where r.org_id = t.org_id and r.company_id = t.company_id)
                or exists (select 1 from deals r where r.org_id = t.org_id and r.deal_id = t.deal_id))
          order by t.due_at nulls last, t.created_at limit 200"#,
        tx.org().0,
        assignee
    )
    .fetch_all(tx.conn())
    .await?)
}

/// The task a reminder is about, locked, if it still exists.
pub async fn reminder_task(tx: &mut OrgTx, task: Uuid) -> Result<Option<ReminderTask>, AppError> {
    Ok(sqlx::query_as!(
        ReminderTask,
        "select title, status, due_at, remind_at, reminded_at, assignee_id, created_by,
                lead_id, contact_id, company_id, deal_id
           from tasks where org_id = $1 and task_id = $2 for update",
        tx.org().0,
        task
    )
    .fetch_optional(tx.conn())
    .await?)
}

pub async fn mark_reminded(tx: &mut OrgTx, task: Uuid, now: OffsetDateTime) -> Result<(), AppError> {
    sqlx::query!("update tasks set reminded_at = $3 where org_id = $1 and task_id = $2", tx.org().0, task, now)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn insert_activity(
    tx: &mut OrgTx,
    object: ObjectType,
    id: Uuid,
    author: Uuid,
    input: &ActivityInput,
    now: OffsetDateTime,
) -> Result<Uuid, AppError> {
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

/// [`super::service::add_activities`]' statement: the visibility of each record is checked in it
/// (row-level security applies to the `exists` subqueries as to any read).
pub async fn insert_activities(
    tx: &mut OrgTx,
    entries: &[super::service::NewActivity],
    now: OffsetDateTime,
) -> Result<u64, AppError> {
    if entries.is_empty() {
        return Ok(0);
    }
    let parent = |object: ObjectType| -> Vec<Option<Uuid>> {
        entries.iter().map(|e| (e.object == object).then_some(e.record_id)).collect()
    };
    let ids: Vec<Uuid> = entries.iter().map(|_| Uuid::now_v7()).collect();
    let kinds: Vec<String> = entries.iter().map(|e| e.input.kind.clone()).collect();
    let subjects: Vec<String> = entries.iter().map(|e| e.input.subject.trim().to_owned()).collect();
    let bodies: Vec<String> = entries.iter().map(|e| e.input.body.trim().to_owned()).collect();
    let outcomes: Vec<String> = entries.iter().map(|e| e.input.outcome.trim().to_owned()).collect();
    let occurred: Vec<OffsetDateTime> = entries.iter().map(|e| e.input.occurred_at.unwrap_or(now)).collect();
    let durations: Vec<Option<i32>> = entries.iter().map(|e| e.input.duration_minutes).collect();
    let authors: Vec<Uuid> = entries.iter().map(|e| e.author).collect();
    Ok(sqlx::query!(
        "insert into activities (org_id, activity_id, lead_id, contact_id, company_id, deal_id, kind, subject, body,
                                 outcome, occurred_at, duration_minutes, author_id, created_at)
         select $1, a.activity_id, a.lead_id, a.contact_id, a.company_id, a.deal_id, a.kind, a.subject, a.body,
                a.outcome, a.occurred_at, a.duration_minutes, a.author_id, $14
           from unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], $7::text[], $8::text[], $9::text[],
                       $10::text[], $11::timestamptz[], $12::int4[], $13::uuid[])
                as a(activity_id, lead_id, contact_id, company_id, deal_id, kind, subject, body, outcome, occurred_at,
                     duration_minutes, author_id)
          where (a.lead_id is null or exists (select 1 from leads l where l.org_id = $1 and l.lead_id = a.lead_id))
            and (a.contact_id is null
                 or exists (select 1 from contacts c where c.org_id = $1 and c.contact_id = a.contact_id))
            and (a.company_id is null
                 or exists (select 1 from companies c where c.org_id = $1 and c.company_id = a.company_id))
            and (a.deal_id is null or exists (select 1 from deals d where d.org_id = $1 and d.deal_id = a.deal_id))",
        tx.org().0,
        &ids,
        &parent(ObjectType::Lead) as &[Option<Uuid>],
        &parent(ObjectType::Contact) as &[Option<Uuid>],
        &parent(ObjectType::Company) as &[Option<Uuid>],
        &parent(ObjectType::Deal) as &[Option<Uuid>],
        &kinds,
        &subjects,
        &bodies,
        &outcomes,
        &occurred,
        &durations as &[Option<i32>],
        &authors,
        now
    )
    .execute(tx.conn())
    .await?
    .rows_affected())
}

/// A timeline row: kind, id, time, actor, data.
pub type TimelineRow = (String, Uuid, OffsetDateTime, Option<Uuid>, Value);

/// Up to `limit` timeline rows of the record before `cursor`, newest first: its changes, notes,
/// tasks, activities and files — or only those of one `kind` (`note`, `task`, …).
pub async fn timeline_rows(
    tx: &mut OrgTx,
    object: ObjectType,
    id: Uuid,
    cursor: Option<TimelineCursor>,
    limit: i64,
    kind: Option<&str>,
) -> Result<Vec<TimelineRow>, AppError> {
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
           and ($6::text is null or e.kind = $6)
         order by e.at desc, e.id desc limit $5"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tx.org())
        .bind(id)
        .bind(cursor.map(|c| c.at))
        .bind(cursor.map(|c| c.id))
        .bind(limit)
        .bind(kind)
        .fetch_all(tx.conn())
        .await?)
}

/// Every member's full name, by id: the actors of a timeline.
pub async fn member_names(tx: &mut OrgTx) -> Result<Vec<(Uuid, String)>, AppError> {
    Ok(sqlx::query!(
        r#"select user_id, first_name || ' ' || last_name as "name!" from users where org_id = $1"#,
        tx.org().0
    )
    .fetch_all(tx.conn())
    .await?
    .into_iter()
    .map(|row| (row.user_id, row.name))
    .collect())
}
