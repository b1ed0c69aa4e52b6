//! `/login/mfa` (the second step) and `/settings/mfa` (enrollment and settings).

use super::*;
use crate::actions;
use crate::doors::IdentityDoors;
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use kernel::authz::Principal;
use kernel::db::Actor;
use kernel::web::{AppState, ClientInfo, CsrfForm, LangPref, Page, render};
use kernel::{AppResult, FieldError, OrgTx};
use serde::Deserialize;

use crate::http::{FormErrors, empty_secret};
use crate::signed_in::{MaybeSignedIn, SignedIn, session_cookie};
use crate::throttle;

#[derive(Template)]
#[template(path = "mfa_login.html")]
struct MfaLoginPage {
    page: Page,
    errors: FormErrors,
}

impl MfaLoginPage {
    fn error(&self, field: &str) -> Option<String> {
        self.errors.for_field(&self.page, field)
    }
}

/// The live pending login the cookie names, if any.
async fn pending(state: &AppState, jar: &CookieJar) -> Result<Option<Pending>, AppError> {
    let Some(cookie) = jar.get(pending_cookie_name(state)) else { return Ok(None) };
    if cookie.value().is_empty() || cookie.value().len() > 128 {
        return Ok(None);
    }
    let hash = token::hash(&SecretString::from(cookie.value()));
    let Some((org, pending_id, user)) = state.db.resolve_mfa_pending(&hash).await? else { return Ok(None) };
    let mut tx = state.db.begin_org(org, Actor::Anonymous).await?;
    let live = pending_login_live(&mut tx, pending_id, state.clock.now()).await?;
    tx.commit().await?;
    Ok(live.filter(|live| *live).map(|_| Pending { org, pending_id, user }))
}

/// `GET /login/mfa`: the code form of a pending login; without one, back to the login page.
pub async fn login_mfa_form(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    jar: CookieJar,
) -> AppResult<Response> {
    let page = Page::anonymous(lang, "/login/mfa");
    if pending(&state, &jar).await?.is_none() {
        return Ok(Redirect::to("/login").into_response());
    }
    let view = MfaLoginPage { page: page.clone(), errors: FormErrors::default() };
    let html = render(&view)?;
    Ok(([(header::CACHE_CONTROL, "no-store")], html).into_response())
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default = "empty_secret")]
    code: SecretString,
}

/// `POST /login/mfa`: a TOTP or recovery code finishes the login and opens the session.
pub async fn login_mfa_submit(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    MaybeSignedIn(replaced): MaybeSignedIn,
    client: ClientInfo,
    jar: CookieJar,
    Form(form): Form<CodeForm>,
) -> AppResult<Response> {
    let page = Page::anonymous(lang, "/login/mfa");
    let Some(Pending { org, pending_id, user }) = pending(&state, &jar).await? else {
        return Ok((CookieJar::new().add(expired_pending_cookie(&state)), Redirect::to("/login")).into_response());
    };
    rate_limit_codes(&state, &client, user).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin_org(org, Actor::User(user)).await?;
    // Spend the pending login first (row lock): two concurrent submissions cannot both win.
    let Some((_, first_factor)) = claim_pending_login(&mut tx, pending_id, now).await? else {
        return Ok((CookieJar::new().add(expired_pending_cookie(&state)), Redirect::to("/login")).into_response());
    };
    let locked = throttle::locked_until(&mut tx, user, now).await?.is_some();
    let used = if locked { None } else { spend_any(&state, &mut tx, user, form.code.expose_secret(), now).await? };
    let Some(factor) = used else {
        // The pending login stays usable (until it expires) for another try: roll back its use.
        drop(tx);
        record_code_failure(&state, org, user, "login").await?;
        let view = MfaLoginPage { page: page.clone(), errors: FormErrors(vec![field_error(bad_code())]) };
        let html = render(&view)?;
        return Ok((StatusCode::UNAUTHORIZED, [(header::CACHE_CONTROL, "no-store")], html).into_response());
    };
    throttle::reset(&mut tx, user).await?;
    let session = open_session(&state, &mut tx, user, &first_factor, &client, now, Some(factor)).await?;
    tx.commit().await?;
    // Signed in to another organization's account from the switcher: the old session ends.
    crate::login::end_replaced_session(&state, replaced.as_ref()).await?;
    let jar = CookieJar::new().add(expired_pending_cookie(&state)).add(session_cookie(&state, &session.token));
    Ok((jar, Redirect::to("/dashboard")).into_response())
}

