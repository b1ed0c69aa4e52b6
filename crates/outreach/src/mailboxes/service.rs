//! What can be done with a mailbox, for the API and the pages alike: connect (after a passing
//! connection test), test, change its settings or password, disable and enable (owners), revoke.
//! Each runs in the caller's tenant transaction and records its audit event there, so the event
//! commits with the change — except the connection test, which holds no transaction while it
//! talks to the servers (see [`test`]). No payload ever holds a secret.

use kernel::audit::{AuditEvent, AuditLog};
use kernel::authz::{Grant, Principal};
use kernel::vault::Vault;
use kernel::{AppError, Db, FieldError, OrgTx};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::oauth::{self, OAuthSettings, Provider};
use super::probe::{self, ProbeError, Server};
use super::store::{self, MailboxRow};
use super::{Login, Security, access_token_context, secret_context};
use crate::actions;

/// Who acts on mailboxes, and how far their grants reach.
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    pub user_id: Uuid,
    /// Managers and owners see every member's mailboxes (read-only for managers).
    pub sees_all: bool,
    /// Owners set daily caps, and disable or enable anyone's mailbox.
    pub configures: bool,
}

impl Viewer {
    pub fn of(principal: &Principal) -> Self {
        Self {
            user_id: principal.user_id,
            sees_all: principal.grant(actions::OUTREACH_MANAGE) == Grant::Org,
            configures: principal.grant(actions::OUTREACH_CONFIGURE) == Grant::Org,
        }
    }

    pub fn owns(&self, row: &MailboxRow) -> bool {
        row.owner_id == self.user_id
    }

    pub fn sees(&self, row: &MailboxRow) -> bool {
        self.owns(row) || self.sees_all
    }
}

/// A mailbox the viewer may see; anyone else's is "not found", as if it did not exist.
pub async fn visible(tx: &mut OrgTx, viewer: Viewer, id: Uuid) -> Result<MailboxRow, AppError> {
    match store::get(tx, id).await? {
        Some(row) if viewer.sees(&row) => Ok(row),
        _ => Err(AppError::NotFound),
    }
}

/// A mailbox the viewer owns (only its owner tests, changes or revokes it).
async fn own(tx: &mut OrgTx, viewer: Viewer, id: Uuid) -> Result<MailboxRow, AppError> {
    match store::get(tx, id).await? {
        Some(row) if viewer.owns(&row) => Ok(row),
        _ => Err(AppError::NotFound),
    }
}

/// What a member types to connect a mailbox with a password.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectInput {
    #[serde(default)]
    pub from_name: String,
    #[serde(default)]
    pub from_address: String,
    #[serde(default)]
    pub smtp_host: String,
    /// Empty: the usual port of the security chosen (465, 587, 25).
    #[serde(default)]
    pub smtp_port: Option<i64>,
    #[serde(default)]
    pub smtp_security: String,
    #[serde(default)]
    pub smtp_username: String,
    #[serde(default)]
    pub imap_host: String,
    /// Empty: the usual port of the security chosen (993, 143).
    #[serde(default)]
    pub imap_port: Option<i64>,
    #[serde(default)]
    pub imap_security: String,
    /// Empty: the SMTP user name.
    #[serde(default)]
    pub imap_username: String,
    /// Its `Debug` prints a placeholder.
    #[serde(default = "empty_secret")]
    pub password: SecretString,
}

fn empty_secret() -> SecretString {
    SecretString::from(String::new())
}

/// One server's settings, checked.
#[derive(Debug, Clone)]
struct ServerSettings {
    host: String,
    port: u16,
    security: Security,
    username: String,
}

impl ServerSettings {
    fn server(&self) -> Server<'_> {
        Server { host: &self.host, port: self.port, security: self.security, username: &self.username }
    }
}

fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// A host name or IP address as typed: letters, digits, dots, hyphens (or an IPv6 literal).
fn valid_host(host: &str) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn default_port(side: probe::Side, security: Security) -> u16 {
    match (side, security) {
        (probe::Side::Smtp, Security::Tls) => 465,
        (probe::Side::Smtp, Security::Starttls) => 587,
        (probe::Side::Smtp, Security::None) => 25,
        // IMAP (a provider has no port of its own).
        (probe::Side::Imap | probe::Side::Provider, Security::Tls) => 993,
        (probe::Side::Imap | probe::Side::Provider, Security::Starttls | Security::None) => 143,
    }
}

