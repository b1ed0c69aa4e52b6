//! Sequences' SQL: sequences, their steps, enrollments. Every function runs in the caller's
//! tenant transaction; reads of contacts and leads go through it, so row-level visibility decides
//! which records a member can enroll or preview.

use kernel::{AppError, OrgTx};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::Target;

/// A sequence as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Sequence {
    pub sequence_id: Uuid,
    pub name: String,
    pub kind: String,
    pub owner_id: Option<Uuid>,
    pub status: String,
    pub tracking: bool,
    pub mailbox_ids: Vec<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A sequence in a list, with its counts.
#[derive(Debug, Clone, Serialize)]
pub struct SequenceRow {
    #[serde(flatten)]
    pub sequence: Sequence,
    pub steps: i64,
    pub enrolled: i64,
    pub sent: i64,
}

/// One step as stored.
#[derive(Debug, Clone, Serialize)]
pub struct StepRow {
    pub step_id: Uuid,
    pub position: i16,
    pub kind: String,
    pub subject: String,
    pub body: String,
    pub in_thread: bool,
    pub wait_days: i16,
    pub task_title: String,
}

/// The sequence, locked for a change (`for update`) when `lock`.
pub async fn get(tx: &mut OrgTx, id: Uuid, lock: bool) -> Result<Option<Sequence>, AppError> {
    let row = if lock {
        sqlx::query_as!(
            Sequence,
            "select sequence_id, name, kind, owner_id, status, tracking, mailbox_ids, created_at, updated_at
               from outreach_sequences where org_id = $1 and sequence_id = $2 for update",
            tx.org().0,
            id
        )
        .fetch_optional(tx.conn())
        .await?
    } else {
        sqlx::query_as!(
            Sequence,
            "select sequence_id, name, kind, owner_id, status, tracking, mailbox_ids, created_at, updated_at
               from outreach_sequences where org_id = $1 and sequence_id = $2",
            tx.org().0,
            id
        )
        .fetch_optional(tx.conn())
        .await?
    };
    Ok(row)
}

/// Sequences of `owner` (everyone's when `None`), most recently changed first; archived ones
/// only when `archived`.
pub async fn list(tx: &mut OrgTx, owner: Option<Uuid>, archived: bool) -> Result<Vec<SequenceRow>, AppError> {
    let rows = sqlx::query!(
        r#"select s.sequence_id, s.name, s.kind, s.owner_id, s.status, s.tracking, s.mailbox_ids, s.created_at, s.updated_at,
                  (select count(*) from outreach_steps st where st.org_id = s.org_id and st.sequence_id = s.sequence_id) as "steps!",
                  (select count(*) from outreach_enrollments e
                    where e.org_id = s.org_id and e.sequence_id = s.sequence_id and e.state <> 'skipped') as "enrolled!",
                  (select count(*) from outreach_messages m
                    where m.org_id = s.org_id and m.sequence_id = s.sequence_id and m.enrollment_id is not null
                      and m.state = 'sent') as "sent!"
             from outreach_sequences s
            where s.org_id = $1 and ($2::uuid is null or s.owner_id = $2) and ($3 or s.status <> 'archived')
            order by s.updated_at desc, s.sequence_id
            limit 500"#,
        tx.org().0,
        owner,
        archived
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| SequenceRow {
            sequence: Sequence {
                sequence_id: r.sequence_id,
                name: r.name,
                kind: r.kind,
                owner_id: r.owner_id,
                status: r.status,
                tracking: r.tracking,
                mailbox_ids: r.mailbox_ids,
                created_at: r.created_at,
                updated_at: r.updated_at,
            },
            steps: r.steps,
            enrolled: r.enrolled,
            sent: r.sent,
        })
        .collect())
}

