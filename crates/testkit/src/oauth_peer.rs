//! A real OAuth2 server on loopback for the Gmail / Microsoft 365 mailbox tests: npm's
//! `oauth2-mock-server`, pinned by `peers/oauth/package-lock.json` and installed under
//! target/tools by `scripts/lib.sh` (`ensure_oauth_peer`), run by `peers/oauth/provider.mjs`
//! (which adds what a real provider checks: client secret, PKCE, single-use codes, revocable
//! grants, and a real introspection endpoint the mail peers call). One per test, killed when
//! dropped.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The version `ensure_oauth_peer` installs (`peers/oauth/package.json` pins the same).
pub const VERSION: &str = "8.2.3";

/// The directory holding `node_modules/oauth2-mock-server`: `RELAIS_OAUTH_PEER_MODULES` (set by
/// `ensure_oauth_peer`), else `oauth2-mock-server-VERSION` under `RELAIS_TOOLS_DIR` or the
/// workspace's target/tools — installed from this very lockfile, or refused as stale.
fn modules_dir() -> anyhow::Result<PathBuf> {
    let lock = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/oauth/package-lock.json");
    let wanted = std::fs::read(lock).with_context(|| format!("reading {lock}"))?;
    let workspace_tools = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/tools");
    let candidates = std::env::var_os("RELAIS_OAUTH_PEER_MODULES").map(PathBuf::from).into_iter().chain(
        std::env::var_os("RELAIS_TOOLS_DIR")
            .map(PathBuf::from)
            .into_iter()
            .chain([workspace_tools])
            .map(|tools| tools.join(format!("oauth2-mock-server-{VERSION}"))),
    );
    for dir in candidates {
        let installed = dir.join("node_modules/oauth2-mock-server/package.json");
        if installed.exists() && std::fs::read(dir.join("package-lock.json")).is_ok_and(|l| l == wanted) {
            return Ok(dir);
        }
    }
    anyhow::bail!(
        "no oauth2-mock-server {VERSION} installed from crates/testkit/peers/oauth/package-lock.json: run scripts/test.sh (ensure_oauth_peer)"
    )
}

/// The OAuth2 provider: authorization, token, revocation and introspection endpoints, and
/// `/_test/*` to steer it.
pub struct OAuthPeer {
    child: tokio::process::Child,
    port: u16,
    dir: PathBuf,
    http: reqwest::Client,
}

impl OAuthPeer {
    /// The client this instance is registered as.
    pub const CLIENT_ID: &str = "relais-test-client";
    pub const CLIENT_SECRET: &str = "relais-test-client-s3cret";

    pub async fn start() -> anyhow::Result<Self> {
        let modules = modules_dir()?;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/oauth/provider.mjs");
        let dir = std::env::temp_dir().join(format!("relais-oauth-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        let log = std::fs::File::create(dir.join("provider.log"))?;
        let mut child = tokio::process::Command::new("node")
            .arg(script)
            .env("OAUTH_PEER_MODULES", &modules)
            .env("OAUTH_PEER_CLIENT_ID", Self::CLIENT_ID)
            // Not on the command line, where any process list would show it.
            .env("OAUTH_PEER_CLIENT_SECRET", Self::CLIENT_SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("starting node peers/oauth/provider.mjs (is Node.js installed?)")?;
        let stdout = child.stdout.take().context("the provider's stdout")?;
        // It prints `ready <port>` once listening: no polling, no sleep.
        let mut line = String::new();
        let read = tokio::time::timeout(Duration::from_secs(30), BufReader::new(stdout).read_line(&mut line)).await;
        let port = match read {
            Ok(Ok(_)) => line.trim().strip_prefix("ready ").and_then(|p| p.parse::<u16>().ok()),
            _ => None,
        };
        let Some(port) = port else {
            let _ = child.kill().await;
            let log = std::fs::read_to_string(dir.join("provider.log")).unwrap_or_default();
            anyhow::bail!("the OAuth2 peer did not start: {line:?}\n{log}");
        };
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
        Ok(Self { child, port, dir, http })
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The app's configuration for `provider` (`GOOGLE`, `MICROSOFT`) registered with this
    /// server, its mail servers the loopback peers on `smtp_port` and `imap_port`.
    pub fn env(&self, provider: &str, smtp_port: u16, imap_port: u16) -> Vec<(String, String)> {
        let var = |name: &str| format!("RELAIS_{provider}_{name}");
        let mut vars = vec![
            (var("CLIENT_ID"), Self::CLIENT_ID.to_owned()),
            (var("CLIENT_SECRET"), Self::CLIENT_SECRET.to_owned()),
            (var("AUTH_URL"), self.url("/authorize")),
            (var("TOKEN_URL"), self.url("/token")),
            (var("SMTP"), format!("127.0.0.1:{smtp_port}:none")),
            (var("IMAP"), format!("127.0.0.1:{imap_port}:none")),
        ];
        if provider == "GOOGLE" {
            vars.push((var("REVOKE_URL"), self.url("/revoke")));
        }
        vars
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let response = self.http.post(self.url(path)).json(&body).send().await.expect("the OAuth2 peer answers");
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.expect("JSON from the OAuth2 peer")
    }

    /// The account that signs in at the next consent (unless the request names one).
    pub async fn sign_in_as(&self, email: &str) {
        self.post("/_test/login", json!({ "email": email })).await;
    }

    /// The next consent is refused by the person (`error=access_denied`).
    pub async fn deny_next(&self) {
        self.post("/_test/deny", json!({})).await;
    }

    /// Access tokens issued from now on last `seconds`; refreshes answer with a new refresh
    /// token (`rotate`, as Microsoft does) or not (as Google does).
    pub async fn configure(&self, seconds: i64, rotate: bool) {
        self.post("/_test/config", json!({ "expires_in": seconds, "rotate": rotate })).await;
    }

    /// Every grant is revoked, as when the person removes the app from their account: refresh
    /// tokens get `invalid_grant`, access tokens are no longer active.
    pub async fn revoke_grants(&self) {
        self.post("/_test/revoke-grants", json!({})).await;
    }

    /// What it saw: `tokenRequests` (`[{grant_type, status}]`), `revoked` (the tokens posted to
    /// `/revoke`) and `introspections` (a count).
    pub async fn log(&self) -> Value {
        let response = self.http.get(self.url("/_test/log")).send().await.expect("the OAuth2 peer answers");
        response.json().await.expect("JSON from the OAuth2 peer")
    }

    /// Whether the server still holds `access_token` active (its own introspection).
    pub async fn is_active(&self, access_token: &str) -> bool {
        let response = self
            .http
            .post(self.url("/introspect"))
            .form(&[("token", access_token)])
            .send()
            .await
            .expect("the OAuth2 peer answers");
        let answer: Value = response.json().await.expect("JSON from the OAuth2 peer");
        answer["active"] == true
    }

    /// Its error output, for a failing test's message.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("provider.log")).unwrap_or_default()
    }
}

impl Drop for OAuthPeer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