#[allow(clippy::too_many_arguments)]
fn check_server(
    side: probe::Side,
    host: &str,
    port: Option<i64>,
    security: &str,
    username: &str,
    allow_private: bool,
    errors: &mut Vec<FieldError>,
) -> Option<ServerSettings> {
    let prefix = side.as_str();
    let field = |name: &str| format!("{prefix}_{name}");
    let host = host.trim().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    let before = errors.len();
    if host.is_empty() {
        errors.push(FieldError::new(field("host"), "required", "Enter the server's name, like mail.example.eu."));
    } else if !valid_host(&host) {
        errors.push(FieldError::new(field("host"), "invalid_host", "Enter a server name, like mail.example.eu."));
    } else if let Ok(ip) = host.parse::<std::net::IpAddr>()
        && !allow_private
        && !crm::webhooks::address::is_public(ip)
    {
        errors.push(FieldError::new(
            field("host"),
            probe::Failure::PrivateAddress.code(),
            probe::Failure::PrivateAddress.message(),
        ));
    }
    let security_text = security.trim();
    let security = match Security::parse(if security_text.is_empty() {
        if side == probe::Side::Smtp { "starttls" } else { "tls" }
    } else {
        security_text
    }) {
        None => {
            errors.push(FieldError::new(field("security"), "invalid_choice", "One of tls, starttls, none."));
            None
        }
        Some(Security::None) if !allow_private => {
            errors.push(FieldError::new(
                field("security"),
                "tls_required",
                "Choose TLS or STARTTLS: a password is never sent unencrypted.",
            ));
            None
        }
        Some(security) => Some(security),
    };
    let port = match port {
        None => security.map(|s| default_port(side, s)),
        Some(port) => match u16::try_from(port) {
            Ok(port) if port > 0 => Some(port),
            _ => {
                errors.push(FieldError::new(field("port"), "out_of_range", "A port between 1 and 65535."));
                None
            }
        },
    };
    let username = username.trim();
    if username.is_empty() {
        errors.push(FieldError::new(field("username"), "required", "Enter the user name this server expects."));
    } else if username.chars().count() > 254 || has_control(username) {
        errors.push(FieldError::new(field("username"), "invalid", "At most 254 characters, on one line."));
    }
    if errors.len() > before {
        return None;
    }
    Some(ServerSettings { host, port: port?, security: security?, username: username.to_owned() })
}

fn check_from_name(from_name: &str, errors: &mut Vec<FieldError>) -> String {
    let name = from_name.trim();
    if name.chars().count() > 100 || has_control(name) {
        errors.push(FieldError::new("from_name", "invalid", "At most 100 characters, on one line."));
    }
    name.to_owned()
}

fn check_password(password: &SecretString, errors: &mut Vec<FieldError>) {
    let text = password.expose_secret();
    if text.is_empty() {
        errors.push(FieldError::new("password", "required", "Enter the mailbox's password (or app password)."));
    } else if text.len() > 1024 || text.contains(['\r', '\n', '\0']) {
        errors.push(FieldError::new("password", "invalid", "At most 1024 characters, on one line."));
    }
}

fn validation(errors: Vec<FieldError>) -> Result<(), AppError> {
    if errors.is_empty() { Ok(()) } else { Err(AppError::Validation(errors)) }
}

