//! `GET /dev/outbox` and `GET /dev/outbox/{id}`.

use super::*;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use kernel::web::{AppState, LangPref, Page, render};
use kernel::{AppError, AppResult};

use crate::http::no_store;

#[derive(Template)]
#[template(path = "dev_outbox.html")]
struct ListPage {
    page: Page,
    mails: Vec<Row>,
}

struct Row {
    id: String,
    to: String,
    subject: String,
    time: String,
}

#[derive(Template)]
#[template(path = "dev_outbox_mail.html")]
struct MailPage {
    page: Page,
    to: String,
    subject: String,
    time: String,
    pieces: Vec<Piece>,
}

async fn outbox_dir(state: &AppState) -> Result<std::path::PathBuf, AppError> {
    state.config.mail_outbox.clone().ok_or(AppError::NotFound)
}

fn io_error(error: std::io::Error) -> AppError {
    AppError::Internal(anyhow::anyhow!("reading the mail outbox: {error}"))
}

/// `GET /dev/outbox`
pub async fn list(State(state): State<AppState>, LangPref(lang): LangPref) -> AppResult<Response> {
    let page = Page::anonymous(lang, "/dev/outbox");
    let dir = outbox_dir(&state).await?;
    let mails = tokio::task::spawn_blocking(move || kernel::outbox::list(&dir))
        .await
        .map_err(|e| AppError::Internal(e.into()))?
        .map_err(io_error)?;
    let mails = mails
        .into_iter()
        .map(|m| Row { time: when(&page, m.written_at), id: m.id, to: m.to, subject: m.subject })
        .collect();
    let view = ListPage { page: page.clone(), mails };
    Ok(no_store(StatusCode::OK, render(&view)?))
}

/// `GET /dev/outbox/{id}`
pub async fn show(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let page = Page::anonymous(lang, "/dev/outbox");
    let dir = outbox_dir(&state).await?;
    let mail = tokio::task::spawn_blocking(move || kernel::outbox::read(&dir, &id))
        .await
        .map_err(|e| AppError::Internal(e.into()))?
        .map_err(io_error)?
        .ok_or(AppError::NotFound)?;
    let view = MailPage {
        page: page.clone(),
        time: when(&page, mail.written_at),
        pieces: pieces(&mail.text, state.config.public_url.origin()),
        to: mail.to,
        subject: mail.subject,
    };
    Ok(no_store(StatusCode::OK, render(&view)?))
}
