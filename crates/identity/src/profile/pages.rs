//! `/settings/profile` and its forms, the email-change link, and `POST /lang`.

use super::*;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use kernel::authz::Principal;
use kernel::i18n::{LANG_COOKIE, Lang};
use kernel::web::{AppState, CsrfForm, Page, render, safe_local_path};
use kernel::{AppError, AppResult, FieldError};
use serde::de::IgnoredAny;

use crate::http::{FormErrors, empty_secret, link_invalid, no_store};
use crate::signed_in::{MaybeSignedIn, SignedIn};

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    page: Page,
    email: String,
    first_name: String,
    last_name: String,
    job_title: String,
    language: String,
    time_zone: String,
    pending_email: Option<String>,
    /// The account's security pages this member may open: (address, label key).
    security_links: Vec<(&'static str, &'static str)>,
    errors: FormErrors,
}

impl ProfilePage {
    fn error(&self, field: &str) -> Option<String> {
        self.errors.for_field(&self.page, field)
    }

    fn languages(&self) -> [&'static str; 2] {
        [Lang::En.code(), Lang::Fr.code()]
    }

    /// The names the time zone field suggests.
    fn zones(&self) -> Vec<&'static str> {
        kernel::dates::zone_names()
    }
}

/// Two-factor authentication and sessions for everyone; API keys and the login activity for the
/// roles that have them — so no security page is reachable only by knowing its address.
fn security_links(principal: &Principal) -> Vec<(&'static str, &'static str)> {
    let mut links = vec![("/settings/mfa", "mfa.title"), ("/settings/sessions", "sessions.title")];
    if principal.grant(crate::actions::API_KEYS_MANAGE).allows() {
        links.push(("/settings/api-keys", "api_keys.title"));
    }
    if principal.grant(crate::actions::LOGIN_ACTIVITY_VIEW).allows() {
        links.push(("/settings/activity", "activity.title"));
    }
    // Members administration (roles, locks, removal) left the home page for here and `/members`.
    if principal.grant(crate::actions::MEMBERS_MANAGE).allows() {
        links.push(("/members/manage", "members_manage.title"));
    }
    links
}

async fn render_profile(
    state: &AppState,
    signed_in: &SignedIn,
    principal: &Principal,
    status: StatusCode,
    errors: Vec<FieldError>,
    typed: Option<&DetailsInput>,
) -> AppResult<Response> {
    let page = signed_in.page(state, PROFILE_PATH);
    let mut tx = principal.begin(&state.db).await?;
    let me = me(&mut tx, signed_in.user_id).await?;
    let pending_email = pending_email(&mut tx, signed_in.user_id, state.clock.now()).await?;
    tx.commit().await?;
    let view = match typed {
        Some(input) => ProfilePage {
            page,
            email: me.email,
            first_name: input.first_name.clone(),
            last_name: input.last_name.clone(),
            job_title: input.job_title.clone(),
            language: input.language.clone(),
            time_zone: input.time_zone.clone().unwrap_or_else(|| me.time_zone.clone()),
            pending_email,
            security_links: security_links(principal),
            errors: FormErrors(errors),
        },
        None => ProfilePage {
            page,
            email: me.email,
            first_name: me.first_name,
            last_name: me.last_name,
            job_title: me.job_title,
            language: me.language,
            time_zone: me.time_zone,
            pending_email,
            security_links: security_links(principal),
            errors: FormErrors(errors),
        },
    };
    Ok((status, [(header::CACHE_CONTROL, "no-store")], render(&view)?).into_response())
}

/// `GET /settings/profile`.
pub async fn page(State(state): State<AppState>, signed_in: SignedIn, principal: Principal) -> AppResult<Response> {
    render_profile(&state, &signed_in, &principal, StatusCode::OK, Vec::new(), None).await
}

#[derive(Deserialize)]
pub struct DetailsForm {
    #[serde(flatten)]
    input: DetailsInput,
}

/// `POST /settings/profile`: name, job title, language, time zone.
pub async fn details_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    CsrfForm(form): CsrfForm<DetailsForm>,
) -> AppResult<Response> {
    match update_details(&state, &signed_in, &principal, &form.input).await {
        Ok(()) => Ok(kernel::web::redirect_with_toast(PROFILE_PATH, "profile.saved")),
        Err(AppError::Validation(errors)) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            render_profile(&state, &signed_in, &principal, status, errors, Some(&form.input)).await
        }
        Err(other) => Err(other),
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default = "empty_secret")]
    current_password: SecretString,
    #[serde(default = "empty_secret")]
    new_password: SecretString,
}

/// `POST /settings/profile/password`.
pub async fn password_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> AppResult<Response> {
    match change_password(&state, &signed_in, &principal, form.current_password, form.new_password).await {
        Ok(()) => Ok(kernel::web::redirect_with_toast(PROFILE_PATH, "profile.password_changed")),
        Err(AppError::Validation(errors)) => {
            render_profile(&state, &signed_in, &principal, StatusCode::UNPROCESSABLE_ENTITY, errors, None).await
        }
        Err(other) => Err(other),
    }
}

#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default = "empty_secret")]
    email_current_password: SecretString,
    #[serde(default)]
    new_email: String,
}

/// `POST /settings/profile/email`: mails a confirmation link to the new address.
pub async fn email_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    CsrfForm(form): CsrfForm<EmailForm>,
) -> AppResult<Response> {
    match request_email_change(&state, &signed_in, &principal, form.email_current_password, &form.new_email).await {
        Ok(_) => Ok(kernel::web::redirect_with_toast(PROFILE_PATH, "profile.email_sent")),
        Err(AppError::Validation(errors)) => {
            render_profile(&state, &signed_in, &principal, StatusCode::UNPROCESSABLE_ENTITY, errors, None).await
        }
        Err(other) => Err(other),
    }
}

#[derive(Template)]
#[template(path = "email_confirm.html")]
struct ConfirmPage {
    page: Page,
    email: String,
    action: String,
}

/// `GET /settings/profile/email/{token}`: asks to confirm (a prefetching mail scanner spends nothing).
pub async fn confirm_form(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(secret): Path<String>,
) -> AppResult<Response> {
    let action = format!("{PROFILE_PATH}/email/{secret}");
    let page = signed_in.page(&state, &action);
    let Some(email) = pending_change(&state, &signed_in, &principal, &secret).await? else {
        return link_invalid(&page);
    };
    let view = ConfirmPage { page, email, action };
    Ok(no_store(StatusCode::OK, render(&view)?))
}

/// `POST /settings/profile/email/{token}`: changes the address.
pub async fn confirm_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(secret): Path<String>,
    CsrfForm(_): CsrfForm<IgnoredAny>,
) -> AppResult<Response> {
    match confirm_email_change(&state, &signed_in, &principal, &secret).await {
        Ok(()) => Ok(kernel::web::redirect_with_toast(PROFILE_PATH, "profile.email_changed")),
        Err(AppError::NotFound) => link_invalid(&signed_in.page(&state, PROFILE_PATH)),
        Err(other) => Err(other),
    }
}

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
        save_language(&state, signed_in, lang).await?;
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