fn field_error(error: AppError) -> FieldError {
    match error {
        AppError::Validation(mut errors) if !errors.is_empty() => errors.remove(0),
        _ => FieldError::new("code", "mfa_code_invalid", "The code is incorrect or was already used."),
    }
}

#[derive(Template)]
#[template(path = "mfa_settings.html")]
struct SettingsPage {
    page: Page,
    errors: FormErrors,
    enrolled: bool,
    /// While enrolling: the QR code (inline SVG, drawn here) and the secret for manual entry.
    qr_svg: String,
    secret: String,
    /// Recovery codes, shown once right after they are generated.
    new_codes: Vec<String>,
    codes_left: i64,
    /// MFA is required of this member (owners, managers, or everyone by org setting).
    required: bool,
    can_manage_org: bool,
    require_mfa_all: bool,
}

impl SettingsPage {
    fn error(&self, field: &str) -> Option<String> {
        self.errors.for_field(&self.page, field)
    }
}

async fn settings_view(
    state: &AppState,
    signed_in: &SignedIn,
    tx: &mut OrgTx,
    page: &Page,
) -> Result<SettingsPage, AppError> {
    let require_all = require_mfa_all(tx).await?;
    let admin = matches!(signed_in.role, Role::Owner | Role::Manager);
    let mut view = SettingsPage {
        page: page.clone(),
        errors: FormErrors::default(),
        enrolled: false,
        qr_svg: String::new(),
        secret: String::new(),
        new_codes: Vec::new(),
        codes_left: 0,
        required: admin || require_all,
        can_manage_org: kernel::authz::grant(signed_in.role, actions::ORG_SETTINGS_MANAGE).allows(),
        require_mfa_all: require_all,
    };
    let row = factor(tx, signed_in.user_id, false).await?;
    if row.as_ref().is_some_and(|f| f.enrolled_at.is_some()) {
        view.enrolled = true;
        view.codes_left = recovery_codes_left(tx, signed_in.user_id).await?;
        return Ok(view);
    }
    // Enrolling: reuse the secret already shown (the member may have scanned it), else a new one.
    let context = secret_context(signed_in.org, signed_in.user_id);
    let secret = match row {
        Some(row) => state.vault.open(&context, &row.secret_sealed)?,
        None => {
            let secret = new_secret();
            insert_factor(tx, signed_in.user_id, &state.vault.seal(&context, &secret), state.clock.now()).await?;
            secret
        }
    };
    let account = account_name(tx, signed_in.user_id).await?;
    let url = totp(&secret, &account)?.to_url().map_err(|e| AppError::Internal(anyhow::anyhow!("otpauth URL: {e}")))?;
    view.qr_svg = qr_svg(&url)?;
    view.secret = secret.expose_secret().to_owned();
    Ok(view)
}

fn respond(status: StatusCode, view: &SettingsPage) -> Result<Response, AppError> {
    let html = render(view)?;
    Ok((status, [(header::CACHE_CONTROL, "no-store")], html).into_response())
}

/// `GET /settings/mfa`: enroll (QR code and secret), or manage an enrolled factor.
pub async fn settings(State(state): State<AppState>, signed_in: SignedIn, principal: Principal) -> AppResult<Response> {
    let page = signed_in.page(&state, "/settings/mfa");
    let mut tx = principal.begin(&state.db).await?;
    let view = settings_view(&state, &signed_in, &mut tx, &page).await?;
    tx.commit().await?;
    respond(StatusCode::OK, &view)
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default = "empty_secret")]
    code: SecretString,
    #[serde(default = "empty_secret")]
    password: SecretString,
    #[serde(default)]
    require_mfa_all: Option<String>,
}

/// Re-form the settings page with one field error (422).
async fn refuse(
    state: &AppState,
    signed_in: &SignedIn,
    principal: &Principal,
    page: &Page,
    status: StatusCode,
    error: FieldError,
) -> Result<Response, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let mut view = settings_view(state, signed_in, &mut tx, page).await?;
    tx.commit().await?;
    view.errors = FormErrors(vec![error]);
    respond(status, &view)
}