/// Connects a password mailbox for the member: checks every field, tests the connection (a
/// mailbox whose test fails is not saved, and the error names what failed), seals the password
/// for the new mailbox's id, and audits. Returns the new mailbox's id.
///
/// Like [`test`] it opens its own transactions, so that none is held while the servers are
/// tried: the address is checked free in one, and the mailbox saved in another once the test
/// passed (an address taken meanwhile is refused there by the unique key).
pub async fn connect(
    db: &Db,
    principal: &Principal,
    audit: &AuditLog,
    vault: &Vault,
    allow_private: bool,
    input: &ConnectInput,
    now: OffsetDateTime,
) -> Result<Uuid, AppError> {
    let owner = principal.user_id;
    let mut errors = Vec::new();
    let from_name = check_from_name(&input.from_name, &mut errors);
    let from_address = input.from_address.trim().to_lowercase();
    if from_address.is_empty() {
        errors.push(FieldError::new("from_address", "required", "Enter the address messages are sent from."));
    } else if from_address.len() > 254 || !email_address::EmailAddress::is_valid(&from_address) {
        errors.push(FieldError::new(
            "from_address",
            "invalid_email",
            "Enter a valid email address, like name@example.eu.",
        ));
    }
    let smtp = check_server(
        probe::Side::Smtp,
        &input.smtp_host,
        input.smtp_port,
        &input.smtp_security,
        &input.smtp_username,
        allow_private,
        &mut errors,
    );
    // The IMAP user name is most often the SMTP one.
    let imap_username = if input.imap_username.trim().is_empty() { &input.smtp_username } else { &input.imap_username };
    let imap = check_server(
        probe::Side::Imap,
        &input.imap_host,
        input.imap_port,
        &input.imap_security,
        imap_username,
        allow_private,
        &mut errors,
    );
    check_password(&input.password, &mut errors);
    validation(errors)?;
    let (Some(smtp), Some(imap)) = (smtp, imap) else {
        return Err(AppError::Internal(anyhow::anyhow!("validated servers missing")));
    };
    let mut tx = principal.begin(db).await?;
    let taken = sqlx::query_scalar!(
        r#"select exists(select 1 from outreach_mailboxes where org_id = $1 and owner_id = $2 and from_address = $3) as "taken!""#,
        tx.org().0,
        owner,
        from_address
    )
    .fetch_one(tx.conn())
    .await?;
    tx.commit().await?;
    if taken {
        return Err(address_taken());
    }

    probe::test(smtp.server(), imap.server(), &Login::Password(input.password.clone()), allow_private)
        .await
        .map_err(ProbeError::into_app_error)?;

    let mut saving = principal.begin(db).await?;
    let tx = &mut saving;
    let id = Uuid::now_v7();
    let sealed = vault.seal(&secret_context(tx.org(), id), &input.password);
    let new = store::NewMailbox {
        mailbox_id: id,
        owner_id: owner,
        provider: "password",
        from_name: &from_name,
        from_address: &from_address,
        smtp_host: &smtp.host,
        smtp_port: i32::from(smtp.port),
        smtp_security: smtp.security.as_str(),
        smtp_username: &smtp.username,
        imap_host: &imap.host,
        imap_port: i32::from(imap.port),
        imap_security: imap.security.as_str(),
        imap_username: &imap.username,
        secret_sealed: &sealed,
        access_token: None,
    };
    store::insert(tx, &new, now)
        .await
        .map_err(|e| kernel::error::on_constraint(e, |name| (name == store::UNIQUE_ADDRESS).then(address_taken)))?;
    audit
        .record(
            tx,
            AuditEvent::new("outreach.mailbox.connected").target("outreach_mailbox", id).payload(json!({
                "provider": "password",
                "from_address": from_address,
                "smtp_host": smtp.host,
                "imap_host": imap.host,
            })),
        )
        .await?;
    // The first reading notes where the inbox stands: replies are read from now on.
    crate::inbound::service::watch(tx, id, now, now).await?;
    saving.commit().await?;
    Ok(id)
}

fn address_taken() -> AppError {
    AppError::field("from_address", "taken", "You have already connected a mailbox with this address.")
}

fn server_of(row: &MailboxRow, side: probe::Side) -> Result<ServerSettings, AppError> {
    let unusable = || AppError::Internal(anyhow::anyhow!("a stored mailbox has unusable server settings"));
    let (host, port, security, username) = match side {
        probe::Side::Smtp => (&row.smtp_host, row.smtp_port, &row.smtp_security, &row.smtp_username),
        probe::Side::Imap => (&row.imap_host, row.imap_port, &row.imap_security, &row.imap_username),
        probe::Side::Provider => return Err(unusable()),
    };
    Ok(ServerSettings {
        host: host.clone(),
        port: u16::try_from(port).map_err(|_| unusable())?,
        security: Security::parse(security).ok_or_else(unusable)?,
        username: username.clone(),
    })
}

