//! The CRM's home panels: each reads its figures (`store`), shapes them for people (amounts and
//! dates in the member's language, labels, bars) and renders its own template.

use askama::Template;
use kernel::authz::{Action, grant};
use kernel::dates::{Tz, short_moment};
use kernel::module::{CountFuture, HomeCtx, NavCountCtx, PanelFuture};
use kernel::web::{Page, render};
use time::{Duration, OffsetDateTime, Time};
use uuid::Uuid;

use super::{ACTIVITY_DAYS, LIST_ROWS, store};
use crate::actions;
use crate::display::money;
use crate::object::ObjectType;

fn may(ctx: &HomeCtx<'_>, action: Action) -> bool {
    grant(ctx.principal.role, action).allows()
}

/// The member's midnight starting the day `days` after `now`'s: "today" and "since yesterday" are
/// days of the member's time zone (a Paris member's tasks due at 00:30 are today's, not yesterday's
/// in UTC).
fn midnight(now: OffsetDateTime, tz: Tz, days: i64) -> OffsetDateTime {
    kernel::dates::local(now, tz).replace_time(Time::MIDNIGHT) + Duration::days(days)
}

fn record_href(object: &str, id: Uuid) -> String {
    let plural = ObjectType::parse(object).map_or("leads", |o| o.plural());
    format!("/crm/{plural}/{id}")
}

/// "+3 more" under a cut list, none when it shows everything.
fn more_text(page: &Page, total: i64, shown: usize) -> Option<String> {
    let rest = total - i64::try_from(shown).unwrap_or(i64::MAX);
    (rest > 0).then(|| page.t.fmt("crm.home.more", &[("count", &rest.to_string())]))
}

/// A bar's length in percent of the longest, at least a sliver when it is not zero.
fn bar(value: i64, max: i64) -> i64 {
    if value <= 0 || max <= 0 { 0 } else { (value * 100 / max).max(2) }
}

// ---------------------------------------------------------------- my tasks

struct TaskRow {
    id: String,
    title: String,
    due: String,
    overdue: bool,
    href: String,
    record: String,
    kind: String,
}

#[derive(Template)]
#[template(path = "home_tasks.html")]
struct TasksPanel<'a> {
    page: &'a Page,
    tasks: Vec<TaskRow>,
    count: String,
    more: Option<String>,
}

/// My open tasks due today or overdue.
pub fn my_tasks(ctx: HomeCtx<'_>) -> PanelFuture<'_> {
    Box::pin(async move {
        if !may(&ctx, actions::RECORDS_VIEW) {
            return Ok(None);
        }
        let (page, now) = (ctx.page, ctx.now);
        let due = store::due_tasks(ctx.tx, ctx.principal.user_id, midnight(now, page.tz, 1), LIST_ROWS).await?;
        let total = due.first().map_or(0, |t| t.total);
        let tasks: Vec<TaskRow> = due
            .into_iter()
            .map(|t| TaskRow {
                id: t.task_id.to_string(),
                title: t.title,
                due: short_moment(t.due_at, page.tz, page.t.0, now),
                overdue: t.due_at < now,
                href: record_href(&t.object, t.record_id),
                record: t.record_name,
                kind: page.t.get(&format!("crm.object.{}", t.object)).to_string(),
            })
            .collect();
        let more = more_text(page, total, tasks.len());
        let count = page.t.fmt("crm.home.tasks.count", &[("count", &total.to_string())]);
        Ok(Some(render(&TasksPanel { page, tasks, count, more })?.0))
    })
}

// ---------------------------------------------------------------- deals by stage

struct StageRow {
    name: String,
    count: i64,
    /// The stage's totals, one per currency ("€12,000.00 · $5,000.00"), or "—".
    totals: String,
    bar: i64,
}

struct PipelineView {
    name: String,
    stages: Vec<StageRow>,
}

#[derive(Template)]
#[template(path = "home_deals.html")]
struct DealsPanel<'a> {
    page: &'a Page,
    /// The panel's id, title and empty-state message keys.
    id: &'static str,
    title_key: &'static str,
    empty_key: &'static str,
    pipelines: Vec<PipelineView>,
    /// Whether to name each pipeline (there is more than one with deals).
    named: bool,
    can_create: bool,
}

/// A stage being summed: its id, name, deal count and one total per currency.
type StageSum = (Uuid, String, i64, Vec<String>);

