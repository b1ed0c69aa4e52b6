//! The pages of sequences: `/outreach/sequences` (the list), `/outreach/sequences/new`, and
//! `/outreach/sequences/{id}` — settings, the steps editor, status buttons, enrolling from a saved
//! view, the enrollments and a preview for one recipient. Plain forms, no script needed: the
//! steps editor's "add" and "remove" buttons post the form, which comes back with one step more
//! or less (nothing saved until "Save"). A refused form comes back (422) with each message at its
//! field and what was typed kept.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use identity::signed_in::SignedIn;
use kernel::authz::Principal;
use kernel::web::{AppState, CsrfForm, Page, render};
use kernel::{AppError, AppResult, FieldError};
use serde::Deserialize;
use uuid::Uuid;

use super::Target;
use super::api::viewer;
use super::service::{self, EnrollInput, EnrollmentAction, SequenceInput, StepInput, Transition};
use super::store::{self, EnrollmentScope, Sequence, SequenceRow};

type Form = Vec<(String, String)>;

fn value<'a>(form: &'a Form, name: &str) -> &'a str {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default()
}

fn values(form: &Form, name: &str) -> Vec<String> {
    form.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
}

fn parse_id(text: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(text).map_err(|_| AppError::NotFound)
}

fn page_response(status: StatusCode, html: impl IntoResponse) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], html).into_response()
}

/// The text between the first pair of backticks of a message: the variable a template error
/// names (`` `nickname` is not a field… ``).
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let length = message[start..].find('`')?;
    Some(&message[start..start + length])
}

/// A field error as a sentence in the page's language: this feature's own message for its code
/// (naming the template variable when there is one), else the kernel's; never a raw code.
pub fn error_text(page: &Page, error: &FieldError) -> String {
    let key = format!("outreach.sequences.error.{}", error.code);
    if page.t.get(&key) != key {
        let name = quoted(&error.message).unwrap_or_default();
        let detail = error.message.as_str();
        return page.t.fmt(&key, &[("name", name), ("detail", detail)]);
    }
    kernel::web::field_error_text(page, error)
}

fn status_badge(status: &str) -> &'static str {
    match status {
        "active" => "badge success",
        "paused" => "badge warning",
        "archived" => "badge muted",
        _ => "badge",
    }
}

fn state_badge(state: &str) -> &'static str {
    match state {
        "active" | "finished" => "badge success",
        "paused" | "skipped" => "badge warning",
        "bounced" => "badge danger",
        "stopped" | "unsubscribed" => "badge muted",
        _ => "badge",
    }
}

/// Why an enrollment was skipped or stopped, in words: `template_missing_value:first_name` reads
/// "first_name has no value…". An unknown code reads as a generic sentence.
fn reason_text(page: &Page, reason: &str) -> String {
    if reason.is_empty() {
        return String::new();
    }
    let (code, name) = reason.split_once(':').unwrap_or((reason, ""));
    let key = format!("outreach.sequences.reason.{code}");
    if page.t.get(&key) == key {
        return page.t.get("outreach.sequences.reason.other").to_owned();
    }
    page.t.fmt(&key, &[("name", name)])
}

// ---------------------------------------------------------------- the list

struct ListRow {
    id: Uuid,
    name: String,
    kind: String,
    status: String,
    badge: &'static str,
    steps: String,
    enrolled: String,
    sent: String,
}

#[derive(Template)]
#[template(path = "outreach_sequences.html")]
struct ListView {
    page: Page,
    rows: Vec<ListRow>,
}

fn count(page: &Page, n: i64) -> String {
    crm::display::decimal(&n.to_string(), page.t.0, false)
}

fn list_row(page: &Page, row: &SequenceRow) -> ListRow {
    let s = &row.sequence;
    ListRow {
        id: s.sequence_id,
        name: s.name.clone(),
        kind: page.t.get(&format!("outreach.sequences.kind.{}", s.kind)).to_owned(),
        status: page.t.get(&format!("outreach.sequences.status.{}", s.status)).to_owned(),
        badge: status_badge(&s.status),
        steps: count(page, row.steps),
        enrolled: count(page, row.enrolled),
        sent: count(page, row.sent),
    }
}