/// Tests a member's mailbox (SMTP, then IMAP if it has one) with its stored credentials, and
/// records the outcome (audited; a passing test re-activates a paused mailbox).
///
/// Unlike the other actions it opens its own transactions instead of running in the caller's:
/// the network steps (a server that answers slowly, a provider's token endpoint) take up to the
/// probes' timeouts, and a transaction held across them would hold a pooled connection and the
/// mailbox's row that long. The row is read in one transaction (the member's grants apply), the
/// servers are tried with none open, and the outcome is recorded in another, against the row as
/// it is then: revoked meanwhile, nothing is recorded (not found). `Ok(Some(error))` is a test
/// that ran and failed.
#[allow(clippy::too_many_arguments)]
pub async fn test(
    db: &Db,
    principal: &Principal,
    audit: &AuditLog,
    vault: &Vault,
    allow_private: bool,
    oauth_settings: &OAuthSettings,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<Option<ProbeError>, AppError> {
    let viewer = Viewer::of(principal);
    let mut tx = principal.begin(db).await?;
    let row = own(&mut tx, viewer, id).await?;
    let sealed = if row.provider == "password" { store::sealed_secret(&mut tx, id).await? } else { None };
    tx.commit().await?;
    let (smtp, imap) = (server_of(&row, probe::Side::Smtp)?, server_of(&row, probe::Side::Imap)?);
    let outcome = if row.provider == "password" {
        let sealed = sealed.ok_or(AppError::NotFound)?;
        let secret = vault.open(&secret_context(principal.org, id), &sealed)?;
        probe::test(smtp.server(), imap.server(), &Login::Password(secret), allow_private).await.err()
    } else {
        let provider_failure = |failure| Some(ProbeError { side: probe::Side::Provider, failure });
        // The access token, refreshed first if it runs out soon (its own transactions, none held
        // across the provider's answer); a grant the provider refused pauses the mailbox.
        match oauth::login(db, principal.org, vault, oauth_settings, id, now).await {
            // The provider's servers are the instance's configuration, not a member's input:
            // the private-address rule (against probing the internal network) is not theirs.
            Ok(login) => probe::test(smtp.server(), imap.server(), &login, true).await.err(),
            Err(oauth::LoginError::Expired) => provider_failure(probe::Failure::OAuthExpired),
            Err(oauth::LoginError::Gone) => return Err(AppError::NotFound),
            Err(oauth::LoginError::Internal(error)) => return Err(AppError::Internal(error)),
            Err(_) => provider_failure(probe::Failure::OAuthUnavailable),
        }
    };
    let mut tx = principal.begin(db).await?;
    // Read again: revoked meanwhile, or paused by a refused grant just now.
    let row = own(&mut tx, viewer, id).await?;
    record_test(&mut tx, audit, &row, outcome, now).await?;
    tx.commit().await?;
    Ok(outcome)
}

async fn record_test(
    tx: &mut OrgTx,
    audit: &AuditLog,
    row: &MailboxRow,
    outcome: Option<ProbeError>,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    let code = outcome.map_or("", |e| e.failure.code());
    store::record_test(tx, row.mailbox_id, code, now).await?;
    audit
        .record(
            tx,
            AuditEvent::new("outreach.mailbox.tested").target("outreach_mailbox", row.mailbox_id).payload(json!({
                "ok": outcome.is_none(),
                "error": outcome.map(|e| e.failure.code()),
                "server": outcome.map(|e| e.side.as_str()),
            })),
        )
        .await?;
    if outcome.is_none() && row.status == "paused" {
        // Back to active: enrollments waiting for a mailbox can be planned again, and its inbox
        // is read again.
        crate::sending::service::wake(tx, now).await?;
        crate::inbound::service::watch(tx, row.mailbox_id, now, now).await?;
    }
    Ok(())
}

/// A change of settings; absent fields keep their value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    #[serde(default, deserialize_with = "crate::openapi::non_null")]
    pub from_name: Option<String>,
    #[serde(default, deserialize_with = "crate::openapi::non_null")]
    pub daily_cap: Option<i64>,
    #[serde(default, deserialize_with = "crate::openapi::non_null")]
    pub min_gap_seconds: Option<i64>,
    #[serde(default, deserialize_with = "crate::openapi::non_null")]
    pub jitter_seconds: Option<i64>,
    /// ISO weekdays, 1 = Monday … 7 = Sunday.
    #[serde(default, deserialize_with = "crate::openapi::non_null")]
    pub window_days: Option<Vec<i64>>,
    /// `HH:MM`, local time.
    #[serde(default, deserialize_with = "crate::openapi::non_null")]
    pub window_start: Option<String>,
    /// `HH:MM` (`24:00` for the end of the day).
    #[serde(default, deserialize_with = "crate::openapi::non_null")]
    pub window_end: Option<String>,
    #[serde(default, deserialize_with = "crate::openapi::non_null")]
    pub time_zone: Option<String>,
    #[serde(default, deserialize_with = "crate::openapi::non_null")]
    pub signature: Option<String>,
    /// A new password: tested before it is kept.
    #[serde(default, deserialize_with = "crate::openapi::non_null")]
    pub password: Option<SecretString>,
}

