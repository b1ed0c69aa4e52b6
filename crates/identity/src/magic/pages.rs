//! `/login/email`, `/login/code` and `/login/link/{token}`.

use super::*;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use kernel::AppResult;
use kernel::web::{ClientInfo, LangPref, Page, render};
use serde::Deserialize;

use crate::http::{FormErrors, empty_secret, link_invalid, no_store};
use crate::mfa::{self, LoginStep};
use crate::signed_in::{MaybeSignedIn, session_cookie};

#[derive(Template)]
#[template(path = "magic_request.html")]
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

#[derive(Template)]
#[template(path = "magic_code.html")]
struct CodePage {
    page: Page,
    errors: FormErrors,
    email: String,
    /// Shown right after a request: "if an account uses this address, a mail is on its way".
    sent: bool,
}

impl CodePage {
    fn error(&self, field: &str) -> Option<String> {
        self.errors.for_field(&self.page, field)
    }
}

#[derive(Template)]
#[template(path = "magic_confirm.html")]
struct ConfirmPage {
    page: Page,
    action: String,
}

#[derive(Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    email: String,
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    email: String,
    #[serde(default = "empty_secret")]
    code: SecretString,
}

fn signed_in_response(state: &AppState, step: &LoginStep) -> Response {
    match step {
        LoginStep::Session(session) => {
            let jar = CookieJar::new().add(session_cookie(state, &session.token));
            (jar, Redirect::to("/dashboard")).into_response()
        }
        LoginStep::SecondFactor { token } => {
            let jar = CookieJar::new().add(mfa::pending_cookie(state, token));
            (jar, Redirect::to("/login/mfa")).into_response()
        }
    }
}

/// `GET /login/email`: the address to send a sign-in link and code to.
pub async fn request_form(LangPref(lang): LangPref, MaybeSignedIn(signed_in): MaybeSignedIn) -> AppResult<Response> {
    if signed_in.is_some() {
        return Ok(Redirect::to("/dashboard").into_response());
    }
    let page = Page::anonymous(lang, "/login/email");
    let view = RequestPage { page: page.clone(), errors: FormErrors::default(), email: String::new() };
    Ok(render(&view)?.into_response())
}

/// `POST /login/email`: sends the mail (if the address has an account) and shows the code form,
/// the same page either way.
pub async fn request_submit(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    client: ClientInfo,
    Form(form): Form<RequestForm>,
) -> AppResult<Response> {
    let page = Page::anonymous(lang, "/login/email");
    match request_sign_in(&state, &form.email, &client).await {
        Ok(()) => {
            let code_page = Page::anonymous(lang, "/login/code");
            let view = CodePage {
                page: code_page.clone(),
                errors: FormErrors::default(),
                email: form.email.trim().to_owned(),
                sent: true,
            };
            Ok(no_store(StatusCode::OK, render(&view)?))
        }
        Err(AppError::Validation(errors)) => {
            let view = RequestPage { page: page.clone(), errors: FormErrors(errors), email: form.email };
            let html = render(&view)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
        Err(other) => Err(other),
    }
}

/// `GET /login/code`: the form for the emailed code.
pub async fn code_form(LangPref(lang): LangPref, MaybeSignedIn(signed_in): MaybeSignedIn) -> AppResult<Response> {
    if signed_in.is_some() {
        return Ok(Redirect::to("/dashboard").into_response());
    }
    let page = Page::anonymous(lang, "/login/code");
    let view = CodePage { page: page.clone(), errors: FormErrors::default(), email: String::new(), sent: false };
    Ok(render(&view)?.into_response())
}

/// `POST /login/code`: signs in with the email address and the code.
pub async fn code_submit(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    client: ClientInfo,
    Form(form): Form<CodeForm>,
) -> AppResult<Response> {
    let page = Page::anonymous(lang, "/login/code");
    match sign_in_with_code(&state, &form.email, &form.code, &client).await {
        Ok(step) => Ok(signed_in_response(&state, &step)),
        Err(AppError::Validation(errors)) => {
            let view = CodePage { page: page.clone(), errors: FormErrors(errors), email: form.email, sent: false };
            Ok(no_store(StatusCode::UNAUTHORIZED, render(&view)?))
        }
        Err(other) => Err(other),
    }
}

/// `GET /login/link/{token}`: a confirmation page if the link works. Spends nothing.
pub async fn link_form(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    Path(secret): Path<String>,
) -> AppResult<Response> {
    let path = format!("/login/link/{secret}");
    let page = Page::anonymous(lang, path.clone());
    if live_link(&state, &secret).await?.is_none() {
        return link_invalid(&page);
    }
    let view = ConfirmPage { page: page.clone(), action: path };
    Ok(no_store(StatusCode::OK, render(&view)?))
}

/// `POST /login/link/{token}`: spends the link and signs in.
pub async fn link_submit(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    client: ClientInfo,
    Path(secret): Path<String>,
) -> AppResult<Response> {
    let page = Page::anonymous(lang, format!("/login/link/{secret}"));
    match sign_in_with_link(&state, &secret, &client).await {
        Ok(step) => Ok(signed_in_response(&state, &step)),
        Err(AppError::NotFound) => link_invalid(&page),
        Err(other) => Err(other),
    }
}
