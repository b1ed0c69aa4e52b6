//! The pages of connected mailboxes: `/outreach/mailboxes` (the list: status, today's count
//! against the cap, the last test), `/outreach/mailboxes/new` (connect with a password, or with
//! Gmail or Microsoft 365 through `oauth_flow`) and
//! `/outreach/mailboxes/{id}` (settings, test, revoke; disable and enable for owners). A refused
//! form is drawn again with each message next to its field and what was typed kept — except the
//! password, which is never written back into a page.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use identity::signed_in::SignedIn;
use kernel::authz::Principal;
use kernel::web::{AppState, CsrfForm, Page, render};
use kernel::{AppError, AppResult, FieldError};
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::IgnoredAny;
use uuid::Uuid;

use super::api::{allow_private, oauth_settings};
use super::service::{self, ConnectInput, SettingsInput, Viewer, format_minute};
use super::store::{self, MailboxRow};

fn page_response(status: StatusCode, html: impl IntoResponse) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], html).into_response()
}

fn parse_id(text: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(text).map_err(|_| AppError::NotFound)
}

/// A field error in the page's language: this feature's sentence for its code when it has one,
/// else the shared `field_error.<code>` one, else the error's own message. Never a bare code.
fn error_text(page: &Page, error: &FieldError) -> String {
    let key = format!("outreach.mailboxes.error.{}", error.code);
    let text = page.t.get(&key);
    if text == key { kernel::web::field_error_text(page, error) } else { text.to_string() }
}

/// The sentence for a stored test error code.
fn test_error_text(page: &Page, code: &str) -> String {
    let key = format!("outreach.mailboxes.error.{code}");
    let text = page.t.get(&key);
    if text == key { page.t.get("outreach.mailboxes.error.unknown").to_string() } else { text.to_string() }
}

/// A mailbox as the list and settings page show it.
struct MailboxView {
    row: MailboxRow,
    /// "3 of 50": sent today against the daily cap.
    usage: String,
    /// The daily cap, for a member who may not change it.
    cap_note: String,
    smtp_line: String,
    imap_line: String,
    status_text: String,
    status_class: &'static str,
    last_test: String,
    last_test_failed: bool,
    mine: bool,
    /// "Password", "Google", "Microsoft 365".
    provider_text: String,
    /// For its owner, an OAuth2 mailbox that paused itself: the link that runs the consent again.
    reconnect: Option<String>,
}

fn view(page: &Page, row: MailboxRow, sent_today: i64, viewer: Viewer) -> MailboxView {
    let count = |n: i64| crm::display::decimal(&n.to_string(), page.t.0, false);
    let (status_text, status_class) = match row.status.as_str() {
        "active" => (page.t.get("outreach.mailboxes.status.active").to_string(), "success"),
        "paused" => {
            let reason = format!("outreach.mailboxes.pause_reason.{}", row.pause_reason);
            let reason_text = page.t.get(&reason);
            let text = if reason_text == reason {
                page.t.get("outreach.mailboxes.status.paused").to_string()
            } else {
                format!("{} — {}", page.t.get("outreach.mailboxes.status.paused"), reason_text)
            };
            (text, "warning")
        }
        _ => (page.t.get("outreach.mailboxes.status.disabled").to_string(), "muted"),
    };
    let (last_test, last_test_failed) = match row.last_tested_at {
        None => (page.t.get("outreach.mailboxes.never_tested").to_string(), false),
        Some(at) if row.last_test_error.is_empty() => {
            (page.t.fmt("outreach.mailboxes.test_passed_at", &[("when", &page.date_time(&at))]), false)
        }
        Some(at) => (
            page.t.fmt(
                "outreach.mailboxes.test_failed_at",
                &[("when", &page.date_time(&at)), ("error", &test_error_text(page, &row.last_test_error))],
            ),
            true,
        ),
    };
    let cap = count(i64::from(row.daily_cap));
    let security = |s: &str| page.t.get(&format!("outreach.mailboxes.security.{s}")).to_string();
    let reconnect =
        (viewer.owns(&row) && row.status == "paused").then(|| super::oauth_flow::reconnect_href(&row)).flatten();
    MailboxView {
        provider_text: page.t.get(&format!("outreach.mailboxes.provider.{}", row.provider)).to_string(),
        reconnect,
        usage: page.t.fmt("outreach.mailboxes.sent_of_cap", &[("sent", &count(sent_today)), ("cap", &cap)]),
        cap_note: page.t.fmt("outreach.mailboxes.cap_set_by_owner", &[("cap", &cap)]),
        smtp_line: format!(
            "{}:{} · {} · {}",
            row.smtp_host,
            row.smtp_port,
            security(&row.smtp_security),
            row.smtp_username
        ),
        imap_line: format!(
            "{}:{} · {} · {}",
            row.imap_host,
            row.imap_port,
            security(&row.imap_security),
            row.imap_username
        ),
        status_text,
        status_class,
        last_test,
        last_test_failed,
        mine: viewer.owns(&row),
        row,
    }
}

