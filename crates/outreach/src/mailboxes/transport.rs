//! What the sending engine needs of a mailbox: its sender address, signature and SMTP server
//! ([`sender`]), and its credentials — the password, or an OAuth2 access token refreshed when it
//! runs out soon — from [`super::oauth::login`], at the moment of sending, outside the engine's
//! transactions (a refresh calls the provider). They live only in a `SecretString` that never
//! prints.

use lettre::message::Mailbox;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use uuid::Uuid;

use super::{Login, Security};
use kernel::OrgTx;

/// How long one SMTP conversation step may take before the send counts as failed.
const SMTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A mailbox ready to send, but for its credentials.
#[derive(Debug)]
pub struct Sender {
    pub mailbox_id: Uuid,
    pub owner_id: Uuid,
    pub from: Mailbox,
    pub signature: String,
    pub smtp: SmtpAddress,
}

/// Where and how to reach a mailbox's SMTP server, and as whom.
#[derive(Debug, Clone)]
pub struct SmtpAddress {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: String,
}

impl SmtpAddress {
    /// The server with the credentials to log in with.
    pub fn with_login(&self, login: Login) -> SmtpServer {
        SmtpServer {
            host: self.host.clone(),
            port: self.port,
            security: self.security,
            username: self.username.clone(),
            login,
        }
    }
}

/// Where and how to reach a mailbox's SMTP server, with its credentials.
#[derive(Debug, Clone)]
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: String,
    /// The password or access token (its `Debug` prints a placeholder).
    pub login: Login,
}

/// Why a mailbox cannot send now: a stable code the pages translate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SenderError {
    #[error("the mailbox no longer exists")]
    Gone,
    #[error("the mailbox is paused or disabled")]
    NotActive,
    #[error("the mailbox's settings are not usable")]
    Settings,
}

impl SenderError {
    pub fn code(self) -> &'static str {
        match self {
            Self::Gone => "mailbox_revoked",
            Self::NotActive => "mailbox_paused",
            Self::Settings => "mailbox_settings",
        }
    }
}

/// The mailbox `id` of the transaction's organization, ready to send but for its credentials, if
/// it is active.
pub async fn sender(tx: &mut OrgTx, id: Uuid) -> Result<Sender, anyhow::Error> {
    let row = sqlx::query!(
        r#"select mailbox_id, owner_id, from_name, from_address, smtp_host, smtp_port, smtp_security,
                        smtp_username, status, signature
             from outreach_mailboxes where org_id = $1 and mailbox_id = $2"#,
        tx.org().0,
        id
    )
    .fetch_optional(tx.conn())
    .await?
    .ok_or(SenderError::Gone)?;
    if row.status != "active" {
        return Err(SenderError::NotActive.into());
    }
    let security = Security::parse(&row.smtp_security).ok_or(SenderError::Settings)?;
    let port = u16::try_from(row.smtp_port).map_err(|_| SenderError::Settings)?;
    let smtp = SmtpAddress { host: row.smtp_host, port, security, username: row.smtp_username };
    let from = Mailbox::new(
        Some(row.from_name.clone()).filter(|name| !name.is_empty()),
        row.from_address.parse().map_err(|_| SenderError::Settings)?,
    );
    Ok(Sender { mailbox_id: row.mailbox_id, owner_id: row.owner_id, from, signature: row.signature, smtp })
}

/// An SMTP transport builder for `host:port` secured as asked (no credentials yet): for a
/// connection test. The sending engine holds its own connections (`sending::smtp`).
pub fn smtp_transport(
    host: &str,
    port: u16,
    security: Security,
) -> Result<lettre::transport::smtp::AsyncSmtpTransportBuilder, SenderError> {
    let tls = || TlsParameters::new(host.to_owned()).map_err(|_| SenderError::Settings);
    let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(port).timeout(Some(SMTP_TIMEOUT));
    Ok(match security {
        Security::Tls => builder.tls(Tls::Wrapper(tls()?)),
        Security::Starttls => builder.tls(Tls::Required(tls()?)),
        Security::None => builder.tls(Tls::None),
    })
}

/// Stops a mailbox that cannot send (its server refused the credentials): `paused` with a reason
/// code its owner sees, until they fix it. Planned messages stay planned.
pub async fn pause(tx: &mut OrgTx, id: Uuid, reason: &str, now: time::OffsetDateTime) -> Result<(), kernel::AppError> {
    sqlx::query!(
        "update outreach_mailboxes set status = 'paused', pause_reason = $3, updated_at = $4
          where org_id = $1 and mailbox_id = $2 and status = 'active'",
        tx.org().0,
        id,
        reason,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}