/// `GET /outreach/sequences`
pub async fn list_page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
) -> AppResult<Response> {
    let page = signed_in.page(&state, "/outreach/sequences");
    let owner = (!viewer(&principal).sees_all).then_some(principal.user_id);
    let mut tx = principal.begin(&state.db).await?;
    let rows = store::list(&mut tx, owner, false).await?;
    tx.commit().await?;
    let rows = rows.iter().map(|r| list_row(&page, r)).collect();
    Ok(page_response(StatusCode::OK, render(&ListView { page, rows })?))
}

// ---------------------------------------------------------------- settings (new and edit)

struct MailboxChoice {
    id: Uuid,
    address: String,
    chosen: bool,
}

/// The settings form as typed, with its errors.
struct SettingsForm {
    name: String,
    kind: String,
    mailboxes: Vec<MailboxChoice>,
    /// Open and click tracking, off unless ticked.
    tracking: bool,
    name_error: Option<String>,
    kind_error: Option<String>,
    mailbox_error: Option<String>,
}

impl SettingsForm {
    fn new(name: String, kind: String, own: Vec<(Uuid, String, String)>, chosen: &[String], tracking: bool) -> Self {
        let mailboxes = own
            .into_iter()
            .map(|(id, address, _)| MailboxChoice { chosen: chosen.contains(&id.to_string()), id, address })
            .collect();
        Self { name, kind, mailboxes, tracking, name_error: None, kind_error: None, mailbox_error: None }
    }

    fn place(&mut self, page: &Page, errors: &[FieldError]) {
        for e in errors {
            let text = Some(error_text(page, e));
            match e.field.as_str() {
                "name" => self.name_error = text,
                "kind" => self.kind_error = text,
                "mailbox_ids" | "tracking" => self.mailbox_error = text,
                _ => {}
            }
        }
    }
}

#[derive(Template)]
#[template(path = "outreach_sequence_new.html")]
struct NewView {
    page: Page,
    form: SettingsForm,
    errors: Vec<String>,
}

/// The settings a form gives; a mailbox id that is not one is refused at `mailbox_ids`.
fn settings_input(form: &Form) -> (SequenceInput, Vec<String>, bool) {
    let chosen = values(form, "mailbox_ids");
    let ids: Vec<Uuid> = chosen.iter().filter_map(|id| Uuid::parse_str(id).ok()).collect();
    let malformed = ids.len() != chosen.len();
    let input = SequenceInput {
        name: Some(value(form, "name").to_owned()),
        kind: Some(value(form, "kind").to_owned()).filter(|k| !k.is_empty()),
        mailbox_ids: Some(ids),
        tracking: Some(value(form, "tracking") == "on"),
    };
    (input, chosen, malformed)
}

/// `GET /outreach/sequences/new`
pub async fn new_page(State(state): State<AppState>, signed_in: SignedIn, principal: Principal) -> AppResult<Response> {
    let page = signed_in.page(&state, "/outreach/sequences/new");
    let mut tx = principal.begin(&state.db).await?;
    let own = store::own_mailboxes(&mut tx, principal.user_id).await?;
    tx.commit().await?;
    // With one mailbox, it is the one to use.
    let chosen: Vec<String> =
        if own.len() == 1 { own.iter().map(|(id, _, _)| id.to_string()).collect() } else { Vec::new() };
    let form = SettingsForm::new(String::new(), "sequence".into(), own, &chosen, false);
    Ok(page_response(StatusCode::OK, render(&NewView { page, form, errors: Vec::new() })?))
}

