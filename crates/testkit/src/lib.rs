#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]
//! (Test-support code: a failed setup step must stop the test loudly, so panicking is the point.)

//! `TestApp`: each test gets its own database, cloned from a migrated template, and its own
//! instance of the app on a random loopback port, with a clock the test moves by hand.
//!
//! All tests of a run share one disposable PostgreSQL cluster (started on first use under
//! `target/relais-test-pg`, or wherever `RELAIS_TEST_PG_DIR` says); `scripts/test.sh` stops it at
//! the end. Building the template once per schema version keeps a new database to a file copy.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use kernel::clock::Clock;
use kernel::config::Config;
use kernel::db::embedded::{self, APP_ROLE, Durability, EmbeddedPostgres, OWNER_ROLE, SUPERUSER};
use kernel::keys::MasterKey;
use kernel::web::AppState;
use kernel::{Db, OrgId, UserId};
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, PgConnection};
use tokio::sync::OnceCell;

pub use reqwest;

pub mod a11y;
pub mod api;
pub mod audit;
pub mod chromium;
pub mod db;
pub mod http;
pub mod logs;
pub mod mail;
pub mod mail_peers;
pub mod members;
pub mod oauth_peer;
pub mod openapi;
pub mod outreach;
pub mod signup;
pub mod totp;

struct Cluster {
    pg: EmbeddedPostgres,
    template: String,
}

static CLUSTER: OnceCell<Cluster> = OnceCell::const_new();

fn cluster_dir() -> PathBuf {
    std::env::var_os("RELAIS_TEST_PG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/relais-test-pg"))
}

async fn cluster() -> anyhow::Result<&'static Cluster> {
    CLUSTER
        .get_or_try_init(|| async {
            let pg = EmbeddedPostgres::new(&cluster_dir(), Durability::Disposable)?;
            let starter = pg.clone();
            tokio::task::spawn_blocking(move || starter.ensure_running()).await??;
            pg.bootstrap("relais_test_bootstrap").await?;
            let template = build_template(&pg).await?;
            Ok(Cluster { pg, template })
        })
        .await
}

