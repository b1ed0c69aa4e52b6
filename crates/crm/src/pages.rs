//! Page handlers of saved views and the work log, until they move to their features' folders.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use identity::session::SignedIn;
use kernel::AppError;
use kernel::authz::Principal;
use kernel::web::{AppState, PageError};

use crate::http::Object;
use crate::list::Filter;

use crate::display::error_text;

/// "Save as view" from a list page: the filters, sort, search and columns in force.
pub async fn save_view<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    body: Bytes,
) -> Result<Response, PageError> {
    let object = O::TYPE;
    let page = signed_in.page(&state, &format!("/crm/{}", object.plural()));
    let form = crate::http::parse(&body);
    signed_in.check_csrf(&state, crate::http::csrf(&form))?;
    let value = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let filters: Vec<Filter> = serde_json::from_str(&value("filters")).unwrap_or_default();
    let input = crate::views::ViewInput {
        object_type: object.as_str().into(),
        name: value("name"),
        shared: value("shared") == "true",
        filters,
        sort: value("sort"),
        q: value("q"),
        columns: form.iter().filter(|(k, _)| k == "col").map(|(_, v)| v.clone()).collect(),
    };
    let fail = |e: AppError| match e {
        AppError::Validation(errors) => {
            let text = errors.iter().map(|e| error_text(&page, e)).collect::<Vec<_>>().join(" ");
            PageError::new(AppError::BadRequest(text), &page)
        }
        other => PageError::new(other, &page),
    };
    let mut tx = principal.begin(&state.db).await.map_err(|e| fail(e.into()))?;
    let view = crate::views::create(&mut tx, &principal, &input, state.clock.now()).await.map_err(fail)?;
    tx.commit().await.map_err(|e| PageError::new(e, &page))?;
    Ok(Redirect::to(&format!("/crm/{}?view={}", object.plural(), view.view_id)).into_response())
}

pub async fn delete_view<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let object = O::TYPE;
    let page = signed_in.page(&state, &format!("/crm/{}", object.plural()));
    let form = crate::http::parse(&body);
    signed_in.check_csrf(&state, crate::http::csrf(&form))?;
    let id = crate::http::parse_id(&id).map_err(|e| PageError::new(e, &page))?;
    let mut tx = principal.begin(&state.db).await.map_err(|e| PageError::new(e, &page))?;
    crate::views::delete(&mut tx, &principal, id).await.map_err(|e| PageError::new(e, &page))?;
    tx.commit().await.map_err(|e| PageError::new(e, &page))?;
    Ok(Redirect::to(&format!("/crm/{}", object.plural())).into_response())
}

/// The record page's "add a note / log an activity / add a task" forms.
async fn add_work<O: Object>(
    state: AppState,
    signed_in: SignedIn,
    principal: Principal,
    id: String,
    body: Bytes,
    kind: &'static str,
) -> Result<Response, PageError> {
    let object = O::TYPE;
    let back = format!("/crm/{}/{id}", object.plural());
    let page = signed_in.page(&state, &back);
    let form = crate::http::parse(&body);
    signed_in.check_csrf(&state, crate::http::csrf(&form))?;
    let value = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let local_time = |name: &str| -> Result<Option<time::OffsetDateTime>, AppError> {
        let text = value(name);
        if text.is_empty() {
            return Ok(None);
        }
        // `datetime-local` inputs carry no zone; Relais stores UTC and the browser sends its zone offset.
        let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
        let local = time::PrimitiveDateTime::parse(&text, format)
            .map_err(|_| AppError::field(name, "invalid_date", "Enter a valid date and time."))?;
        let offset_minutes: i32 = value("tz_offset").parse().unwrap_or(0);
        Ok(Some(local.assume_utc() + time::Duration::minutes(i64::from(offset_minutes))))
    };
    let fail = |e: AppError| match e {
        AppError::Validation(errors) => {
            let text =
                errors.iter().map(|e| format!("{}: {}", e.field, error_text(&page, e))).collect::<Vec<_>>().join(" ");
            PageError::new(AppError::BadRequest(text), &page)
        }
        other => PageError::new(other, &page),
    };
    let id = crate::http::parse_id(&id).map_err(fail)?;
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await.map_err(|e| fail(e.into()))?;
    match kind {
        "note" => {
            crate::worklog::add_note(&mut tx, object, id, principal.user_id, &value("body"), now).await.map(|_| ())
        }
        "task" => {
            let input = crate::worklog::TaskInput {
                title: value("title"),
                description: value("description"),
                assignee_id: value("assignee_id").parse().ok(),
                due_at: local_time("due_at").map_err(fail)?,
                remind_at: local_time("remind_at").map_err(fail)?,
            };
            crate::worklog::add_task(&mut tx, object, id, principal.user_id, &input, now).await.map(|_| ())
        }
        _ => {
            let input = crate::worklog::ActivityInput {
                kind: value("kind"),
                subject: value("subject"),
                body: value("body"),
                outcome: value("outcome"),
                occurred_at: local_time("occurred_at").map_err(fail)?,
                duration_minutes: value("duration_minutes").parse().ok(),
            };
            crate::worklog::add_activity(&mut tx, object, id, principal.user_id, &input, now).await.map(|_| ())
        }
    }
    .map_err(fail)?;
    tx.commit().await.map_err(|e| fail(e.into()))?;
    Ok(Redirect::to(&format!("{back}?notice=saved#timeline")).into_response())
}

pub async fn add_note<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    add_work::<O>(state, signed_in, principal, id, body, "note").await
}

pub async fn add_task<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    add_work::<O>(state, signed_in, principal, id, body, "task").await
}

pub async fn add_activity<O: Object>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    add_work::<O>(state, signed_in, principal, id, body, "activity").await
}

/// Marks a task done (or reopens it) from a timeline, then goes back.
pub async fn task_status(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let page = signed_in.page(&state, "/crm");
    let form = crate::http::parse(&body);
    signed_in.check_csrf(&state, crate::http::csrf(&form))?;
    let value = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let id = crate::http::parse_id(&id).map_err(|e| PageError::new(e, &page))?;
    let change = crate::worklog::TaskChange {
        status: Some(value("status")),
        title: None,
        assignee_id: None,
        due_at: None,
        remind_at: None,
    };
    let mut tx = principal.begin(&state.db).await.map_err(|e| PageError::new(e, &page))?;
    crate::worklog::change_task(&mut tx, id, &change, state.clock.now()).await.map_err(|e| PageError::new(e, &page))?;
    tx.commit().await.map_err(|e| PageError::new(e, &page))?;
    let back = kernel::web::safe_local_path(Some(value("next").as_str())).to_string();
    Ok(Redirect::to(&format!("{back}#timeline")).into_response())
}
