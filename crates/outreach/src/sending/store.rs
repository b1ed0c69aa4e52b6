//! The sending engine's SQL: due enrollments, planning under a mailbox's limits, the queue of
//! messages and their states. Every function runs in a tenant transaction of one organization.

use std::collections::HashMap;

use kernel::{AppError, OrgTx};
use time::OffsetDateTime;
use uuid::Uuid;

/// An enrollment whose next step is due, with what planning it needs of its sequence.
#[derive(Debug, Clone)]
pub struct DueEnrollment {
    pub enrollment_id: Uuid,
    pub sequence_id: Uuid,
    pub contact_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub email: String,
    pub next_position: i16,
    pub next_run_at: OffsetDateTime,
    pub mailbox_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub mailbox_ids: Vec<Uuid>,
    /// The recipient's own time zone, when the record has one.
    pub time_zone: String,
}

/// Up to `limit` active enrollments of active sequences whose next step is due, locked for
/// this planner (another planner skips them).
pub async fn due_enrollments(tx: &mut OrgTx, now: OffsetDateTime, limit: i64) -> Result<Vec<DueEnrollment>, AppError> {
    Ok(sqlx::query_as!(
        DueEnrollment,
        r#"select e.enrollment_id, e.sequence_id, e.contact_id, e.lead_id, e.email, e.next_position,
                  e.next_run_at as "next_run_at!", e.mailbox_id, s.owner_id, s.mailbox_ids,
                  coalesce((select c.time_zone from contacts c where c.org_id = e.org_id and c.contact_id = e.contact_id), '') as "time_zone!"
             from outreach_enrollments e
             join outreach_sequences s on s.org_id = e.org_id and s.sequence_id = e.sequence_id
            where e.org_id = $1 and e.state = 'active' and e.next_run_at <= $2 and s.status = 'active'
            order by e.next_run_at
            limit $3
            for update of e skip locked"#,
        tx.org().0,
        now,
        limit
    )
    .fetch_all(tx.conn())
    .await?)
}

#[derive(Debug, Clone)]
pub struct Step {
    pub step_id: Uuid,
    pub position: i16,
    pub kind: String,
    pub wait_days: i16,
    pub subject: String,
    pub body: String,
    pub in_thread: bool,
    pub task_title: String,
}

/// The steps of each of `sequences`, in order.
pub async fn steps_of(tx: &mut OrgTx, sequences: &[Uuid]) -> Result<HashMap<Uuid, Vec<Step>>, AppError> {
    let rows = sqlx::query!(
        "select sequence_id, step_id, position, kind, wait_days, subject, body, in_thread, task_title
           from outreach_steps where org_id = $1 and sequence_id = any($2) order by sequence_id, position",
        tx.org().0,
        sequences
    )
    .fetch_all(tx.conn())
    .await?;
    let mut steps: HashMap<Uuid, Vec<Step>> = HashMap::new();
    for r in rows {
        steps.entry(r.sequence_id).or_default().push(Step {
            step_id: r.step_id,
            position: r.position,
            kind: r.kind,
            wait_days: r.wait_days,
            subject: r.subject,
            body: r.body,
            in_thread: r.in_thread,
            task_title: r.task_title,
        });
    }
    Ok(steps)
}

/// A mailbox as planning sees it: its limits and where its next slot stands. Locked, so two
/// planners never give the same slot twice.
#[derive(Debug, Clone)]
pub struct PlanningMailbox {
    pub mailbox_id: Uuid,
    pub owner_id: Uuid,
    pub from_name: String,
    pub from_address: String,
    pub daily_cap: i32,
    pub min_gap_seconds: i32,
    pub jitter_seconds: i32,
    pub window_days: Vec<i16>,
    pub window_start_minute: i16,
    pub window_end_minute: i16,
    pub time_zone: String,
    pub signature: String,
    pub next_slot_at: Option<OffsetDateTime>,
}