/// Creates the migrated template database for this schema version, once per cluster: it is built
/// under another name and renamed when complete, so a half-built template is never cloned.
async fn build_template(pg: &EmbeddedPostgres) -> anyhow::Result<String> {
    let name = format!("relais_tpl_{}", Db::schema_fingerprint());
    let mut admin = pg.connect_options(SUPERUSER, "postgres").connect().await?;
    admin.execute("select pg_advisory_lock(7243002)").await?;
    let result = async {
        let exists: bool =
            sqlx::query_scalar!(r#"select exists (select from pg_database where datname = $1) as "exists!""#, &name)
                .fetch_one(&mut admin)
                .await?;
        if exists {
            return Ok::<_, anyhow::Error>(());
        }
        let building = format!("{name}_build");
        admin.execute(sqlx::AssertSqlSafe(format!("drop database if exists {building}"))).await?;
        embedded::create_database(&mut admin, &building, None).await?;
        let db =
            Db::connect(pg.connect_options(OWNER_ROLE, &building), pg.connect_options(APP_ROLE, &building)).await?;
        db.migrate().await.context("migrating the template")?;
        db.close().await;
        admin.execute(sqlx::AssertSqlSafe(format!("alter database {building} rename to {name}"))).await?;
        Ok(())
    }
    .await;
    admin.execute("select pg_advisory_unlock(7243002)").await?;
    result?;
    Ok(name)
}

/// One test's application: its database, its server, its clock.
pub struct TestApp {
    pub address: SocketAddr,
    pub state: AppState,
    pub db: Db,
    pub clock: Clock,
    pub database: String,
    /// Talks HTTP to the app; follows no redirects so tests see them.
    pub http: reqwest::Client,
    pg: &'static EmbeddedPostgres,
    server: tokio::task::JoinHandle<()>,
    /// The SMTP peer of [`TestApp::spawn_with_mail`]; dropped (and killed) with the app.
    smtp: Option<mail::SmtpPeer>,
    /// The per-test mail outbox (`RELAIS_MAIL_OUTBOX`) every app gets unless the test sets
    /// `RELAIS_SMTP_URL` or `RELAIS_MAIL_OUTBOX` itself; removed with the app.
    outbox: Option<PathBuf>,
    /// The per-test data directory (imports, attachments) testkit chose, unless the test set
    /// `RELAIS_DATA_DIR` itself; removed with the app.
    data_dir: Option<PathBuf>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        for dir in [&self.outbox, &self.data_dir].into_iter().flatten() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The password of every owner [`TestApp::sign_up`] creates and every member
/// [`TestApp::add_member`] adds.
pub const PASSWORD: &str = "correct horse battery staple";

/// The name of the member session cookie.
pub const SESSION_COOKIE: &str = "relais_session";

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Like [`TestApp::spawn`], with extra configuration variables, e.g.
    /// `&[("RELAIS_TRUSTED_PROXIES", "127.0.0.1/32")]`.
    pub async fn spawn_with(env: &[(&str, &str)]) -> Self {
        match Self::try_spawn(env, false).await {
            Ok(app) => app,
            Err(error) => panic!("could not start the test app: {error:#}"),
        }
    }

    /// Like [`TestApp::spawn`], configured as `relais demo` is (the `/dev/ui` component page).
    pub async fn spawn_demo() -> Self {
        match Self::try_spawn(&[], true).await {
            Ok(app) => app,
            Err(error) => panic!("could not start the test app: {error:#}"),
        }
    }

    async fn try_spawn(env: &[(&str, &str)], demo: bool) -> anyhow::Result<Self> {
        let cluster = cluster().await?;
        let database = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = cluster.pg.connect_options(SUPERUSER, "postgres").connect().await?;
        embedded::create_database(&mut admin, &database, Some(&cluster.template)).await?;
        // Database-level privileges live in pg_database and are not copied from the template;
        // repeat what the migration did to the database it ran in.
        admin.execute(sqlx::AssertSqlSafe(format!("revoke temporary on database {database} from public"))).await?;
        admin.close().await?;

        let db = Db::connect(
            cluster.pg.connect_options(OWNER_ROLE, &database),
            cluster.pg.connect_options(APP_ROLE, &database),
        )
        .await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let master_key = MasterKey::generate_base64();
        // Sign-up needs mail (its confirmation link): every app has a private outbox unless the
        // test chose SMTP or its own outbox (an empty RELAIS_MAIL_OUTBOX means none at all).
        let outbox = (!env.iter().any(|(name, _)| matches!(*name, "RELAIS_SMTP_URL" | "RELAIS_MAIL_OUTBOX")))
            .then(|| std::env::temp_dir().join(format!("relais-outbox-{}", uuid::Uuid::new_v4().simple())));
        let own_data_dir = std::env::temp_dir().join(format!("relais-data-{}", uuid::Uuid::new_v4().simple()));
        let vars = [
            ("RELAIS_PUBLIC_URL".to_string(), format!("http://127.0.0.1:{}", address.port())),
            ("RELAIS_LISTEN".to_string(), address.to_string()),
            ("RELAIS_MASTER_KEY".to_string(), master_key),
            // Files (imports, attachments) go to a directory of this test's own, never the
            // working directory.
            ("RELAIS_DATA_DIR".to_string(), own_data_dir.display().to_string()),
        ]
        .into_iter()
        .chain(outbox.iter().map(|dir| ("RELAIS_MAIL_OUTBOX".to_string(), dir.display().to_string())))
        .chain(env.iter().map(|(name, value)| (name.to_string(), value.to_string())))
        .collect();
        let config = Config { demo, ..Config::from_vars_with(&vars, &web::modules())? };
        let master = config.require_master_key()?;
        let clock = Clock::manual(time::OffsetDateTime::now_utc());
        let state = web::state(Arc::new(config), db.clone(), clock.clone(), master);
        // Tests write through `app.db` too: the same handle as the app's, event subscribers included.
        let db = state.db.clone();
        let app = web::app(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
        });
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
        let data_dir = (state.config.data_dir == own_data_dir).then_some(own_data_dir);
        Ok(Self { address, state, db, clock, database, http, pg: &cluster.pg, server, smtp: None, outbox, data_dir })
    }

    /// Like [`TestApp::spawn`], with a real SMTP peer (aiosmtpd on loopback) as `RELAIS_SMTP_URL`;
    /// read what it received with [`TestApp::mailbox`], deliver queued mail with
    /// [`TestApp::run_jobs`].
    pub async fn spawn_with_mail() -> Self {
        Self::spawn_with_mail_and(&[]).await
    }

    /// [`TestApp::spawn_with_mail`] with more configuration variables.
    pub async fn spawn_with_mail_and(env: &[(&str, &str)]) -> Self {
        let peer = match mail::SmtpPeer::start().await {
            Ok(peer) => peer,
            Err(error) => panic!("could not start the SMTP peer: {error:#}"),
        };
        let url = peer.url();
        let mut vars: Vec<(&str, &str)> =
            [("RELAIS_SMTP_URL", url.as_str())].into_iter().chain(env.iter().copied()).collect();
        // The SMTP peer is on loopback, which outreach mailboxes reach only on a local instance.
        if !env.iter().any(|(name, _)| *name == "RELAIS_OUTREACH_ALLOW_PRIVATE") {
            vars.push(("RELAIS_OUTREACH_ALLOW_PRIVATE", "true"));
        }
        let mut app = Self::spawn_with(&vars).await;
        app.smtp = Some(peer);
        app
    }

    /// Every message the app wrote to its mail outbox (`RELAIS_MAIL_OUTBOX`), oldest first. Panics
    /// for an app without an outbox.
    pub fn outbox(&self) -> Vec<mail::ReceivedMail> {
        let dir = self.state.config.mail_outbox.as_ref().expect("an app with RELAIS_MAIL_OUTBOX");
        let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("reading the outbox: {e}"),
        };
        // Names start with the time they were written (kernel::outbox).
        files.sort();
        files.iter().map(|path| mail::parse(path).expect("an outbox message parses")).collect()
    }

    /// The mail sent to `address`, oldest first: from the SMTP peer of [`TestApp::spawn_with_mail`],
    /// else from the outbox.
    pub fn mail_to(&self, address: &str) -> Vec<mail::ReceivedMail> {
        match &self.smtp {
            Some(peer) => peer.mailbox().messages_to(address),
            None => self.outbox().into_iter().filter(|m| m.to.iter().any(|to| to == address)).collect(),
        }
    }

    /// The token of the newest sign-up confirmation link mailed to `address`.
    pub fn signup_token(&self, address: &str) -> Option<String> {
        let marker = "/signup/confirm?token=";
        self.mail_to(address).iter().rev().find_map(|m| {
            let link = m.link(&self.origin())?;
            link.split_once(marker).map(|(_, token)| token.to_string())
        })
    }

    /// The SMTP peer's loopback port. Panics for an app started without one.
    pub fn smtp_port(&self) -> u16 {
        self.smtp.as_ref().expect("started with TestApp::spawn_with_mail").port()
    }

    /// The SMTP peer's mailbox. Panics for an app started without one.
    pub fn mailbox(&self) -> mail::Mailbox {
        self.smtp.as_ref().expect("started with TestApp::spawn_with_mail").mailbox()
    }

    /// The job handlers `relais serve` registers, built for this app's configuration.
    pub fn job_registry(&self) -> kernel::jobs::Registry {
        let mailer = kernel::mail::Mailer::from_config(&self.state.config).expect("mailer");
        web::job_registry(
            &self.state.config,
            self.state.db.clone(),
            mailer,
            self.state.vault.clone(),
            self.state.audit.clone(),
        )
    }

    /// The watchers `relais serve` starts beside the job worker, built for this app's
    /// configuration and clock.
    pub fn watchers(&self) -> Vec<kernel::watchers::Watcher> {
        let mailer = kernel::mail::Mailer::from_config(&self.state.config).expect("mailer");
        web::watchers(
            &self.state.config,
            self.state.db.clone(),
            mailer,
            self.state.vault.clone(),
            self.state.audit.clone(),
            &self.clock,
        )
    }

    /// Runs due jobs until none is left, as a worker would, and returns what happened. Jobs that
    /// fail are rescheduled by their backoff on the app's manual clock, so they wait for it to move.
    /// Each tick claims as a worker does (a few jobs per organization and kind at a time) and runs
    /// them concurrently.
    pub async fn run_jobs(&self) -> kernel::jobs::Tick {
        let worker = kernel::jobs::Worker::new(self.db.clone(), self.clock.clone(), self.job_registry());
        let mut total = kernel::jobs::Tick::default();
        for _ in 0..1000 {
            let tick = worker.tick(16).await.expect("job worker tick");
            total.claimed += tick.claimed;
            total.succeeded += tick.succeeded;
            total.failed += tick.failed;
            if tick.claimed == 0 {
                return total;
            }
        }
        panic!("jobs were still being claimed after 1000 ticks: {total:?}")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    /// The origin browsers send with this app's forms.
    pub fn origin(&self) -> String {
        self.url("")
    }

    /// Connection options for this test's database as `role` (superuser, owner or app).
    pub fn connect_options(&self, role: &str) -> PgConnectOptions {
        self.pg.connect_options(role, &self.database)
    }

    /// A raw connection as the request role with no org set — what `psql -U relais_app` gets.
    pub async fn app_role_connection(&self) -> PgConnection {
        self.connect_options(APP_ROLE).connect().await.expect("connect as relais_app")
    }

    /// A superuser connection, for tests that play an attacker with full database access.
    pub async fn superuser_connection(&self) -> PgConnection {
        self.connect_options(SUPERUSER).connect().await.expect("connect as superuser")
    }

    pub fn socket_dir(&self) -> PathBuf {
        self.pg.socket_dir()
    }

    pub async fn current_policy_version(&self) -> String {
        self.db.current_policy_version(self.clock.now()).await.expect("policy").expect("a policy").0
    }

    /// A valid sign-up body for `email`; tests change fields to make it invalid.
    pub async fn signup_body(&self, email: &str) -> Value {
        json!({
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": email,
            "password": PASSWORD,
            "organization_name": format!("Org of {email}"),
            "job_title": "Head of sales",
            "adult": true,
            "accepted_policy_version": self.current_policy_version().await,
        })
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http.post(self.url(path)).json(body).send().await.expect("request")
    }

    /// Signs up through the API as a person would — asks, reads the confirmation link from the
    /// mail (outbox or SMTP peer), confirms — and returns the new org and owner. With the SMTP peer
    /// of [`TestApp::spawn_with_mail`], the confirmation mail is then removed from its mailbox (read
    /// and deleted), so a test of other mail finds only that mail there.
    pub async fn sign_up(&self, email: &str) -> (OrgId, UserId) {
        let response = self.post_json("/api/v1/signup", &self.signup_body(email).await).await;
        assert_eq!(response.status(), 202, "sign-up failed: {}", response.text().await.unwrap_or_default());
        let ids = self.confirm_signup(email).await;
        if let Some(peer) = &self.smtp {
            let marker = "/signup/confirm?token=";
            let read = peer.mailbox().take(|m| m.to.iter().any(|to| to == email) && m.text.contains(marker));
            assert_eq!(read.len(), 1, "one confirmation mail for {email}");
        }
        ids
    }

    /// Creates an organization for `email` without mail or confirmation (the demo seed's path), for
    /// apps started without any mail.
    pub async fn sign_up_directly(&self, email: &str) -> (OrgId, UserId) {
        let input: identity::signup::SignupInput =
            serde_json::from_value(self.signup_body(email).await).expect("a sign-up body");
        let account = identity::signup::create_organization_unverified(&self.state, input, kernel::i18n::Lang::En)
            .await
            .expect("organization created");
        (account.organization_id, account.user_id)
    }

    /// Logs in through the login form, as a browser would, and returns the signed-in browser.
    pub async fn browser_login(&self, email: &str, password: &str) -> Browser {
        let browser = Browser::new(self);
        let response = browser.post_form("/login", &[("email", email), ("password", password)]).await;
        assert_eq!(response.status(), 303, "login failed");
        browser
    }
}