#[derive(Template)]
#[template(path = "outreach_mailboxes.html")]
struct ListView {
    page: Page,
    mailboxes: Vec<MailboxView>,
    sees_all: bool,
}

/// `GET /outreach/mailboxes`
pub async fn list_page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
) -> AppResult<Response> {
    let page = signed_in.page(&state, "/outreach/mailboxes");
    let viewer = Viewer::of(&principal);
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
    let rows = store::list(&mut tx, (!viewer.sees_all).then_some(viewer.user_id)).await?;
    let mut mailboxes = Vec::with_capacity(rows.len());
    for row in rows {
        let sent = service::sent_today(&mut tx, &row, now).await?;
        mailboxes.push(view(&page, row, sent, viewer));
    }
    tx.commit().await?;
    let html = render(&ListView { page, mailboxes, sees_all: viewer.sees_all })?;
    Ok(page_response(StatusCode::OK, html))
}

fn empty_secret() -> SecretString {
    SecretString::from(String::new())
}

/// The connect form as posted; the password goes straight into a `SecretString`.
#[derive(Debug, Default, Deserialize)]
pub struct ConnectForm {
    #[serde(default)]
    from_name: String,
    #[serde(default)]
    from_address: String,
    #[serde(default)]
    smtp_host: String,
    #[serde(default)]
    smtp_port: String,
    #[serde(default)]
    smtp_security: String,
    #[serde(default)]
    smtp_username: String,
    #[serde(default)]
    imap_host: String,
    #[serde(default)]
    imap_port: String,
    #[serde(default)]
    imap_security: String,
    #[serde(default)]
    imap_username: String,
    #[serde(default = "empty_secret")]
    password: SecretString,
}

/// A provider on the connect page: offered (its button), or not set up here (and why).
struct ProviderOffer {
    href: String,
    label: String,
    offered: bool,
    not_offered: String,
}

#[derive(Template)]
#[template(path = "outreach_mailbox_new.html")]
struct ConnectView {
    page: Page,
    form: ConnectForm,
    errors: Vec<FieldError>,
    allow_private: bool,
    providers: Vec<ProviderOffer>,
}

impl ConnectView {
    fn error(&self, field: &str) -> Option<String> {
        self.errors.iter().find(|e| e.field == field).map(|e| error_text(&self.page, e))
    }
    fn selected(&self, field: &str, value: &str) -> bool {
        let chosen = match field {
            "smtp_security" => &self.form.smtp_security,
            _ => &self.form.imap_security,
        };
        let default = if field == "smtp_security" { "starttls" } else { "tls" };
        if chosen.is_empty() { value == default } else { chosen == value }
    }
}