/// The active mailboxes among `ids` that belong to `owner`, locked in a fixed order.
pub async fn planning_mailboxes(tx: &mut OrgTx, ids: &[Uuid], owner: Uuid) -> Result<Vec<PlanningMailbox>, AppError> {
    Ok(sqlx::query_as!(
        PlanningMailbox,
        "select mailbox_id, owner_id, from_name, from_address, daily_cap, min_gap_seconds, jitter_seconds,
                window_days, window_start_minute, window_end_minute, time_zone, signature, next_slot_at
           from outreach_mailboxes
          where org_id = $1 and mailbox_id = any($2) and owner_id = $3 and status = 'active'
          order by mailbox_id
          for update",
        tx.org().0,
        ids,
        owner
    )
    .fetch_all(tx.conn())
    .await?)
}

/// Messages of a mailbox planned, in flight or sent in `[from, to)`: what its daily cap counts.
/// Two counts, each on its own partial index (planned: `outreach_messages_due`; the others:
/// `outreach_messages_day_taken`, migration 0032), so that no index mixes planned messages with
/// sent ones for the claim to walk.
pub async fn count_in_span(
    tx: &mut OrgTx,
    mailbox: Uuid,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar!(
        r#"select (select count(*) from outreach_messages
                    where org_id = $1 and mailbox_id = $2 and scheduled_at >= $3 and scheduled_at < $4
                      and state = 'planned')
                + (select count(*) from outreach_messages
                    where org_id = $1 and mailbox_id = $2 and scheduled_at >= $3 and scheduled_at < $4
                      and state in ('sending', 'sent', 'review')) as "n!""#,
        tx.org().0,
        mailbox,
        from,
        to
    )
    .fetch_one(tx.conn())
    .await?)
}

pub async fn set_next_slot(tx: &mut OrgTx, mailbox: Uuid, at: OffsetDateTime) -> Result<(), AppError> {
    sqlx::query!(
        "update outreach_mailboxes set next_slot_at = $3 where org_id = $1 and mailbox_id = $2",
        tx.org().0,
        mailbox,
        at
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The thread a follow-up answers: the enrollment's latest email (sent or planned).
pub struct Parent {
    pub message_id_header: String,
    pub references_header: Option<String>,
    pub subject: String,
}

/// Each enrollment's latest email (sent or planned), for those of `enrollments` that have one.
pub async fn thread_parents(tx: &mut OrgTx, enrollments: &[Uuid]) -> Result<HashMap<Uuid, Parent>, AppError> {
    if enrollments.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query!(
        r#"select distinct on (enrollment_id) enrollment_id as "enrollment_id!", message_id_header, references_header,
                  subject
             from outreach_messages
            where org_id = $1 and enrollment_id = any($2) and state in ('planned', 'sending', 'sent', 'review')
            order by enrollment_id, created_at desc"#,
        tx.org().0,
        enrollments
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let parent = Parent {
                message_id_header: r.message_id_header,
                references_header: r.references_header,
                subject: r.subject,
            };
            (r.enrollment_id, parent)
        })
        .collect())
}

/// A message to plan, rendered.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub message_id: Uuid,
    pub enrollment_id: Option<Uuid>,
    pub sequence_id: Option<Uuid>,
    pub step_id: Option<Uuid>,
    pub mailbox_id: Uuid,
    pub to_address: String,
    pub subject: String,
    pub body_text: String,
    pub message_id_header: String,
    pub in_reply_to: Option<String>,
    pub references_header: Option<String>,
    pub scheduled_at: OffsetDateTime,
}

