//! The home panels' SQL: every query runs in the member's transaction (row-level security applies
//! their record visibility), aggregates in the database and returns a bounded number of rows.

use kernel::{AppError, OrgTx};
use time::OffsetDateTime;
use uuid::Uuid;

/// An open task of mine due before a moment, with its (visible) record.
pub struct DueTask {
    pub task_id: Uuid,
    pub title: String,
    pub due_at: OffsetDateTime,
    pub object: String,
    pub record_id: Uuid,
    pub record_name: String,
    /// How many tasks match in all (the list is cut at `limit`).
    pub total: i64,
}

/// My open tasks due before `until` (the end of today), oldest due first: overdue ones and
/// today's. Only tasks on a record I can see now (a left join to a record hidden by row-level
/// security finds nothing), as on My tasks. Served by the `tasks_assignee` index.
pub async fn due_tasks(
    tx: &mut OrgTx,
    assignee: Uuid,
    until: OffsetDateTime,
    limit: i64,
) -> Result<Vec<DueTask>, AppError> {
    Ok(sqlx::query_as!(
        DueTask,
        r#"select t.task_id, t.title, t.due_at as "due_at!",
                  case when l.lead_id is not null then 'lead' when c.contact_id is not null then 'contact'
                       when co.company_id is not null then 'company' else 'deal' end as "object!",
                  coalesce(l.lead_id, c.contact_id, co.company_id, d.deal_id) as "record_id!",
                  coalesce(nullif(trim(l.first_name || ' ' || l.last_name), ''), nullif(l.email, ''), nullif(l.company_name, ''),
                           nullif(trim(c.first_name || ' ' || c.last_name), ''), nullif(c.email, ''),
                           co.name, d.name, '—') as "record_name!",
                  count(*) over () as "total!"
             from tasks t
             left join leads l on l.org_id = t.org_id and l.lead_id = t.lead_id
             left join contacts c on c.org_id = t.org_id and c.contact_id = t.contact_id
             left join companies co on co.org_id = t.org_id and co.company_id = t.company_id
             left join deals d on d.org_id = t.org_id and d.deal_id = t.deal_id
            where t.org_id = $1 and t.assignee_id = $2 and t.status = 'open' and t.due_at < $3
              and coalesce(l.lead_id, c.contact_id, co.company_id, d.deal_id) is not null
            order by t.due_at, t.task_id
            limit $4"#,
        tx.org().0,
        assignee,
        until,
        limit
    )
    .fetch_all(tx.conn())
    .await?)
}

/// One open stage of a pipeline with its deals in one currency (`currency` is `None` for a stage
/// with no deal).
pub struct StageTotal {
    pub pipeline_id: Uuid,
    pub pipeline: String,
    pub stage_id: Uuid,
    pub stage: String,
    pub currency: Option<String>,
    pub count: i64,
    /// The sum of the amounts, as PostgreSQL writes a numeric (`48000.00`).
    pub total: String,
}

/// Open deals by pipeline, open stage and currency — only `owner`'s when given, else every deal
/// the member sees — with every open stage present (count 0 when empty), in pipeline and stage
/// order. One row per stage and currency: stages × currencies rows at most.
pub async fn open_deals_by_stage(tx: &mut OrgTx, owner: Option<Uuid>) -> Result<Vec<StageTotal>, AppError> {
    Ok(sqlx::query_as!(
        StageTotal,
        r#"select p.pipeline_id, p.name as pipeline, s.stage_id, s.name as stage, d.currency as "currency?",
                  count(d.deal_id) as "count!", coalesce(sum(d.amount), 0)::text as "total!"
             from pipeline_stages s
             join pipelines p on p.org_id = s.org_id and p.pipeline_id = s.pipeline_id
             left join deals d on d.org_id = s.org_id and d.stage_id = s.stage_id
                              and ($2::uuid is null or d.owner_id = $2)
            where s.org_id = $1 and s.outcome = 'open'
            group by p.position, p.name, p.pipeline_id, s.position, s.stage_id, s.name, d.currency
            order by p.position, p.name, p.pipeline_id, s.position, s.stage_id, d.currency nulls first"#,
        tx.org().0,
        owner
    )
    .fetch_all(tx.conn())
    .await?)
}