fn connect_page(
    state: &AppState,
    signed_in: &SignedIn,
    form: ConnectForm,
    errors: Vec<FieldError>,
) -> AppResult<Response> {
    let page = signed_in.page(state, "/outreach/mailboxes/new");
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    // The password typed is never drawn back into the page.
    let form = ConnectForm { password: empty_secret(), ..form };
    let offered = super::oauth_flow::offered(state);
    let providers = super::oauth::Provider::ALL
        .into_iter()
        .map(|provider| {
            let name = provider.as_str();
            ProviderOffer {
                href: format!("/outreach/mailboxes/connect/{name}"),
                label: page.t.get(&format!("outreach.oauth.connect_{name}")).to_string(),
                offered: offered.contains(&provider),
                not_offered: page.t.get(&format!("outreach.oauth.not_offered_{name}")).to_string(),
            }
        })
        .collect();
    let html = render(&ConnectView { page, form, errors, allow_private: allow_private(state), providers })?;
    Ok(page_response(status, html))
}

/// `GET /outreach/mailboxes/new`
pub async fn new_page(State(state): State<AppState>, signed_in: SignedIn) -> AppResult<Response> {
    connect_page(&state, &signed_in, ConnectForm::default(), Vec::new())
}

/// A port as typed: empty for the usual one.
fn port(text: &str, field: &str, errors: &mut Vec<FieldError>) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    match text.parse::<i64>() {
        Ok(port) => Some(port),
        Err(_) => {
            errors.push(FieldError::new(field, "out_of_range", "A port between 1 and 65535."));
            None
        }
    }
}

/// `POST /outreach/mailboxes/new`: tests and connects, or draws the form again with the errors.
pub async fn connect(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    CsrfForm(form): CsrfForm<ConnectForm>,
) -> AppResult<Response> {
    let mut errors = Vec::new();
    let smtp_port = port(&form.smtp_port, "smtp_port", &mut errors);
    let imap_port = port(&form.imap_port, "imap_port", &mut errors);
    if !errors.is_empty() {
        return connect_page(&state, &signed_in, form, errors);
    }
    let input = ConnectInput {
        from_name: form.from_name.clone(),
        from_address: form.from_address.clone(),
        smtp_host: form.smtp_host.clone(),
        smtp_port,
        smtp_security: form.smtp_security.clone(),
        smtp_username: form.smtp_username.clone(),
        imap_host: form.imap_host.clone(),
        imap_port,
        imap_security: form.imap_security.clone(),
        imap_username: form.imap_username.clone(),
        password: form.password.clone(),
    };
    let now = state.clock.now();
    match service::connect(&state.db, &principal, &state.audit, &state.vault, allow_private(&state), &input, now).await
    {
        Ok(id) => {
            Ok(kernel::toast::redirect_with_toast(&format!("/outreach/mailboxes/{id}"), "outreach.mailboxes.connected"))
        }
        Err(AppError::Validation(errors)) => connect_page(&state, &signed_in, form, errors),
        Err(other) => Err(other),
    }
}

/// The settings form as typed, kept when it is refused.
#[derive(Debug, Clone, Default)]
struct SettingsForm {
    from_name: String,
    daily_cap: String,
    min_gap_seconds: String,
    jitter_seconds: String,
    window_days: Vec<i16>,
    window_start: String,
    window_end: String,
    time_zone: String,
    signature: String,
}