/// Queues `messages` as `planned`, in one statement (the planner writes a pass's at once).
pub async fn insert_messages(tx: &mut OrgTx, now: OffsetDateTime, messages: &[NewMessage]) -> Result<(), AppError> {
    if messages.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&NewMessage) -> Option<Uuid>| messages.iter().map(f).collect::<Vec<_>>();
    let text = |f: fn(&NewMessage) -> Option<String>| messages.iter().map(f).collect::<Vec<_>>();
    let ids: Vec<Uuid> = messages.iter().map(|m| m.message_id).collect();
    let mailboxes: Vec<Uuid> = messages.iter().map(|m| m.mailbox_id).collect();
    let scheduled: Vec<OffsetDateTime> = messages.iter().map(|m| m.scheduled_at).collect();
    sqlx::query!(
        "insert into outreach_messages (org_id, message_id, enrollment_id, sequence_id, step_id, mailbox_id, to_address,
                                        subject, body_text, message_id_header, in_reply_to, references_header, state,
                                        scheduled_at, created_at)
         select $1, m.message_id, m.enrollment_id, m.sequence_id, m.step_id, m.mailbox_id, m.to_address, m.subject,
                m.body_text, m.message_id_header, m.in_reply_to, m.references_header, 'planned', m.scheduled_at, $14
           from unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], $7::text[], $8::text[], $9::text[],
                       $10::text[], $11::text[], $12::text[], $13::timestamptz[])
                as m(message_id, enrollment_id, sequence_id, step_id, mailbox_id, to_address, subject, body_text,
                     message_id_header, in_reply_to, references_header, scheduled_at)",
        tx.org().0,
        &ids,
        &column(|m| m.enrollment_id) as &[Option<Uuid>],
        &column(|m| m.sequence_id) as &[Option<Uuid>],
        &column(|m| m.step_id) as &[Option<Uuid>],
        &mailboxes,
        &messages.iter().map(|m| m.to_address.clone()).collect::<Vec<_>>(),
        &messages.iter().map(|m| m.subject.clone()).collect::<Vec<_>>(),
        &messages.iter().map(|m| m.body_text.clone()).collect::<Vec<_>>(),
        &messages.iter().map(|m| m.message_id_header.clone()).collect::<Vec<_>>(),
        &text(|m| m.in_reply_to.clone()) as &[Option<String>],
        &text(|m| m.references_header.clone()) as &[Option<String>],
        &scheduled,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// An enrollment moved to its next step: `next_run_at` null while an email of it waits to be
/// sent (sending sets it); `mailbox_id`, when given, is the thread's mailbox from now on;
/// `state_reason` says why it waits when it does.
#[derive(Debug, Clone)]
pub struct Advance {
    pub enrollment_id: Uuid,
    pub next_position: i16,
    pub next_run_at: Option<OffsetDateTime>,
    pub mailbox_id: Option<Uuid>,
    pub reason: &'static str,
}