/// A lead a landing-page form created.
pub struct FormLead {
    pub lead_id: Uuid,
    pub name: String,
    pub company_name: String,
    pub created_at: OffsetDateTime,
    pub total: i64,
}

/// Leads created by a form submission (their `created` history row has the source `form`) since
/// `since`, newest first, among those the member sees. A lead is never updated before it is
/// created, so `updated_at >= since` holds too and lets the `leads_updated` index bound the scan.
pub async fn form_leads(tx: &mut OrgTx, since: OffsetDateTime, limit: i64) -> Result<Vec<FormLead>, AppError> {
    Ok(sqlx::query_as!(
        FormLead,
        r#"select l.lead_id,
                  coalesce(nullif(trim(l.first_name || ' ' || l.last_name), ''), nullif(l.email, ''), nullif(l.company_name, ''), '—') as "name!",
                  l.company_name, l.created_at, count(*) over () as "total!"
             from leads l
            where l.org_id = $1 and l.updated_at >= $2 and l.created_at >= $2
              and exists (select 1 from record_changes c
                           where c.org_id = l.org_id and c.lead_id = l.lead_id and c.action = 'created' and c.source = 'form')
            order by l.created_at desc, l.lead_id
            limit $3"#,
        tx.org().0,
        since,
        limit
    )
    .fetch_all(tx.conn())
    .await?)
}

/// An event on one of my records.
pub struct RecentEvent {
    /// `change`, `note`, `task` or `activity`.
    pub kind: String,
    pub at: OffsetDateTime,
    /// A change's action (`created`, `updated` — a stage change —, `converted`, `merged`), a
    /// task's status, an activity's kind; empty for a note.
    pub what: String,
    /// The new stage's name, a note's beginning, a task's title, an activity's subject.
    pub detail: String,
    pub object: String,
    pub record_id: Uuid,
    pub record_name: String,
    pub actor_name: Option<String>,
}

/// The latest events, since `since`, on the records `owner` owns (and still sees): creation,
/// conversion, merge and stage changes from the history, notes, tasks and activities — newest
/// first, `limit` of them. The owned records come from the `*_owner` indexes, the recent events
/// from the `*_recent` indexes (migration 0025), each read from `since` on.
pub async fn recent_events(
    tx: &mut OrgTx,
    owner: Uuid,
    since: OffsetDateTime,
    now: OffsetDateTime,
    limit: i64,
) -> Result<Vec<RecentEvent>, AppError> {
    Ok(sqlx::query_as!(
        RecentEvent,
        r#"with mine as materialized (
             select 'lead'::text as object, l.lead_id as id,
                    coalesce(nullif(trim(l.first_name || ' ' || l.last_name), ''), nullif(l.email, ''), nullif(l.company_name, ''), '—') as name
               from leads l where l.org_id = $1 and l.owner_id = $2
             union all
             select 'contact', c.contact_id, coalesce(nullif(trim(c.first_name || ' ' || c.last_name), ''), nullif(c.email, ''), '—')
               from contacts c where c.org_id = $1 and c.owner_id = $2
             union all
             select 'company', co.company_id, co.name from companies co where co.org_id = $1 and co.owner_id = $2
             union all
             select 'deal', d.deal_id, d.name from deals d where d.org_id = $1 and d.owner_id = $2
           ), events as (
             select 'change'::text as kind, ch.changed_at as at, ch.changed_by as actor_id, ch.action as what,
                    case when ch.field = 'stage_id' then ch.new_value #>> '{}' else '' end as detail,
                    coalesce(ch.lead_id, ch.contact_id, ch.company_id, ch.deal_id) as record_id
               from record_changes ch
              where ch.org_id = $1 and ch.changed_at >= $3
                and (ch.action in ('created', 'converted', 'merged') or ch.field = 'stage_id')
             union all
             select 'note', n.created_at, n.author_id, '', left(n.body, 200),
                    coalesce(n.lead_id, n.contact_id, n.company_id, n.deal_id)
               from notes n where n.org_id = $1 and n.created_at >= $3
             union all
             select 'task', t.created_at, t.created_by, t.status, t.title,
                    coalesce(t.lead_id, t.contact_id, t.company_id, t.deal_id)
               from tasks t where t.org_id = $1 and t.created_at >= $3
             union all
             select 'activity', a.occurred_at, a.author_id, a.kind, a.subject,
                    coalesce(a.lead_id, a.contact_id, a.company_id, a.deal_id)
               from activities a where a.org_id = $1 and a.occurred_at >= $3 and a.occurred_at <= $4
           )
           select e.kind as "kind!", e.at as "at!", e.what as "what!", coalesce(s.name, e.detail) as "detail!",
                  m.object as "object!", m.id as "record_id!", m.name as "record_name!",
                  u.first_name || ' ' || u.last_name as "actor_name?"
             from events e
             join mine m on m.id = e.record_id
             left join users u on u.org_id = $1 and u.user_id = e.actor_id
             left join pipeline_stages s on e.kind = 'change' and e.what = 'updated'
                                        and s.org_id = $1 and s.stage_id::text = e.detail
            order by e.at desc
            limit $5"#,
        tx.org().0,
        owner,
        since,
        now,
        limit
    )
    .fetch_all(tx.conn())
    .await?)
}