/// `POST /outreach/sequences`
pub async fn create(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    CsrfForm(form): CsrfForm<Form>,
) -> AppResult<Response> {
    let page = signed_in.page(&state, "/outreach/sequences/new");
    let (input, chosen, malformed) = settings_input(&form);
    let mut tx = principal.begin(&state.db).await?;
    let result = if malformed {
        Err(AppError::field("mailbox_ids", "not_your_mailbox", "Choose among your own mailboxes."))
    } else {
        service::create(&mut tx, &state.audit, viewer(&principal), &input, None, state.clock.now()).await
    };
    match result {
        Ok(sequence) => {
            tx.commit().await?;
            let target = format!("/outreach/sequences/{}", sequence.sequence_id);
            Ok(kernel::toast::redirect_with_toast(&target, "outreach.sequences.created"))
        }
        Err(AppError::Validation(errors)) => {
            let own = store::own_mailboxes(&mut tx, principal.user_id).await?;
            drop(tx);
            let mut settings = SettingsForm::new(
                value(&form, "name").to_owned(),
                value(&form, "kind").to_owned(),
                own,
                &chosen,
                input.tracking == Some(true),
            );
            settings.place(&page, &errors);
            let texts = errors.iter().map(|e| error_text(&page, e)).collect();
            let html = render(&NewView { page, form: settings, errors: texts })?;
            Ok(page_response(StatusCode::UNPROCESSABLE_ENTITY, html))
        }
        Err(other) => Err(other),
    }
}

// ---------------------------------------------------------------- one sequence

/// One step in the editor, as typed, with the errors at its fields.
struct StepForm {
    index: usize,
    kind: String,
    subject: String,
    body: String,
    in_thread: bool,
    wait_days: String,
    task_title: String,
    error: Option<String>,
    kind_error: Option<String>,
    subject_error: Option<String>,
    body_error: Option<String>,
    in_thread_error: Option<String>,
    wait_days_error: Option<String>,
    task_title_error: Option<String>,
}

impl StepForm {
    fn blank(index: usize, kind: &str) -> Self {
        Self {
            index,
            kind: kind.to_owned(),
            subject: String::new(),
            body: String::new(),
            in_thread: false,
            wait_days: if kind == "wait" { "2".into() } else { String::new() },
            task_title: String::new(),
            error: None,
            kind_error: None,
            subject_error: None,
            body_error: None,
            in_thread_error: None,
            wait_days_error: None,
            task_title_error: None,
        }
    }

    fn input(&self) -> StepInput {
        StepInput {
            kind: self.kind.clone(),
            subject: self.subject.clone(),
            body: self.body.clone(),
            in_thread: self.in_thread,
            // Not a number: out of range, refused at the field with what was typed kept.
            wait_days: self.wait_days.trim().parse().unwrap_or(0),
            task_title: self.task_title.clone(),
        }
    }
}

/// The steps a form holds (`steps[N].kind` …), in the order of N.
fn steps_from(form: &Form) -> Vec<StepForm> {
    let mut by_index: BTreeMap<usize, StepForm> = BTreeMap::new();
    for (name, text) in form {
        let Some(rest) = name.strip_prefix("steps[") else { continue };
        let Some((index, field)) = rest.split_once("].") else { continue };
        let Ok(index) = index.parse::<usize>() else { continue };
        if index >= service::MAX_STEPS * 2 {
            continue;
        }
        let step = by_index.entry(index).or_insert_with(|| StepForm::blank(index, ""));
        match field {
            "kind" => step.kind = text.clone(),
            "subject" => step.subject = text.clone(),
            "body" => step.body = text.clone(),
            "in_thread" => step.in_thread = text == "true",
            "wait_days" => step.wait_days = text.clone(),
            "task_title" => step.task_title = text.clone(),
            _ => {}
        }
    }
    let mut steps: Vec<StepForm> = by_index.into_values().collect();
    for (i, step) in steps.iter_mut().enumerate() {
        step.index = i;
    }
    steps
}

fn place_step_errors(page: &Page, steps: &mut [StepForm], errors: &[FieldError]) {
    for e in errors {
        let Some(rest) = e.field.strip_prefix("steps[") else { continue };
        let Some((index, field)) = rest.split_once(']') else { continue };
        let Some(step) = index.parse::<usize>().ok().and_then(|i| steps.get_mut(i)) else { continue };
        let text = Some(error_text(page, e));
        match field.trim_start_matches('.') {
            "kind" => step.kind_error = text,
            "subject" => step.subject_error = text,
            "body" => step.body_error = text,
            "in_thread" => step.in_thread_error = text,
            "wait_days" => step.wait_days_error = text,
            "task_title" => step.task_title_error = text,
            _ => step.error = text,
        }
    }
}