impl SettingsForm {
    fn of(row: &MailboxRow) -> Self {
        Self {
            from_name: row.from_name.clone(),
            daily_cap: row.daily_cap.to_string(),
            min_gap_seconds: row.min_gap_seconds.to_string(),
            jitter_seconds: row.jitter_seconds.to_string(),
            window_days: row.window_days.clone(),
            window_start: format_minute(row.window_start_minute),
            window_end: service::format_window_end(row.window_end_minute),
            time_zone: row.time_zone.clone(),
            signature: row.signature.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "outreach_mailbox.html")]
struct SettingsView {
    page: Page,
    mailbox: MailboxView,
    form: SettingsForm,
    errors: Vec<FieldError>,
    configures: bool,
    days: Vec<(i16, String)>,
}

impl SettingsView {
    fn error(&self, field: &str) -> Option<String> {
        self.errors.iter().find(|e| e.field == field).map(|e| error_text(&self.page, e))
    }
    fn day_checked(&self, day: &i16) -> bool {
        self.form.window_days.contains(day)
    }
    fn can_edit(&self) -> bool {
        self.mailbox.mine
    }
    /// An OAuth2 mailbox has no password to change (its owner connects it again instead).
    fn has_password(&self) -> bool {
        self.mailbox.row.provider == "password"
    }
    fn can_set_cap(&self) -> bool {
        self.configures
    }
}

async fn settings_page(
    state: &AppState,
    signed_in: &SignedIn,
    principal: &Principal,
    id: Uuid,
    form: Option<SettingsForm>,
    errors: Vec<FieldError>,
) -> AppResult<Response> {
    let page = signed_in.page(state, &format!("/outreach/mailboxes/{id}"));
    let viewer = Viewer::of(principal);
    let mut tx = principal.begin(&state.db).await?;
    let row = service::visible(&mut tx, viewer, id).await?;
    let sent = service::sent_today(&mut tx, &row, state.clock.now()).await?;
    tx.commit().await?;
    let form = form.unwrap_or_else(|| SettingsForm::of(&row));
    let days = (1..=7).map(|d| (d, page.t.get(&format!("outreach.mailboxes.day.{d}")).to_string())).collect();
    let mailbox = view(&page, row, sent, viewer);
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let html = render(&SettingsView { page, mailbox, form, errors, configures: viewer.configures, days })?;
    Ok(page_response(status, html))
}

/// `GET /outreach/mailboxes/{id}`
pub async fn mailbox_page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    settings_page(&state, &signed_in, &principal, id, None, Vec::new()).await
}

fn whole_number(text: &str, field: &str, errors: &mut Vec<FieldError>) -> Option<i64> {
    match text.trim().parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.push(FieldError::new(field, "invalid_number", "Enter a whole number."));
            None
        }
    }
}

/// `POST /outreach/mailboxes/{id}`: saves the settings (and a new password, tested first).
pub async fn save(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(fields): CsrfForm<Vec<(String, String)>>,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    let viewer = Viewer::of(&principal);
    let value = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let mut form = SettingsForm {
        window_days: fields.iter().filter(|(n, _)| n == "window_days").filter_map(|(_, v)| v.parse().ok()).collect(),
        ..SettingsForm::default()
    };
    let mut errors = Vec::new();
    let mut input = SettingsInput::default();
    let owns = {
        let mut tx = principal.begin(&state.db).await?;
        let row = service::visible(&mut tx, viewer, id).await?;
        tx.commit().await?;
        form = SettingsForm { window_days: form.window_days, ..SettingsForm::of(&row) };
        viewer.owns(&row)
    };
    if owns {
        form.from_name = value("from_name").unwrap_or_default();
        form.min_gap_seconds = value("min_gap_seconds").unwrap_or_default();
        form.jitter_seconds = value("jitter_seconds").unwrap_or_default();
        form.window_start = value("window_start").unwrap_or_default();
        form.window_end = value("window_end").unwrap_or_default();
        form.time_zone = value("time_zone").unwrap_or_default();
        form.signature = value("signature").unwrap_or_default();
        input.from_name = Some(form.from_name.clone());
        input.min_gap_seconds = whole_number(&form.min_gap_seconds, "min_gap_seconds", &mut errors);
        input.jitter_seconds = whole_number(&form.jitter_seconds, "jitter_seconds", &mut errors);
        input.window_days = Some(form.window_days.iter().map(|d| i64::from(*d)).collect());
        input.window_start = Some(form.window_start.clone());
        input.window_end = Some(form.window_end.clone());
        input.time_zone = Some(form.time_zone.clone());
        input.signature = Some(form.signature.clone());
        input.password = value("password").filter(|p| !p.is_empty()).map(SecretString::from);
    }
    if viewer.configures
        && let Some(cap) = value("daily_cap")
    {
        form.daily_cap = cap;
        input.daily_cap = whole_number(&form.daily_cap, "daily_cap", &mut errors);
    }
    if !owns && !viewer.configures {
        return Err(AppError::Forbidden);
    }
    if errors.is_empty() {
        let now = state.clock.now();
        let mut tx = principal.begin(&state.db).await?;
        match service::update(&mut tx, &state.audit, &state.vault, allow_private(&state), viewer, id, &input, now).await
        {
            Ok(()) => {
                tx.commit().await?;
                return Ok(kernel::toast::redirect_with_toast(
                    &format!("/outreach/mailboxes/{id}"),
                    "outreach.mailboxes.saved",
                ));
            }
            Err(AppError::Validation(refused)) => errors = refused,
            Err(other) => return Err(other),
        }
    }
    settings_page(&state, &signed_in, &principal, id, Some(form), errors).await
}

