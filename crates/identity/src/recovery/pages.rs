//! `/password-reset` (asking) and `/reset/{token}` (the mailed link).

use super::*;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kernel::web::{AppState, LangPref, Page, render};
use kernel::{AppError, AppResult};
use secrecy::SecretString;

use crate::http::{FormErrors, empty_secret, link_invalid, no_store, notice};

#[derive(Template)]
#[template(path = "password_reset_request.html")]
struct RequestPage {
    page: Page,
    errors: FormErrors,
    email: String,
}

impl RequestPage {
    fn error(&self, field: &str) -> Option<String> {
        self.errors.for_field(&self.page, field)
    }
}

#[derive(Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    email: String,
}

pub async fn request_form(LangPref(lang): LangPref) -> AppResult<Response> {
    let page = Page::anonymous(lang, "/password-reset");
    let view = RequestPage { page: page.clone(), errors: FormErrors::default(), email: String::new() };
    Ok(render(&view)?.into_response())
}

pub async fn request_submit(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    Form(form): Form<RequestForm>,
) -> AppResult<Response> {
    let page = Page::anonymous(lang, "/password-reset");
    match request_reset(&state, &form.email).await {
        Ok(()) => notice(&page, StatusCode::OK, "password_reset.sent_title", "password_reset.sent", None),
        Err(AppError::Validation(errors)) => {
            let view = RequestPage { page: page.clone(), errors: FormErrors(errors), email: form.email };
            let html = render(&view)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
        Err(other) => Err(other),
    }
}

#[derive(Template)]
#[template(path = "password_reset_form.html")]
struct NewPasswordPage {
    page: Page,
    errors: FormErrors,
    action: String,
}

impl NewPasswordPage {
    fn error(&self, field: &str) -> Option<String> {
        self.errors.for_field(&self.page, field)
    }
}

#[derive(Deserialize)]
pub struct NewPasswordForm {
    #[serde(default = "empty_secret")]
    password: SecretString,
}

/// `GET /reset/{token}`: shows the form if the link is live. Spends nothing.
pub async fn reset_form(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    Path(secret): Path<String>,
) -> AppResult<Response> {
    let path = format!("/reset/{secret}");
    let page = Page::anonymous(lang, path.clone());
    if live_reset(&state, &secret).await?.is_none() {
        return link_invalid(&page);
    }
    let view = NewPasswordPage { page: page.clone(), errors: FormErrors::default(), action: path };
    Ok(no_store(StatusCode::OK, render(&view)?))
}

/// `POST /reset/{token}`: sets the password, spends the link, ends every session.
pub async fn reset_submit(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    Path(secret): Path<String>,
    Form(form): Form<NewPasswordForm>,
) -> AppResult<Response> {
    let path = format!("/reset/{secret}");
    let page = Page::anonymous(lang, path.clone());
    match complete_reset(&state, &secret, form.password).await {
        Ok(()) => notice(
            &page,
            StatusCode::OK,
            "password_reset.done_title",
            "password_reset.done",
            Some(("/login", "nav.login")),
        ),
        Err(AppError::NotFound) => link_invalid(&page),
        Err(AppError::Validation(errors)) => {
            if live_reset(&state, &secret).await?.is_none() {
                return link_invalid(&page);
            }
            let view = NewPasswordPage { page: page.clone(), errors: FormErrors(errors), action: path };
            Ok(no_store(StatusCode::UNPROCESSABLE_ENTITY, render(&view)?))
        }
        Err(other) => Err(other),
    }
}
