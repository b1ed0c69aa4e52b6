//! Opening an IMAP session on a mailbox: for the connection test and for reading replies and
//! bounces (`inbound`). The host is resolved and checked here (see `probe::resolve`) and the socket
//! goes to the checked address; TLS (tokio-rustls, the platform's verifier, aws-lc-rs as lettre
//! uses) still verifies the host name. Logging in is LOGIN with a password or AUTHENTICATE XOAUTH2
//! with an OAuth2 access token.

use std::sync::Arc;

use secrecy::ExposeSecret;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::probe::{Failure, Server, resolve, step};
use super::{Login, Security};

/// The byte stream under a session: plain TCP or TLS, behind one type.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Stream for T {}

/// A logged-in IMAP session.
pub type Session = async_imap::Session<Box<dyn Stream>>;

type Client = async_imap::Client<Box<dyn Stream>>;

/// Connects, secures as configured and logs in. Each step is bounded by `probe::STEP_TIMEOUT`.
pub async fn open(server: Server<'_>, login: &Login, allow_private: bool) -> Result<Session, Failure> {
    let address = resolve(server.host, server.port, allow_private).await?;
    let stream = step(TcpStream::connect(address)).await?.map_err(|_| Failure::Connect)?;
    let client = match server.security {
        Security::None => {
            let mut client = Client::new(Box::new(stream));
            greeting(&mut client).await?;
            client
        }
        Security::Tls => {
            let mut client = Client::new(Box::new(secure(server.host, stream).await?));
            greeting(&mut client).await?;
            client
        }
        Security::Starttls => {
            let mut client = async_imap::Client::new(stream);
            greeting(&mut client).await?;
            step(client.run_command_and_check_ok("STARTTLS", None)).await?.map_err(|_| Failure::Tls)?;
            // After STARTTLS the server sends no new greeting: the conversation goes on over TLS.
            Client::new(Box::new(secure(server.host, client.into_inner()).await?))
        }
    };
    log_in(client, server.username, login).await
}

/// Selects INBOX (read-write, so that nothing else is implied): its UIDVALIDITY and next UID.
pub async fn select_inbox(session: &mut Session) -> Result<async_imap::types::Mailbox, Failure> {
    match step(session.select("INBOX")).await? {
        Ok(mailbox) => Ok(mailbox),
        Err(async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_)) => Err(Failure::ImapFolder),
        Err(_) => Err(Failure::Connect),
    }
}

async fn log_in(client: Client, username: &str, login: &Login) -> Result<Session, Failure> {
    let outcome = match login {
        Login::Password(password) => step(client.login(username, password.expose_secret())).await?,
        Login::XOAuth2(token) => {
            let authenticator = XOAuth2 { username, token: token.expose_secret(), sent: false };
            step(client.authenticate("XOAUTH2", authenticator)).await?
        }
    };
    match outcome {
        Ok(session) => Ok(session),
        Err((async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_), _)) => Err(Failure::ImapAuth),
        Err(_) => Err(Failure::Connect),
    }
}

/// SASL XOAUTH2 (Google's and Microsoft's IMAP): the initial response names the user and carries
/// the bearer token; when the server refuses it, it sends an error challenge that the client
/// answers with an empty line, after which the server ends the exchange with NO.
struct XOAuth2<'a> {
    username: &'a str,
    token: &'a str,
    sent: bool,
}

impl async_imap::Authenticator for XOAuth2<'_> {
    type Response = String;

    fn process(&mut self, _challenge: &[u8]) -> String {
        if std::mem::replace(&mut self.sent, true) {
            return String::new();
        }
        format!("user={}\x01auth=Bearer {}\x01\x01", self.username, self.token)
    }
}

/// Reads the server's greeting: any response means an IMAP server is there.
async fn greeting<T>(client: &mut async_imap::Client<T>) -> Result<(), Failure>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    match step(client.read_response()).await? {
        Ok(Some(_)) => Ok(()),
        _ => Err(Failure::Connect),
    }
}

/// A TLS client configuration verifying certificates as the platform does.
fn tls_connector() -> Result<tokio_rustls::TlsConnector, Failure> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone()).map_err(|_| Failure::Tls)?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| Failure::Tls)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

async fn secure(host: &str, stream: TcpStream) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Failure> {
    let name = rustls::pki_types::ServerName::try_from(host.to_owned()).map_err(|_| Failure::Tls)?;
    step(tls_connector()?.connect(name, stream)).await?.map_err(|_| Failure::Tls)
}
