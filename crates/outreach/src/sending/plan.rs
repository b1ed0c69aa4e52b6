//! Planning: each due enrollment runs its next step. A wait moves its due time; a task becomes a
//! CRM task for the sequence's owner; an email is rendered for the recipient and planned on one
//! of the sequence's mailboxes (rotation), at the first slot that respects that mailbox's daily
//! cap, minimum gap (with jitter) and sending window — in the recipient's time zone when known.

use std::collections::{HashMap, HashSet};

use kernel::vault::Vault;
use kernel::{AppError, OrgTx};
use rand::Rng;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::store::{self, Advance, DueEnrollment, NewMessage, Parent, PlanningMailbox, Step};
use super::window::{self, Window};
use crate::sequences::Target;
use crate::sequences::template::{Fields, Renderer, TemplateError};

/// Enrollments planned in one pass: bounded, so one organization's pass stays short.
pub const BATCH: i64 = 500;
/// How long an enrollment waits before trying again when none of its mailboxes can send.
const NO_MAILBOX_RETRY: Duration = Duration::minutes(15);
/// How far ahead a cap or window may push a message before planning gives up on this pass.
const MAX_DAYS_AHEAD: usize = 60;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    pub emails: u32,
    pub finished: u32,
    pub stopped: u32,
    pub waiting: u32,
}

/// What planning needs besides the transaction.
pub struct PlanContext<'a> {
    pub vault: &'a Vault,
    /// `RELAIS_PUBLIC_URL`'s origin, for the unsubscribe links.
    pub public_origin: &'a str,
}

/// What one pass reads once instead of once per enrollment. Counting each candidate mailbox's
/// day again for every message planned was quadratic in a day's messages (a campaign of 100,000 on
/// ten mailboxes: ten counts of up to 10,000 rows per message, with no index serving the count);
/// `relais bench send` measures the planner. It is valid for the pass only: a mailbox's row is locked by the pass's transaction
/// from its first read (`planning_mailboxes`), so no other planner plans on it until the commit,
/// and the pass keeps the cached row and counts up to date with what it plans itself. Sending
/// meanwhile only moves messages between counted states, or to failed/cancelled, which makes a
/// cached count high — a cap is never passed.
#[derive(Default)]
struct PassCache {
    /// The mailboxes read for a rotation (candidates, owner): their ids, in the query's order.
    rotations: HashMap<(Vec<Uuid>, Uuid), Vec<Uuid>>,
    /// Each mailbox read, with its `next_slot_at` as this pass left it.
    mailboxes: HashMap<Uuid, PlanningMailbox>,
    /// Messages counted against a mailbox's cap on the day starting at the instant.
    used: HashMap<(Uuid, OffsetDateTime), i64>,
}

impl PassCache {
    /// The active mailboxes among `ids` that belong to `owner`, locked (see [`PassCache`]).
    async fn mailboxes(&mut self, tx: &mut OrgTx, ids: &[Uuid], owner: Uuid) -> Result<Vec<PlanningMailbox>, AppError> {
        let key = (ids.to_vec(), owner);
        if !self.rotations.contains_key(&key) {
            let read = store::planning_mailboxes(tx, ids, owner).await?;
            let order = read.iter().map(|m| m.mailbox_id).collect();
            for mailbox in read {
                // A mailbox already known keeps this pass's view of its next slot.
                self.mailboxes.entry(mailbox.mailbox_id).or_insert(mailbox);
            }
            self.rotations.insert(key.clone(), order);
        }
        let order = self.rotations.get(&key).map(Vec::as_slice).unwrap_or_default();
        Ok(order.iter().filter_map(|id| self.mailboxes.get(id).cloned()).collect())
    }

