//! Mail servers with accounts, for the connected-mailbox tests: an SMTP server that requires AUTH
//! (aiosmtpd's Controller, `peers/smtp_auth.py`) and an IMAP server (Debian's Dovecot, with a
//! private configuration and a passwd-file in a temp directory). Each accepts one user name and
//! password — or, for the Gmail / Microsoft 365 tests, XOAUTH2 with an access token the OAuth2
//! peer ([`OAuthPeer`], npm's oauth2-mock-server) really issued — listens on a loopback port, and
//! is stopped when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

pub use crate::oauth_peer::OAuthPeer;

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn temp_dir(kind: &str) -> PathBuf {
    std::env::temp_dir().join(format!("relais-{kind}-{}", uuid::Uuid::new_v4().simple()))
}

/// Waits until `port` greets with a line starting with `greeting`: bounded (10 s), failing fast
/// if the process exits.
async fn wait_for_greeting(child: &mut Child, port: u16, greeting: &str, name: &str) -> anyhow::Result<()> {
    for _ in 0..400 {
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("{name} exited before accepting connections ({status})");
        }
        if let Ok(stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            if tokio::time::timeout(Duration::from_secs(2), reader.read_line(&mut line)).await.is_ok()
                && line.starts_with(greeting)
            {
                let bye: &[u8] = if greeting == "220" { b"QUIT\r\n" } else { b"z LOGOUT\r\n" };
                let _ = reader.get_mut().write_all(bye).await;
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    anyhow::bail!("{name} did not accept connections on 127.0.0.1:{port} within 10 s")
}

/// aiosmtpd requiring AUTH (PLAIN or LOGIN, no TLS) for one account.
pub struct AuthSmtpPeer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl AuthSmtpPeer {
    pub async fn start(user: &str, password: &str) -> anyhow::Result<Self> {
        let python = crate::mail::smtp_python()?;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/smtp_auth.py");
        let dir = temp_dir("smtp-auth");
        std::fs::create_dir_all(&dir)?;
        let port = free_port()?;
        let child = Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .arg(dir.join("maildir"))
            .arg(user)
            // Not on the command line, where any process list would show it.
            .env("SMTP_PEER_PASSWORD", password)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {python} {script}"))?;
        let mut peer = Self { child, port, dir };
        wait_for_greeting(&mut peer.child, port, "220", "aiosmtpd (AUTH)").await?;
        Ok(peer)
    }

    /// aiosmtpd offering only SASL XOAUTH2 (as Gmail and Microsoft 365 do for OAuth2 clients) for
    /// `user`, accepting a token only when `oauth`'s introspection endpoint (RFC 7662) says it is
    /// active for that very account. Delivers into a maildir ([`AuthSmtpPeer::mailbox`]).
    pub async fn start_xoauth2(user: &str, oauth: &OAuthPeer) -> anyhow::Result<Self> {
        let python = crate::mail::smtp_python()?;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/smtp_auth.py");
        let dir = temp_dir("smtp-xoauth2");
        std::fs::create_dir_all(&dir)?;
        let port = free_port()?;
        let child = Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .arg(dir.join("maildir"))
            .arg(user)
            .arg("--xoauth2")
            .arg(oauth.url("/introspect"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {python} {script} --xoauth2"))?;
        let mut peer = Self { child, port, dir };
        wait_for_greeting(&mut peer.child, port, "220", "aiosmtpd (XOAUTH2)").await?;
        Ok(peer)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The maildir it delivers what it accepted to (read as [`crate::mail::SmtpPeer`]'s is).
    pub fn mailbox(&self) -> crate::mail::Mailbox {
        crate::mail::Mailbox::at(self.dir.join("maildir"))
    }

    /// The id (`jti`) of each access token an XOAUTH2 peer accepted, in order: which token each
    /// login used (never the tokens themselves).
    pub fn xoauth2_logins(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("xoauth2.log")).unwrap_or_default().lines().map(str::to_owned).collect()
    }
}

impl Drop for AuthSmtpPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Dovecot serving IMAP (plain, loopback) for one account, from a private configuration.
pub struct ImapPeer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

/// What `id <flag>` prints for the current user (`-u`, `-g`, `-un`, `-gn`).
fn id(flag: &str) -> anyhow::Result<String> {
    let output = Command::new("id").arg(flag).output().context("running id")?;
    anyhow::ensure!(output.status.success(), "id {flag} failed");
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

/// `(uid, gid)` of a system user, from /etc/passwd.
fn system_user(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&name) && fields.len() > 3)
            .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
            .flatten()
    })
}

fn dovecot() -> anyhow::Result<&'static str> {
    ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists())
        .context("no dovecot: run scripts/test.sh, or `apt-get install dovecot-imapd`")
}