/// Writes a pass's advances in one statement.
pub async fn advance(tx: &mut OrgTx, advances: &[Advance], now: OffsetDateTime) -> Result<(), AppError> {
    if advances.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = advances.iter().map(|a| a.enrollment_id).collect();
    let positions: Vec<i16> = advances.iter().map(|a| a.next_position).collect();
    let runs: Vec<Option<OffsetDateTime>> = advances.iter().map(|a| a.next_run_at).collect();
    let mailboxes: Vec<Option<Uuid>> = advances.iter().map(|a| a.mailbox_id).collect();
    let reasons: Vec<String> = advances.iter().map(|a| a.reason.to_owned()).collect();
    sqlx::query!(
        "update outreach_enrollments e
            set next_position = a.next_position, next_run_at = a.next_run_at,
                mailbox_id = coalesce(a.mailbox_id, e.mailbox_id), state_reason = a.reason, updated_at = $7
           from unnest($2::uuid[], $3::int2[], $4::timestamptz[], $5::uuid[], $6::text[])
                as a(enrollment_id, next_position, next_run_at, mailbox_id, reason)
          where e.org_id = $1 and e.enrollment_id = a.enrollment_id",
        tx.org().0,
        &ids,
        &positions,
        &runs as &[Option<OffsetDateTime>],
        &mailboxes as &[Option<Uuid>],
        &reasons,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Enrollments whose last step is done.
pub async fn finish(tx: &mut OrgTx, enrollments: &[Uuid], now: OffsetDateTime) -> Result<(), AppError> {
    if enrollments.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "update outreach_enrollments set state = 'finished', next_run_at = null, updated_at = $3
          where org_id = $1 and enrollment_id = any($2) and state = 'active'",
        tx.org().0,
        enrollments,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Messages left `sending` by a worker that died (their lease ran out): their fate is unknown,
/// so they go to review — never back to `planned`. Returns how many.
pub async fn recover_abandoned(tx: &mut OrgTx, now: OffsetDateTime) -> Result<u64, AppError> {
    Ok(sqlx::query!(
        "update outreach_messages set state = 'review', state_reason = 'fate_unknown', lease_until = null
          where org_id = $1 and state = 'sending' and lease_until < $2",
        tx.org().0,
        now
    )
    .execute(tx.conn())
    .await?
    .rows_affected())
}

/// Active mailboxes with messages due now. Asked mailbox by mailbox (one probe of the planned
/// index each, `lateral … limit 1`), not by gathering the organization's due messages: during a
/// campaign of a million those are most of the table, 1.3 s a dispatch run (seen in `relais bench
/// send`); the same for [`next_due`].
pub async fn mailboxes_with_due(tx: &mut OrgTx, now: OffsetDateTime) -> Result<Vec<Uuid>, AppError> {
    Ok(sqlx::query_scalar!(
        r#"select b.mailbox_id from outreach_mailboxes b
             cross join lateral (
               select 1 from outreach_messages m
                where m.org_id = b.org_id and m.mailbox_id = b.mailbox_id and m.state = 'planned'
                  and m.scheduled_at <= $2
                limit 1) due
            where b.org_id = $1 and b.status = 'active'"#,
        tx.org().0,
        now
    )
    .fetch_all(tx.conn())
    .await?)
}

/// A message claimed for sending.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub message_id: Uuid,
    pub enrollment_id: Option<Uuid>,
    pub to_address: String,
    pub subject: String,
    pub body_text: String,
    pub message_id_header: String,
    pub in_reply_to: Option<String>,
    pub references_header: Option<String>,
    pub attempts: i16,
    /// The message's sequence tracks opens and clicks.
    pub tracking: bool,
}

/// Cancels those of the next `limit` due messages of one mailbox whose address was suppressed
/// after they were planned (an unsubscribe committed while the planner was running), and stops
/// their enrollments: run just before [`claim`] with its limit, in its transaction, so a
/// suppressed address is never claimed. Only the messages about to be claimed are checked: checking
/// every due message of the mailbox (thousands during a campaign) for every batch of 20 was one of
/// the dispatcher's largest costs.
///
/// The rows to change are named by an array of their keys, never by a join: during a campaign the
/// table's statistics lag far behind it (analyzed while nearly empty), and with a join PostgreSQL
/// walked the organization's whole index of planned messages for every batch, 0.1 to 0.4 s each
/// (seen with `auto_explain` during `relais bench send`). An array of keys is always primary-key
/// lookups; and the update does not repeat `state = 'planned'` (the rows are locked as planned),
/// which would let PostgreSQL walk that partial index instead.
pub async fn drop_suppressed(tx: &mut OrgTx, mailbox: Uuid, now: OffsetDateTime, limit: i64) -> Result<u64, AppError> {
    Ok(sqlx::query!(
        "with next as materialized (
           select message_id, to_address from outreach_messages
            where org_id = $1 and mailbox_id = $2 and state = 'planned' and scheduled_at <= $3
            order by scheduled_at
            limit $4
            for update skip locked),
         dropped as (
           update outreach_messages m set state = 'cancelled', state_reason = 'suppressed'
            where m.org_id = $1
              and m.message_id = any(array(
                    select next.message_id from next
                     where exists (select 1 from outreach_suppressions s
                                    where s.org_id = $1 and s.email = lower(next.to_address))))
           returning m.enrollment_id)
         update outreach_enrollments e
            set state = 'stopped', state_reason = 'suppressed', next_run_at = null, updated_at = $3
          where e.org_id = $1 and e.state in ('active', 'paused')
            and e.enrollment_id = any(array(select enrollment_id from dropped))",
        tx.org().0,
        mailbox,
        now,
        limit
    )
    .execute(tx.conn())
    .await?
    .rows_affected())
}

/// Claims up to `limit` due messages of one mailbox: `sending`, leased until `lease_until`. The
/// caller commits this before talking to SMTP. The rows are picked once, in a materialized CTE:
/// as `… where id in (select … limit n for update skip locked)`, PostgreSQL may rescan the
/// subquery, and with SKIP LOCKED each rescan can pick other rows — claiming far more than `n`
/// (seen in the kill drill: 240 claimed for a limit of 20).
pub async fn claim(
    tx: &mut OrgTx,
    mailbox: Uuid,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
    limit: i64,
) -> Result<Vec<Claimed>, AppError> {
    // One sending session per mailbox: claimers of a mailbox take turns on its row, and while
    // another worker's batch is out (`sending_until` not yet passed or cleared) nothing more is
    // claimed. So a mailbox never sends from two workers at once, and a worker killed mid-batch
    // leaves at most one batch per mailbox in doubt (review, once its lease runs out).
    let busy = sqlx::query_scalar!(
        r#"select coalesce(sending_until > $3, false) as "busy!" from outreach_mailboxes
            where org_id = $1 and mailbox_id = $2 for update"#,
        tx.org().0,
        mailbox,
        now
    )
    .fetch_optional(tx.conn())
    .await?;
    if busy != Some(false) {
        return Ok(Vec::new());
    }
    let claimed = sqlx::query_as!(
        Claimed,
        "with picked as materialized (
           select message_id from outreach_messages
            where org_id = $1 and mailbox_id = $2 and state = 'planned' and scheduled_at <= $3
              and not exists (select 1 from outreach_suppressions s
                               where s.org_id = $1 and s.email = lower(outreach_messages.to_address))
            order by scheduled_at
            limit $5
            for update skip locked)
         update outreach_messages m
            set state = 'sending', lease_until = $4, attempts = m.attempts + 1
          where m.org_id = $1 and m.message_id = any(array(select message_id from picked))
          returning m.message_id, m.enrollment_id, m.to_address, m.subject, m.body_text, m.message_id_header,
                    m.in_reply_to, m.references_header, m.attempts,
                    coalesce((select q.tracking from outreach_sequences q
                               where q.org_id = m.org_id and q.sequence_id = m.sequence_id), false) as \"tracking!\"",
        tx.org().0,
        mailbox,
        now,
        lease_until,
        limit
    )
    .fetch_all(tx.conn())
    .await?;
    if !claimed.is_empty() {
        sending_until(tx, mailbox, Some(lease_until)).await?;
    }
    Ok(claimed)
}