pub async fn insert(tx: &mut OrgTx, s: &Sequence) -> Result<(), AppError> {
    sqlx::query!(
        "insert into outreach_sequences (org_id, sequence_id, name, kind, owner_id, status, tracking, mailbox_ids, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        tx.org().0,
        s.sequence_id,
        s.name,
        s.kind,
        s.owner_id,
        s.status,
        s.tracking,
        &s.mailbox_ids,
        s.created_at,
        s.updated_at
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Writes the sequence's settings and status as they are in `s`.
pub async fn update(tx: &mut OrgTx, s: &Sequence) -> Result<(), AppError> {
    sqlx::query!(
        "update outreach_sequences set name = $3, kind = $4, status = $5, tracking = $6, mailbox_ids = $7, updated_at = $8
          where org_id = $1 and sequence_id = $2",
        tx.org().0,
        s.sequence_id,
        s.name,
        s.kind,
        s.status,
        s.tracking,
        &s.mailbox_ids,
        s.updated_at
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn steps(tx: &mut OrgTx, sequence: Uuid) -> Result<Vec<StepRow>, AppError> {
    Ok(sqlx::query_as!(
        StepRow,
        "select step_id, position, kind, subject, body, in_thread, wait_days, task_title
           from outreach_steps where org_id = $1 and sequence_id = $2 order by position",
        tx.org().0,
        sequence
    )
    .fetch_all(tx.conn())
    .await?)
}

/// Inserts or overwrites the step `step.step_id` of `sequence`.
pub async fn upsert_step(tx: &mut OrgTx, sequence: Uuid, step: &StepRow) -> Result<(), AppError> {
    sqlx::query!(
        "insert into outreach_steps (org_id, sequence_id, step_id, position, kind, wait_days, subject, body, in_thread, task_title)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         on conflict (org_id, step_id) do update
            set position = excluded.position, kind = excluded.kind, wait_days = excluded.wait_days,
                subject = excluded.subject, body = excluded.body, in_thread = excluded.in_thread,
                task_title = excluded.task_title",
        tx.org().0,
        sequence,
        step.step_id,
        step.position,
        step.kind,
        step.wait_days,
        step.subject,
        step.body,
        step.in_thread,
        step.task_title
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn delete_steps(tx: &mut OrgTx, sequence: Uuid, ids: &[Uuid]) -> Result<(), AppError> {
    sqlx::query!(
        "delete from outreach_steps where org_id = $1 and sequence_id = $2 and step_id = any($3)",
        tx.org().0,
        sequence,
        ids
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Those of `ids` that some message (sent, planned or a test) refers to.
pub async fn steps_with_messages(tx: &mut OrgTx, ids: &[Uuid]) -> Result<Vec<Uuid>, AppError> {
    Ok(sqlx::query_scalar!(
        r#"select distinct step_id as "step_id!" from outreach_messages where org_id = $1 and step_id = any($2)"#,
        tx.org().0,
        ids
    )
    .fetch_all(tx.conn())
    .await?)
}

/// A member's own mailboxes: (id, address, status).
pub async fn own_mailboxes(tx: &mut OrgTx, owner: Uuid) -> Result<Vec<(Uuid, String, String)>, AppError> {
    Ok(sqlx::query!(
        "select mailbox_id, from_address, status from outreach_mailboxes where org_id = $1 and owner_id = $2
          order by from_address",
        tx.org().0,
        owner
    )
    .fetch_all(tx.conn())
    .await?
    .into_iter()
    .map(|r| (r.mailbox_id, r.from_address, r.status))
    .collect())
}

/// The member as a sample recipient of their own test: (first name, last name, email, job title,
/// organization name).
pub async fn member_sample(
    tx: &mut OrgTx,
    user: Uuid,
) -> Result<Option<(String, String, String, String, String)>, AppError> {
    Ok(sqlx::query!(
        "select u.first_name, u.last_name, u.email, u.job_title, o.name as org_name
           from users u join organizations o on o.org_id = u.org_id
          where u.org_id = $1 and u.user_id = $2",
        tx.org().0,
        user
    )
    .fetch_optional(tx.conn())
    .await?
    .map(|r| (r.first_name, r.last_name, r.email, r.job_title, r.org_name)))
}

/// The records among `ids` that this transaction sees, with their address: (id, email).
pub async fn visible_addresses(tx: &mut OrgTx, contacts: bool, ids: &[Uuid]) -> Result<Vec<(Uuid, String)>, AppError> {
    let rows = if contacts {
        sqlx::query!(
            "select contact_id, email from contacts where org_id = $1 and contact_id = any($2)",
            tx.org().0,
            ids
        )
        .fetch_all(tx.conn())
        .await?
        .into_iter()
        .map(|r| (r.contact_id, r.email))
        .collect()
    } else {
        sqlx::query!("select lead_id, email from leads where org_id = $1 and lead_id = any($2)", tx.org().0, ids)
            .fetch_all(tx.conn())
            .await?
            .into_iter()
            .map(|r| (r.lead_id, r.email))
            .collect()
    };
    Ok(rows)
}

/// Those of `ids` (contacts, or leads) already enrolled in `sequence`.
pub async fn already_enrolled(
    tx: &mut OrgTx,
    sequence: Uuid,
    contacts: bool,
    ids: &[Uuid],
) -> Result<Vec<Uuid>, AppError> {
    Ok(sqlx::query_scalar!(
        r#"select coalesce(contact_id, lead_id) as "id!" from outreach_enrollments
            where org_id = $1 and sequence_id = $2
              and (($3 and contact_id = any($4)) or (not $3 and lead_id = any($4)))"#,
        tx.org().0,
        sequence,
        contacts,
        ids
    )
    .fetch_all(tx.conn())
    .await?)
}

/// A new enrollment.
pub struct NewEnrollment<'a> {
    pub target: Target,
    pub email: &'a str,
    pub state: &'a str,
    pub reason: &'a str,
    pub next_run_at: Option<OffsetDateTime>,
}

/// Inserts one enrollment; false when the record was enrolled meanwhile (another request).
pub async fn insert_enrollment(
    tx: &mut OrgTx,
    sequence: Uuid,
    by: Uuid,
    e: &NewEnrollment<'_>,
    now: OffsetDateTime,
) -> Result<bool, AppError> {
    let (contact, lead) = match e.target {
        Target::Contact(id) => (Some(id), None),
        Target::Lead(id) => (None, Some(id)),
    };
    let inserted = sqlx::query!(
        "insert into outreach_enrollments (org_id, enrollment_id, sequence_id, contact_id, lead_id, email, state,
                                           state_reason, next_run_at, enrolled_by, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
         on conflict do nothing",
        tx.org().0,
        Uuid::now_v7(),
        sequence,
        contact,
        lead,
        e.email,
        e.state,
        e.reason,
        e.next_run_at,
        by,
        now
    )
    .execute(tx.conn())
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Active enrollments waiting for the sequence's activation get their first step due now.
pub async fn start_waiting(tx: &mut OrgTx, sequence: Uuid, now: OffsetDateTime) -> Result<u64, AppError> {
    Ok(sqlx::query!(
        "update outreach_enrollments set next_run_at = $3, updated_at = $3
          where org_id = $1 and sequence_id = $2 and state = 'active' and next_run_at is null
            and not exists (select 1 from outreach_messages m
                             where m.org_id = $1 and m.enrollment_id = outreach_enrollments.enrollment_id)",
        tx.org().0,
        sequence,
        now
    )
    .execute(tx.conn())
    .await?
    .rows_affected())
}

/// Takes back what was planned and not yet sent for the sequence (`enrollment`: for that one
/// enrollment only): the messages are cancelled and each enrollment goes back to that step, due
/// now, so it is planned again when it may run. Why: the planner only plans active enrollments of
/// active sequences, but a message already planned would still leave while paused.
pub async fn unplan(
    tx: &mut OrgTx,
    sequence: Uuid,
    enrollment: Option<Uuid>,
    reason: &str,
    now: OffsetDateTime,
) -> Result<u64, AppError> {
    Ok(sqlx::query!(
        "with cancelled as (
           update outreach_messages set state = 'cancelled', state_reason = $4
            where org_id = $1 and sequence_id = $2 and state = 'planned' and enrollment_id is not null
              and ($3::uuid is null or enrollment_id = $3)
           returning enrollment_id, step_id)
         update outreach_enrollments e
            set next_position = s.position, next_run_at = $5, updated_at = $5
           from cancelled c join outreach_steps s on s.org_id = $1 and s.step_id = c.step_id
          where e.org_id = $1 and e.enrollment_id = c.enrollment_id",
        tx.org().0,
        sequence,
        enrollment,
        reason,
        now
    )
    .execute(tx.conn())
    .await?
    .rows_affected())
}

/// The enrollments of a sequence still running (active or paused).
pub async fn running_enrollments(tx: &mut OrgTx, sequence: Uuid) -> Result<Vec<Uuid>, AppError> {
    Ok(sqlx::query_scalar!(
        "select enrollment_id from outreach_enrollments
          where org_id = $1 and sequence_id = $2 and state in ('active', 'paused')",
        tx.org().0,
        sequence
    )
    .fetch_all(tx.conn())
    .await?)
}

/// An enrollment as lists show it.
#[derive(Debug, Clone, Serialize)]
pub struct EnrollmentRow {
    pub enrollment_id: Uuid,
    pub sequence_id: Uuid,
    pub sequence_name: String,
    pub contact_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    /// The person's name when this member sees the record, else the address.
    pub name: String,
    pub email: String,
    pub state: String,
    pub state_reason: String,
    pub next_position: i16,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_run_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// What to list: a sequence's enrollments (a page of them), or a record's.
pub enum EnrollmentScope {
    Sequence { sequence: Uuid, state: Option<String>, before: Option<Uuid>, limit: i64 },
    Record(Target),
}

pub async fn enrollments(tx: &mut OrgTx, scope: EnrollmentScope) -> Result<Vec<EnrollmentRow>, AppError> {
    let (sequence, state, before, limit, contact, lead) = match scope {
        EnrollmentScope::Sequence { sequence, state, before, limit } => {
            (Some(sequence), state, before, limit, None, None)
        }
        EnrollmentScope::Record(Target::Contact(id)) => (None, None, None, 200, Some(id), None),
        EnrollmentScope::Record(Target::Lead(id)) => (None, None, None, 200, None, Some(id)),
    };
    Ok(sqlx::query_as!(
        EnrollmentRow,
        r#"select e.enrollment_id, e.sequence_id, s.name as sequence_name, e.contact_id, e.lead_id,
                  coalesce(nullif(trim(coalesce(c.first_name, '') || ' ' || coalesce(c.last_name, '')), ''),
                           nullif(trim(coalesce(l.first_name, '') || ' ' || coalesce(l.last_name, '')), ''),
                           e.email) as "name!",
                  e.email, e.state, e.state_reason, e.next_position, e.next_run_at, e.created_at, e.updated_at
             from outreach_enrollments e
             join outreach_sequences s on s.org_id = e.org_id and s.sequence_id = e.sequence_id
             left join contacts c on c.org_id = e.org_id and c.contact_id = e.contact_id
             left join leads l on l.org_id = e.org_id and l.lead_id = e.lead_id
            where e.org_id = $1
              and ($2::uuid is null or e.sequence_id = $2)
              and ($3::text is null or e.state = $3)
              and ($4::uuid is null or e.enrollment_id < $4)
              and ($5::uuid is null or e.contact_id = $5)
              and ($6::uuid is null or e.lead_id = $6)
            order by e.enrollment_id desc
            limit $7"#,
        tx.org().0,
        sequence,
        state,
        before,
        contact,
        lead,
        limit
    )
    .fetch_all(tx.conn())
    .await?)
}

/// One enrollment with its sequence's owner, locked for a change: (state, sequence, owner).
pub async fn lock_enrollment(tx: &mut OrgTx, id: Uuid) -> Result<Option<(String, Uuid, Option<Uuid>)>, AppError> {
    Ok(sqlx::query!(
        "select e.state, e.sequence_id, s.owner_id
           from outreach_enrollments e
           join outreach_sequences s on s.org_id = e.org_id and s.sequence_id = e.sequence_id
          where e.org_id = $1 and e.enrollment_id = $2
          for update of e",
        tx.org().0,
        id
    )
    .fetch_optional(tx.conn())
    .await?
    .map(|r| (r.state, r.sequence_id, r.owner_id)))
}

pub async fn set_enrollment_state(tx: &mut OrgTx, id: Uuid, state: &str, now: OffsetDateTime) -> Result<(), AppError> {
    sqlx::query!(
        "update outreach_enrollments set state = $3, updated_at = $4 where org_id = $1 and enrollment_id = $2",
        tx.org().0,
        id,
        state,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Whether this transaction sees the record.
pub async fn record_visible(tx: &mut OrgTx, target: Target) -> Result<bool, AppError> {
    let found = match target {
        Target::Contact(id) => {
            sqlx::query_scalar!(
                r#"select exists(select 1 from contacts where org_id = $1 and contact_id = $2) as "found!""#,
                tx.org().0,
                id
            )
            .fetch_one(tx.conn())
            .await?
        }
        Target::Lead(id) => {
            sqlx::query_scalar!(
                r#"select exists(select 1 from leads where org_id = $1 and lead_id = $2) as "found!""#,
                tx.org().0,
                id
            )
            .fetch_one(tx.conn())
            .await?
        }
    };
    Ok(found)
}
