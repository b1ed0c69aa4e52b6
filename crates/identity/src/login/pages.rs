//! The login form (`/login`) and logout (`POST /logout`).

use super::*;
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use kernel::AppResult;
use kernel::authz::Principal;
use kernel::i18n::Lang;
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
    /// The org switcher's login: the organization signed in to, and its name.
    switch: Option<(OrgId, String)>,
}

impl LoginPage {
    fn error(&self, field: &str) -> Option<String> {
        self.errors.for_field(&self.page, field)
    }

    fn title(&self) -> String {
        match &self.switch {
            Some((_, name)) => self.page.t.fmt("login.switch_title", &[("org", name)]),
            None => self.page.t.get("login.title").to_owned(),
        }
    }
}

/// The login page: the plain one for a visitor; for a signed-in member, the login of one of their
/// other organizations (`?org=`, the org switcher) with their email filled in — any other
/// organization id sends them home, as the plain login page does.
fn login_view(state: &AppState, lang: Lang, signed_in: Option<&SignedIn>, org: &str, email: String) -> LoginPage {
    let switch = signed_in.and_then(|member| Some((member, member.other_org(org)?)));
    match switch {
        Some((member, (org, name))) => LoginPage {
            page: member.page(state, "/login"),
            errors: FormErrors::default(),
            email: member.email.clone(),
            switch: Some((org, name.to_owned())),
        },
        None => LoginPage { page: Page::anonymous(lang, "/login"), errors: FormErrors::default(), email, switch: None },
    }
}

#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    org: String,
}

pub async fn login_form(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    MaybeSignedIn(signed_in): MaybeSignedIn,
    Query(query): Query<LoginQuery>,
) -> AppResult<Response> {
    let view = login_view(&state, lang, signed_in.as_ref(), &query.org, String::new());
    if signed_in.is_some() && view.switch.is_none() {
        return Ok(Redirect::to("/dashboard").into_response());
    }
    let html = render(&view)?;
    // The switcher's login carries the member's address: not for a shared cache.
    Ok(if view.switch.is_some() {
        ([(header::CACHE_CONTROL, "no-store")], html).into_response()
    } else {
        html.into_response()
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default = "empty_secret")]
    password: SecretString,
    /// Set by the org switcher's login: the organization whose account to try, and no other.
    #[serde(default)]
    org: String,
}

/// The organization a login form names: none when empty; an id that is not one names an
/// organization that does not exist, so the answer is the usual "incorrect" one.
fn named_org(text: &str) -> Option<OrgId> {
    let text = text.trim();
    (!text.is_empty()).then(|| OrgId(Uuid::parse_str(text).unwrap_or(Uuid::nil())))
}

pub async fn login_submit(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    MaybeSignedIn(signed_in): MaybeSignedIn,
    client: ClientInfo,
    Form(form): Form<LoginForm>,
) -> AppResult<Response> {
    let mut view = login_view(&state, lang, signed_in.as_ref(), &form.org, form.email.clone());
    let page = view.page.clone();
    let input = LoginInput { email: form.email, password: form.password, org: named_org(&form.org) };
    // Members with MFA get the second step (`/login/mfa`) instead of a session (`mfa::log_in`).
    match crate::mfa::log_in(&state, input, &client).await {
        Ok(crate::mfa::LoginStep::Session(session)) => {
            end_replaced_session(&state, signed_in.as_ref()).await?;
            let jar = CookieJar::new().add(session_cookie(&state, &session.token));
            Ok((jar, Redirect::to("/dashboard")).into_response())
        }
        Ok(crate::mfa::LoginStep::SecondFactor { token }) => {
            let jar = CookieJar::new().add(crate::mfa::pending_cookie(&state, &token));
            Ok((jar, Redirect::to("/login/mfa")).into_response())
        }
        Err(AppError::Validation(errors)) => {
            view.errors = FormErrors(errors);
            let html = render(&view)?;
            Ok((StatusCode::UNAUTHORIZED, html).into_response())
        }
        // The login form again, with the address kept and how long to wait, rather than a
        // dead-end error page.
        Err(AppError::TooManyRequests { retry_after_secs }) => {
            let wait = kernel::web::wait_text(&page, Some(retry_after_secs)).unwrap_or_default();
            let message = format!("{} {wait}", page.t.get("login.too_many_attempts"));
            view.errors = FormErrors(vec![kernel::FieldError::new("email", "rate_limited", message)]);
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