/// Marks a mailbox as sending a batch until `until`, or done sending (`None`).
pub async fn sending_until(tx: &mut OrgTx, mailbox: Uuid, until: Option<OffsetDateTime>) -> Result<(), AppError> {
    sqlx::query!(
        "update outreach_mailboxes set sending_until = $3 where org_id = $1 and mailbox_id = $2",
        tx.org().0,
        mailbox,
        until
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Renews the lease of messages still being sent.
///
/// These updates of messages in `sending` name them by `lease_until is not null` (the same rows:
/// a check constraint ties the two) rather than by `state = 'sending'`: that condition lets
/// PostgreSQL pick the partial index of messages in `sending`, which during a campaign holds a
/// dead entry for every message sent since the last vacuum and whose statistics say it is nearly
/// empty — a walk of thousands of entries for a batch of 20, instead of its primary-key lookups.
pub async fn extend_lease(tx: &mut OrgTx, ids: &[Uuid], until: OffsetDateTime) -> Result<(), AppError> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "update outreach_messages m set lease_until = $3
           from unnest($2::uuid[]) as ids(message_id)
          where m.org_id = $1 and m.message_id = ids.message_id and m.lease_until is not null",
        tx.org().0,
        ids,
        until
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The server has them: `sent`, and each enrollment's next step is due from now.
pub async fn mark_sent(tx: &mut OrgTx, ids: &[Uuid], now: OffsetDateTime) -> Result<(), AppError> {
    sqlx::query!(
        "with sent as (
           update outreach_messages m set state = 'sent', sent_at = $3, lease_until = null, state_reason = ''
            where m.org_id = $1 and m.message_id = any($2) and m.lease_until is not null
           returning m.enrollment_id)
         update outreach_enrollments e
            set next_run_at = case when e.state = 'active' and e.next_run_at is null then $3 else e.next_run_at end,
                updated_at = $3
          where e.org_id = $1 and e.enrollment_id = any(array(select enrollment_id from sent))",
        tx.org().0,
        ids,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Back to `planned` at `at`: the server never took them (refused before the content, or the
/// mailbox could not be reached).
pub async fn release(tx: &mut OrgTx, ids: &[Uuid], at: OffsetDateTime, reason: &str) -> Result<(), AppError> {
    sqlx::query!(
        "update outreach_messages m set state = 'planned', scheduled_at = $3, lease_until = null, state_reason = $4
           from unnest($2::uuid[]) as ids(message_id)
          where m.org_id = $1 and m.message_id = ids.message_id and m.lease_until is not null",
        tx.org().0,
        ids,
        at,
        reason
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Ends a message in `failed` or `review` with its reason.
pub async fn settle(tx: &mut OrgTx, id: Uuid, state: &str, reason: &str) -> Result<(), AppError> {
    sqlx::query!(
        "update outreach_messages set state = $3, state_reason = $4, lease_until = null
          where org_id = $1 and message_id = $2 and lease_until is not null",
        tx.org().0,
        id,
        state,
        reason
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// When the dispatcher has something to do next: the earliest planned message of an active
/// mailbox — not before the batch another worker has out on that mailbox is done or its lease
/// has run out (else a run would find the mailbox busy, and queue itself again at once, round
/// and round) — or the earliest due step of an active sequence.
pub async fn next_due(tx: &mut OrgTx) -> Result<Option<OffsetDateTime>, AppError> {
    Ok(sqlx::query_scalar!(
        r#"select least(
             (select min(greatest(first.scheduled_at, b.sending_until)) from outreach_mailboxes b
                cross join lateral (
                  select m.scheduled_at from outreach_messages m
                   where m.org_id = b.org_id and m.mailbox_id = b.mailbox_id and m.state = 'planned'
                   order by m.scheduled_at
                   limit 1) first
               where b.org_id = $1 and b.status = 'active'),
             (select e.next_run_at from outreach_enrollments e
                join outreach_sequences s on s.org_id = e.org_id and s.sequence_id = e.sequence_id
               where e.org_id = $1 and e.state = 'active' and s.status = 'active' and e.next_run_at is not null
               order by e.next_run_at
               limit 1)) as "at""#,
        tx.org().0
    )
    .fetch_one(tx.conn())
    .await?)
}

/// The record a sent message goes on the timeline of, and who sent it.
pub struct TimelineTarget {
    pub contact_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub owner_id: Uuid,
}

pub async fn timeline_target(tx: &mut OrgTx, message: Uuid) -> Result<Option<TimelineTarget>, AppError> {
    Ok(sqlx::query_as!(
        TimelineTarget,
        "select e.contact_id, e.lead_id, b.owner_id
           from outreach_messages m
           join outreach_enrollments e on e.org_id = m.org_id and e.enrollment_id = m.enrollment_id
           join outreach_mailboxes b on b.org_id = m.org_id and b.mailbox_id = m.mailbox_id
          where m.org_id = $1 and m.message_id = $2",
        tx.org().0,
        message
    )
    .fetch_optional(tx.conn())
    .await?)
}

/// A message as lists show it (no body).
#[derive(Debug, Clone, serde::Serialize)]
pub struct MessageRow {
    pub message_id: Uuid,
    pub to_address: String,
    pub subject: String,
    pub state: String,
    pub state_reason: String,
    pub sequence_id: Option<Uuid>,
    pub sequence_name: Option<String>,
    pub mailbox_id: Option<Uuid>,
    pub from_address: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub scheduled_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Messages in `state` (any when `None`), newest first, `limit` before the cursor; only those of
/// `owner`'s mailboxes when `owner` is given (a user sees their own).
pub async fn messages(
    tx: &mut OrgTx,
    state: Option<&str>,
    owner: Option<Uuid>,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<MessageRow>, AppError> {
    Ok(sqlx::query_as!(
        MessageRow,
        r#"select m.message_id, m.to_address, m.subject, m.state, m.state_reason, m.sequence_id,
                  s.name as "sequence_name?", m.mailbox_id, b.from_address as "from_address?", m.scheduled_at, m.sent_at,
                  m.created_at
             from outreach_messages m
             left join outreach_sequences s on s.org_id = m.org_id and s.sequence_id = m.sequence_id
             left join outreach_mailboxes b on b.org_id = m.org_id and b.mailbox_id = m.mailbox_id
            where m.org_id = $1
              and ($2::text is null or m.state = $2)
              and ($3::uuid is null or b.owner_id = $3)
              and ($4::uuid is null or m.message_id < $4)
            order by m.message_id desc
            limit $5"#,
        tx.org().0,
        state,
        owner,
        before,
        limit
    )
    .fetch_all(tx.conn())
    .await?)
}

/// One message with who may act on it (its mailbox's owner), locked for a decision.
pub struct Reviewed {
    pub state: String,
    pub enrollment_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
}

pub async fn lock_message(tx: &mut OrgTx, id: Uuid) -> Result<Option<Reviewed>, AppError> {
    Ok(sqlx::query_as!(
        Reviewed,
        r#"select m.state, m.enrollment_id, b.owner_id as "owner_id?"
             from outreach_messages m
             left join outreach_mailboxes b on b.org_id = m.org_id and b.mailbox_id = m.mailbox_id
            where m.org_id = $1 and m.message_id = $2
            for update of m"#,
        tx.org().0,
        id
    )
    .fetch_optional(tx.conn())
    .await?)
}

/// A decision on a message awaiting review: `sent` (it did arrive), `planned` again (send it
/// once more, decided by a person), or `cancelled`.
pub async fn decide(tx: &mut OrgTx, id: Uuid, state: &str, now: OffsetDateTime) -> Result<(), AppError> {
    sqlx::query!(
        "update outreach_messages
            set state = $3, state_reason = 'reviewed',
                sent_at = case when $3 = 'sent' then $4 else sent_at end,
                scheduled_at = case when $3 = 'planned' then $4 else scheduled_at end
          where org_id = $1 and message_id = $2 and state = 'review'",
        tx.org().0,
        id,
        state,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Per sequence, step or mailbox: what happened to its people and messages.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Figures {
    pub enrolled: i64,
    pub sent: i64,
    pub bounced: i64,
    pub replied: i64,
    pub unsubscribed: i64,
    /// Messages opened and clicked at least once: only ever non-zero while tracking is on.
    pub opened: i64,
    pub clicked: i64,
}

/// The sequence's figures: for the whole sequence, and per email step and per mailbox
/// (`(id, label, figures)`).
pub async fn sequence_figures(
    tx: &mut OrgTx,
    sequence: Uuid,
) -> Result<(Figures, Vec<(Uuid, String, Figures)>, Vec<(Uuid, String, Figures)>), AppError> {
    let totals = sqlx::query!(
        r#"select count(*) as "enrolled!",
                  count(*) filter (where state = 'unsubscribed') as "unsubscribed!",
                  count(*) filter (where state = 'replied') as "replied!",
                  count(*) filter (where state = 'bounced') as "bounced!"
             from outreach_enrollments where org_id = $1 and sequence_id = $2"#,
        tx.org().0,
        sequence
    )
    .fetch_one(tx.conn())
    .await?;
    let messages = sqlx::query!(
        r#"select count(*) filter (where state = 'sent') as "sent!",
                  count(*) filter (where opened_at is not null) as "opened!",
                  count(*) filter (where clicked_at is not null) as "clicked!"
             from outreach_messages
            where org_id = $1 and sequence_id = $2 and enrollment_id is not null"#,
        tx.org().0,
        sequence
    )
    .fetch_one(tx.conn())
    .await?;
    let whole = Figures {
        enrolled: totals.enrolled,
        sent: messages.sent,
        bounced: totals.bounced,
        replied: totals.replied,
        unsubscribed: totals.unsubscribed,
        opened: messages.opened,
        clicked: messages.clicked,
    };
    let steps = sqlx::query!(
        r#"select st.step_id, st.position, st.subject,
                  count(m.message_id) filter (where m.state = 'sent') as "sent!",
                  count(m.message_id) filter (where m.bounced_at is not null) as "bounced!",
                  count(m.message_id) filter (where m.replied_at is not null) as "replied!",
                  count(m.message_id) filter (where m.opened_at is not null) as "opened!",
                  count(m.message_id) filter (where m.clicked_at is not null) as "clicked!",
                  count(e.enrollment_id) filter (where e.state = 'unsubscribed') as "unsubscribed!"
             from outreach_steps st
             left join outreach_messages m on m.org_id = st.org_id and m.step_id = st.step_id and m.enrollment_id is not null
             left join outreach_enrollments e on e.org_id = m.org_id and e.enrollment_id = m.enrollment_id
            where st.org_id = $1 and st.sequence_id = $2 and st.kind = 'email'
            group by st.step_id, st.position, st.subject
            order by st.position"#,
        tx.org().0,
        sequence
    )
    .fetch_all(tx.conn())
    .await?
    .into_iter()
    .map(|r| {
        let label = format!("{}. {}", r.position, r.subject);
        let figures = Figures {
            enrolled: 0,
            sent: r.sent,
            bounced: r.bounced,
            replied: r.replied,
            unsubscribed: r.unsubscribed,
            opened: r.opened,
            clicked: r.clicked,
        };
        (r.step_id, label, figures)
    })
    .collect();
    let mailboxes = sqlx::query!(
        r#"select b.mailbox_id, b.from_address,
                  count(*) filter (where m.state = 'sent') as "sent!",
                  count(*) filter (where m.bounced_at is not null) as "bounced!",
                  count(*) filter (where m.replied_at is not null) as "replied!",
                  count(*) filter (where m.opened_at is not null) as "opened!",
                  count(*) filter (where m.clicked_at is not null) as "clicked!"
             from outreach_messages m
             join outreach_mailboxes b on b.org_id = m.org_id and b.mailbox_id = m.mailbox_id
            where m.org_id = $1 and m.sequence_id = $2 and m.enrollment_id is not null
            group by b.mailbox_id, b.from_address
            order by b.from_address"#,
        tx.org().0,
        sequence
    )
    .fetch_all(tx.conn())
    .await?
    .into_iter()
    .map(|r| {
        let figures = Figures {
            enrolled: 0,
            sent: r.sent,
            bounced: r.bounced,
            replied: r.replied,
            unsubscribed: 0,
            opened: r.opened,
            clicked: r.clicked,
        };
        (r.mailbox_id, r.from_address, figures)
    })
    .collect();
    Ok((whole, steps, mailboxes))
}

/// The sequence's name and owner, if it exists.
pub async fn sequence_head(tx: &mut OrgTx, sequence: Uuid) -> Result<Option<(String, Option<Uuid>, bool)>, AppError> {
    Ok(sqlx::query!(
        "select name, owner_id, tracking from outreach_sequences where org_id = $1 and sequence_id = $2",
        tx.org().0,
        sequence
    )
    .fetch_optional(tx.conn())
    .await?
    .map(|r| (r.name, r.owner_id, r.tracking)))
}

/// How many messages await review: of `owner`'s mailboxes, or all (`None`). Bounded by the
/// partial index on messages in review, which stays small (at most one claimed batch per crash).
pub async fn review_count(tx: &mut OrgTx, owner: Option<Uuid>) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar!(
        r#"select count(*) as "count!" from outreach_messages m
             left join outreach_mailboxes b on b.org_id = m.org_id and b.mailbox_id = m.mailbox_id
            where m.org_id = $1 and m.state = 'review' and ($2::uuid is null or b.owner_id = $2)"#,
        tx.org().0,
        owner
    )
    .fetch_one(tx.conn())
    .await?)
}
