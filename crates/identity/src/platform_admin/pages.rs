//! `/admin/setup/{token}`, `/admin/login`, `/admin/logout` and the backoffice (`/admin`).

use super::*;
use askama::Template;
use axum::Form;
use axum::extract::Path;
use axum::http::StatusCode;
use kernel::ratelimit;
use kernel::web::{ClientInfo, CsrfForm, LangPref, render};
use kernel::{AppResult, FieldError};
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::http::{FormErrors, NoticePage, empty_secret, no_store};
use crate::model::{Password, hash_password};

#[derive(Template)]
#[template(path = "admin_setup.html")]
struct SetupPage {
    page: Page,
    errors: FormErrors,
    action: String,
    qr_svg: String,
    secret: String,
}

impl SetupPage {
    fn error(&self, field: &str) -> Option<String> {
        self.errors.for_field(&self.page, field)
    }
}

fn invalid_link(page: &Page) -> AppResult<Response> {
    let view = NoticePage {
        page: page.clone(),
        title_key: "admin.setup_title",
        body_key: "admin.setup_link_invalid",
        link: None,
    };
    Ok(no_store(StatusCode::NOT_FOUND, render(&view)?))
}

fn setup_view(state: &AppState, page: &Page, row: &SetupRow, token: &str) -> Result<SetupPage, AppError> {
    let secret = state.vault.open(&secret_context(row.admin_id), &row.totp_secret_sealed)?;
    let url = crate::mfa::totp(&secret, &format!("admin {}", row.email))?
        .to_url()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("otpauth URL: {e}")))?;
    Ok(SetupPage {
        page: page.clone(),
        errors: FormErrors::default(),
        action: format!("/admin/setup/{token}"),
        qr_svg: crate::mfa::qr_svg(&url)?,
        secret: secret.expose_secret().to_owned(),
    })
}

/// `GET /admin/setup/{token}`: the password and TOTP enrollment form, for a valid link.
pub async fn setup_form(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let page = Page::anonymous(lang, "/admin/setup");
    let Some(row) = resolve_setup(&state, &token).await? else { return invalid_link(&page) };
    let view = setup_view(&state, &page, &row, &token)?;
    Ok(no_store(StatusCode::OK, render(&view)?))
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(default = "empty_secret")]
    password: SecretString,
    #[serde(default = "empty_secret")]
    code: SecretString,
}

/// `POST /admin/setup/{token}`: sets the password and completes the TOTP enrollment; the link is
/// spent.
pub async fn setup_submit(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    client: ClientInfo,
    Path(token): Path<String>,
    Form(form): Form<SetupForm>,
) -> AppResult<Response> {
    let page = Page::anonymous(lang, "/admin/setup");
    ratelimit::check(&state, &SETUP_PER_IP, ratelimit::Subject::Ip(&client)).await?;
    let Some(row) = resolve_setup(&state, &token).await? else { return invalid_link(&page) };
    let mut errors = Vec::new();
    let password = Password::parse("password", form.password).map_err(|e| errors.push(e)).ok();
    let step = totp_step(&state, row.admin_id, &row.totp_secret_sealed, form.code.expose_secret())?;
    if step.is_none() {
        errors.push(FieldError::new("code", "mfa_code_invalid", "The code is incorrect or was already used."));
    }
    let (Some(password), Some(step), true) = (password, step, errors.is_empty()) else {
        let mut view = setup_view(&state, &page, &row, &token)?;
        view.errors = FormErrors(errors);
        return Ok(no_store(StatusCode::UNPROCESSABLE_ENTITY, render(&view)?));
    };
    let hash = hash_password(&password).await.map_err(AppError::Internal)?;
    if complete_setup(&state, &token, &hash, step).await?.is_none() {
        return invalid_link(&page);
    }
    Ok(Redirect::to("/admin/login").into_response())
}

#[derive(Template)]
#[template(path = "admin_login.html")]
struct LoginPage {
    page: Page,
    failed: bool,
    email: String,
}

/// `GET /admin/login`.
pub async fn login_form(LangPref(lang): LangPref) -> AppResult<Response> {
    let page = Page::anonymous(lang, "/admin/login");
    let view = LoginPage { page: page.clone(), failed: false, email: String::new() };
    Ok(no_store(StatusCode::OK, render(&view)?))
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default = "empty_secret")]
    password: SecretString,
    #[serde(default = "empty_secret")]
    code: SecretString,
}

/// `POST /admin/login`: email, password and a TOTP code, all required (P2-18).
pub async fn login_submit(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    client: ClientInfo,
    Form(form): Form<LoginForm>,
) -> AppResult<Response> {
    let page = Page::anonymous(lang, "/admin/login");
    let email = form.email.trim().to_lowercase();
    ratelimit::check(&state, &LOGIN_PER_IP, ratelimit::Subject::Ip(&client)).await?;
    ratelimit::check(&state, &LOGIN_PER_ACCOUNT, ratelimit::Subject::Account(&email)).await?;
    match log_in(&state, &email, form.password, form.code.expose_secret()).await? {
        Some(token) => {
            let jar = CookieJar::new().add(admin_cookie(&state, &token));
            Ok((jar, Redirect::to("/admin")).into_response())
        }
        None => {
            let view = LoginPage { page: page.clone(), failed: true, email: form.email };
            Ok(no_store(StatusCode::UNAUTHORIZED, render(&view)?))
        }
    }
}

