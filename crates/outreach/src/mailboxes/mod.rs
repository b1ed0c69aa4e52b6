//! Connected mailboxes (issue #12 item 1; P0-05, P0-09, P0-17).
//!
//! A member connects a mailbox they own: SMTP + IMAP with a password (Gmail and Microsoft 365 by
//! OAuth2 come next). Its secret is sealed by the vault (context: org, `outreach_mailbox`, the
//! mailbox's id, field `secret`), never shown again, never logged; revoking deletes the row.

pub mod api;
pub mod imap;
pub mod pages;
pub mod probe;
pub mod service;
pub mod store;
pub mod transport;

use kernel::vault::SecretContext;
use uuid::Uuid;

/// Where a mailbox's secret is sealed: a ciphertext copied to another mailbox or org does not open.
pub fn secret_context(org: kernel::OrgId, mailbox: Uuid) -> SecretContext<'static> {
    SecretContext { org, record_kind: "outreach_mailbox", record_id: mailbox, field: "secret" }
}

/// How a mailbox logs in to its SMTP and IMAP servers (the user name is the server's).
#[derive(Debug, Clone)]
pub enum Login {
    /// A password: SMTP AUTH PLAIN/LOGIN, IMAP LOGIN.
    Password(secrecy::SecretString),
    /// An OAuth2 access token (Gmail, Microsoft 365): SASL XOAUTH2 on both servers.
    XOAuth2(secrecy::SecretString),
}

impl Login {
    /// The SMTP mechanisms these credentials may use, and what lettre sends with them.
    pub fn smtp(
        &self,
        username: &str,
    ) -> (
        &'static [lettre::transport::smtp::authentication::Mechanism],
        lettre::transport::smtp::authentication::Credentials,
    ) {
        use lettre::transport::smtp::authentication::{Credentials, Mechanism};
        use secrecy::ExposeSecret;
        match self {
            Self::Password(password) => (
                &[Mechanism::Plain, Mechanism::Login],
                Credentials::new(username.to_owned(), password.expose_secret().to_owned()),
            ),
            Self::XOAuth2(token) => {
                (&[Mechanism::Xoauth2], Credentials::new(username.to_owned(), token.expose_secret().to_owned()))
            }
        }
    }
}

/// How a connection to a mail server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// TLS from the first byte (SMTP 465, IMAP 993).
    Tls,
    /// Plain, then STARTTLS, required (SMTP 587, IMAP 143).
    Starttls,
    /// No TLS: only towards a server on this machine (a local relay, tests).
    None,
}

impl Security {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "tls" => Some(Self::Tls),
            "starttls" => Some(Self::Starttls),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tls => "tls",
            Self::Starttls => "starttls",
            Self::None => "none",
        }
    }
}

/// The module's settings (environment variables).
#[derive(Debug, Clone, Default)]
pub struct OutreachSettings {
    /// `RELAIS_OUTREACH_ALLOW_PRIVATE`: mailboxes may point at loopback and private addresses.
    pub allow_private: bool,
}

pub const SETTINGS: &[kernel::module::SettingDef] = &[kernel::module::SettingDef {
    variable: "RELAIS_OUTREACH_ALLOW_PRIVATE",
    help: "true: a connected mailbox's SMTP and IMAP servers may be on loopback or private addresses, and plain connections to them are allowed (a local test server only; default false, so a mailbox cannot probe the internal network).",
}];

pub fn configure(
    vars: &kernel::module::Vars<'_>,
    settings: &mut kernel::module::ModuleSettings,
) -> Result<(), kernel::config::ConfigError> {
    let variable = "RELAIS_OUTREACH_ALLOW_PRIVATE";
    let allow_private = kernel::Config::flag(variable, vars(variable))?;
    settings.insert(OutreachSettings { allow_private });
    Ok(())
}