/// `POST /outreach/mailboxes/{id}/test`
pub async fn test(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<IgnoredAny>,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    let now = state.clock.now();
    let oauth = oauth_settings(&state);
    let outcome =
        service::test(&state.db, &principal, &state.audit, &state.vault, allow_private(&state), &oauth, id, now)
            .await?;
    let back = format!("/outreach/mailboxes/{id}");
    Ok(match outcome {
        None => kernel::toast::redirect_with_toast(&back, "outreach.mailboxes.test_ok"),
        // The page shows what failed, in the member's language, under "Last test".
        Some(_) => kernel::toast::redirect_with_error_toast(&back, "outreach.mailboxes.test_failed"),
    })
}

/// `POST /outreach/mailboxes/{id}/revoke`
pub async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<IgnoredAny>,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let grant =
        service::revoke(&mut tx, &state.audit, &state.vault, Viewer::of(&principal), id, state.clock.now()).await?;
    tx.commit().await?;
    if let Some(grant) = grant {
        super::oauth::revoke_grant(&oauth_settings(&state), grant.provider, grant.refresh_token).await;
    }
    Ok(kernel::toast::redirect_with_toast("/outreach/mailboxes", "outreach.mailboxes.revoked"))
}

/// `POST /outreach/mailboxes/{id}/disable` (owners)
pub async fn disable(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<IgnoredAny>,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    service::disable(&mut tx, &state.audit, Viewer::of(&principal), id, state.clock.now()).await?;
    tx.commit().await?;
    Ok(kernel::toast::redirect_with_toast(&format!("/outreach/mailboxes/{id}"), "outreach.mailboxes.disabled"))
}

/// `POST /outreach/mailboxes/{id}/enable` (owners)
pub async fn enable(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<IgnoredAny>,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    service::enable(&mut tx, &state.audit, Viewer::of(&principal), id, state.clock.now()).await?;
    tx.commit().await?;
    Ok(kernel::toast::redirect_with_toast(&format!("/outreach/mailboxes/{id}"), "outreach.mailboxes.enabled"))
}

/// The number next to "Mailboxes" in the sidebar: the member's own mailboxes that paused
/// themselves (a refused password, a server turned private) — how a mailbox that stopped tells
/// its owner, on every page, until they fix it.
pub fn paused_count(ctx: kernel::module::NavCountCtx<'_>) -> kernel::module::CountFuture<'_> {
    Box::pin(async move {
        if !ctx.principal.grant(crate::actions::OUTREACH_USE).allows() {
            return Ok(None);
        }
        Ok(Some(store::paused_count(ctx.tx, ctx.principal.user_id).await?))
    })
}