/// How Dovecot checks a login.
enum PassDb<'a> {
    /// One user name and password (LOGIN, AUTHENTICATE PLAIN).
    Password { user: &'a str, password: &'a str },
    /// AUTHENTICATE XOAUTH2 / OAUTHBEARER, the token checked by the OAuth2 server's introspection
    /// endpoint (Dovecot's `oauth2` passdb, `introspection_mode = post`): active, and issued for
    /// the account named in the exchange (`username_attribute = email`).
    OAuth2 { introspection_url: String },
}

impl ImapPeer {
    pub async fn start(user: &str, password: &str) -> anyhow::Result<Self> {
        Self::start_with(PassDb::Password { user, password }, "").await
    }

    /// [`ImapPeer::start`], for a server that does not offer IDLE (RFC 2177): its CAPABILITY
    /// lists the base protocol only.
    pub async fn start_without_idle(user: &str, password: &str) -> anyhow::Result<Self> {
        Self::start_with(PassDb::Password { user, password }, "imap_capability = IMAP4rev1 LITERAL+\n").await
    }

    /// Dovecot accepting XOAUTH2 (and OAUTHBEARER) only, for any account whose access token
    /// `oauth` issued and still holds active.
    pub async fn start_xoauth2(oauth: &OAuthPeer) -> anyhow::Result<Self> {
        Self::start_with(PassDb::OAuth2 { introspection_url: oauth.url("/introspect") }, "").await
    }

    /// Starts Dovecot with `passdb`, and `extra` lines of configuration.
    async fn start_with(passdb: PassDb<'_>, extra: &str) -> anyhow::Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        let binary = dovecot()?;
        let dir = temp_dir("imap");
        let home = dir.join("home");
        std::fs::create_dir_all(&home)?;
        // Dovecot's own processes (auth as `dovecot`, mail as the account's uid) read the
        // passwd-file and write the maildir: the directory must be reachable by them.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        let port = free_port()?;
        let root = id("-u")? == "0";
        // As root, mail is owned by `nobody` (Dovecot refuses uid 0); otherwise by the current
        // user, and every Dovecot process runs as that user too.
        let (uid, gid, users) = if root {
            let (uid, gid) = system_user("nobody").unwrap_or((65534, 65534));
            std::os::unix::fs::chown(&home, Some(uid), Some(gid))?;
            (uid, gid, String::new())
        } else {
            let users = format!(
                "default_internal_user = {0}\ndefault_internal_group = {1}\ndefault_login_user = {0}\n",
                id("-un")?,
                id("-gn")?
            );
            (id("-u")?.parse()?, id("-g")?.parse()?, users)
        };
        let (mechanisms, passdb) = match passdb {
            PassDb::Password { user, password } => {
                let passwd = dir.join("passwd");
                std::fs::write(&passwd, format!("{user}:{{PLAIN}}{password}::::::\n"))?;
                std::fs::set_permissions(&passwd, std::fs::Permissions::from_mode(0o644))?;
                let passdb =
                    format!("driver = passwd-file\n  args = scheme=PLAIN username_format=%u {}", passwd.display());
                ("plain login", passdb)
            }
            PassDb::OAuth2 { introspection_url } => {
                let args = dir.join("dovecot-oauth2.conf.ext");
                std::fs::write(
                    &args,
                    format!(
                        "introspection_mode = post\nintrospection_url = {introspection_url}\nforce_introspection = yes\n\
                         username_attribute = email\nactive_attribute = active\nactive_value = true\n"
                    ),
                )?;
                std::fs::set_permissions(&args, std::fs::Permissions::from_mode(0o644))?;
                let passdb =
                    format!("driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {}", args.display());
                ("xoauth2 oauthbearer", passdb)
            }
        };
        let d = dir.display();
        let config = format!(
            "base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
auth_failure_delay = 0
mail_location = maildir:~/Maildir
{users}{extra}first_valid_uid = 1
passdb {{
  {passdb}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"
        );
        let config_path = dir.join("dovecot.conf");
        std::fs::write(&config_path, config)?;
        let child = Command::new(binary)
            .arg("-F")
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {binary}"))?;
        let mut peer = Self { child, port, dir };
        wait_for_greeting(&mut peer.child, port, "* OK", "dovecot").await?;
        Ok(peer)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Drops `raw` (a whole RFC 5322 message) into `user`'s INBOX, as mail arriving does, with
    /// IMAP APPEND: the server assigns it the next UID.
    pub async fn deliver(&self, user: &str, password: &str, raw: &[u8]) -> anyhow::Result<()> {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
        let mut client = async_imap::Client::new(stream);
        client.read_response().await?.context("no IMAP greeting")?;
        let mut session = client.login(user, password).await.map_err(|(e, _)| e)?;
        session.append("INBOX", None, None, raw).await?;
        session.logout().await?;
        Ok(())
    }

    /// How many times a client logged in (Dovecot logs each login).
    pub fn logins(&self) -> usize {
        self.log().matches(" Login: user=<").count()
    }

    /// Dovecot's log, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}

impl Drop for ImapPeer {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its login and auth processes; SIGKILL would orphan them.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
