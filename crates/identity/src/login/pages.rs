//! The login form (`/login`) and logout (`POST /logout`).

use super::*;
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use kernel::AppResult;
use kernel::authz::Principal;
use kernel::web::{AppState, ClientInfo, CsrfForm, LangPref, Page, render};
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::http::{FormErrors, empty_secret};
use crate::signed_in::{MaybeSignedIn, SignedIn, expired_session_cookie, session_cookie};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    page: Page,
    errors: FormErrors,
    email: String,
}

impl LoginPage {
    fn error(&self, field: &str) -> Option<String> {
        self.errors.for_field(&self.page, field)
    }
}

pub async fn login_form(LangPref(lang): LangPref, MaybeSignedIn(signed_in): MaybeSignedIn) -> AppResult<Response> {
    if signed_in.is_some() {
        return Ok(Redirect::to("/dashboard").into_response());
    }
    let page = Page::anonymous(lang, "/login");
    let view = LoginPage { page: page.clone(), errors: FormErrors::default(), email: String::new() };
    Ok(render(&view)?.into_response())
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default = "empty_secret")]
    password: SecretString,
}

pub async fn login_submit(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    client: ClientInfo,
    Form(form): Form<LoginForm>,
) -> AppResult<Response> {
    let page = Page::anonymous(lang, "/login");
    let email = form.email.clone();
    // Members with MFA get the second step (`/login/mfa`) instead of a session (`mfa::log_in`).
    match crate::mfa::log_in(&state, LoginInput { email: form.email, password: form.password }, &client).await {
        Ok(crate::mfa::LoginStep::Session(session)) => {
            let jar = CookieJar::new().add(session_cookie(&state, &session.token));
            Ok((jar, Redirect::to("/dashboard")).into_response())
        }
        Ok(crate::mfa::LoginStep::SecondFactor { token }) => {
            let jar = CookieJar::new().add(crate::mfa::pending_cookie(&state, &token));
            Ok((jar, Redirect::to("/login/mfa")).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let view = LoginPage { page: page.clone(), errors: FormErrors(errors), email };
            let html = render(&view)?;
            Ok((StatusCode::UNAUTHORIZED, html).into_response())
        }
        // The login form again, with the address kept and how long to wait, rather than a
        // dead-end error page.
        Err(AppError::TooManyRequests { retry_after_secs }) => {
            let wait = kernel::web::wait_text(&page, Some(retry_after_secs)).unwrap_or_default();
            let message = format!("{} {wait}", page.t.get("login.too_many_attempts"));
            let errors = FormErrors(vec![kernel::FieldError::new("email", "rate_limited", message)]);
            let view = LoginPage { page: page.clone(), errors, email };
            let html = render(&view)?;
            let retry_after = [(axum::http::header::RETRY_AFTER, retry_after_secs.to_string())];
            Ok((StatusCode::TOO_MANY_REQUESTS, retry_after, html).into_response())
        }
        Err(other) => Err(other),
    }
}

pub async fn logout(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    CsrfForm(_): CsrfForm<IgnoredAny>,
) -> AppResult<Response> {
    service::log_out(&state, &principal, signed_in.session_id).await?;
    let jar = CookieJar::new().add(expired_session_cookie(&state));
    Ok((jar, Redirect::to("/login")).into_response())
}