/// `POST /admin/logout`.
pub async fn logout(
    State(state): State<AppState>,
    admin: AdminSignedIn,
    CsrfForm(_): CsrfForm<IgnoredAny>,
) -> AppResult<Response> {
    log_out(&state, &admin).await?;
    let jar = CookieJar::new().add(expired_admin_cookie(&state));
    Ok((jar, Redirect::to("/admin/login")).into_response())
}

/// What the backoffice shows of one organization: no member data, only counts and times.
struct OrgView {
    org_id: Uuid,
    name: String,
    status: String,
    created: String,
    member_count: i64,
    last_login: String,
}

struct JobView {
    kind: String,
    status: String,
    jobs: i64,
    oldest_waiting: String,
}

struct MigrationView {
    version: i64,
    description: String,
    installed: String,
    success: bool,
}

struct AdminView {
    email: String,
    status: String,
    created: String,
    last_login: String,
}

struct AuditView {
    at: String,
    action: String,
    actor: String,
    target: String,
    payload: String,
}

#[derive(Template)]
#[template(path = "admin_overview.html")]
struct OverviewPage {
    page: Page,
    me: String,
    orgs: Vec<OrgView>,
    jobs: Vec<JobView>,
    migrations: Vec<MigrationView>,
    schema_version: i64,
    admins: Vec<AdminView>,
    audit: Vec<AuditView>,
}

/// A moment of the overview in the admin's language; "—" for one that never came. Admins have no
/// time zone of their own: the page's is the instance default ([`kernel::dates::DEFAULT_ZONE`]).
fn maybe_when(page: &Page, at: Option<OffsetDateTime>) -> String {
    at.map_or_else(|| "—".to_owned(), |at| page.date_time(&at))
}

fn id_text(id: &Option<Uuid>) -> String {
    id.map(|id| id.to_string()).unwrap_or_default()
}

/// `GET /admin`: the instance overview.
pub async fn overview(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    admin: AdminSignedIn,
) -> AppResult<Response> {
    let page = admin.page(&state, lang, "/admin");
    let mut conn = state.db.platform_door().await?;
    let orgs = overview_orgs(&mut conn).await?;
    let jobs = overview_jobs(&mut conn).await?;
    let migrations = overview_migrations(&mut conn).await?;
    let admins = overview_admins(&mut conn).await?;
    let audit = audit_recent(&mut conn, AUDIT_SHOWN).await?;
    let schema_version = migrations.iter().filter(|m| m.success).map(|m| m.version).max().unwrap_or(0);
    let view = OverviewPage {
        page: page.clone(),
        me: admin.email.clone(),
        orgs: orgs
            .into_iter()
            .map(|o| OrgView {
                created: page.date_time(&o.created_at),
                last_login: maybe_when(&page, o.last_login_at),
                org_id: o.org_id,
                name: o.name,
                status: o.status,
                member_count: o.member_count,
            })
            .collect(),
        jobs: jobs
            .into_iter()
            .map(|j| JobView {
                oldest_waiting: maybe_when(&page, j.oldest_waiting),
                kind: j.kind,
                status: j.status,
                jobs: j.jobs,
            })
            .collect(),
        migrations: migrations
            .into_iter()
            .map(|m| MigrationView {
                installed: page.date_time(&m.installed_on),
                version: m.version,
                description: m.description,
                success: m.success,
            })
            .collect(),
        schema_version,
        admins: admins
            .into_iter()
            .map(|a| AdminView {
                created: page.date_time(&a.created_at),
                last_login: maybe_when(&page, a.last_login_at),
                email: a.email,
                status: a.status,
            })
            .collect(),
        audit: audit
            .into_iter()
            .map(|e| AuditView {
                at: page.date_time(&e.occurred_at),
                actor: format!("{} {}", e.actor_kind, id_text(&e.actor_id)),
                target: format!("{} {}", e.target_kind.unwrap_or_default(), id_text(&e.target_id)),
                action: e.action,
                payload: e.payload.to_string(),
            })
            .collect(),
    };
    Ok(no_store(StatusCode::OK, render(&view)?))
}

/// The answer to a suspend or reactivate form.
async fn org_status_submit(
    state: &AppState,
    admin: &AdminSignedIn,
    org_id: &str,
    suspend: bool,
) -> AppResult<Response> {
    let Ok(org_id) = Uuid::parse_str(org_id) else { return Err(AppError::NotFound) };
    if !change_org_status(state, admin, org_id, suspend).await? {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to("/admin").into_response())
}

/// `POST /admin/orgs/{org_id}/suspend`: the org's members can no longer sign in or use the API;
/// their sessions end now.
pub async fn suspend_org(
    State(state): State<AppState>,
    admin: AdminSignedIn,
    Path(org_id): Path<String>,
    CsrfForm(_): CsrfForm<IgnoredAny>,
) -> AppResult<Response> {
    org_status_submit(&state, &admin, &org_id, true).await
}

/// `POST /admin/orgs/{org_id}/reactivate`.
pub async fn reactivate_org(
    State(state): State<AppState>,
    admin: AdminSignedIn,
    Path(org_id): Path<String>,
    CsrfForm(_): CsrfForm<IgnoredAny>,
) -> AppResult<Response> {
    org_status_submit(&state, &admin, &org_id, false).await
}
