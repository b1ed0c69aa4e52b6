//! Identity's HTML pages: sign up, log in, log out, the dashboard and the language switch.

use crate::actions;
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use kernel::audit::AuditEvent;
use kernel::i18n::{LANG_COOKIE, Lang};
use kernel::web::{AppState, ClientInfo, LangPref, Page, PageError, render, safe_local_path};
use kernel::{AppError, FieldError};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use crate::service::{self, LoginInput, SignupInput};
use crate::session::{MaybeSignedIn, SignedIn, expired_session_cookie, session_cookie};

/// Field errors of a form, translated for the page. Codes map to `field_error.<code>` messages.
#[derive(Debug, Default, Clone)]
pub struct FormErrors(pub Vec<FieldError>);

impl FormErrors {
    pub fn for_field(&self, page: &Page, field: &str) -> Option<String> {
        self.0.iter().find(|e| e.field == field).map(|e| page.t.get(&format!("field_error.{}", e.code)).to_owned())
    }

    pub fn any(&self) -> bool {
        !self.0.is_empty()
    }
}

// ------------------------------------------------------------------ sign up

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
) -> Result<Response, PageError> {
    if signed_in.is_some() {
        return Ok(Redirect::to("/dashboard").into_response());
    }
    let page = Page::anonymous(lang, "/signup");
    let policy_version = current_policy(&state, &page).await?;
    let view = SignupPage {
        page: page.clone(),
        errors: FormErrors::default(),
        values: SignupValues::default(),
        policy_version,
    };
    Ok(render(&view).map_err(|e| PageError::new(e, &page))?.into_response())
}

async fn current_policy(state: &AppState, page: &Page) -> Result<String, PageError> {
    match state.db.current_policy_version(state.clock.now()).await {
        Ok(Some((version, _))) => Ok(version),
        Ok(None) => Err(PageError::new(AppError::Unavailable("no privacy policy".into()), page)),
        Err(e) => Err(PageError::new(e, page)),
    }
}

pub async fn signup_submit(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    client: ClientInfo,
    Form(input): Form<SignupInput>,
) -> Result<Response, PageError> {
    let page = Page::anonymous(lang, "/signup");
    let values = SignupValues {
        first_name: input.first_name.clone(),
        last_name: input.last_name.clone(),
        email: input.email.clone(),
        organization_name: input.organization_name.clone(),
        job_title: input.job_title.clone(),
        adult: input.adult,
    };
    // Verified sign-up (signup.rs): a valid request always shows the same page.
    match crate::signup::request_signup(&state, input, lang, &client).await {
        Ok(()) => crate::signup::sent_page(&page),
        Err(AppError::Validation(errors)) => {
            let policy_version = current_policy(&state, &page).await?;
            let view = SignupPage { page: page.clone(), errors: FormErrors(errors), values, policy_version };
            let html = render(&view).map_err(|e| PageError::new(e, &page))?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
        Err(other) => Err(PageError::new(other, &page)),
    }
}

// ------------------------------------------------------------------ log in / out

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

pub async fn login_form(
    LangPref(lang): LangPref,
    MaybeSignedIn(signed_in): MaybeSignedIn,
) -> Result<Response, PageError> {
    if signed_in.is_some() {
        return Ok(Redirect::to("/dashboard").into_response());
    }
    let page = Page::anonymous(lang, "/login");
    let view = LoginPage { page: page.clone(), errors: FormErrors::default(), email: String::new() };
    Ok(render(&view).map_err(|e| PageError::new(e, &page))?.into_response())
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default = "empty_secret")]
    password: SecretString,
}

fn empty_secret() -> SecretString {
    SecretString::from("")
}

pub async fn login_submit(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    client: ClientInfo,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let page = Page::anonymous(lang, "/login");
    let email = form.email.clone();
    // Members with MFA get the second step (`/login/mfa`) instead of a session (mfa.rs).
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
            let html = render(&view).map_err(|e| PageError::new(e, &page))?;
            Ok((StatusCode::UNAUTHORIZED, html).into_response())
        }
        Err(other) => Err(PageError::new(other, &page)),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let page = signed_in.page(&state, "/logout");
    signed_in.check_csrf(&state, &form.csrf)?;
    service::log_out(&state, signed_in.org, signed_in.user_id, signed_in.session_id)
        .await
        .map_err(|e| PageError::new(e, &page))?;
    let jar = CookieJar::new().add(expired_session_cookie(&state));
    Ok((jar, Redirect::to("/login")).into_response())
}

// ------------------------------------------------------------------ language

#[derive(Deserialize)]
pub struct LangForm {
    lang: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    csrf: String,
}

