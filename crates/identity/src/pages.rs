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
use kernel::authz::Principal;
use kernel::i18n::{LANG_COOKIE, Lang};
use kernel::web::{AppState, ClientInfo, CsrfForm, LangPref, Page, render, safe_local_path};
use kernel::{AppError, AppResult, FieldError};
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::json;

use crate::service::{self, LoginInput, SignupInput};
use crate::signed_in::{MaybeSignedIn, SignedIn, expired_session_cookie, session_cookie};

/// Field errors of a form, each shown next to its field (`kernel::web::field_error_text`).
#[derive(Debug, Default, Clone)]
pub struct FormErrors(pub Vec<FieldError>);

impl FormErrors {
    pub fn for_field(&self, page: &Page, field: &str) -> Option<String> {
        self.0.iter().find(|e| e.field == field).map(|e| kernel::web::field_error_text(page, e))
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
    // Verified sign-up (signup.rs): a valid request always shows the same page.
    match crate::signup::request_signup(&state, input, lang, &client).await {
        Ok(()) => crate::signup::sent_page(&page),
        Err(AppError::Validation(errors)) => {
            let policy_version = current_policy(&state).await?;
            let view = SignupPage { page: page.clone(), errors: FormErrors(errors), values, policy_version };
            let html = render(&view)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
        Err(other) => Err(other),
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

fn empty_secret() -> SecretString {
    SecretString::from("")
}

pub async fn login_submit(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    client: ClientInfo,
    Form(form): Form<LoginForm>,
) -> AppResult<Response> {
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
            let html = render(&view)?;
            Ok((StatusCode::UNAUTHORIZED, html).into_response())
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
    Form(form): Form<LangForm>,
) -> AppResult<Response> {
    let lang = Lang::parse(&form.lang).ok_or_else(|| AppError::field("lang", "invalid", "Unknown language."))?;
    // A public route (visitors switch too), so no `CsrfForm`: a member's form is checked here.
    if let Some(signed_in) = &signed_in {
        if !state.csrf_matches(signed_in.session_id, &form.csrf) {
            return Err(AppError::Forbidden);
        }
        let mut tx = state.db.begin_member(signed_in.org, signed_in.user_id, signed_in.role).await?;
        sqlx::query("update users set language = $3, updated_at = $4 where org_id = $1 and user_id = $2")
            .bind(signed_in.org)
            .bind(signed_in.user_id)
            .bind(lang.code())
            .bind(state.clock.now())
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
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

pub async fn dashboard(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
) -> AppResult<Response> {
    let page = signed_in.page(&state, "/dashboard");
    let mut tx = principal.begin(&state.db).await?;
    let members: Vec<MemberRow> = sqlx::query_as(
        "select user_id, first_name, last_name, email, job_title, org_role, last_login_at,
                case when locked_until > $2 then locked_until end as locked_until
         from users where org_id = $1
         order by case org_role when 'owner' then 0 when 'manager' then 1 else 2 end, last_name, first_name",
    )
    .bind(signed_in.org)
    .bind(state.clock.now())
    .fetch_all(tx.conn())
    .await?;
    // Sign-in history holds IP addresses: owners only, and each view is audited (P0-04, P1-04).
    let logins = if kernel::authz::grant(signed_in.role, actions::LOGIN_ACTIVITY_VIEW).allows() {
        let rows: Vec<LoginRow> = sqlx::query_as(
            "select e.occurred_at, e.outcome, e.ip, e.user_agent, u.first_name, u.last_name
             from login_events e join users u on u.org_id = e.org_id and u.user_id = e.user_id
             where e.org_id = $1
             order by e.occurred_at desc limit 20",
        )
        .bind(signed_in.org)
        .fetch_all(tx.conn())
        .await?;
        state
            .audit
            .record(&mut tx, AuditEvent::new("login_events.viewed").payload(json!({ "rows": rows.len() })))
            .await?;
        Some(rows)
    } else {
        None
    };
    tx.commit().await?;
    let can_unlock = kernel::authz::grant(signed_in.role, actions::MEMBERS_MANAGE).allows();
    let view = DashboardPage { page: page.clone(), org_name: signed_in.org_name.clone(), members, logins, can_unlock };
    let html = render(&view)?;
    Ok(([(header::CACHE_CONTROL, "no-store")], html).into_response())
}