    async fn used(
        &mut self,
        tx: &mut OrgTx,
        mailbox: Uuid,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<i64, AppError> {
        if let Some(used) = self.used.get(&(mailbox, from)) {
            return Ok(*used);
        }
        let used = store::count_in_span(tx, mailbox, from, to).await?;
        self.used.insert((mailbox, from), used);
        Ok(used)
    }
}

/// What a pass knows before it plans (read in a few statements for all its enrollments) and
/// what it will write once it has planned them all: a pass costs a handful of statements, not a
/// few per message (`relais bench send` measures the planner).
struct Pass {
    steps_of: HashMap<Uuid, Vec<Step>>,
    suppressed: HashSet<String>,
    fields: HashMap<Target, Fields>,
    parents: HashMap<Uuid, Parent>,
    cache: PassCache,
    renderer: Renderer,
    messages: Vec<NewMessage>,
    advances: Vec<Advance>,
    finished: Vec<Uuid>,
    /// Mailboxes whose next slot this pass moved.
    moved: HashSet<Uuid>,
    done: Planned,
}

impl Pass {
    async fn read(tx: &mut OrgTx, due: &[DueEnrollment]) -> Result<Self, AppError> {
        let mut sequences: Vec<Uuid> = due.iter().map(|e| e.sequence_id).collect();
        sequences.sort_unstable();
        sequences.dedup();
        let steps_of = store::steps_of(tx, &sequences).await?;
        let emails: Vec<String> = due.iter().map(|e| e.email.clone()).collect();
        let suppressed = crate::suppression::store::suppressed_among(tx, &emails).await?.into_iter().collect();
        let targets: Vec<Target> = due.iter().filter_map(target_of).collect();
        let fields = crate::sequences::service::recipient_fields_many(tx, &targets).await?;
        // Only a follow-up in the same thread needs the enrollment's previous email.
        let threaded: Vec<Uuid> = due
            .iter()
            .filter(|e| steps_of.get(&e.sequence_id).is_some_and(|steps| steps.iter().any(|s| s.in_thread)))
            .map(|e| e.enrollment_id)
            .collect();
        let parents = store::thread_parents(tx, &threaded).await?;
        Ok(Self {
            steps_of,
            suppressed,
            fields,
            parents,
            cache: PassCache::default(),
            renderer: Renderer::new(),
            messages: Vec::with_capacity(due.len()),
            advances: Vec::with_capacity(due.len()),
            finished: Vec::new(),
            moved: HashSet::new(),
            done: Planned::default(),
        })
    }

