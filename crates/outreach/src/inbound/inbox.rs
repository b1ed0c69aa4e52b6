//! Opening a mailbox's inbox as the system: for the reader (`jobs`) and for IDLE (`idle`), which
//! log in the same way — the password from the vault, or an OAuth2 access token (refreshed if
//! it runs out soon) — under the same private-address rule.
//!
//! The mailbox's row is read in a tenant transaction of its own, committed before the IMAP server
//! (or the OAuth2 provider) is talked to.

use kernel::audit::AuditLog;
use kernel::db::Actor;
use kernel::vault::Vault;
use kernel::{Db, OrgId};
use time::OffsetDateTime;
use uuid::Uuid;

use super::store;
use crate::mailboxes::probe::{Failure, Server};
use crate::mailboxes::{Login, OutreachSettings, Security, imap, oauth, secret_context};

/// What opening an inbox needs, shared by every reading and IDLE connection of a process.
#[derive(Clone)]
pub struct Inboxes {
    pub db: Db,
    vault: Vault,
    pub audit: AuditLog,
    allow_private: bool,
    /// The OAuth2 providers, to refresh a Gmail or Microsoft 365 mailbox's access token.
    oauth: oauth::OAuthSettings,
}

/// A logged-in session on a mailbox's IMAP server, and the mailbox's row as it was read.
pub struct Opened {
    pub session: imap::Session,
    pub reading: store::Reading,
}

/// Why an inbox was not opened.
#[derive(Debug)]
pub enum NotOpened {
    /// The mailbox is gone, not active, or has no usable IMAP server (an OAuth2 grant that the
    /// provider refused has paused it): nothing to read until it is active again.
    Inactive,
    /// Its credentials are refused — `mailbox_secret` (its sealed secret does not open) or
    /// `imap_auth` (the server said NO to its password) or `oauth_refused` (to its access token):
    /// the mailbox must be paused with this reason.
    Refused(&'static str),
    /// It has no credentials to log in with for now (the OAuth2 provider is unavailable): a code
    /// for the log.
    NoCredentials(&'static str),
    /// Its IMAP server cannot be reached for now: a code for the log.
    Unreachable(&'static str),
    Database(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for NotOpened {
    fn from(error: E) -> Self {
        Self::Database(error.into())
    }
}

impl Inboxes {
    pub fn new(db: Db, vault: Vault, audit: AuditLog, settings: &OutreachSettings) -> Self {
        Self { db, vault, audit, allow_private: settings.allow_private, oauth: settings.oauth.clone() }
    }

    /// Logs in to `mailbox`'s IMAP server, if the mailbox is active and has one.
    pub async fn open(&self, org: OrgId, mailbox: Uuid, now: OffsetDateTime) -> Result<Opened, NotOpened> {
        let mut tx = self.db.begin_org(org, Actor::System).await?;
        let reading = store::reading(&mut tx, mailbox).await?;
        tx.commit().await?;
        let Some(reading) = reading else { return Err(NotOpened::Inactive) };
        if reading.status != "active" || reading.imap_host.is_empty() {
            return Err(NotOpened::Inactive);
        }
        let (Some(security), Ok(port)) = (Security::parse(&reading.imap_security), u16::try_from(reading.imap_port))
        else {
            return Err(NotOpened::Inactive);
        };
        // A Gmail or Microsoft 365 mailbox's servers are the operator's configuration, not a
        // member's: only a password mailbox's are held to the private-address rule.
        let (login, allow_private) = match reading.provider.as_str() {
            "password" => match self.vault.open(&secret_context(org, mailbox), &reading.secret_sealed) {
                Ok(secret) => (Login::Password(secret), self.allow_private),
                Err(_) => return Err(NotOpened::Refused("mailbox_secret")),
            },
            // The access token, refreshed if it runs out soon (outside any transaction); a grant
            // the provider refused has paused the mailbox.
            _ => match oauth::login(&self.db, org, &self.vault, &self.oauth, mailbox, now).await {
                Ok(login) => (login, true),
                Err(oauth::LoginError::Expired | oauth::LoginError::Gone) => return Err(NotOpened::Inactive),
                Err(error) => return Err(NotOpened::NoCredentials(error.code())),
            },
        };
        let server = Server { host: &reading.imap_host, port, security, username: &reading.imap_username };
        let by_oauth = !matches!(login, Login::Password(_));
        match imap::open(server, &login, allow_private).await {
            Ok(session) => Ok(Opened { session, reading }),
            // A refused access token is not a wrong password: its owner connects the mailbox
            // again rather than changing a password Relais never had.
            Err(Failure::ImapAuth) if by_oauth => Err(NotOpened::Refused("oauth_refused")),
            Err(Failure::ImapAuth) => Err(NotOpened::Refused("imap_auth")),
            Err(failure) => Err(NotOpened::Unreachable(failure.code())),
        }
    }
}
