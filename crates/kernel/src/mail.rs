//! The platform's own transactional mail (P1-05, P2-12): password resets, invitations, notices.
//!
//! * Transport: SMTP through `lettre` (tokio, rustls), configured by `RELAIS_SMTP_URL`.
//!   `smtps://` is implicit TLS (port 465 by default); `smtp://` is STARTTLS — opportunistic
//!   towards a relay on the same machine (loopback), **required** towards any other host, so a
//!   reset link never crosses a network in clear. Credentials come from the URL's userinfo.
//! * Sender: `RELAIS_MAIL_FROM`, else `Relais <no-reply@HOST>` with the host of `RELAIS_PUBLIC_URL`.
//! * Durability: a mail is a `mail.send` job, enqueued in the caller's tenant transaction — it
//!   exists only if the change that asked for it commits, and it survives a restart or an SMTP
//!   outage (retried with backoff by the job queue).
//! * Secrets: the links in these mails carry bearer tokens. The job row must not hold them in
//!   clear, so the whole message (recipient, subject, bodies) is sealed with the vault. We seal the
//!   whole envelope rather than only the link because the recipient's address and name are
//!   personal data that has no reason to sit readable in the jobs table either, and one sealed
//!   blob leaves no way to get the split wrong in a future template. The seal's context is the job
//!   itself (org, record kind `job`, the job's id, field `mail.send`), and the handler opens it
//!   with the id the worker claimed — a payload copied into another job or org does not open.
//!   Once sent, the handler replaces the payload with a marker, so no envelope outlives delivery.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lettre::message::{Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::clock::Clock;
use crate::config::Config;
use crate::db::OrgTx;
use crate::ids::JobId;
use crate::jobs::{self, JobRun, NewJob, Registry};
use crate::vault::{SecretContext, Vault};

/// The job kind that sends one platform mail.
pub const SEND_JOB: &str = "mail.send";
/// Attempts before a mail job stays `failed` (backoff 2, 4, 8, 16, 32 s...).
const MAX_ATTEMPTS: i32 = 6;
const SMTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// One message to send. Bodies hold links with tokens: `Debug` shows neither them nor the address.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

impl std::fmt::Debug for OutgoingMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingMail").field("subject", &self.subject).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error(
        "RELAIS_SMTP_URL is not set: the platform cannot send mail (password resets, invitations); set it to smtp://host:port or smtps://user:pass@host"
    )]
    NotConfigured,
    #[error("RELAIS_SMTP_URL: {0}")]
    BadUrl(String),
    #[error("the message could not be built: {0}")]
    Build(String),
    /// Kept to the SMTP status class and code: a server's reply may echo the recipient's address.
    #[error("SMTP delivery failed: {0}")]
    Smtp(String),
    #[error("RELAIS_MAIL_OUTBOX: the message could not be written: {0}")]
    Outbox(String),
}

/// Sends the platform's mail. Built once at start from the configuration.
#[derive(Clone)]
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    /// `RELAIS_MAIL_OUTBOX`: when set, messages are written there instead of sent (crate::outbox).
    outbox: Option<std::path::PathBuf>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The transport holds the SMTP credentials: never printed.
        f.debug_struct("Mailer")
            .field("configured", &self.is_configured())
            .field("outbox", &self.outbox.is_some())
            .field("from", &self.from.to_string())
            .finish()
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Mailer {
    /// The mailer `config` describes. Without `RELAIS_SMTP_URL` it builds, and every send fails
    /// with an error naming the variable.
    pub fn from_config(config: &Config) -> Result<Self, MailError> {
        let from = match &config.mail_from {
            Some(text) => text.parse::<Mailbox>().map_err(|e| MailError::Build(format!("RELAIS_MAIL_FROM: {e}")))?,
            None => default_from(config)?,
        };
        let transport = config.smtp_url.as_ref().map(transport).transpose()?;
        Ok(Self { transport, outbox: config.mail_outbox.clone(), from })
    }

    pub fn is_configured(&self) -> bool {
        self.transport.is_some() || self.outbox.is_some()
    }

    pub fn from_address(&self) -> &Mailbox {
        &self.from
    }

    /// The MIME message for `mail`: a text part, and an HTML alternative when there is one.
    pub fn build(&self, mail: &OutgoingMail) -> Result<Message, MailError> {
        let to: Mailbox =
            mail.to.parse().map_err(|_| MailError::Build("the recipient is not a valid address".into()))?;
        let builder = Message::builder().from(self.from.clone()).to(to).subject(mail.subject.clone());
        let built = match &mail.html {
            None => builder.singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(mail.text.clone())),
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(mail.text.clone(), html.clone())),
        };
        built.map_err(|e| MailError::Build(e.to_string()))
    }

    /// Sends now. Request handlers do not call this: they [`enqueue`] a job.
    pub async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        if let Some(dir) = &self.outbox {
            // The local outbox wins over SMTP: a demo never mails real people by accident.
            let formatted = self.build(mail)?.formatted();
            let dir = dir.clone();
            // The file name's time is when the file was written (like its mtime), not an application
            // time: it only orders the outbox.
            let now = time::OffsetDateTime::now_utc();
            return tokio::task::spawn_blocking(move || crate::outbox::write(&dir, &formatted, now))
                .await
                .map_err(|e| MailError::Outbox(e.to_string()))?
                .map(|_| ())
                .map_err(|e| MailError::Outbox(e.to_string()));
        }
        let transport = self.transport.as_ref().ok_or(MailError::NotConfigured)?;
        let message = self.build(mail)?;
        transport.send(message).await.map(|_| ()).map_err(|e| MailError::Smtp(describe_smtp_error(&e)))
    }
}