    /// Everything the pass planned, in one statement per table.
    async fn write(self, tx: &mut OrgTx, now: OffsetDateTime) -> Result<Planned, AppError> {
        store::insert_messages(tx, now, &self.messages).await?;
        store::advance(tx, &self.advances, now).await?;
        store::finish(tx, &self.finished, now).await?;
        for mailbox in &self.moved {
            if let Some(next) = self.cache.mailboxes.get(mailbox).and_then(|m| m.next_slot_at) {
                store::set_next_slot(tx, *mailbox, next).await?;
            }
        }
        Ok(self.done)
    }
}

fn target_of(enrollment: &DueEnrollment) -> Option<Target> {
    match (enrollment.contact_id, enrollment.lead_id) {
        (Some(contact), _) => Some(Target::Contact(contact)),
        (None, Some(lead)) => Some(Target::Lead(lead)),
        (None, None) => None,
    }
}

/// Plans up to [`BATCH`] due enrollments of the transaction's organization.
pub async fn plan_due(tx: &mut OrgTx, ctx: &PlanContext<'_>, now: OffsetDateTime) -> Result<Planned, AppError> {
    let due = store::due_enrollments(tx, now, BATCH).await?;
    if due.is_empty() {
        return Ok(Planned::default());
    }
    let mut pass = Pass::read(tx, &due).await?;
    for enrollment in &due {
        run_steps(tx, ctx, &mut pass, enrollment, now).await?;
    }
    pass.write(tx, now).await
}

/// Runs the enrollment's steps from its next one until one must wait (an email to send, a wait).
async fn run_steps(
    tx: &mut OrgTx,
    ctx: &PlanContext<'_>,
    pass: &mut Pass,
    enrollment: &DueEnrollment,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    let steps = pass.steps_of.get(&enrollment.sequence_id).cloned().unwrap_or_default();
    let mut due = enrollment.next_run_at;
    // Bounded by the number of steps: each turn moves one step on or returns.
    for position in (enrollment.next_position..).take(steps.len() + 1) {
        let Some(step) = steps.iter().find(|s| s.position == position) else {
            pass.finished.push(enrollment.enrollment_id);
            pass.done.finished += 1;
            return Ok(());
        };
        let advance = |next_run_at, mailbox_id, reason| Advance {
            enrollment_id: enrollment.enrollment_id,
            next_position: position,
            next_run_at,
            mailbox_id,
            reason,
        };
        match step.kind.as_str() {
            "wait" => {
                let until = due + Duration::days(i64::from(step.wait_days));
                if until > now {
                    pass.advances.push(Advance { next_position: position + 1, ..advance(Some(until), None, "") });
                    return Ok(());
                }
                due = until;
            }
            "task" => {
                add_task(tx, enrollment, step, now).await?;
            }
            _ => {
                match plan_email(tx, ctx, pass, enrollment, step, now).await? {
                    EmailPlan::Planned(mailbox) => {
                        pass.advances.push(Advance { next_position: position + 1, ..advance(None, Some(mailbox), "") });
                        pass.done.emails += 1;
                    }
                    EmailPlan::Stopped(reason) => {
                        crate::sending::service::stop_enrollment(tx, enrollment.enrollment_id, "stopped", &reason, now)
                            .await?;
                        pass.done.stopped += 1;
                    }
                    EmailPlan::Waiting(reason) => {
                        pass.advances.push(advance(Some(now + NO_MAILBOX_RETRY), None, reason));
                        pass.done.waiting += 1;
                    }
                }
                return Ok(());
            }
        }
    }
    Ok(())
}

/// A manual step: a task for the sequence's owner on the person's record, due now.
async fn add_task(
    tx: &mut OrgTx,
    enrollment: &DueEnrollment,
    step: &Step,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    let Some(owner) = enrollment.owner_id else { return Ok(()) };
    let (object, id) = match (enrollment.contact_id, enrollment.lead_id) {
        (Some(contact), _) => (crm::object::ObjectType::Contact, contact),
        (None, Some(lead)) => (crm::object::ObjectType::Lead, lead),
        (None, None) => return Ok(()),
    };
    let input = crm::worklog::TaskInput {
        title: step.task_title.clone(),
        description: String::new(),
        assignee_id: Some(owner),
        due_at: Some(now),
        remind_at: None,
    };
    crm::worklog::service::add_task(tx, object, id, owner, &input, now).await?;
    Ok(())
}

enum EmailPlan {
    Planned(Uuid),
    /// The enrollment cannot go on (a code: suppressed, template_missing_value:first_name…).
    Stopped(String),
    /// No mailbox of the sequence can take it now.
    Waiting(&'static str),
}

async fn plan_email(
    tx: &mut OrgTx,
    ctx: &PlanContext<'_>,
    pass: &mut Pass,
    enrollment: &DueEnrollment,
    step: &Step,
    now: OffsetDateTime,
) -> Result<EmailPlan, AppError> {
    if pass.suppressed.contains(&enrollment.email) {
        return Ok(EmailPlan::Stopped("suppressed".into()));
    }
    let Some(target) = target_of(enrollment) else {
        return Ok(EmailPlan::Stopped("record_deleted".into()));
    };
    let Some(mut fields) = pass.fields.get(&target).cloned() else {
        return Ok(EmailPlan::Stopped("record_deleted".into()));
    };
    let Some(owner) = enrollment.owner_id else {
        return Ok(EmailPlan::Waiting("no_owner"));
    };
    // The thread's mailbox first (a follow-up comes from the same address), else the rotation.
    let candidates: Vec<Uuid> = match enrollment.mailbox_id {
        Some(thread) if enrollment.mailbox_ids.contains(&thread) => vec![thread],
        _ => enrollment.mailbox_ids.clone(),
    };
    let mailboxes = pass.cache.mailboxes(tx, &candidates, owner).await?;
    let Some((mailbox, slot, day)) = earliest_slot(tx, &mut pass.cache, &mailboxes, &enrollment.time_zone, now).await?
    else {
        return Ok(EmailPlan::Waiting("no_mailbox"));
    };

    let message_id = Uuid::now_v7();
    let unsubscribe_url =
        format!("{}/u/{}", ctx.public_origin, crate::unsubscribe::token(ctx.vault, tx.org(), message_id));
    fields.insert("unsubscribe_url".into(), unsubscribe_url);
    fields.insert("sender_name".into(), mailbox.from_name.clone());
    let parent = if step.in_thread { pass.parents.get(&enrollment.enrollment_id) } else { None };
    let subject_source = match (parent, step.subject.trim().is_empty()) {
        (Some(parent), true) => reply_subject(&parent.subject),
        _ => step.subject.clone(),
    };
    let renderer = &mut pass.renderer;
    let rendered = renderer
        .render(&subject_source, &fields)
        .and_then(|subject| renderer.render(&step.body, &fields).map(|body| (subject, body)));
    let (subject, mut body) = match rendered {
        Ok(pair) => pair,
        Err(error) => return Ok(EmailPlan::Stopped(stop_reason(&error))),
    };
    if !mailbox.signature.trim().is_empty() {
        body.push_str("\n\n-- \n");
        body.push_str(mailbox.signature.trim_end());
    }
    let domain = mailbox.from_address.rsplit('@').next().unwrap_or("relais.localhost");
    let references = parent.map(|p| match &p.references_header {
        Some(older) => format!("{older} {}", p.message_id_header),
        None => p.message_id_header.clone(),
    });
    pass.messages.push(NewMessage {
        message_id,
        enrollment_id: Some(enrollment.enrollment_id),
        sequence_id: Some(enrollment.sequence_id),
        step_id: Some(step.step_id),
        mailbox_id: mailbox.mailbox_id,
        to_address: enrollment.email.clone(),
        subject: subject.lines().next().unwrap_or_default().trim().to_owned(),
        body_text: body,
        message_id_header: format!("<{}@{domain}>", message_id.simple()),
        in_reply_to: parent.map(|p| p.message_id_header.clone()),
        references_header: references,
        scheduled_at: slot,
    });
    *pass.cache.used.entry((mailbox.mailbox_id, day)).or_default() += 1;
    let jitter = if mailbox.jitter_seconds > 0 { rand::rng().random_range(0..=mailbox.jitter_seconds) } else { 0 };
    let next = slot + Duration::seconds(i64::from(mailbox.min_gap_seconds) + i64::from(jitter));
    // Without a gap every message of a pass takes the same slot: nothing to write again.
    if mailbox.next_slot_at != Some(next) {
        pass.moved.insert(mailbox.mailbox_id);
        if let Some(known) = pass.cache.mailboxes.get_mut(&mailbox.mailbox_id) {
            known.next_slot_at = Some(next);
        }
    }
    Ok(EmailPlan::Planned(mailbox.mailbox_id))
}

fn reply_subject(subject: &str) -> String {
    if subject.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("re:")) {
        subject.to_owned()
    } else {
        format!("Re: {subject}")
    }
}

fn stop_reason(error: &TemplateError) -> String {
    let reason = match error {
        TemplateError::MissingValue(field) | TemplateError::UnknownField(field) if !field.is_empty() => {
            format!("{}:{field}", error.code())
        }
        _ => error.code().to_owned(),
    };
    reason.chars().take(64).collect()
}

/// The mailbox that can send first, when, and the start of that day (the mailbox's): each
/// candidate's next slot moved into the window (recipient's zone, else the mailbox's) and past
/// any day its cap is full (the mailbox's day). Between mailboxes free at the same time, the one
/// that has sent least that day: the rotation spreads the load even when no gap separates
/// messages.
async fn earliest_slot(
    tx: &mut OrgTx,
    cache: &mut PassCache,
    mailboxes: &[PlanningMailbox],
    recipient_zone: &str,
    now: OffsetDateTime,
) -> Result<Option<(PlanningMailbox, OffsetDateTime, OffsetDateTime)>, AppError> {
    let mut best: Option<(&PlanningMailbox, OffsetDateTime, i64, OffsetDateTime)> = None;
    for mailbox in mailboxes {
        let mailbox_zone = kernel::dates::zone(&mailbox.time_zone).unwrap_or(kernel::dates::DEFAULT_ZONE);
        let zone = kernel::dates::zone(recipient_zone).unwrap_or(mailbox_zone);
        let window = Window {
            days: mailbox.window_days.iter().filter_map(|d| u8::try_from(*d).ok()).collect(),
            start_minute: u16::try_from(mailbox.window_start_minute).unwrap_or(0),
            end_minute: u16::try_from(mailbox.window_end_minute).unwrap_or(1440),
        };
        let mut at = mailbox.next_slot_at.map_or(now, |next| next.max(now));
        let mut found = None;
        for _ in 0..MAX_DAYS_AHEAD {
            at = window::next_open(at, &window, zone);
            let (from, to) = window::day_span(at, mailbox_zone);
            let used = cache.used(tx, mailbox.mailbox_id, from, to).await?;
            if used < i64::from(mailbox.daily_cap) {
                found = Some((at, used, from));
                break;
            }
            at = to;
        }
        if let Some((at, used, day)) = found
            && best.as_ref().is_none_or(|(_, best_at, best_used, _)| (at, used) < (*best_at, *best_used))
        {
            best = Some((mailbox, at, used, day));
        }
    }
    Ok(best.map(|(mailbox, at, _, day)| (mailbox.clone(), at, day)))
}