impl SettingsInput {
    /// Whether the change touches nothing but the daily cap (all an owner may change of another
    /// member's mailbox).
    fn only_daily_cap(&self) -> bool {
        let Self {
            from_name,
            daily_cap: _,
            min_gap_seconds,
            jitter_seconds,
            window_days,
            window_start,
            window_end,
            time_zone,
            signature,
            password,
        } = self;
        from_name.is_none()
            && min_gap_seconds.is_none()
            && jitter_seconds.is_none()
            && window_days.is_none()
            && window_start.is_none()
            && window_end.is_none()
            && time_zone.is_none()
            && signature.is_none()
            && password.is_none()
    }
}

/// `HH:MM` as minutes of the day (`24:00` is 1440).
pub fn parse_minute(text: &str) -> Option<i16> {
    let (hours, minutes) = text.trim().split_once(':')?;
    if hours.is_empty() || hours.len() > 2 || minutes.len() != 2 {
        return None;
    }
    let (hours, minutes): (i16, i16) = (hours.parse().ok()?, minutes.parse().ok()?);
    let total = hours * 60 + minutes;
    ((0..24).contains(&hours) && (0..60).contains(&minutes) || total == 1440).then_some(total)
}

/// Minutes of the day as `HH:MM`.
/// The end of the sending window: `00:00` (what a time field offers for midnight, having no
/// `24:00`) and `24:00` both mean the end of the day, 1440.
pub fn parse_window_end(text: &str) -> Option<i16> {
    parse_minute(text).map(|minute| if minute == 0 { 1440 } else { minute })
}

/// The end of the sending window as a time field shows it: midnight is `00:00`.
pub fn format_window_end(minute: i16) -> String {
    format_minute(minute % 1440)
}

