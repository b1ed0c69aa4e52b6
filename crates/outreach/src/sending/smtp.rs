//! The engine's SMTP client: one session per mailbox and batch, built on lettre's connection
//! (not its transport) so that each message's fate is known precisely:
//!
//! * refused at `MAIL`, `RCPT` or `DATA` (or any error before the content is written): the server
//!   never took the message — it may be retried or failed, never counted as sent;
//! * refused after the content, with a reply code: not taken either;
//! * no answer after the content (timeout, connection lost): the server may have taken it — the
//!   fate is **unknown**, and the message goes to review instead of being sent again.
//!
//! Connections set `TCP_NODELAY` (lettre 0.11 does not, which stalls each message of a reused
//! connection by the peer's delayed ACK, about 40 ms) — except implicit TLS (port 465), where
//! lettre opens the socket itself.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use tokio::time::timeout;

use crate::mailboxes::Security;
use crate::mailboxes::transport::SmtpServer;

/// How long one step of the conversation may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a session could not be opened. Nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("the server could not be reached")]
    Connect,
    #[error("TLS could not be set up")]
    Tls,
    /// The server refused the credentials (a 5xx answer to AUTH): the mailbox must be fixed.
    #[error("the server refused the credentials")]
    Auth,
    #[error("the server answered unexpectedly")]
    Protocol,
    /// The server's name now resolves to a loopback, private or link-local address (it passed
    /// the connection test with a public one): refused, and the mailbox must be fixed.
    #[error("the server is on a private address")]
    PrivateAddress,
}

impl OpenError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Connect => "smtp_connect",
            Self::Tls => "smtp_tls",
            Self::Auth => "smtp_auth",
            Self::Protocol => "smtp_protocol",
            Self::PrivateAddress => "private_address",
        }
    }
}

/// Where the conversation stood when a message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Sender,
    Recipient,
    Data,
    Content,
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The server answered 250 to the content: it has the message.
    Accepted,
    /// The server did not take it (a reply code, or the conversation broke before the content).
    Refused { permanent: bool, phase: Phase, code: String },
    /// The content was written and no answer came: it may or may not have been taken.
    Unknown,
}

pub struct Session {
    connection: AsyncSmtpConnection,
}

fn hello_name() -> ClientId {
    ClientId::Domain("relais.localhost".into())
}

async fn within<T>(
    future: impl std::future::Future<Output = Result<T, lettre::transport::smtp::Error>>,
) -> Option<Result<T, lettre::transport::smtp::Error>> {
    timeout(STEP_TIMEOUT, future).await.ok()
}

impl Session {
    /// Connects, secures and authenticates as the mailbox's settings say. The host is resolved
    /// and checked here, and the connection goes to the checked address (TLS still verifies the
    /// name): a name that turned private since the connection test cannot reach the internal
    /// network (DNS rebinding). `allow_private` is `RELAIS_OUTREACH_ALLOW_PRIVATE`.
    pub async fn open(server: &SmtpServer, allow_private: bool) -> Result<Self, OpenError> {
        let address = match crate::mailboxes::probe::resolve(&server.host, server.port, allow_private).await {
            Ok(address) => address,
            Err(crate::mailboxes::probe::Failure::PrivateAddress) => return Err(OpenError::PrivateAddress),
            Err(_) => return Err(OpenError::Connect),
        };
        let hello = hello_name();
        let tls = || TlsParameters::new(server.host.clone()).map_err(|_| OpenError::Tls);
        let mut connection = match server.security {
            Security::Tls => {
                within(AsyncSmtpConnection::connect_tokio1(address, Some(STEP_TIMEOUT), &hello, Some(tls()?), None))
                    .await
                    .ok_or(OpenError::Connect)?
                    .map_err(|e| if e.is_tls() { OpenError::Tls } else { OpenError::Connect })?
            }
            Security::Starttls | Security::None => {
                let stream = timeout(STEP_TIMEOUT, tokio::net::TcpStream::connect(address))
                    .await
                    .map_err(|_| OpenError::Connect)?
                    .map_err(|_| OpenError::Connect)?;
                // Without it, each message of a reused connection waits for the delayed ACK.
                stream.set_nodelay(true).map_err(|_| OpenError::Connect)?;
                let mut connection = within(AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello))
                    .await
                    .ok_or(OpenError::Connect)?
                    .map_err(|_| OpenError::Protocol)?;
                if server.security == Security::Starttls {
                    within(connection.starttls(tls()?, &hello))
                        .await
                        .ok_or(OpenError::Tls)?
                        .map_err(|_| OpenError::Tls)?;
                }
                connection
            }
        };
        if !server.username.is_empty() {
            let (mechanisms, credentials) = server.login.smtp(&server.username);
            match within(connection.auth(mechanisms, &credentials)).await {
                Some(Ok(_)) => {}
                Some(Err(e)) if e.is_permanent() => {
                    connection.abort().await;
                    return Err(OpenError::Auth);
                }
                // No mechanism in common is a settings problem the owner must fix too.
                Some(Err(e)) if e.is_client() => {
                    connection.abort().await;
                    return Err(OpenError::Auth);
                }
                _ => {
                    connection.abort().await;
                    return Err(OpenError::Protocol);
                }
            }
        }
        Ok(Self { connection })
    }

    /// Whether the connection can carry another message.
    pub fn is_usable(&self) -> bool {
        !self.connection.has_broken()
    }

    /// Sends one message; see [`Delivery`] for what each outcome guarantees.
    pub async fn deliver(&mut self, envelope: &Envelope, content: &[u8]) -> Delivery {
        let mut options = Vec::new();
        if !content.is_ascii() {
            if !self.connection.server_info().supports_feature(Extension::EightBitMime) {
                return Delivery::Refused { permanent: true, phase: Phase::Sender, code: "8bitmime".into() };
            }
            options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        if let Err(refusal) = self.step(Phase::Sender, Mail::new(envelope.from().cloned(), options)).await {
            return refusal;
        }
        for to in envelope.to() {
            if let Err(refusal) = self.step(Phase::Recipient, Rcpt::new(to.clone(), vec![])).await {
                return refusal;
            }
        }
        if let Err(refusal) = self.step(Phase::Data, Data).await {
            return refusal;
        }
        match within(self.connection.message(content)).await {
            Some(Ok(_)) => Delivery::Accepted,
            Some(Err(e)) if e.status().is_some() => refused(&e, Phase::Content),
            _ => {
                self.connection.abort().await;
                Delivery::Unknown
            }
        }
    }

    /// One command before the content. Any failure here means the server does not have the message.
    async fn step<C: std::fmt::Display>(&mut self, phase: Phase, command: C) -> Result<(), Delivery> {
        match within(self.connection.command(command)).await {
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(refused(&e, phase)),
            None => {
                self.connection.abort().await;
                Err(Delivery::Refused { permanent: false, phase, code: "timeout".into() })
            }
        }
    }

    /// Ends the session politely (QUIT), bounded.
    pub async fn close(mut self) {
        let _ = timeout(Duration::from_secs(5), self.connection.quit()).await;
    }
}

fn refused(error: &lettre::transport::smtp::Error, phase: Phase) -> Delivery {
    match error.status() {
        Some(code) => Delivery::Refused { permanent: error.is_permanent(), phase, code: code.to_string() },
        // Broken before the content: not taken, and the session is done.
        None => Delivery::Refused { permanent: false, phase, code: "connection".into() },
    }
}