/// Counts behind the conversion rates, over the last 30 and 90 days.
pub struct Conversion {
    pub leads_created_30: i64,
    pub leads_converted_30: i64,
    pub leads_created_90: i64,
    pub leads_converted_90: i64,
    pub deals_closed_30: i64,
    pub deals_won_30: i64,
    pub deals_closed_90: i64,
    pub deals_won_90: i64,
}

/// Leads created since `since_90` (and since `since_30`) and how many of them are converted; deals
/// closed (won or lost) since then and how many were won — among the records the member sees.
/// `updated_at` bounds each scan on its index (a record is updated no earlier than it is created
/// or closed).
pub async fn conversion(
    tx: &mut OrgTx,
    since_30: OffsetDateTime,
    since_90: OffsetDateTime,
) -> Result<Conversion, AppError> {
    let leads = sqlx::query!(
        r#"select count(*) filter (where created_at >= $2) as "created_30!",
                  count(*) filter (where created_at >= $2 and converted_at is not null) as "converted_30!",
                  count(*) as "created_90!",
                  count(*) filter (where converted_at is not null) as "converted_90!"
             from leads where org_id = $1 and updated_at >= $3 and created_at >= $3"#,
        tx.org().0,
        since_30,
        since_90
    )
    .fetch_one(tx.conn())
    .await?;
    let deals = sqlx::query!(
        r#"select count(*) filter (where d.closed_at >= $2) as "closed_30!",
                  count(*) filter (where d.closed_at >= $2 and s.outcome = 'won') as "won_30!",
                  count(*) as "closed_90!",
                  count(*) filter (where s.outcome = 'won') as "won_90!"
             from deals d join pipeline_stages s on s.org_id = d.org_id and s.stage_id = d.stage_id
            where d.org_id = $1 and d.updated_at >= $3 and d.closed_at >= $3 and s.outcome <> 'open'"#,
        tx.org().0,
        since_30,
        since_90
    )
    .fetch_one(tx.conn())
    .await?;
    Ok(Conversion {
        leads_created_30: leads.created_30,
        leads_converted_30: leads.converted_30,
        leads_created_90: leads.created_90,
        leads_converted_90: leads.converted_90,
        deals_closed_30: deals.closed_30,
        deals_won_30: deals.won_30,
        deals_closed_90: deals.closed_90,
        deals_won_90: deals.won_90,
    })
}