/// Groups the store's rows (pipeline, stage, currency — adjacent by pipeline, then stage) into
/// pipelines of stages, keeping only pipelines that have a deal; bars are relative to the fullest
/// stage of all.
fn pipelines(page: &Page, rows: Vec<store::StageTotal>) -> Vec<PipelineView> {
    let mut grouped: Vec<(Uuid, String, Vec<StageSum>)> = Vec::new();
    for row in rows {
        if grouped.last().is_none_or(|(id, _, _)| *id != row.pipeline_id) {
            grouped.push((row.pipeline_id, row.pipeline.clone(), Vec::new()));
        }
        let Some((_, _, stages)) = grouped.last_mut() else { continue };
        if stages.last().is_none_or(|(id, ..)| *id != row.stage_id) {
            stages.push((row.stage_id, row.stage.clone(), 0, Vec::new()));
        }
        if let (Some(stage), Some(currency)) = (stages.last_mut(), row.currency) {
            stage.2 += row.count;
            stage.3.push(money(&row.total, &currency, page.t.0));
        }
    }
    let max = grouped.iter().flat_map(|(_, _, stages)| stages.iter().map(|s| s.2)).max().unwrap_or(0);
    grouped
        .into_iter()
        .filter(|(_, _, stages)| stages.iter().any(|s| s.2 > 0))
        .map(|(_, name, stages)| PipelineView {
            name,
            stages: stages
                .into_iter()
                .map(|(_, name, count, totals)| StageRow {
                    name,
                    count,
                    totals: if totals.is_empty() { "—".into() } else { totals.join(" · ") },
                    bar: bar(count, max),
                })
                .collect(),
        })
        .collect()
}