fn default_from(config: &Config) -> Result<Mailbox, MailError> {
    let host = url::Url::parse(config.public_url.origin())
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_else(|| "localhost".to_owned());
    format!("Relais <no-reply@{host}>").parse().map_err(|_| {
        MailError::Build("the host of RELAIS_PUBLIC_URL is not a mail domain: set RELAIS_MAIL_FROM".into())
    })
}

fn transport(url: &SecretString) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    // Error texts name the part that is wrong, never the URL (it may carry a password).
    let parsed = url::Url::parse(url.expose_secret()).map_err(|_| MailError::BadUrl("is not a URL".into()))?;
    let host = parsed.host_str().ok_or_else(|| MailError::BadUrl("has no host".into()))?.to_owned();
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
        .map_err(|_| MailError::BadUrl("must be smtp://host[:port] or smtps://[user:pass@]host[:port]".into()))?;
    if parsed.scheme() == "smtp" {
        let tls_host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let parameters =
            TlsParameters::new(tls_host).map_err(|_| MailError::BadUrl("TLS cannot be set up for this host".into()))?;
        // Stronger than lettre's default for smtp:// (no TLS at all): a relay on this machine may
        // lack TLS, anything else must offer STARTTLS or nothing is sent.
        builder =
            builder.tls(if is_loopback(&host) { Tls::Opportunistic(parameters) } else { Tls::Required(parameters) });
    }
    Ok(builder.timeout(Some(SMTP_TIMEOUT)).build())
}

fn describe_smtp_error(error: &lettre::transport::smtp::Error) -> String {
    let class = if error.is_timeout() {
        "timeout"
    } else if error.is_tls() {
        "TLS error"
    } else if error.is_permanent() {
        "permanent rejection"
    } else if error.is_transient() {
        "transient rejection"
    } else if error.is_client() {
        "client error"
    } else {
        "connection error"
    };
    match error.status() {
        Some(code) => format!("{class} ({code})"),
        None => class.to_owned(),
    }
}

fn seal_context(org: crate::OrgId, job: JobId) -> SecretContext<'static> {
    SecretContext { org, record_kind: "job", record_id: job.0, field: SEND_JOB }
}

/// Queues `mail` in the caller's tenant transaction: it is sent only if the caller commits.
/// The payload holds the message sealed to this job (see the module documentation).
pub async fn enqueue(tx: &mut OrgTx, clock: &Clock, vault: &Vault, mail: &OutgoingMail) -> Result<JobId, sqlx::Error> {
    let mut job = NewJob::new(SEND_JOB, uuid::Uuid::now_v7().to_string(), json!({ "v": 1 }));
    job.max_attempts = MAX_ATTEMPTS;
    let job_id = jobs::enqueue(tx, clock, job).await?;
    let plain = SecretString::from(serde_json::to_string(mail).map_err(|e| sqlx::Error::Encode(Box::new(e)))?);
    let sealed = vault.seal(&seal_context(tx.org(), job_id), &plain);
    sqlx::query!(
        "update jobs set payload = $3 where org_id = $1 and job_id = $2",
        tx.org().0,
        job_id.0,
        json!({ "v": 1, "envelope": STANDARD.encode(sealed) })
    )
    .execute(tx.conn())
    .await?;
    Ok(job_id)
}