/// `POST /settings/mfa/enroll`: the first valid code completes the enrollment and shows the
/// recovery codes, once.
pub async fn enroll_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    client: ClientInfo,
    CsrfForm(form): CsrfForm<SettingsForm>,
) -> AppResult<Response> {
    let page = signed_in.page(&state, "/settings/mfa");
    rate_limit_codes(&state, &client, signed_in.user_id).await?;
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
    if spend_totp(&state, &mut tx, signed_in.user_id, form.code.expose_secret(), true).await?.is_none() {
        drop(tx);
        return refuse(
            &state,
            &signed_in,
            &principal,
            &page,
            StatusCode::UNPROCESSABLE_ENTITY,
            field_error(bad_code()),
        )
        .await;
    }
    let codes = complete_enrollment(&state, &mut tx, signed_in.user_id, now).await?;
    let mut view = settings_view(&state, &signed_in, &mut tx, &page).await?;
    tx.commit().await?;
    view.new_codes = codes;
    // The page answers the POST itself (the recovery codes show once): its toast too.
    kernel::toast::show_now("mfa.enrolled_notice");
    respond(StatusCode::OK, &view)
}

fn reauth_failed() -> FieldError {
    FieldError::new("reauth", "reauth_failed", "Enter your current password or a current code.")
}

/// `POST /settings/mfa/recovery-codes`: new recovery codes (re-authenticated); the old ones die.
pub async fn regenerate_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    client: ClientInfo,
    CsrfForm(form): CsrfForm<SettingsForm>,
) -> AppResult<Response> {
    let page = signed_in.page(&state, "/settings/mfa");
    rate_limit_codes(&state, &client, signed_in.user_id).await?;
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
    if !is_enrolled(&mut tx, signed_in.user_id).await? {
        return Err(AppError::NotFound);
    }
    if !reauthenticate(&state, &mut tx, signed_in.user_id, &form.code, &form.password).await? {
        drop(tx);
        record_code_failure(&state, signed_in.org, signed_in.user_id, "reauthenticate").await?;
        return refuse(&state, &signed_in, &principal, &page, StatusCode::UNPROCESSABLE_ENTITY, reauth_failed()).await;
    }
    let codes = replace_recovery_codes(&state, &mut tx, signed_in.user_id, now).await?;
    let mut view = settings_view(&state, &signed_in, &mut tx, &page).await?;
    tx.commit().await?;
    view.new_codes = codes;
    respond(StatusCode::OK, &view)
}

/// `POST /settings/mfa/disable`: turns MFA off (re-authenticated) — refused where it is required.
pub async fn disable_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    client: ClientInfo,
    CsrfForm(form): CsrfForm<SettingsForm>,
) -> AppResult<Response> {
    let page = signed_in.page(&state, "/settings/mfa");
    let mut tx = principal.begin(&state.db).await?;
    if !is_enrolled(&mut tx, signed_in.user_id).await? {
        return Err(AppError::NotFound);
    }
    let require_all = require_mfa_all(&mut tx).await?;
    if require_all || matches!(signed_in.role, Role::Owner | Role::Manager) {
        drop(tx);
        let error = FieldError::new("reauth", "mfa_required", "Two-factor authentication is required for you.");
        return refuse(&state, &signed_in, &principal, &page, StatusCode::FORBIDDEN, error).await;
    }
    rate_limit_codes(&state, &client, signed_in.user_id).await?;
    if !reauthenticate(&state, &mut tx, signed_in.user_id, &form.code, &form.password).await? {
        drop(tx);
        record_code_failure(&state, signed_in.org, signed_in.user_id, "reauthenticate").await?;
        return refuse(&state, &signed_in, &principal, &page, StatusCode::UNPROCESSABLE_ENTITY, reauth_failed()).await;
    }
    disable(&state, &mut tx, signed_in.user_id).await?;
    tx.commit().await?;
    Ok(Redirect::to("/settings/mfa").into_response())
}

/// `POST /settings/mfa/organization`: the owner requires MFA of every member, or stops requiring it.
pub async fn org_setting_submit(
    State(state): State<AppState>,
    principal: Principal,
    CsrfForm(form): CsrfForm<SettingsForm>,
) -> AppResult<Response> {
    let enabled = matches!(form.require_mfa_all.as_deref(), Some("on" | "true" | "1"));
    require_of_all(&state, &principal, enabled).await?;
    Ok(Redirect::to("/settings/mfa").into_response())
}
