//! The connection test of a mailbox: SMTP (connect, EHLO, TLS as configured, AUTH) then IMAP
//! (connect, TLS as configured, LOGIN, SELECT INBOX, LOGOUT). Its outcome is a stable code naming
//! what failed, which the pages translate and `last_test_error` keeps.
//!
//! Each host is resolved here and the connection goes to the address that was checked, so a name
//! that resolves to a public address at validation and to a private one a moment later (DNS
//! rebinding) cannot make the test reach the internal network. TLS still verifies the host name.
//!
//! IMAP goes through `super::imap`, which the inbox reader shares.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::net::TcpStream;

use super::{Login, Security};

/// How long each step (resolving, connecting, TLS, each command) may take.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// Which server a failure is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Smtp,
    Imap,
    /// An OAuth2 mailbox's provider (Google, Microsoft), whose token endpoint gives the access
    /// token both servers are logged in with.
    Provider,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Smtp => "smtp",
            Self::Imap => "imap",
            Self::Provider => "provider",
        }
    }
}

/// What failed. Codes are stable: the API returns them and `last_test_error` stores them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The host name does not resolve.
    Dns,
    /// The host is (or resolves to) a loopback, private or link-local address, which only a
    /// local test instance allows (`RELAIS_OUTREACH_ALLOW_PRIVATE`).
    PrivateAddress,
    /// Nothing answers at that address and port, or the server closed the conversation.
    Connect,
    /// TLS could not be set up (no TLS there, or a certificate that does not match).
    Tls,
    /// The SMTP server refused the user name and password (or offers no way to log in).
    SmtpAuth,
    /// The IMAP server refused the user name and password.
    ImapAuth,
    /// The IMAP server has no INBOX this account can open.
    ImapFolder,
    /// A step took more than [`STEP_TIMEOUT`].
    Timeout,
    /// The OAuth2 provider no longer accepts the mailbox's grant (`invalid_grant`): its owner
    /// must connect it again.
    OAuthExpired,
    /// The OAuth2 provider could not be reached, or refused to give an access token.
    OAuthUnavailable,
}

impl Failure {
    pub fn code(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::PrivateAddress => "private_address",
            Self::Connect => "connect",
            Self::Tls => "tls",
            Self::SmtpAuth => "smtp_auth",
            Self::ImapAuth => "imap_auth",
            Self::ImapFolder => "imap_folder",
            Self::Timeout => "timeout",
            Self::OAuthExpired => "oauth_expired",
            Self::OAuthUnavailable => "oauth_unavailable",
        }
    }

    /// The English sentence (the API's message; pages translate the code).
    pub fn message(self) -> &'static str {
        match self {
            Self::Dns => "The server name does not resolve.",
            Self::PrivateAddress => "This server is on a private or local network address, which is not allowed.",
            Self::Connect => "The server could not be reached on this port.",
            Self::Tls => "A secure (TLS) connection could not be set up with this server.",
            Self::SmtpAuth => "The SMTP server refused the user name or password.",
            Self::ImapAuth => "The IMAP server refused the user name or password.",
            Self::ImapFolder => "The IMAP server has no inbox this account can open.",
            Self::Timeout => "The server did not answer in time.",
            Self::OAuthExpired => "The provider no longer accepts Relais's access to this mailbox: connect it again.",
            Self::OAuthUnavailable => "The provider did not give Relais an access token for this mailbox.",
        }
    }

    /// Every code, for the OpenAPI document and the translations' test.
    pub const ALL: [Failure; 10] = [
        Self::Dns,
        Self::PrivateAddress,
        Self::Connect,
        Self::Tls,
        Self::SmtpAuth,
        Self::ImapAuth,
        Self::ImapFolder,
        Self::Timeout,
        Self::OAuthExpired,
        Self::OAuthUnavailable,
    ];
}

/// A failed test: which server, and what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeError {
    pub side: Side,
    pub failure: Failure,
}

impl ProbeError {
    /// The form field the failure is shown next to.
    pub fn field(self) -> String {
        match self.failure {
            Failure::SmtpAuth | Failure::ImapAuth => "password".into(),
            Failure::OAuthExpired | Failure::OAuthUnavailable => "provider".into(),
            Failure::Tls => format!("{}_security", self.side.as_str()),
            Failure::Connect => format!("{}_port", self.side.as_str()),
            Failure::Dns | Failure::PrivateAddress | Failure::ImapFolder | Failure::Timeout => {
                format!("{}_host", self.side.as_str())
            }
        }
    }