struct EnrollmentView {
    id: Uuid,
    name: String,
    email: String,
    state: String,
    badge: &'static str,
    reason: String,
    can_pause: bool,
    can_resume: bool,
}

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "outreach_sequence.html")]
struct ShowView {
    page: Page,
    sequence: Sequence,
    status: String,
    badge: &'static str,
    kind: String,
    /// The viewer owns it: they change it, enroll, test.
    own: bool,
    /// The viewer may pause and resume it (its owner, a manager).
    steer: bool,
    editable: bool,
    settings: SettingsForm,
    steps: Vec<StepForm>,
    steps_error: Option<String>,
    errors: Vec<String>,
    notice: Option<String>,
    views: Vec<Choice>,
    enroll_error: Option<String>,
    enrollments: Vec<EnrollmentView>,
    recipients: Vec<Choice>,
    email_steps: Vec<Choice>,
    preview: Option<service::Preview>,
    preview_error: Option<String>,
    /// The owner's active mailboxes, to send a test from.
    test_mailboxes: Vec<Choice>,
    test_error: Option<String>,
}

/// What a POST brings back to the page: what was typed, the errors, a notice.
#[derive(Default)]
struct Shown {
    /// The settings as posted (name, kind, chosen mailboxes, tracking) when they were refused.
    settings: Option<(String, String, Vec<String>, bool)>,
    steps: Option<Vec<StepForm>>,
    errors: Vec<FieldError>,
    notice: Option<String>,
    preview: Option<(String, Option<Uuid>)>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowParams {
    /// `contact:<id>` or `lead:<id>`: the recipient to preview.
    #[serde(default)]
    pub preview: String,
    #[serde(default)]
    pub step: String,
}

fn parse_recipient(text: &str) -> Option<Target> {
    let (kind, id) = text.split_once(':')?;
    let id = Uuid::parse_str(id).ok()?;
    match kind {
        "contact" => Some(Target::Contact(id)),
        "lead" => Some(Target::Lead(id)),
        _ => None,
    }
}

async fn show_response(
    state: &AppState,
    principal: &Principal,
    page: Page,
    id: Uuid,
    shown: Shown,
    status: StatusCode,
) -> AppResult<Response> {
    let who = viewer(principal);
    let mut tx = principal.begin(&state.db).await?;
    let (sequence, stored_steps) = service::show(&mut tx, who, id).await?;
    let own = sequence.owner_id == Some(principal.user_id);
    let own_mailboxes = if own { store::own_mailboxes(&mut tx, principal.user_id).await? } else { Vec::new() };
    let views = if own { crm::views::store::visible(&mut tx, principal.user_id, None).await? } else { Vec::new() };
    let enrollments =
        store::enrollments(&mut tx, EnrollmentScope::Sequence { sequence: id, state: None, before: None, limit: 200 })
            .await?;
    let (preview, preview_error) = match &shown.preview {
        Some((recipient, step)) => match parse_recipient(recipient) {
            Some(target) => {
                match service::preview(&mut tx, who, id, target, *step, state.config.public_url.origin()).await {
                    Ok(shown) => (Some(shown), None),
                    Err(AppError::Validation(errors)) => (None, errors.first().map(|e| error_text(&page, e))),
                    Err(other) => return Err(other),
                }
            }
            None => (None, None),
        },
        None => (None, None),
    };
    tx.commit().await?;

    let (name, kind, chosen, tracking) = shown.settings.unwrap_or_else(|| {
        let chosen = sequence.mailbox_ids.iter().map(Uuid::to_string).collect();
        (sequence.name.clone(), sequence.kind.clone(), chosen, sequence.tracking)
    });
    let test_mailboxes = own_mailboxes
        .iter()
        .filter(|(_, _, status)| status == "active")
        .map(|(id, address, _)| Choice { value: id.to_string(), label: address.clone(), selected: false })
        .collect();
    let mut settings = SettingsForm::new(name, kind, own_mailboxes, &chosen, tracking);
    settings.place(&page, &shown.errors);
    // A test send's template error names a step's body: shown by the test form too, unless the
    // steps editor itself was posted.
    let steps_posted = shown.steps.is_some();
    let mut steps = shown.steps.unwrap_or_else(|| {
        stored_steps
            .iter()
            .enumerate()
            .map(|(i, s)| StepForm {
                subject: s.subject.clone(),
                body: s.body.clone(),
                in_thread: s.in_thread,
                wait_days: if s.kind == "wait" { s.wait_days.to_string() } else { String::new() },
                task_title: s.task_title.clone(),
                ..StepForm::blank(i, &s.kind)
            })
            .collect()
    });
    place_step_errors(&page, &mut steps, &shown.errors);
    let steps_error = shown.errors.iter().find(|e| e.field == "steps").map(|e| error_text(&page, e));
    let test_error = shown
        .errors
        .iter()
        .find(|e| matches!(e.field.as_str(), "step_id" | "mailbox_id") || (e.field.ends_with(".body") && !steps_posted))
        .map(|e| error_text(&page, e));
    let enroll_error = shown
        .errors
        .iter()
        .find(|e| matches!(e.field.as_str(), "view_id" | "contact_ids" | "lead_ids"))
        .map(|e| error_text(&page, e));
    let errors = shown.errors.iter().map(|e| error_text(&page, e)).collect();
    let steer = own || who.sees_all;
    let enrollments_view: Vec<EnrollmentView> = enrollments
        .iter()
        .map(|e| EnrollmentView {
            id: e.enrollment_id,
            name: e.name.clone(),
            email: e.email.clone(),
            state: page.t.get(&format!("outreach.sequences.state.{}", e.state)).to_owned(),
            badge: state_badge(&e.state),
            reason: reason_text(&page, &e.state_reason),
            can_pause: steer && e.state == "active",
            can_resume: steer && e.state == "paused",
        })
        .collect();
    let (chosen_recipient, chosen_step) = match &shown.preview {
        Some((recipient, step)) => (recipient.clone(), step.map(|s| s.to_string()).unwrap_or_default()),
        None => (String::new(), String::new()),
    };
    let recipients = enrollments
        .iter()
        .take(100)
        .filter_map(|e| {
            let value = match (e.contact_id, e.lead_id) {
                (Some(id), _) => format!("contact:{id}"),
                (None, Some(id)) => format!("lead:{id}"),
                _ => return None,
            };
            Some(Choice { selected: value == chosen_recipient, value, label: format!("{} <{}>", e.name, e.email) })
        })
        .collect();
    let email_steps = stored_steps
        .iter()
        .filter(|s| s.kind == "email")
        .map(|s| {
            let subject = if s.subject.is_empty() {
                page.t.get("outreach.sequences.in_thread_short")
            } else {
                s.subject.as_str()
            };
            Choice {
                value: s.step_id.to_string(),
                label: format!("{}. {subject}", s.position),
                selected: s.step_id.to_string() == chosen_step,
            }
        })
        .collect();
    let views = views
        .into_iter()
        .filter(|v| v.object_type == "contact" || v.object_type == "lead")
        .map(|v| Choice {
            value: v.view_id.to_string(),
            label: format!("{} ({})", v.name, page.t.get(&format!("outreach.sequences.view_of.{}", v.object_type))),
            selected: false,
        })
        .collect();
    let view = ShowView {
        status: page.t.get(&format!("outreach.sequences.status.{}", sequence.status)).to_owned(),
        badge: status_badge(&sequence.status),
        kind: page.t.get(&format!("outreach.sequences.kind.{}", sequence.kind)).to_owned(),
        editable: own && sequence.status != "archived",
        own,
        steer,
        settings,
        steps,
        steps_error,
        errors,
        notice: shown.notice,
        views,
        enroll_error,
        enrollments: enrollments_view,
        recipients,
        email_steps,
        preview,
        preview_error,
        test_mailboxes,
        test_error,
        sequence,
        page,
    };
    Ok(page_response(status, render(&view)?))
}

/// `GET /outreach/sequences/{id}` (`?preview=contact:<id>&step=<id>` shows a preview).
pub async fn show_page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    Query(params): Query<ShowParams>,
) -> AppResult<Response> {
    let page = signed_in.page(&state, &format!("/outreach/sequences/{id}"));
    let id = parse_id(&id)?;
    let preview = (!params.preview.is_empty()).then(|| (params.preview.clone(), Uuid::parse_str(&params.step).ok()));
    show_response(&state, &principal, page, id, Shown { preview, ..Shown::default() }, StatusCode::OK).await
}

