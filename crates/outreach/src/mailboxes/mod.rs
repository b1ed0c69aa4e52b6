//! Connected mailboxes (issue #12 item 1; P0-05, P0-09, P0-17).
//!
//! A member connects a mailbox they own: SMTP + IMAP with a password, or Gmail and Microsoft 365
//! by OAuth2 (`oauth`, `oauth_flow`). Its secret — the password, or the OAuth2 refresh token — is
//! sealed by the vault (context: org, `outreach_mailbox`, the mailbox's id, field `secret`; an
//! OAuth2 access token in field `access_token`), never shown again, never logged; revoking deletes
//! the row.

pub mod api;
pub mod imap;
pub mod oauth;
pub mod oauth_flow;
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

/// Where an OAuth2 mailbox's current access token is sealed (the refresh token is its `secret`).
pub fn access_token_context(org: kernel::OrgId, mailbox: Uuid) -> SecretContext<'static> {
    SecretContext { org, record_kind: "outreach_mailbox", record_id: mailbox, field: "access_token" }
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
#[derive(Debug, Clone)]
pub struct OutreachSettings {
    /// `RELAIS_OUTREACH_ALLOW_PRIVATE`: mailboxes may point at loopback and private addresses.
    pub allow_private: bool,
    /// `RELAIS_GOOGLE_*` and `RELAIS_MICROSOFT_*`: the OAuth2 providers members may connect a
    /// mailbox with; a provider without a client id is not offered.
    pub oauth: oauth::OAuthSettings,
    /// `RELAIS_OUTREACH_IDLE_MAX`: how many mailboxes this process watches with IMAP IDLE at once
    /// (`inbound::idle`); the others are only polled. 0 turns IDLE off.
    pub idle_max: usize,
}

/// How many mailboxes are watched with IDLE unless `RELAIS_OUTREACH_IDLE_MAX` says otherwise.
pub const IDLE_MAX_DEFAULT: usize = 100;
/// The most `RELAIS_OUTREACH_IDLE_MAX` may ask for: each is a connection held open for ever.
pub const IDLE_MAX_LIMIT: usize = 10_000;

impl Default for OutreachSettings {
    fn default() -> Self {
        Self { allow_private: false, oauth: oauth::OAuthSettings::default(), idle_max: IDLE_MAX_DEFAULT }
    }
}