pub fn format_minute(minute: i16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

fn in_range(value: i64, range: std::ops::RangeInclusive<i64>) -> Option<i32> {
    range.contains(&value).then(|| i32::try_from(value).ok()).flatten()
}

/// Checks a change against the current settings; returns the merged settings and the names of
/// the fields that changed.
fn merge(
    row: &MailboxRow,
    input: &SettingsInput,
    configures: bool,
) -> Result<(store::Settings, Vec<&'static str>), AppError> {
    let mut errors = Vec::new();
    let mut changed = Vec::new();
    let mut settings = store::Settings {
        from_name: row.from_name.clone(),
        daily_cap: row.daily_cap,
        min_gap_seconds: row.min_gap_seconds,
        jitter_seconds: row.jitter_seconds,
        window_days: row.window_days.clone(),
        window_start_minute: row.window_start_minute,
        window_end_minute: row.window_end_minute,
        time_zone: row.time_zone.clone(),
        signature: row.signature.clone(),
    };
    if let Some(name) = &input.from_name {
        settings.from_name = check_from_name(name, &mut errors);
    }
    if let Some(cap) = input.daily_cap {
        match in_range(cap, 1..=10_000) {
            None => errors.push(FieldError::new("daily_cap", "out_of_range", "Between 1 and 10,000 messages a day.")),
            Some(cap) if cap != row.daily_cap && !configures => errors.push(FieldError::new(
                "daily_cap",
                "owner_only",
                "Only an owner of the organization can change a mailbox's daily cap.",
            )),
            Some(cap) => settings.daily_cap = cap,
        }
    }
    if let Some(gap) = input.min_gap_seconds {
        match in_range(gap, 0..=86_400) {
            None => errors.push(FieldError::new("min_gap_seconds", "out_of_range", "Between 0 and 86,400 seconds.")),
            Some(gap) => settings.min_gap_seconds = gap,
        }
    }
    if let Some(jitter) = input.jitter_seconds {
        match in_range(jitter, 0..=3_600) {
            None => errors.push(FieldError::new("jitter_seconds", "out_of_range", "Between 0 and 3,600 seconds.")),
            Some(jitter) => settings.jitter_seconds = jitter,
        }
    }
    if let Some(days) = &input.window_days {
        let mut sorted: Vec<i16> = days.iter().filter_map(|d| i16::try_from(*d).ok()).collect();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.is_empty() || sorted.len() != days.len() || sorted.iter().any(|d| !(1..=7).contains(d)) {
            errors.push(FieldError::new(
                "window_days",
                "invalid_days",
                "Choose at least one day of the week, each once.",
            ));
        } else {
            settings.window_days = sorted;
        }
    }
    if let Some(start) = &input.window_start {
        match parse_minute(start).filter(|m| *m < 1440) {
            None => errors.push(FieldError::new("window_start", "invalid_time", "A time like 08:30.")),
            Some(minute) => settings.window_start_minute = minute,
        }
    }
    if let Some(end) = &input.window_end {
        match parse_window_end(end) {
            None => {
                errors.push(FieldError::new("window_end", "invalid_time", "A time like 18:00 (00:00 for midnight)."))
            }
            Some(minute) => settings.window_end_minute = minute,
        }
    }
    if settings.window_start_minute >= settings.window_end_minute
        && !errors.iter().any(|e| e.field == "window_start" || e.field == "window_end")
    {
        errors.push(FieldError::new("window_end", "end_before_start", "The window must end after it starts."));
    }
    if let Some(zone) = &input.time_zone {
        let zone = zone.trim();
        if kernel::dates::zone(zone).is_none() {
            errors.push(FieldError::new("time_zone", "invalid_time_zone", "A time zone like Europe/Paris."));
        } else {
            settings.time_zone = zone.to_owned();
        }
    }
    if let Some(signature) = &input.signature {
        let signature = signature.trim_end().replace("\r\n", "\n");
        if signature.chars().count() > 5000 || signature.contains('\0') {
            errors.push(FieldError::new("signature", "too_long", "At most 5,000 characters."));
        } else {
            settings.signature = signature;
        }
    }
    if let Some(password) = &input.password {
        check_password(password, &mut errors);
    }
    validation(errors)?;
    let pairs: [(&'static str, bool); 9] = [
        ("from_name", settings.from_name != row.from_name),
        ("daily_cap", settings.daily_cap != row.daily_cap),
        ("min_gap_seconds", settings.min_gap_seconds != row.min_gap_seconds),
        ("jitter_seconds", settings.jitter_seconds != row.jitter_seconds),
        ("window_days", settings.window_days != row.window_days),
        ("window_start", settings.window_start_minute != row.window_start_minute),
        ("window_end", settings.window_end_minute != row.window_end_minute),
        ("time_zone", settings.time_zone != row.time_zone),
        ("signature", settings.signature != row.signature),
    ];
    changed.extend(pairs.iter().filter(|(_, differs)| *differs).map(|(name, _)| *name));
    Ok((settings, changed))
}

/// Changes a mailbox's settings. Its owner changes everything but the daily cap (unless they
/// also own the organization); an owner of the organization may change any mailbox's daily cap,
/// and nothing else of another member's mailbox. A new password is tested first (with the
/// mailbox's servers) and refused, naming what failed, if the test fails.
#[allow(clippy::too_many_arguments)]
pub async fn update(
    tx: &mut OrgTx,
    audit: &AuditLog,
    vault: &Vault,
    allow_private: bool,
    viewer: Viewer,
    id: Uuid,
    input: &SettingsInput,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    let row = match store::get(tx, id).await? {
        Some(row) if viewer.owns(&row) => row,
        Some(row) if viewer.configures => {
            if !input.only_daily_cap() {
                return Err(AppError::Forbidden);
            }
            row
        }
        _ => return Err(AppError::NotFound),
    };
    if input.password.is_some() && row.provider != "password" {
        return Err(AppError::field(
            "password",
            "oauth_mailbox",
            "This mailbox signs in with its provider (Google, Microsoft) and has no password: connect it again instead.",
        ));
    }
    let (settings, changed) = merge(&row, input, viewer.configures)?;
    let mut password_changed = false;
    if let Some(password) = &input.password {
        let (smtp, imap) = (server_of(&row, probe::Side::Smtp)?, server_of(&row, probe::Side::Imap)?);
        let outcome =
            probe::test(smtp.server(), imap.server(), &Login::Password(password.clone()), allow_private).await.err();
        if let Some(failure) = outcome {
            return Err(failure.into_app_error());
        }
        let sealed = vault.seal(&secret_context(tx.org(), id), password);
        store::update_secret(tx, id, &sealed, now).await?;
        record_test(tx, audit, &row, None, now).await?;
        password_changed = true;
    }
    if changed.is_empty() && !password_changed {
        return Ok(());
    }
    store::update_settings(tx, id, &settings, now).await?;
    audit
        .record(
            tx,
            AuditEvent::new("outreach.mailbox.updated")
                .target("outreach_mailbox", id)
                .payload(json!({ "fields": changed, "password_changed": password_changed })),
        )
        .await?;
    Ok(())
}

/// An owner of the organization stops a mailbox: it sends nothing more, and what it had planned
/// is cancelled (its enrollments wait for another mailbox of their sequence).
pub async fn disable(
    tx: &mut OrgTx,
    audit: &AuditLog,
    viewer: Viewer,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    let row = visible(tx, viewer, id).await?;
    if !viewer.configures {
        return Err(AppError::Forbidden);
    }
    if row.status == "disabled" {
        return Ok(());
    }
    store::set_status(tx, id, "disabled", now).await?;
    let cancelled = crate::sending::service::cancel_mailbox(tx, id, now).await?;
    audit
        .record(
            tx,
            AuditEvent::new("outreach.mailbox.disabled")
                .target("outreach_mailbox", id)
                .payload(json!({ "cancelled_messages": cancelled })),
        )
        .await?;
    crate::sending::service::wake(tx, now).await
}

/// An owner of the organization lets a mailbox send again.
pub async fn enable(
    tx: &mut OrgTx,
    audit: &AuditLog,
    viewer: Viewer,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    let row = visible(tx, viewer, id).await?;
    if !viewer.configures {
        return Err(AppError::Forbidden);
    }
    if row.status == "active" {
        return Ok(());
    }
    store::set_status(tx, id, "active", now).await?;
    audit.record(tx, AuditEvent::new("outreach.mailbox.enabled").target("outreach_mailbox", id)).await?;
    crate::inbound::service::watch(tx, id, now, now).await?;
    crate::sending::service::wake(tx, now).await
}

/// An OAuth2 grant to end at its provider once a revocation has committed (`oauth::revoke_grant`).
#[derive(Debug)]
pub struct EndedGrant {
    pub provider: Provider,
    /// Its `Debug` prints a placeholder.
    pub refresh_token: SecretString,
}

/// Revokes a mailbox: what it had planned is cancelled, then the row — and the sealed secret in
/// it, password or OAuth2 tokens — is deleted at once (P0-17), not flagged. For an OAuth2 mailbox,
/// returns its grant, for the caller to tell the provider after the commit (a provider that is
/// slow or down must not hold the deletion back).
pub async fn revoke(
    tx: &mut OrgTx,
    audit: &AuditLog,
    vault: &Vault,
    viewer: Viewer,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<Option<EndedGrant>, AppError> {
    let row = own(tx, viewer, id).await?;
    let grant = match Provider::parse(&row.provider) {
        None => None,
        Some(provider) => {
            // A secret that does not open is deleted all the same; there is just nothing to tell.
            let sealed = store::sealed_secret(tx, id).await?.unwrap_or_default();
            vault
                .open(&secret_context(tx.org(), id), &sealed)
                .ok()
                .map(|refresh_token| EndedGrant { provider, refresh_token })
        }
    };
    let cancelled = crate::sending::service::cancel_mailbox(tx, id, now).await?;
    store::delete(tx, id).await?;
    audit
        .record(
            tx,
            AuditEvent::new("outreach.mailbox.revoked").target("outreach_mailbox", id).payload(json!({
                "provider": row.provider,
                "from_address": row.from_address,
                "cancelled_messages": cancelled,
            })),
        )
        .await?;
    crate::sending::service::wake(tx, now).await?;
    Ok(grant)
}

/// What an OAuth2 consent gave, checked: the account's address (from the id_token) and its
/// tokens, the access token having just passed a connection test.
#[derive(Debug)]
pub struct Granted<'a> {
    pub provider: &'a oauth::ProviderSettings,
    pub email: &'a str,
    /// The account's display name: a new mailbox's sender name (a reconnection keeps its own).
    pub name: &'a str,
    pub refresh_token: &'a SecretString,
    pub access_token: &'a SecretString,
    pub access_token_expires_at: OffsetDateTime,
}

/// Why a consent could not become a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantRefusal {
    /// The member already connected this address with a password.
    Taken,
    /// Reconnecting: the account consented is not the mailbox's (another address or provider).
    OtherAccount,
}

/// Connects an OAuth2 mailbox for `owner` after its consent, or — `reconnect`, or the member's
/// mailbox of the same provider and address — renews that mailbox's tokens and re-activates it if
/// it had paused itself. Its servers are the provider's (configuration) and both user names the
/// account's address, as XOAUTH2 wants. The refresh token is sealed as the mailbox's secret, the
/// access token beside it. Audited like a password connection. Returns the mailbox's id.
pub async fn connect_oauth(
    tx: &mut OrgTx,
    audit: &AuditLog,
    vault: &Vault,
    owner: Uuid,
    granted: &Granted<'_>,
    reconnect: Option<Uuid>,
    now: OffsetDateTime,
) -> Result<Result<Uuid, GrantRefusal>, AppError> {
    let provider = granted.provider.provider.as_str();
    let existing = sqlx::query!(
        "select mailbox_id, provider from outreach_mailboxes
          where org_id = $1 and owner_id = $2 and from_address = $3 for update",
        tx.org().0,
        owner,
        granted.email
    )
    .fetch_optional(tx.conn())
    .await?;
    let target = match (reconnect, existing) {
        (Some(id), Some(row)) if row.mailbox_id == id && row.provider == provider => Some(id),
        (Some(_), _) => return Ok(Err(GrantRefusal::OtherAccount)),
        (None, Some(row)) if row.provider == provider => Some(row.mailbox_id),
        (None, Some(_)) => return Ok(Err(GrantRefusal::Taken)),
        (None, None) => None,
    };
    let org = tx.org();
    if let Some(id) = target {
        let secret = vault.seal(&secret_context(org, id), granted.refresh_token);
        let access = vault.seal(&access_token_context(org, id), granted.access_token);
        store::reconnect(tx, id, &secret, &access, granted.access_token_expires_at, now).await?;
        audit
            .record(
                tx,
                AuditEvent::new("outreach.mailbox.reconnected")
                    .target("outreach_mailbox", id)
                    .payload(json!({ "provider": provider, "from_address": granted.email })),
            )
            .await?;
        // Active again: enrollments waiting for a mailbox can be planned again.
        crate::sending::service::wake(tx, now).await?;
        return Ok(Ok(id));
    }
    let id = Uuid::now_v7();
    let secret = vault.seal(&secret_context(org, id), granted.refresh_token);
    let access = vault.seal(&access_token_context(org, id), granted.access_token);
    let (smtp, imap) = (&granted.provider.smtp, &granted.provider.imap);
    let new = store::NewMailbox {
        mailbox_id: id,
        owner_id: owner,
        provider,
        from_name: granted.name,
        from_address: granted.email,
        smtp_host: &smtp.host,
        smtp_port: i32::from(smtp.port),
        smtp_security: smtp.security.as_str(),
        smtp_username: granted.email,
        imap_host: &imap.host,
        imap_port: i32::from(imap.port),
        imap_security: imap.security.as_str(),
        imap_username: granted.email,
        secret_sealed: &secret,
        access_token: Some((&access, granted.access_token_expires_at)),
    };
    store::insert(tx, &new, now).await?;
    audit
        .record(
            tx,
            AuditEvent::new("outreach.mailbox.connected").target("outreach_mailbox", id).payload(json!({
                "provider": provider,
                "from_address": granted.email,
                "smtp_host": smtp.host,
                "imap_host": imap.host,
            })),
        )
        .await?;
    Ok(Ok(id))
}

/// How many messages a mailbox sent today (its own time zone's day, as its cap counts).
pub async fn sent_today(tx: &mut OrgTx, row: &MailboxRow, now: OffsetDateTime) -> Result<i64, AppError> {
    let zone = kernel::dates::zone(&row.time_zone).unwrap_or(kernel::dates::DEFAULT_ZONE);
    let (from, to) = crate::sending::window::day_span(now, zone);
    store::sent_between(tx, row.mailbox_id, from, to).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_times_read_and_write_as_hours_and_minutes() {
        assert_eq!(parse_minute("08:30"), Some(510));
        assert_eq!(parse_minute("8:05"), Some(485));
        assert_eq!(parse_minute("24:00"), Some(1440));
        assert_eq!(parse_minute("24:01"), None);
        assert_eq!(parse_minute("12:60"), None);
        assert_eq!(parse_minute("noon"), None);
        assert_eq!(format_minute(1080), "18:00");
        assert_eq!(format_minute(485), "08:05");
        // A time field has no 24:00: its midnight, 00:00, ends the day.
        assert_eq!(parse_window_end("00:00"), Some(1440));
        assert_eq!(parse_window_end("24:00"), Some(1440));
        assert_eq!(parse_window_end("18:00"), Some(1080));
        assert_eq!(format_window_end(1440), "00:00");
        assert_eq!(format_window_end(1080), "18:00");
    }

    #[test]
    fn hosts_are_names_or_addresses() {
        assert!(valid_host("smtp.example.eu"));
        assert!(valid_host("127.0.0.1"));
        assert!(valid_host("::1"));
        assert!(!valid_host("smtp example"));
        assert!(!valid_host("-bad.example"));
        assert!(!valid_host("a..b"));
        assert!(!valid_host("mail.example.eu/path"));
    }
}