/// `POST /outreach/sequences/{id}/settings`
pub async fn save_settings(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Form>,
) -> AppResult<Response> {
    let page = signed_in.page(&state, &format!("/outreach/sequences/{id}"));
    let id = parse_id(&id)?;
    let (input, chosen, malformed) = settings_input(&form);
    let mut tx = principal.begin(&state.db).await?;
    let result = if malformed {
        Err(AppError::field("mailbox_ids", "not_your_mailbox", "Choose among your own mailboxes."))
    } else {
        service::update(&mut tx, &state.audit, viewer(&principal), id, &input, state.clock.now()).await
    };
    match result {
        Ok(_) => {
            tx.commit().await?;
            Ok(kernel::toast::redirect_with_toast(&format!("/outreach/sequences/{id}"), "outreach.sequences.saved"))
        }
        Err(AppError::Validation(errors)) => {
            drop(tx);
            let settings = Some((
                value(&form, "name").to_owned(),
                value(&form, "kind").to_owned(),
                chosen,
                input.tracking == Some(true),
            ));
            let shown = Shown { settings, errors, ..Shown::default() };
            show_response(&state, &principal, page, id, shown, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(other) => Err(other),
    }
}

/// `POST /outreach/sequences/{id}/steps`: `add` (email, wait, task) or `remove` (a step's index)
/// draw the editor again with one step more or less; otherwise the steps are saved.
pub async fn save_steps(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Form>,
) -> AppResult<Response> {
    let page = signed_in.page(&state, &format!("/outreach/sequences/{id}"));
    let id = parse_id(&id)?;
    let mut steps = steps_from(&form);
    let add = value(&form, "add");
    let remove = value(&form, "remove");
    if !add.is_empty() || !remove.is_empty() {
        if let Ok(index) = remove.parse::<usize>()
            && index < steps.len()
        {
            steps.remove(index);
        }
        if matches!(add, "email" | "wait" | "task") && steps.len() < service::MAX_STEPS {
            steps.push(StepForm::blank(steps.len(), add));
        }
        for (i, step) in steps.iter_mut().enumerate() {
            step.index = i;
        }
        let shown = Shown { steps: Some(steps), ..Shown::default() };
        return show_response(&state, &principal, page, id, shown, StatusCode::OK).await;
    }
    let inputs: Vec<StepInput> = steps.iter().map(StepForm::input).collect();
    let mut tx = principal.begin(&state.db).await?;
    match service::set_steps(&mut tx, &state.audit, viewer(&principal), id, &inputs, state.clock.now()).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(kernel::toast::redirect_with_toast(&format!("/outreach/sequences/{id}"), "outreach.sequences.saved"))
        }
        Err(AppError::Validation(errors)) => {
            drop(tx);
            let shown = Shown { steps: Some(steps), errors, ..Shown::default() };
            show_response(&state, &principal, page, id, shown, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(other) => Err(other),
    }
}

/// `POST /outreach/sequences/{id}/status` with `action` = activate, pause, resume or archive.
pub async fn change_status(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Form>,
) -> AppResult<Response> {
    let page = signed_in.page(&state, &format!("/outreach/sequences/{id}"));
    let id = parse_id(&id)?;
    let to = Transition::parse(value(&form, "action"))
        .ok_or_else(|| AppError::field("action", "invalid_choice", "One of activate, pause, resume, archive."))?;
    let mut tx = principal.begin(&state.db).await?;
    match service::transition(&mut tx, &state.audit, viewer(&principal), id, to, state.clock.now()).await {
        Ok(sequence) => {
            tx.commit().await?;
            let toast = match sequence.status.as_str() {
                "active" => "outreach.sequences.activated",
                "paused" => "outreach.sequences.paused",
                _ => "outreach.sequences.archived",
            };
            Ok(kernel::toast::redirect_with_toast(&format!("/outreach/sequences/{id}"), toast))
        }
        Err(AppError::Validation(errors)) => {
            drop(tx);
            let shown = Shown { errors, ..Shown::default() };
            show_response(&state, &principal, page, id, shown, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(other) => Err(other),
    }
}

/// `POST /outreach/sequences/{id}/enroll` with `view_id`: every record of a saved view.
pub async fn enroll(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Form>,
) -> AppResult<Response> {
    let page = signed_in.page(&state, &format!("/outreach/sequences/{id}"));
    let id = parse_id(&id)?;
    let result = match Uuid::parse_str(value(&form, "view_id")) {
        Ok(view) => {
            let input = EnrollInput { view_id: Some(view), ..EnrollInput::default() };
            let mut tx = principal.begin(&state.db).await?;
            match service::enroll(&mut tx, &state.audit, viewer(&principal), id, &input, state.clock.now()).await {
                Ok(done) => {
                    tx.commit().await?;
                    Ok(done)
                }
                Err(error) => Err(error),
            }
        }
        Err(_) => Err(AppError::field("view_id", "required", "Choose a saved view.")),
    };
    match result {
        Ok(done) => {
            let notice = page.t.fmt(
                "outreach.sequences.enrolled_notice",
                &[
                    ("enrolled", &done.enrolled.to_string()),
                    ("skipped", &done.skipped.to_string()),
                    ("already", &done.already.to_string()),
                ],
            );
            let shown = Shown { notice: Some(notice), ..Shown::default() };
            show_response(&state, &principal, page, id, shown, StatusCode::OK).await
        }
        Err(AppError::Validation(errors)) => {
            let shown = Shown { errors, ..Shown::default() };
            show_response(&state, &principal, page, id, shown, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(other) => Err(other),
    }
}

/// `POST /outreach/enrollments/{id}` with `action` = pause, resume or stop, and `sequence_id`
/// (the page to come back to).
pub async fn act_on_enrollment(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Form>,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    let action = EnrollmentAction::parse(value(&form, "action"))
        .ok_or_else(|| AppError::field("action", "invalid_choice", "One of pause, resume, stop."))?;
    let sequence = parse_id(value(&form, "sequence_id"))?;
    let mut tx = principal.begin(&state.db).await?;
    service::act_on_enrollment(&mut tx, &state.audit, viewer(&principal), id, action, state.clock.now()).await?;
    tx.commit().await?;
    Ok(kernel::toast::redirect_with_toast(&format!("/outreach/sequences/{sequence}"), "outreach.sequences.saved"))
}

/// `POST /outreach/sequences/{id}/test` with `step_id` and `mailbox_id`: the email step sent to
/// the member themself.
pub async fn send_test(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Form>,
) -> AppResult<Response> {
    let page = signed_in.page(&state, &format!("/outreach/sequences/{id}"));
    let id = parse_id(&id)?;
    let parse = |field: &'static str| {
        Uuid::parse_str(value(&form, field)).map_err(|_| AppError::field(field, "required", "Choose one."))
    };
    let result = match (parse("step_id"), parse("mailbox_id")) {
        (Ok(step_id), Ok(mailbox_id)) => {
            let test = service::TestSend { step_id, mailbox_id };
            let origin = state.config.public_url.origin().to_owned();
            let mut tx = principal.begin(&state.db).await?;
            match service::send_test(&mut tx, &state.audit, viewer(&principal), id, &test, &origin, state.clock.now())
                .await
            {
                Ok(_) => {
                    tx.commit().await?;
                    Ok(())
                }
                Err(error) => Err(error),
            }
        }
        (Err(error), _) | (_, Err(error)) => Err(error),
    };
    match result {
        Ok(()) => {
            Ok(kernel::toast::redirect_with_toast(&format!("/outreach/sequences/{id}"), "outreach.sequences.test_sent"))
        }
        Err(AppError::Validation(errors)) => {
            let shown = Shown { errors, ..Shown::default() };
            show_response(&state, &principal, page, id, shown, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(other) => Err(other),
    }
}