pub const SETTINGS: &[kernel::module::SettingDef] = &[
    kernel::module::SettingDef {
        variable: "RELAIS_OUTREACH_ALLOW_PRIVATE",
        help: "true: a connected mailbox's SMTP and IMAP servers may be on loopback or private addresses, and plain connections to them are allowed (a local test server only; default false, so a mailbox cannot probe the internal network).",
    },
    kernel::module::SettingDef {
        variable: "RELAIS_OUTREACH_IDLE_MAX",
        help: "how many connected mailboxes one worker process watches with IMAP IDLE, so that a reply or bounce is read within seconds (default 100, at most 10000; 0 turns IDLE off). The others, and mailboxes whose server has no IDLE, are read every two minutes.",
    },
    kernel::module::SettingDef {
        variable: "RELAIS_GOOGLE_CLIENT_ID",
        help: "the OAuth2 client id of this instance's Google Cloud project (a \"Web application\" client whose redirect URI is RELAIS_PUBLIC_URL/outreach/oauth/callback). Unset: members cannot connect Gmail mailboxes by OAuth2 (they can still use an app password).",
    },
    kernel::module::SettingDef {
        variable: "RELAIS_GOOGLE_CLIENT_SECRET",
        help: "that client's secret; required with RELAIS_GOOGLE_CLIENT_ID.",
    },
    kernel::module::SettingDef {
        variable: "RELAIS_GOOGLE_AUTH_URL",
        help: "Google's authorization endpoint (default https://accounts.google.com/o/oauth2/v2/auth). https://, or http:// to a loopback address (tests).",
    },
    kernel::module::SettingDef {
        variable: "RELAIS_GOOGLE_TOKEN_URL",
        help: "Google's token endpoint (default https://oauth2.googleapis.com/token).",
    },
    kernel::module::SettingDef {
        variable: "RELAIS_GOOGLE_REVOKE_URL",
        help: "Google's revocation endpoint, told when a member revokes a Gmail mailbox (default https://oauth2.googleapis.com/revoke).",
    },
    kernel::module::SettingDef {
        variable: "RELAIS_GOOGLE_SMTP",
        help: "Gmail's SMTP server as host:port:security, security one of tls, starttls, none (default smtp.gmail.com:465:tls; none only for a loopback host).",
    },
    kernel::module::SettingDef {
        variable: "RELAIS_GOOGLE_IMAP",
        help: "Gmail's IMAP server as host:port:security (default imap.gmail.com:993:tls).",
    },
    kernel::module::SettingDef {
        variable: "RELAIS_MICROSOFT_CLIENT_ID",
        help: "the application (client) id of this instance's Microsoft Entra app registration (redirect URI RELAIS_PUBLIC_URL/outreach/oauth/callback). Unset: members cannot connect Microsoft 365 mailboxes by OAuth2.",
    },
    kernel::module::SettingDef {
        variable: "RELAIS_MICROSOFT_CLIENT_SECRET",
        help: "that application's client secret; required with RELAIS_MICROSOFT_CLIENT_ID.",
    },
    kernel::module::SettingDef {
        variable: "RELAIS_MICROSOFT_AUTH_URL",
        help: "Microsoft's authorization endpoint (default https://login.microsoftonline.com/common/oauth2/v2.0/authorize; put a tenant id in place of common to admit one organization's accounts only).",
    },
    kernel::module::SettingDef {
        variable: "RELAIS_MICROSOFT_TOKEN_URL",
        help: "Microsoft's token endpoint (default https://login.microsoftonline.com/common/oauth2/v2.0/token).",
    },
    kernel::module::SettingDef {
        variable: "RELAIS_MICROSOFT_REVOKE_URL",
        help: "a revocation endpoint (RFC 7009) to tell when a Microsoft 365 mailbox is revoked; unset by default, as Microsoft has none (the member removes the app from their account).",
    },
    kernel::module::SettingDef {
        variable: "RELAIS_MICROSOFT_SMTP",
        help: "Microsoft 365's SMTP server as host:port:security (default smtp.office365.com:587:starttls).",
    },
    kernel::module::SettingDef {
        variable: "RELAIS_MICROSOFT_IMAP",
        help: "Microsoft 365's IMAP server as host:port:security (default outlook.office365.com:993:tls).",
    },
];

pub fn configure(
    vars: &kernel::module::Vars<'_>,
    settings: &mut kernel::module::ModuleSettings,
) -> Result<(), kernel::config::ConfigError> {
    let variable = "RELAIS_OUTREACH_ALLOW_PRIVATE";
    let allow_private = kernel::Config::flag(variable, vars(variable))?;
    let oauth = oauth::OAuthSettings::from_vars(vars)?;
    let idle_max = idle_max(vars("RELAIS_OUTREACH_IDLE_MAX"))?;
    settings.insert(OutreachSettings { allow_private, oauth, idle_max });
    Ok(())
}

fn idle_max(value: Option<&str>) -> Result<usize, kernel::config::ConfigError> {
    match value {
        None => Ok(IDLE_MAX_DEFAULT),
        Some(text) => match text.parse::<usize>() {
            Ok(max) if max <= IDLE_MAX_LIMIT => Ok(max),
            _ => Err(kernel::config::ConfigError {
                variable: "RELAIS_OUTREACH_IDLE_MAX",
                problem: format!("'{text}' is not a number from 0 to {IDLE_MAX_LIMIT}"),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_max_defaults_to_100_and_is_bounded() {
        assert_eq!(idle_max(None).unwrap(), IDLE_MAX_DEFAULT);
        assert_eq!(OutreachSettings::default().idle_max, 100);
        assert_eq!(idle_max(Some("0")).unwrap(), 0);
        assert_eq!(idle_max(Some("10000")).unwrap(), 10_000);
        for bad in ["10001", "-1", "many"] {
            let error = idle_max(Some(bad)).unwrap_err();
            assert_eq!(error.variable, "RELAIS_OUTREACH_IDLE_MAX");
            assert!(error.problem.contains(bad), "{}", error.problem);
        }
    }
}
