//! The sign-up form (`/signup`) and the mailed link's landing page (`/signup/confirm`).

use super::*;
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use kernel::AppResult;
use kernel::ratelimit;
use kernel::token;
use kernel::web::{AppState, ClientInfo, LangPref, Page, render};

use crate::doors::IdentityDoors;
use crate::http::{FormErrors, link_invalid, no_store, notice};
use crate::login;
use crate::signed_in::{MaybeSignedIn, session_cookie};

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    page: Page,
    errors: FormErrors,
    values: SignupValues,
    policy_version: String,
}

#[derive(Default)]
struct SignupValues {
    first_name: String,
    last_name: String,
    email: String,
    organization_name: String,
    job_title: String,
    adult: bool,
}

impl SignupPage {
    fn error(&self, field: &str) -> Option<String> {
        self.errors.for_field(&self.page, field)
    }
}

pub async fn signup_form(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    MaybeSignedIn(signed_in): MaybeSignedIn,
) -> AppResult<Response> {
    if signed_in.is_some() {
        return Ok(Redirect::to("/dashboard").into_response());
    }
    let page = Page::anonymous(lang, "/signup");
    let policy_version = current_policy(&state).await?;
    let view = SignupPage {
        page: page.clone(),
        errors: FormErrors::default(),
        values: SignupValues::default(),
        policy_version,
    };
    Ok(render(&view)?.into_response())
}

async fn current_policy(state: &AppState) -> AppResult<String> {
    match state.db.current_policy_version(state.clock.now()).await? {
        Some((version, _)) => Ok(version),
        None => Err(AppError::Unavailable("no privacy policy".into())),
    }
}

pub async fn signup_submit(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    client: ClientInfo,
    Form(input): Form<SignupInput>,
) -> AppResult<Response> {
    let page = Page::anonymous(lang, "/signup");
    let values = SignupValues {
        first_name: input.first_name.clone(),
        last_name: input.last_name.clone(),
        email: input.email.clone(),
        organization_name: input.organization_name.clone(),
        job_title: input.job_title.clone(),
        adult: input.adult,
    };
    // Verified sign-up: a valid request always shows the same page.
    match request_signup(&state, input, lang, &client).await {
        Ok(()) => sent_page(&page),
        Err(AppError::Validation(errors)) => {
            let policy_version = current_policy(&state).await?;
            let view = SignupPage { page: page.clone(), errors: FormErrors(errors), values, policy_version };
            let html = render(&view)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
        Err(other) => Err(other),
    }
}

/// What `POST /signup` shows for every valid request.
pub(crate) fn sent_page(page: &Page) -> AppResult<Response> {
    notice(page, StatusCode::OK, "signup.sent_title", "signup.sent", None)
}

#[derive(Template)]
#[template(path = "signup_confirm.html")]
struct ConfirmPage {
    page: Page,
    token: String,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// `GET /signup/confirm?token=…`: the landing page of the mailed link. It spends nothing: its
/// button POSTs the token, so a mail scanner that follows links creates no organization.
pub async fn confirm_form(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    Query(query): Query<TokenQuery>,
) -> AppResult<Response> {
    let page = Page::anonymous(lang, "/signup/confirm");
    let candidate = query.token.trim();
    let live = !candidate.is_empty()
        && candidate.len() <= MAX_TOKEN_CHARS
        && state.db.pending_signup_live(&token::hash(&SecretString::from(candidate)), state.clock.now()).await?;
    if !live {
        return link_invalid(&page);
    }
    let view = ConfirmPage { page: page.clone(), token: candidate.to_owned() };
    Ok(no_store(StatusCode::OK, render(&view)?))
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default = "empty_secret")]
    token: SecretString,
}

/// `POST /signup/confirm`: spends the link, creates the organization and signs its owner in.
pub async fn confirm_submit(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    client: ClientInfo,
    Form(form): Form<ConfirmForm>,
) -> AppResult<Response> {
    let page = Page::anonymous(lang, "/signup/confirm");
    ratelimit::check(&state, &ratelimit::SIGNUP_CONFIRM_PER_IP, ratelimit::Subject::Ip(&client)).await?;
    let confirmed = match confirm_signup(&state, &form.token).await {
        Ok(confirmed) => confirmed,
        Err(AppError::Validation(_)) => return link_invalid(&page),
        Err(other) => return Err(other),
    };
    let Confirmed { mut tx, account, now } = confirmed;
    let session =
        login::open_session(&state, &mut tx, account.user_id.0, "signup", serde_json::json!({}), &client, now).await?;
    tx.commit().await?;
    let jar = CookieJar::new().add(session_cookie(&state, &session.token));
    Ok((jar, Redirect::to("/dashboard")).into_response())
}
