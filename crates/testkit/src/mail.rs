//! A real SMTP peer for tests: Debian's `aiosmtpd` on a loopback port, delivering into a maildir
//! that tests read back (`app.mailbox().messages()`). One per test, killed when the test's
//! `TestApp` is dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The first interpreter that has `aiosmtpd`: `RELAIS_TEST_PYTHON` (set by scripts/test.sh for
/// PyNaCl), then Debian's own `/usr/bin/python3` (where `python3-aiosmtpd` installs), then `python3`.
pub(crate) fn smtp_python() -> anyhow::Result<&'static str> {
    static FOUND: OnceLock<Option<String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let candidates =
                [std::env::var("RELAIS_TEST_PYTHON").ok(), Some("/usr/bin/python3".into()), Some("python3".into())];
            candidates.into_iter().flatten().find(|python| {
                Command::new(python)
                    .args(["-c", "import aiosmtpd.handlers, aiosmtpd.controller"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|status| status.success())
            })
        })
        .as_deref()
        .context("no Python with aiosmtpd: run scripts/test.sh, or `apt-get install python3-aiosmtpd`")
}

/// A running `python3 -m aiosmtpd` process and the maildir it delivers to.
pub struct SmtpPeer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl SmtpPeer {
    pub async fn start() -> anyhow::Result<Self> {
        let python = smtp_python()?;
        let dir = std::env::temp_dir().join(format!("relais-mailbox-{}", uuid::Uuid::new_v4().simple()));
        // Not created here: aiosmtpd makes the maildir (with tmp/, new/ and cur/) only if it is absent.
        // A port the kernel just handed out and nobody holds; aiosmtpd binds it right away.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {python} -m aiosmtpd"))?;
        let mut peer = Self { child, port, dir };
        peer.wait_until_ready().await?;
        Ok(peer)
    }

    /// Polls until the peer answers with its SMTP greeting: bounded, and failing fast if the
    /// process exits.
    async fn wait_until_ready(&mut self) -> anyhow::Result<()> {
        for _ in 0..400 {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("aiosmtpd exited before accepting connections ({status})");
            }
            if let Ok(stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await {
                let mut reader = BufReader::new(stream);
                let mut greeting = String::new();
                reader.read_line(&mut greeting).await?;
                if greeting.starts_with("220") {
                    reader.get_mut().write_all(b"QUIT\r\n").await?;
                    return Ok(());
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        anyhow::bail!("aiosmtpd did not accept connections on 127.0.0.1:{} within 10 s", self.port)
    }

    /// `RELAIS_SMTP_URL` for this peer.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn mailbox(&self) -> Mailbox {
        Mailbox { dir: self.dir.clone() }
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for SmtpPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The maildir the peer delivers to.
#[derive(Debug, Clone)]
pub struct Mailbox {
    pub(crate) dir: PathBuf,
}

/// One delivered message, parsed.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The `From` header, as `Name <address>` (or the bare address).
    pub from: String,
    /// The `To` header's addresses.
    pub to: Vec<String>,
    /// The SMTP envelope, as recorded by aiosmtpd (`X-MailFrom`, `X-RcptTo`).
    pub envelope_from: String,
    pub envelope_to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub raw: String,
}

impl ReceivedMail {
    /// A header's raw value (unfolded, trimmed), if the message has it.
    pub fn header(&self, name: &str) -> Option<String> {
        let message = mail_parser::MessageParser::default().parse(self.raw.as_bytes())?;
        message.header_raw(name).map(|value| value.replace("\r\n", "").replace('\n', "").trim().to_string())
    }

    /// The first `{origin}/...` link in the text body, e.g. `links_to(app.origin())`.
    pub fn link(&self, origin: &str) -> Option<String> {
        let start = self.text.find(origin)?;
        let rest = &self.text[start..];
        let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
        Some(rest[..end].to_string())
    }
}

/// Parses one RFC 5322 message file (a maildir entry, or an outbox `.eml`).
pub fn parse(path: &Path) -> anyhow::Result<ReceivedMail> {
    let raw = std::fs::read(path)?;
    let message =
        mail_parser::MessageParser::default().parse(&raw).with_context(|| format!("parsing {}", path.display()))?;
    let addresses = |address: Option<&mail_parser::Address<'_>>| -> Vec<String> {
        address.map(|a| a.iter().filter_map(|addr| addr.address().map(str::to_string)).collect()).unwrap_or_default()
    };
    let from = message
        .from()
        .and_then(|a| a.first())
        .map(|addr| match (addr.name(), addr.address()) {
            (Some(name), Some(address)) => format!("{name} <{address}>"),
            (None, Some(address)) => address.to_string(),
            _ => String::new(),
        })
        .unwrap_or_default();
    let raw_header = |name: &str| message.header_raw(name).map(|v| v.trim().to_string()).unwrap_or_default();
    Ok(ReceivedMail {
        from,
        to: addresses(message.to()),
        envelope_from: raw_header("X-MailFrom"),
        envelope_to: raw_header("X-RcptTo")
            .split(',')
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect(),
        subject: message.subject().unwrap_or_default().to_string(),
        text: message.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
        // mail-parser renders a text-only message as HTML too: report only a real HTML part.
        html: message.parts.iter().find_map(|part| match &part.body {
            mail_parser::PartType::Html(html) => Some(html.to_string()),
            _ => None,
        }),
        raw: String::from_utf8_lossy(&raw).into_owned(),
    })
}

impl Mailbox {
    /// The maildir at `dir` (another peer's).
    pub(crate) fn at(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// Every message delivered so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let mut files: Vec<PathBuf> = ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(self.dir.join(sub)).ok())
            .flatten()
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .collect();
        // Maildir names start with the delivery time; the modification time orders within a second.
        files.sort_by_key(|path| {
            (std::fs::metadata(path).and_then(|m| m.modified()).ok(), path.file_name().map(|n| n.to_owned()))
        });
        files.iter().map(|path| parse(path).expect("a delivered message parses")).collect()
    }

    /// Removes the messages `matches` selects from the maildir (as a reader deletes what they have
    /// read) and returns them, oldest first.
    pub fn take(&self, matches: impl Fn(&ReceivedMail) -> bool) -> Vec<ReceivedMail> {
        let mut files: Vec<PathBuf> = ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(self.dir.join(sub)).ok())
            .flatten()
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .collect();
        files.sort_by_key(|path| {
            (std::fs::metadata(path).and_then(|m| m.modified()).ok(), path.file_name().map(|n| n.to_owned()))
        });
        let mut taken = Vec::new();
        for path in files {
            let mail = parse(&path).expect("a delivered message parses");
            if matches(&mail) {
                std::fs::remove_file(&path).expect("remove a read message");
                taken.push(mail);
            }
        }
        taken
    }

    /// The messages sent to `address`.
    pub fn messages_to(&self, address: &str) -> Vec<ReceivedMail> {
        self.messages().into_iter().filter(|m| m.to.iter().any(|to| to == address)).collect()
    }
}
