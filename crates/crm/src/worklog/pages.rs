//! The work log's page handlers: the record page's "add a note / log an activity / add a task"
//! forms, and a task's status from a timeline.

use crate::http::Fields;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use identity::signed_in::SignedIn;
use kernel::AppError;
use kernel::AppResult;
use kernel::authz::Principal;
use kernel::web::AppState;
use kernel::web::CsrfForm;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{ActivityInput, TaskChange, TaskInput, WorkItem, service};
use crate::http::{self, Object};

/// A `datetime-local` input as UTC, none when empty. The input carries no zone; Relais stores UTC
/// and the browser sends its zone offset (`tz_offset`, in minutes).
fn local_time(form: &Fields, name: &str) -> Result<Option<OffsetDateTime>, AppError> {
    let text = http::value(form, name);
    if text.is_empty() {
        return Ok(None);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let local = time::PrimitiveDateTime::parse(text, format)
        .map_err(|_| AppError::field(name, "invalid_date", "Enter a valid date and time."))?;
    let offset_minutes: i32 = http::value(form, "tz_offset").parse().unwrap_or(0);
    Ok(Some(local.assume_utc() + time::Duration::minutes(i64::from(offset_minutes))))
}

/// The record page's "add a note / log an activity / add a task" forms. A refused entry shows the
/// record page again with the composer on its tab, what was typed and each message in place.
async fn add_work<O: Object>(
    state: AppState,
    signed_in: SignedIn,
    principal: Principal,
    id: String,
    form: Fields,
    item: WorkItem,
) -> AppResult<Response> {
    let object = O::TYPE;
    let back = format!("/crm/{}/{id}", object.plural());
    let page = signed_in.page(&state, &back);
    let value = |name: &str| http::value(&form, name).to_string();
    let id = http::parse_id(&id)?;
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
    let saved = match item {
        WorkItem::Note => {
            service::add_note(&mut tx, object, id, principal.user_id, &value("body"), now).await.map(|_| ())
        }
        WorkItem::Task => match (local_time(&form, "due_at"), local_time(&form, "remind_at")) {
            (Ok(due_at), Ok(remind_at)) => {
                let input = TaskInput {
                    title: value("title"),
                    description: value("description"),
                    assignee_id: value("assignee_id").parse().ok(),
                    due_at,
                    remind_at,
                };
                service::add_task(&mut tx, object, id, principal.user_id, &input, now).await.map(|_| ())
            }
            (due, remind) => Err(AppError::Validation(
                [due.err(), remind.err()].into_iter().flatten().flat_map(validation_errors).collect(),
            )),
        },
        WorkItem::Activity => match local_time(&form, "occurred_at") {
            Ok(occurred_at) => {
                let input = ActivityInput {
                    kind: value("kind"),
                    subject: value("subject"),
                    body: value("body"),
                    outcome: value("outcome"),
                    occurred_at,
                    duration_minutes: value("duration_minutes").parse().ok(),
                };
                service::add_activity(&mut tx, object, id, principal.user_id, &input, now).await.map(|_| ())
            }
            Err(e) => Err(e),
        },
    };
    match saved {
        Ok(()) => {
            tx.commit().await?;
            Ok(kernel::web::redirect_with_toast(&format!("{back}#timeline"), "crm.notice.saved"))
        }
        Err(AppError::Validation(errors)) => {
            let extras = crate::records::pages::Extras {
                compose: match item {
                    WorkItem::Note => "note",
                    WorkItem::Task => "task",
                    WorkItem::Activity => "activity",
                }
                .to_string(),
                composer_values: form.into_iter().filter(|(k, _)| k != "csrf").collect(),
                composer_errors: errors,
                ..Default::default()
            };
            let redraw = crate::records::pages::Redraw::Page(extras);
            crate::records::pages::refused_form(&state, &page, &principal, tx, object, id, Map::new(), &[], redraw)
                .await
        }
        Err(other) => Err(other),
    }
}

fn validation_errors(error: AppError) -> Vec<kernel::FieldError> {
    match error {
        AppError::Validation(errors) => errors,
        _ => Vec::new(),
    }
}

pub async fn add_note<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Fields>,
) -> AppResult<Response> {
    add_work::<O>(state, signed_in, principal, id, form, WorkItem::Note).await
}

pub async fn add_task<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Fields>,
) -> AppResult<Response> {
    add_work::<O>(state, signed_in, principal, id, form, WorkItem::Task).await
}

pub async fn add_activity<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Fields>,
) -> AppResult<Response> {
    add_work::<O>(state, signed_in, principal, id, form, WorkItem::Activity).await
}

/// Marks a task done (or reopens it) from a timeline, then goes back.
pub async fn task_status(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Fields>,
) -> AppResult<Response> {
    let id = http::parse_id(&id)?;
    let back = kernel::web::safe_local_path(Some(http::value(&form, "next"))).to_string();
    let change = TaskChange {
        status: Some(http::value(&form, "status").to_string()),
        title: None,
        assignee_id: None,
        due_at: None,
        remind_at: None,
    };
    let mut tx = principal.begin(&state.db).await?;
    service::change_task(&mut tx, id, &change, state.clock.now()).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("{back}#timeline")).into_response())
}

/// One row of "My tasks".
struct MyTask {
    id: String,
    title: String,
    due: String,
    overdue: bool,
    record_href: String,
    record_name: String,
    record_kind: String,
}

#[derive(Template)]
#[template(path = "crm_tasks.html")]
struct MyTasksPage {
    page: kernel::web::Page,
    tasks: Vec<MyTask>,
}

/// `GET /crm/tasks`: the member's open tasks, soonest due first, each with its record; the
/// overdue ones marked. Marking one done comes back here.
pub async fn my_tasks(State(state): State<AppState>, signed_in: SignedIn, principal: Principal) -> AppResult<Response> {
    let page = signed_in.page(&state, "/crm/tasks");
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
    let open = service::open_tasks(&mut tx, principal.user_id).await?;
    let mut tasks = Vec::with_capacity(open.len());
    for task in open {
        let text = |k: &str| task.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let Some((object, record)) = crate::object::ObjectType::ALL.into_iter().find_map(|object| {
            let id = task.get(object.id_column()).and_then(Value::as_str)?.parse::<uuid::Uuid>().ok()?;
            Some((object, id))
        }) else {
            continue;
        };
        let shown = crate::records::get(&mut tx, object, record).await?;
        let due_at = crate::display::instant_of(task.get("due_at"));
        tasks.push(MyTask {
            id: text("task_id"),
            title: text("title"),
            due: due_at.as_ref().map(|at| crate::display::minute(&page, at)).unwrap_or_default(),
            overdue: due_at.is_some_and(|at| at < now),
            record_href: format!("/crm/{}/{record}", object.plural()),
            record_name: shown.get("display_name").and_then(Value::as_str).unwrap_or_default().to_string(),
            record_kind: page.t.get(&format!("crm.object.{}", object.as_str())).to_string(),
        });
    }
    tx.commit().await?;
    Ok(kernel::web::render(&MyTasksPage { page, tasks })?.into_response())
}