    pub fn into_app_error(self) -> kernel::AppError {
        kernel::AppError::field(self.field(), self.failure.code(), self.failure.message())
    }
}

/// One server to test. The password is passed separately and only exposed to the server.
#[derive(Debug, Clone, Copy)]
pub struct Server<'a> {
    pub host: &'a str,
    pub port: u16,
    pub security: Security,
    pub username: &'a str,
}

/// Tests SMTP then IMAP with `login`; the first failure ends the test.
pub async fn test(smtp: Server<'_>, imap: Server<'_>, login: &Login, allow_private: bool) -> Result<(), ProbeError> {
    test_smtp(smtp, login, allow_private).await.map_err(|failure| ProbeError { side: Side::Smtp, failure })?;
    test_imap(imap, login, allow_private).await.map_err(|failure| ProbeError { side: Side::Imap, failure })
}

pub async fn step<T>(future: impl Future<Output = T>) -> Result<T, Failure> {
    tokio::time::timeout(STEP_TIMEOUT, future).await.map_err(|_| Failure::Timeout)
}

/// The address to connect to: the host's first address, refused when any address it has is not
/// public (unless private servers are allowed).
pub async fn resolve(host: &str, port: u16, allow_private: bool) -> Result<SocketAddr, Failure> {
    let addresses: Vec<SocketAddr> =
        step(tokio::net::lookup_host((host, port))).await?.map_err(|_| Failure::Dns)?.collect();
    let first = *addresses.first().ok_or(Failure::Dns)?;
    if !allow_private && addresses.iter().any(|address| !crm::webhooks::address::is_public(address.ip())) {
        return Err(Failure::PrivateAddress);
    }
    Ok(first)
}

fn hello_name() -> ClientId {
    ClientId::Domain("relais.localhost".into())
}

async fn test_smtp(server: Server<'_>, login: &Login, allow_private: bool) -> Result<(), Failure> {
    let address = resolve(server.host, server.port, allow_private).await?;
    let hello = hello_name();
    let tls = || TlsParameters::new(server.host.to_owned()).map_err(|_| Failure::Tls);
    let mut connection = match server.security {
        Security::Tls => {
            // Reached first on its own, so that a port where nothing listens reads as `connect`;
            // once it answers, a conversation that fails is TLS failing (lettre reports a plain
            // server's greeting, read as TLS records, as an I/O error rather than a TLS one).
            drop(step(TcpStream::connect(address)).await?.map_err(|_| Failure::Connect)?);
            step(AsyncSmtpConnection::connect_tokio1(address, Some(STEP_TIMEOUT), &hello, Some(tls()?), None))
                .await?
                .map_err(|e| if e.is_timeout() { Failure::Timeout } else { Failure::Tls })?
        }
        Security::Starttls | Security::None => {
            let stream = step(TcpStream::connect(address)).await?.map_err(|_| Failure::Connect)?;
            let mut connection = step(AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello))
                .await?
                .map_err(|_| Failure::Connect)?;
            if server.security == Security::Starttls {
                step(connection.starttls(tls()?, &hello)).await?.map_err(|_| Failure::Tls)?;
            }
            connection
        }
    };
    let (mechanisms, credentials) = login.smtp(server.username);
    let outcome = step(connection.auth(mechanisms, &credentials)).await;
    let result = match outcome {
        Ok(Ok(_)) => Ok(()),
        // A refusal (535…), or no mechanism in common: either way these credentials do not log in.
        Ok(Err(e)) if e.status().is_some() || e.is_client() => Err(Failure::SmtpAuth),
        Ok(Err(_)) => Err(Failure::Connect),
        Err(timeout) => Err(timeout),
    };
    if result.is_ok() {
        let _ = step(connection.quit()).await;
    } else {
        connection.abort().await;
    }
    result
}

async fn test_imap(server: Server<'_>, login: &Login, allow_private: bool) -> Result<(), Failure> {
    let mut session = super::imap::open(server, login, allow_private).await?;
    let selected = super::imap::select_inbox(&mut session).await.map(drop);
    let _ = step(session.logout()).await;
    selected
}