/// Switches the language: a `lang` cookie (strictly necessary, P2-19), and the member's profile.
pub async fn switch_language(
    State(state): State<AppState>,
    MaybeSignedIn(signed_in): MaybeSignedIn,
    LangPref(current): LangPref,
    Form(form): Form<LangForm>,
) -> Result<Response, PageError> {
    let page = Page::anonymous(current, "/lang");
    let lang = Lang::parse(&form.lang)
        .ok_or_else(|| PageError::new(AppError::field("lang", "invalid", "Unknown language."), &page))?;
    if let Some(signed_in) = &signed_in {
        signed_in.check_csrf(&state, &form.csrf)?;
        let mut tx =
            state.db.begin_org(signed_in.org, signed_in.actor()).await.map_err(|e| PageError::new(e, &page))?;
        sqlx::query!(
            "update users set language = $3, updated_at = $4 where org_id = $1 and user_id = $2",
            signed_in.org.0,
            signed_in.user_id,
            lang.code(),
            state.clock.now()
        )
        .execute(tx.conn())
        .await
        .map_err(|e| PageError::new(e, &page))?;
        tx.commit().await.map_err(|e| PageError::new(e, &page))?;
    }
    let cookie = Cookie::build((LANG_COOKIE, lang.code()))
        .path("/")
        .same_site(SameSite::Lax)
        .secure(true)
        .http_only(true)
        .max_age(time::Duration::days(365))
        .build();
    let target = safe_local_path(form.next.as_deref()).to_owned();
    Ok((CookieJar::new().add(cookie), Redirect::to(&target)).into_response())
}

// ------------------------------------------------------------------ home and dashboard

pub async fn home(MaybeSignedIn(signed_in): MaybeSignedIn) -> Redirect {
    Redirect::to(if signed_in.is_some() { "/dashboard" } else { "/login" })
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    user_id: uuid::Uuid,
    first_name: String,
    last_name: String,
    email: String,
    job_title: String,
    org_role: String,
    last_login_at: Option<time::OffsetDateTime>,
    /// Until when the account is locked after failed logins (P1-17), if it is now.
    locked_until: Option<time::OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct LoginRow {
    occurred_at: time::OffsetDateTime,
    outcome: String,
    ip: Option<sqlx::types::ipnet::IpNet>,
    user_agent: Option<String>,
    first_name: String,
    last_name: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    page: Page,
    org_name: String,
    members: Vec<MemberRow>,
    logins: Option<Vec<LoginRow>>,
    /// Whether the viewer may unlock locked members (owners).
    can_unlock: bool,
}

fn when(at: &time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    at.format(&format).unwrap_or_default()
}

impl MemberRow {
    fn last_login(&self) -> String {
        self.last_login_at.as_ref().map(when).unwrap_or_else(|| "—".into())
    }

    fn locked_until_text(&self) -> Option<String> {
        self.locked_until.as_ref().map(when)
    }
}

impl LoginRow {
    fn when(&self) -> String {
        when(&self.occurred_at)
    }

    fn ip_text(&self) -> String {
        self.ip.map(|net| net.addr().to_string()).unwrap_or_default()
    }
}

pub async fn dashboard(State(state): State<AppState>, signed_in: SignedIn) -> Result<Response, PageError> {
    let page = signed_in.page(&state, "/dashboard");
    let fail = |e: sqlx::Error| PageError::new(e, &page);
    let mut tx = state.db.begin_org(signed_in.org, signed_in.actor()).await.map_err(fail)?;
    let members: Vec<MemberRow> = sqlx::query_as!(
        MemberRow,
        "select user_id, first_name, last_name, email, job_title, org_role, last_login_at,
                case when locked_until > $2 then locked_until end as locked_until
         from users where org_id = $1
         order by case org_role when 'owner' then 0 when 'manager' then 1 else 2 end, last_name, first_name",
        signed_in.org.0,
        state.clock.now()
    )
    .fetch_all(tx.conn())
    .await
    .map_err(fail)?;
    // Sign-in history holds IP addresses: owners only, and each view is audited (P0-04, P1-04).
    let logins = if kernel::authz::grant(signed_in.role, actions::LOGIN_ACTIVITY_VIEW).allows() {
        let rows: Vec<LoginRow> = sqlx::query_as!(
            LoginRow,
            "select e.occurred_at, e.outcome, e.ip, e.user_agent, u.first_name, u.last_name
             from login_events e join users u on u.org_id = e.org_id and u.user_id = e.user_id
             where e.org_id = $1
             order by e.occurred_at desc limit 20",
            signed_in.org.0
        )
        .fetch_all(tx.conn())
        .await
        .map_err(fail)?;
        state
            .audit
            .record(&mut tx, AuditEvent::new("login_events.viewed").payload(json!({ "rows": rows.len() })))
            .await
            .map_err(fail)?;
        Some(rows)
    } else {
        None
    };
    tx.commit().await.map_err(fail)?;
    let can_unlock = kernel::authz::grant(signed_in.role, actions::MEMBERS_MANAGE).allows();
    let view = DashboardPage { page: page.clone(), org_name: signed_in.org_name.clone(), members, logins, can_unlock };
    let html = render(&view).map_err(|e| PageError::new(e, &page))?;
    Ok(([(header::CACHE_CONTROL, "no-store")], html).into_response())
}