async fn deals_panel(
    ctx: HomeCtx<'_>,
    owner: Option<Uuid>,
    keys: (&'static str, &'static str, &'static str),
) -> Result<Option<String>, kernel::AppError> {
    let rows = store::open_deals_by_stage(ctx.tx, owner).await?;
    let pipelines = pipelines(ctx.page, rows);
    let view = DealsPanel {
        page: ctx.page,
        id: keys.0,
        title_key: keys.1,
        empty_key: keys.2,
        named: pipelines.len() > 1,
        pipelines,
        can_create: may(&ctx, actions::RECORDS_EDIT),
    };
    Ok(Some(render(&view)?.0))
}

/// My open deals by stage.
pub fn my_deals(ctx: HomeCtx<'_>) -> PanelFuture<'_> {
    Box::pin(async move {
        if !may(&ctx, actions::RECORDS_VIEW) {
            return Ok(None);
        }
        let me = ctx.principal.user_id;
        deals_panel(ctx, Some(me), ("home-deals", "crm.home.deals.title", "crm.home.deals.empty")).await
    })
}

/// Every open deal the member sees, by stage: the team's pipeline, for owners and managers.
pub fn team_pipeline(ctx: HomeCtx<'_>) -> PanelFuture<'_> {
    Box::pin(async move {
        if !may(&ctx, actions::REPORTS_VIEW) {
            return Ok(None);
        }
        deals_panel(ctx, None, ("home-team-pipeline", "crm.home.team.title", "crm.home.team.empty")).await
    })
}

// ---------------------------------------------------------------- leads from forms

struct LeadRow {
    href: String,
    name: String,
    company: String,
    when: String,
}

#[derive(Template)]
#[template(path = "home_leads.html")]
struct LeadsPanel<'a> {
    page: &'a Page,
    leads: Vec<LeadRow>,
    count: String,
    more: Option<String>,
    can_configure: bool,
}

/// Leads that forms brought since the start of yesterday.
pub fn form_leads(ctx: HomeCtx<'_>) -> PanelFuture<'_> {
    Box::pin(async move {
        if !may(&ctx, actions::RECORDS_VIEW) {
            return Ok(None);
        }
        let (page, now) = (ctx.page, ctx.now);
        let rows = store::form_leads(ctx.tx, midnight(now, page.tz, -1), LIST_ROWS).await?;
        let total = rows.first().map_or(0, |l| l.total);
        let leads: Vec<LeadRow> = rows
            .into_iter()
            .map(|l| LeadRow {
                href: record_href("lead", l.lead_id),
                name: l.name,
                company: l.company_name,
                when: short_moment(l.created_at, page.tz, page.t.0, now),
            })
            .collect();
        let view = LeadsPanel {
            page,
            count: page.t.fmt("crm.home.leads.count", &[("count", &total.to_string())]),
            more: more_text(page, total, leads.len()),
            leads,
            can_configure: may(&ctx, actions::CRM_CONFIGURE),
        };
        Ok(Some(render(&view)?.0))
    })
}

// ---------------------------------------------------------------- recent activity

struct EventRow {
    kind: String,
    title: String,
    detail: String,
    href: String,
    record: String,
    actor: String,
    when: String,
}

#[derive(Template)]
#[template(path = "home_activity.html")]
struct ActivityPanel<'a> {
    page: &'a Page,
    events: Vec<EventRow>,
    can_import: bool,
    can_create: bool,
}

/// A note's first line, without Markdown's heading and emphasis marks, cut to a glance.
fn glance(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
    let plain: String = line.trim_start_matches(['#', '>', '-', '*', ' ']).replace(['*', '_', '`'], "");
    if plain.chars().count() > 90 { format!("{}…", plain.chars().take(90).collect::<String>()) } else { plain }
}

fn event_row(page: &Page, now: OffsetDateTime, e: store::RecentEvent) -> EventRow {
    let title = match (e.kind.as_str(), e.what.as_str()) {
        ("change", "updated") => page.t.get("crm.home.activity.stage").to_string(),
        ("change", action) => page.t.get(&format!("crm.timeline.{action}")).to_string(),
        ("note", _) => page.t.get("crm.timeline.note").to_string(),
        ("task", _) => page.t.get("crm.timeline.task").to_string(),
        (_, kind) => page.t.get(&format!("crm.activity.{kind}")).to_string(),
    };
    let detail = if e.kind == "note" { glance(&e.detail) } else { e.detail };
    EventRow {
        title,
        detail,
        href: record_href(&e.object, e.record_id),
        record: e.record_name,
        actor: e.actor_name.unwrap_or_default(),
        when: short_moment(e.at, page.tz, page.t.0, now),
        kind: e.kind,
    }
}

/// The latest events on records I own.
pub fn recent_activity(ctx: HomeCtx<'_>) -> PanelFuture<'_> {
    Box::pin(async move {
        if !may(&ctx, actions::RECORDS_VIEW) {
            return Ok(None);
        }
        let (page, now) = (ctx.page, ctx.now);
        let since = now - Duration::days(ACTIVITY_DAYS);
        let rows = store::recent_events(ctx.tx, ctx.principal.user_id, since, now, 10).await?;
        let view = ActivityPanel {
            page,
            events: rows.into_iter().map(|e| event_row(page, now, e)).collect(),
            can_import: may(&ctx, actions::RECORDS_IMPORT),
            can_create: may(&ctx, actions::RECORDS_EDIT),
        };
        Ok(Some(render(&view)?.0))
    })
}

// ---------------------------------------------------------------- conversion

struct RateRow {
    label: String,
    /// "12 %" / "12%", or "—" with nothing to divide.
    rate: String,
    /// "3 of 25" / "3 sur 25".
    detail: String,
    bar: i64,
}

#[derive(Template)]
#[template(path = "home_conversion.html")]
struct ConversionPanel<'a> {
    page: &'a Page,
    rates: Vec<RateRow>,
    empty: bool,
    can_import: bool,
}

fn rate(page: &Page, label_key: &str, part: i64, whole: i64) -> RateRow {
    let percent = if whole > 0 { Some(part * 100 / whole) } else { None };
    RateRow {
        label: page.t.get(label_key).to_string(),
        rate: percent.map_or_else(
            || "—".to_string(),
            |p| page.t.fmt("crm.home.conversion.percent", &[("value", &p.to_string())]),
        ),
        detail: page.t.fmt("crm.home.conversion.of", &[("part", &part.to_string()), ("whole", &whole.to_string())]),
        bar: percent.unwrap_or(0),
    }
}

/// Lead conversion and deal win rates over 30 and 90 days, for owners and managers.
pub fn conversion(ctx: HomeCtx<'_>) -> PanelFuture<'_> {
    Box::pin(async move {
        if !may(&ctx, actions::REPORTS_VIEW) {
            return Ok(None);
        }
        let (page, now) = (ctx.page, ctx.now);
        let c = store::conversion(ctx.tx, now - Duration::days(30), now - Duration::days(90)).await?;
        let rates = vec![
            rate(page, "crm.home.conversion.leads_30", c.leads_converted_30, c.leads_created_30),
            rate(page, "crm.home.conversion.leads_90", c.leads_converted_90, c.leads_created_90),
            rate(page, "crm.home.conversion.deals_30", c.deals_won_30, c.deals_closed_30),
            rate(page, "crm.home.conversion.deals_90", c.deals_won_90, c.deals_closed_90),
        ];
        let view = ConversionPanel {
            page,
            rates,
            empty: c.leads_created_90 == 0 && c.deals_closed_90 == 0,
            can_import: may(&ctx, actions::RECORDS_IMPORT),
        };
        Ok(Some(render(&view)?.0))
    })
}

/// The number next to "My tasks" in the sidebar: my open tasks due today or overdue, on records I
/// can see — the same tasks as the home page's panel (one row read; the total comes with it).
pub fn tasks_due_count(ctx: NavCountCtx<'_>) -> CountFuture<'_> {
    Box::pin(async move {
        if !grant(ctx.principal.role, actions::RECORDS_VIEW).allows() {
            return Ok(None);
        }
        let until = midnight(ctx.now, ctx.tz, 1);
        let due = store::due_tasks(ctx.tx, ctx.principal.user_id, until, 1).await?;
        Ok(Some(due.first().map_or(0, |task| task.total)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_read_at_a_glance() {
        assert_eq!(glance("\n## Call **Sophie** back\nabout the quote"), "Call Sophie back");
        assert_eq!(glance(&"x".repeat(100)).chars().count(), 91);
    }

    #[test]
    fn bars_are_relative_and_never_vanish() {
        assert_eq!(bar(0, 10), 0);
        assert_eq!(bar(10, 10), 100);
        assert_eq!(bar(1, 1000), 2);
    }
}
