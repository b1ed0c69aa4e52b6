//! `/dev/outbox`: the local mail outbox (`RELAIS_MAIL_OUTBOX`, kernel::outbox), read-only, for a
//! demo or tests: the messages newest first, and each one's text with its links clickable. It
//! exists only when the outbox is configured (404 otherwise), and the configuration accepts an
//! outbox only on a loopback listener: its links are bearer credentials.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use kernel::web::{AppState, LangPref, Page, render};
use kernel::{AppError, AppResult};

use crate::recovery::no_store;

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

/// One piece of a mail's text: plain, or a link to this instance.
enum Piece {
    Text(String),
    Link(String),
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

fn when(at: Option<time::OffsetDateTime>) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    at.and_then(|at| at.format(&format).ok()).unwrap_or_default()
}

/// Splits `text` so that links to `origin` become clickable; nothing else is (the page links
/// nowhere but this instance).
fn pieces(text: &str, origin: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(origin) {
        let (before, from) = rest.split_at(start);
        let end = from.find(char::is_whitespace).unwrap_or(from.len());
        if !before.is_empty() {
            out.push(Piece::Text(before.to_owned()));
        }
        out.push(Piece::Link(from[..end].to_owned()));
        rest = &from[end..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest.to_owned()));
    }
    out
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
    let mails =
        mails.into_iter().map(|m| Row { time: when(m.written_at), id: m.id, to: m.to, subject: m.subject }).collect();
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
        time: when(mail.written_at),
        pieces: pieces(&mail.text, state.config.public_url.origin()),
        to: mail.to,
        subject: mail.subject,
    };
    Ok(no_store(StatusCode::OK, render(&view)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_links_to_this_instance_are_clickable() {
        let parts = pieces(
            "Open\nhttp://localhost:8080/signup/confirm?token=abc\nnot https://evil.example/x",
            "http://localhost:8080",
        );
        let links: Vec<&str> =
            parts.iter().filter_map(|p| if let Piece::Link(l) = p { Some(l.as_str()) } else { None }).collect();
        assert_eq!(links, ["http://localhost:8080/signup/confirm?token=abc"]);
    }
}