/// A minimal browser: keeps the cookies the app sets and sends the Origin header forms carry.
/// (reqwest's cookie store would not send `Secure` cookies over plain-HTTP loopback.)
pub struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: std::sync::Mutex<Vec<(String, String)>>,
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        Self { http: app.http.clone(), base: app.url(""), cookies: Default::default() }
    }

    fn cookie_header(&self) -> String {
        let cookies = self.cookies.lock().expect("cookies");
        cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn remember(&self, response: &reqwest::Response) {
        let mut cookies = self.cookies.lock().expect("cookies");
        for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let pair = text.split(';').next().unwrap_or("");
            let Some((name, value)) = pair.split_once('=') else { continue };
            cookies.retain(|(n, _)| n != name);
            let removal = text.to_ascii_lowercase().contains("max-age=0") || value.is_empty();
            if !removal {
                cookies.push((name.to_string(), value.to_string()));
            }
        }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().expect("cookies").iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        let response = self
            .http
            .get(format!("{}{}", self.base, path))
            .header(reqwest::header::COOKIE, self.cookie_header())
            .send()
            .await
            .expect("request");
        self.remember(&response);
        response
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.send_form(reqwest::Method::POST, path, form).await
    }

    /// Sends a form as the browser would, with its cookies, Origin and `Sec-Fetch-Site`.
    pub async fn send_form(&self, method: reqwest::Method, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let response = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .header(reqwest::header::COOKIE, self.cookie_header())
            // What Chromium sends for a same-origin form under `Referrer-Policy: no-referrer`.
            .header(reqwest::header::ORIGIN, "null")
            .header("sec-fetch-site", "same-origin")
            .form(form)
            .send()
            .await
            .expect("request");
        self.remember(&response);
        response
    }

    /// A form sent by htmx (`HX-Request: true`), which answers with a fragment.
    pub async fn post_htmx(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.post_form_with_header(path, form, "hx-request", "true").await
    }

    /// [`Browser::post_form`] as a page's script sends it, asking for `accept` (e.g. JSON).
    pub async fn post_form_with_accept(&self, path: &str, form: &[(&str, &str)], accept: &str) -> reqwest::Response {
        self.post_form_with_header(path, form, reqwest::header::ACCEPT.as_str(), accept).await
    }

    async fn post_form_with_header(
        &self,
        path: &str,
        form: &[(&str, &str)],
        name: &str,
        value: &str,
    ) -> reqwest::Response {
        let response = self
            .http
            .post(format!("{}{}", self.base, path))
            .header(reqwest::header::COOKIE, self.cookie_header())
            .header(reqwest::header::ORIGIN, "null")
            .header("sec-fetch-site", "same-origin")
            .header(name, value)
            .form(form)
            .send()
            .await
            .expect("request");
        self.remember(&response);
        response
    }

    /// Presses the button of the sign-up confirmation page for `email`'s newest mailed link (as
    /// after following it), which signs the new owner in.
    pub async fn confirm_signup(&self, app: &TestApp, email: &str) -> reqwest::Response {
        let token = app.signup_token(email).expect("a sign-up confirmation mail");
        self.post_form("/signup/confirm", &[("token", &token)]).await
    }

    /// Takes over another browser's cookies (e.g. after logging in again).
    pub fn adopt_cookies(&self, other: &Browser) {
        let theirs = other.cookies.lock().expect("cookies").clone();
        *self.cookies.lock().expect("cookies") = theirs;
    }

    /// Whether the browser's cookie still opens a page that needs a session: the dashboard answers
    /// 200, or redirects to the login page (anything else fails the test).
    pub async fn is_signed_in(&self) -> bool {
        let response = self.get("/dashboard").await;
        match response.status() {
            reqwest::StatusCode::OK => true,
            reqwest::StatusCode::SEE_OTHER => {
                assert_eq!(response.headers()["location"], "/login");
                false
            }
            other => panic!("unexpected {other} from /dashboard"),
        }
    }

    /// Posts a form to `action` as it is sent from `page`: with the CSRF token of that page.
    pub async fn submit_form(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let csrf = self.csrf_token(page).await;
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        self.post_form(action, &form).await
    }

    /// The CSRF token embedded in a page's forms.
    pub async fn csrf_token(&self, path: &str) -> String {
        let html = self.get(path).await.text().await.expect("html");
        let marker = "name=\"csrf\" value=\"";
        let start = html.find(marker).expect("a csrf field") + marker.len();
        html[start..].split('"').next().expect("token").to_string()
    }
}