/// Adds the `mail.send` handler to `registry`.
pub fn register(registry: &mut Registry, mailer: Mailer, vault: Vault) {
    let shared = Arc::new((mailer, vault));
    registry.register(SEND_JOB, move |run: JobRun| {
        let shared = shared.clone();
        async move { handle(run, &shared.0, &shared.1).await }
    });
}

async fn handle(mut run: JobRun, mailer: &Mailer, vault: &Vault) -> anyhow::Result<OrgTx> {
    if !mailer.is_configured() {
        return Err(MailError::NotConfigured.into());
    }
    let envelope = run
        .payload
        .get("envelope")
        .and_then(|v| v.as_str())
        .ok_or_else(|| anyhow::anyhow!("mail job without an envelope"))?;
    let sealed = STANDARD.decode(envelope).map_err(|_| anyhow::anyhow!("mail envelope is not base64"))?;
    let plain = vault.open(&seal_context(run.tx.org(), run.job_id), &sealed)?;
    let mail: OutgoingMail =
        serde_json::from_str(plain.expose_secret()).map_err(|_| anyhow::anyhow!("mail envelope is malformed"))?;
    mailer.send(&mail).await?;
    // Delivered: the sealed envelope has served its purpose.
    sqlx::query!(
        "update jobs set payload = $3 where org_id = $1 and job_id = $2",
        run.tx.org().0,
        run.job_id.0,
        json!({ "v": 1, "sent": true })
    )
    .execute(run.tx.conn())
    .await?;
    Ok(run.tx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Config {
        let vars: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_vars(&vars).unwrap()
    }

    fn mail(html: Option<&str>) -> OutgoingMail {
        OutgoingMail {
            to: "ada@example.eu".into(),
            subject: "Réinitialiser".into(),
            text: "https://crm.example.eu/reset/SECRET".into(),
            html: html.map(str::to_owned),
        }
    }

    #[test]
    fn from_defaults_to_the_public_host_and_can_be_set() {
        let mailer = Mailer::from_config(&config(&[("RELAIS_PUBLIC_URL", "https://crm.example.eu")])).unwrap();
        assert_eq!(mailer.from_address().to_string(), "Relais <no-reply@crm.example.eu>");
        assert!(!mailer.is_configured());
        let mailer = Mailer::from_config(&config(&[("RELAIS_MAIL_FROM", "Acme CRM <crm@acme.eu>")])).unwrap();
        assert_eq!(mailer.from_address().to_string(), "Acme CRM <crm@acme.eu>");
    }

    #[tokio::test]
    async fn without_smtp_url_sending_names_the_variable() {
        let mailer = Mailer::from_config(&config(&[])).unwrap();
        let error = mailer.send(&mail(None)).await.unwrap_err();
        assert!(error.to_string().contains("RELAIS_SMTP_URL"), "{error}");
    }

    #[test]
    fn debug_shows_neither_credentials_nor_bodies() {
        let mailer =
            Mailer::from_config(&config(&[("RELAIS_SMTP_URL", "smtps://user:hunter2secret@mail.example.eu")])).unwrap();
        assert!(mailer.is_configured());
        assert!(!format!("{mailer:?}").contains("hunter2secret"));
        let shown = format!("{:?}", mail(None));
        assert!(!shown.contains("SECRET") && !shown.contains("ada@"), "{shown}");
    }

    #[test]
    fn remote_plain_smtp_requires_starttls_and_loopback_does_not() {
        assert!(is_loopback("127.0.0.1") && is_loopback("localhost") && is_loopback("[::1]"));
        assert!(!is_loopback("mail.example.eu") && !is_loopback("10.0.0.1"));
    }

    #[test]
    fn messages_have_a_text_part_and_an_optional_html_alternative() {
        let mailer = Mailer::from_config(&config(&[])).unwrap();
        let text_only = String::from_utf8(mailer.build(&mail(None)).unwrap().formatted()).unwrap();
        assert!(text_only.contains("Content-Type: text/plain"), "{text_only}");
        assert!(text_only.contains("From: Relais <no-reply@localhost>"), "{text_only}");
        let both = String::from_utf8(mailer.build(&mail(Some("<p>hi</p>"))).unwrap().formatted()).unwrap();
        assert!(both.contains("multipart/alternative") && both.contains("text/html"), "{both}");
        assert!(mailer.build(&OutgoingMail { to: "not an address".into(), ..mail(None) }).is_err());
    }
}
