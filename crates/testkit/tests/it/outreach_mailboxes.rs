//! Connected mailboxes (issue #12 item 1, password provider) against real servers on loopback: an
//! aiosmtpd server requiring AUTH (`peers/smtp_auth.py`) and Dovecot for IMAP, both started by the
//! test with one account. Connect, the connection test and what it names when it fails, the
//! sealed password (never in a response, never in the row in clear), settings validation, revoke
//! (row gone, planned messages cancelled), who sees and changes what, and the pages.

use kernel::OrgId;
use kernel::authz::Role;
use kernel::db::Actor;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::TestApp;
use testkit::mail_peers::{AuthSmtpPeer, ImapPeer};
use testkit::outreach::StepSpec;
use uuid::Uuid;

const USER: &str = "camille@sender.example";
const SECRET: &str = "Sm7p-s3cret-Pa55word";

const ALLOW_PRIVATE: &[(&str, &str)] = &[("RELAIS_OUTREACH_ALLOW_PRIVATE", "true")];

struct Peers {
    smtp: AuthSmtpPeer,
    imap: ImapPeer,
}

async fn peers() -> Peers {
    Peers {
        smtp: AuthSmtpPeer::start(USER, SECRET).await.expect("SMTP peer"),
        imap: ImapPeer::start(USER, SECRET).await.expect("IMAP peer"),
    }
}

fn connect_body(address: &str, smtp_port: u16, imap_port: u16, password: &str) -> Value {
    json!({
        "from_name": "Camille Martin",
        "from_address": address,
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "smtp_security": "none",
        "smtp_username": USER,
        "imap_host": "127.0.0.1",
        "imap_port": imap_port,
        "imap_security": "none",
        "password": password,
    })
}

/// Connects the peers' account through the API: the answer's status and body.
async fn connect_to_peers(app: &TestApp, token: &str, peers: &Peers) -> (StatusCode, Value) {
    app.call_api(
        token,
        Method::POST,
        "/api/v1/outreach/mailboxes",
        Some(connect_body(USER, peers.smtp.port(), peers.imap.port(), SECRET)),
    )
    .await
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn field_errors(body: &Value) -> Vec<(String, String)> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| (e["field"].as_str().unwrap_or("").to_string(), e["code"].as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

async fn mailbox_count(app: &TestApp, org: OrgId) -> i64 {
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    let n: i64 = sqlx::query_scalar("select count(*) from outreach_mailboxes where org_id = $1")
        .bind(org)
        .fetch_one(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    n
}

async fn connect(app: &TestApp, token: &str, body: Value) -> Uuid {
    let (status, created) = app.call_api(token, Method::POST, "/api/v1/outreach/mailboxes", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["mailbox_id"].as_str().unwrap().parse().unwrap()
}

/// P0-05, P0-17: a mailbox connects after its test passes (SMTP AUTH, IMAP LOGIN + SELECT INBOX);
/// its password is sealed — not in any response, not in the row in clear, not in the audit log.
#[tokio::test]
async fn p0_05_a_mailbox_connects_after_a_passing_test_and_its_password_is_never_shown_or_stored_in_clear() {
    let app = TestApp::spawn_with(ALLOW_PRIVATE).await;
    let peers = peers().await;
    let (org, user, token) = app.sign_up_with_token("owner@connect.example.eu").await;

    let (status, created) = connect_to_peers(&app, &token, &peers).await;
    assert_eq!(status, StatusCode::CREATED, "{created}\n{}", peers.imap.log());
    assert_eq!(created["status"], "active");
    assert_eq!(created["from_address"], USER);
    assert_eq!(created["owner_id"], json!(user.0));
    assert_eq!(created["daily_cap"], 50);
    assert_eq!(created["imap"]["username"], USER, "the IMAP user name defaults to the SMTP one");
    assert!(created["last_tested_at"].is_string());
    assert!(created["last_test_error"].is_null());
    assert!(!created.to_string().contains(SECRET));
    let id = created["mailbox_id"].as_str().unwrap().to_string();

    for path in ["/api/v1/outreach/mailboxes".to_string(), format!("/api/v1/outreach/mailboxes/{id}")] {
        let (status, text) = app.get_text_with_bearer(&token, &path).await;
        assert_eq!(status, 200);
        assert!(!text.contains(SECRET), "{path} shows the password");
        assert!(!text.contains("secret"), "{path} shows a secret field: {text}");
    }

    // A second test through the API passes and is recorded.
    let (status, tested) =
        app.call_api(&token, Method::POST, &format!("/api/v1/outreach/mailboxes/{id}/test"), None).await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["ok"], true, "{tested}");
    assert!(tested["error"].is_null());

    // The row, every byte of it, never holds the password in clear.
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    let (sealed, whole): (Vec<u8>, String) = sqlx::query_as(
        "select secret_sealed, m::text from outreach_mailboxes m where org_id = $1 and mailbox_id = $2::uuid",
    )
    .bind(org)
    .bind(&id)
    .fetch_one(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(!sealed.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()), "the sealed secret holds the password");
    assert!(!whole.contains(SECRET), "the row holds the password in clear");
    let hex_secret = hex::encode(SECRET);
    assert!(!whole.contains(&hex_secret), "the row holds the password's bytes");

    assert_eq!(app.count_audit_events(org, "outreach.mailbox.connected").await, 1);
    assert_eq!(app.count_audit_events(org, "outreach.mailbox.tested").await, 1);
    let log = app.org_audit_log(org).await;
    assert!(log.iter().all(|entry| !entry.payload.to_string().contains(SECRET)), "a secret in the audit log");

    // The same address twice for the same member: refused on the field.
    let (status, again) = connect_to_peers(&app, &token, &peers).await;
    assert_eq!(status, 422);
    assert_eq!(field_errors(&again), [("from_address".to_string(), "taken".to_string())]);
}

/// A connection test that fails names what failed, and nothing is saved: the SMTP server refusing
/// the password, the IMAP server refusing it, and a port where nothing listens.
#[tokio::test]
async fn a_failing_test_names_what_failed_and_saves_nothing() {
    let app = TestApp::spawn_with(ALLOW_PRIVATE).await;
    let peers = peers().await;
    let (org, _, token) = app.sign_up_with_token("owner@failing.example.eu").await;
    let refused = |body: Value| {
        let app = &app;
        let token = &token;
        async move {
            let (status, problem) = app.call_api(token, Method::POST, "/api/v1/outreach/mailboxes", Some(body)).await;
            assert_eq!(status, 422, "{problem}");
            assert!(!problem.to_string().contains("Wrong-password"));
            field_errors(&problem)
        }
    };

    let wrong = connect_body(USER, peers.smtp.port(), peers.imap.port(), "Wrong-password");
    assert_eq!(refused(wrong).await, [("password".to_string(), "smtp_auth".to_string())]);

    // SMTP accepts the password, the IMAP server does not know it.
    let other_imap = ImapPeer::start(USER, "another-Pa55word").await.unwrap();
    let body = connect_body(USER, peers.smtp.port(), other_imap.port(), SECRET);
    assert_eq!(refused(body).await, [("password".to_string(), "imap_auth".to_string())]);

    let body = connect_body(USER, closed_port(), peers.imap.port(), SECRET);
    assert_eq!(refused(body).await, [("smtp_port".to_string(), "connect".to_string())]);
    let body = connect_body(USER, peers.smtp.port(), closed_port(), SECRET);
    assert_eq!(refused(body).await, [("imap_port".to_string(), "connect".to_string())]);

    // TLS asked of servers that have none: implicit TLS on SMTP, STARTTLS on IMAP.
    let mut body = connect_body(USER, peers.smtp.port(), peers.imap.port(), SECRET);
    body["smtp_security"] = json!("tls");
    assert_eq!(refused(body).await, [("smtp_security".to_string(), "tls".to_string())]);
    let mut body = connect_body(USER, peers.smtp.port(), peers.imap.port(), SECRET);
    body["imap_security"] = json!("starttls");
    assert_eq!(refused(body).await, [("imap_security".to_string(), "tls".to_string())]);

    // A server that takes the connection and never greets: the test gives up after 10 s.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let body = connect_body(USER, silent.local_addr().unwrap().port(), peers.imap.port(), SECRET);
    let started = std::time::Instant::now();
    assert_eq!(refused(body).await, [("smtp_host".to_string(), "timeout".to_string())]);
    assert!(started.elapsed() < std::time::Duration::from_secs(15));

    // A name that does not resolve.
    let mut body = connect_body(USER, peers.smtp.port(), peers.imap.port(), SECRET);
    body["smtp_host"] = json!("no-such-host.invalid");
    assert_eq!(refused(body).await, [("smtp_host".to_string(), "dns".to_string())]);

    // Fields checked before any connection, each named.
    let body = json!({ "from_address": "not an address", "smtp_host": "bad host", "smtp_port": 70000,
                       "smtp_security": "ssl", "imap_host": "", "password": "" });
    let errors = refused(body).await;
    for expected in [
        ("from_address", "invalid_email"),
        ("smtp_host", "invalid_host"),
        ("smtp_security", "invalid_choice"),
        ("smtp_port", "out_of_range"),
        ("smtp_username", "required"),
        ("imap_host", "required"),
        ("password", "required"),
    ] {
        assert!(errors.contains(&(expected.0.to_string(), expected.1.to_string())), "{expected:?} in {errors:?}");
    }

    assert_eq!(mailbox_count(&app, org).await, 0, "no mailbox saved after a failed test");
    assert_eq!(app.count_audit_events(org, "outreach.mailbox.connected").await, 0);
}

/// Connecting a mailbox, and a member's connection test, hold no database transaction while they
/// wait on a server: one that takes the connection and says nothing keeps them waiting, with no
/// session of the app's database idle in a transaction meanwhile; the test's failure is then
/// recorded and audited, and the connect saves nothing.
#[tokio::test]
async fn connecting_and_testing_hold_no_transaction_while_they_wait_on_the_server() {
    let app = TestApp::spawn_with(ALLOW_PRIVATE).await;
    let peers = peers().await;
    let (org, _, token) = app.sign_up_with_token("owner@waiting.example.eu").await;
    let (status, created) = connect_to_peers(&app, &token, &peers).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["mailbox_id"].as_str().unwrap().to_string();

    // The mailbox's SMTP server becomes one that accepts and never greets.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut superuser = app.superuser_connection().await;
    sqlx::query("update outreach_mailboxes set smtp_port = $1 where mailbox_id = $2::uuid")
        .bind(i32::from(silent.local_addr().unwrap().port()))
        .bind(&id)
        .execute(&mut superuser)
        .await
        .unwrap();

    // Counts the app's sessions sitting in a transaction once a call waits on the server's
    // greeting, then hangs up, which ends the call at once.
    async fn in_transaction_while_waiting(silent: &tokio::net::TcpListener, superuser: &mut sqlx::PgConnection) -> i64 {
        let (socket, _) = silent.accept().await.unwrap();
        let waiting: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity
              where datname = current_database() and pid <> pg_backend_pid()
                and state in ('idle in transaction', 'idle in transaction (aborted)')",
        )
        .fetch_one(superuser)
        .await
        .unwrap();
        drop(socket);
        waiting
    }

    let path = format!("/api/v1/outreach/mailboxes/{id}/test");
    let test = app.call_api(&token, Method::POST, &path, None);
    let ((status, tested), waiting) = tokio::join!(test, in_transaction_while_waiting(&silent, &mut superuser));
    assert_eq!(waiting, 0, "a session sat in a transaction while the server was silent");
    assert_eq!(status, 200, "{tested}");
    assert_eq!((&tested["ok"], &tested["server"]), (&json!(false), &json!("smtp")), "{tested}");
    assert!(tested["mailbox"]["last_test_error"].is_string(), "{tested}");
    assert_eq!(app.count_audit_events(org, "outreach.mailbox.tested").await, 1);

    let body = connect_body("other@sender.example", silent.local_addr().unwrap().port(), peers.imap.port(), SECRET);
    let connect = app.call_api(&token, Method::POST, "/api/v1/outreach/mailboxes", Some(body));
    let ((status, refused), waiting) = tokio::join!(connect, in_transaction_while_waiting(&silent, &mut superuser));
    assert_eq!(waiting, 0, "a session sat in a transaction while the server was silent");
    assert_eq!(status, 422, "{refused}");
    assert_eq!(mailbox_count(&app, org).await, 1, "nothing saved");
}

/// Without RELAIS_OUTREACH_ALLOW_PRIVATE a mailbox cannot point at loopback or a private network
/// (the server-side request forgery guard, on the address the name resolves to as well) and
/// cannot send a password unencrypted.
#[tokio::test]
async fn loopback_private_and_unencrypted_servers_are_refused_by_default() {
    let app = TestApp::spawn().await;
    let peers = peers().await;
    let (org, _, token) = app.sign_up_with_token("owner@ssrf.example.eu").await;

    let (status, problem) = connect_to_peers(&app, &token, &peers).await;
    assert_eq!(status, 422);
    let errors = field_errors(&problem);
    for expected in [
        ("smtp_host", "private_address"),
        ("smtp_security", "tls_required"),
        ("imap_host", "private_address"),
        ("imap_security", "tls_required"),
    ] {
        assert!(errors.contains(&(expected.0.to_string(), expected.1.to_string())), "{expected:?} in {errors:?}");
    }

    // A name that resolves to loopback is refused when resolved, before any connection.
    let mut body = connect_body(USER, peers.smtp.port(), peers.imap.port(), SECRET);
    for (field, value) in [
        ("smtp_host", "localhost"),
        ("smtp_security", "starttls"),
        ("imap_host", "localhost"),
        ("imap_security", "tls"),
    ] {
        body[field] = json!(value);
    }
    let (status, problem) = app.call_api(&token, Method::POST, "/api/v1/outreach/mailboxes", Some(body)).await;
    assert_eq!(status, 422);
    assert_eq!(field_errors(&problem), [("smtp_host".to_string(), "private_address".to_string())]);
    assert_eq!(mailbox_count(&app, org).await, 0);
}

/// Settings are checked field by field, each refusal naming its field; the daily cap is the
/// owners'; a new password is tested before it is kept.
#[tokio::test]
async fn settings_are_validated_field_by_field_and_a_new_password_is_tested() {
    let app = TestApp::spawn_with(ALLOW_PRIVATE).await;
    let peers = peers().await;
    let (org, _, token) = app.sign_up_with_token("owner@settings.example.eu").await;
    let id = connect(&app, &token, connect_body(USER, peers.smtp.port(), peers.imap.port(), SECRET)).await;
    let path = format!("/api/v1/outreach/mailboxes/{id}");

    for (body, field, code) in [
        (json!({ "daily_cap": 0 }), "daily_cap", "out_of_range"),
        (json!({ "min_gap_seconds": -1 }), "min_gap_seconds", "out_of_range"),
        (json!({ "jitter_seconds": 4000 }), "jitter_seconds", "out_of_range"),
        (json!({ "window_days": [] }), "window_days", "invalid_days"),
        (json!({ "window_days": [1, 8] }), "window_days", "invalid_days"),
        (json!({ "window_start": "25:00" }), "window_start", "invalid_time"),
        (json!({ "window_start": "18:00", "window_end": "09:00" }), "window_end", "end_before_start"),
        (json!({ "time_zone": "Mars/Olympus_Mons" }), "time_zone", "invalid_time_zone"),
        (json!({ "from_name": "Line\nbreak" }), "from_name", "invalid"),
        (json!({ "password": "Wrong-password" }), "password", "smtp_auth"),
    ] {
        let (status, problem) = app.call_api(&token, Method::PATCH, &path, Some(body.clone())).await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert_eq!(field_errors(&problem), [(field.to_string(), code.to_string())], "{body}");
    }

    let change = json!({ "daily_cap": 120, "min_gap_seconds": 300, "jitter_seconds": 30, "window_days": [1, 2, 3],
                         "window_start": "09:30", "window_end": "17:00", "time_zone": "America/New_York",
                         "signature": "Camille\nRelais", "from_name": "Camille M." });
    let (status, changed) = app.call_api(&token, Method::PATCH, &path, Some(change)).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["daily_cap"], 120);
    assert_eq!(changed["window_days"], json!([1, 2, 3]));
    assert_eq!(changed["window_start"], "09:30");
    assert_eq!(changed["window_end"], "17:00");
    assert_eq!(changed["time_zone"], "America/New_York");
    assert_eq!(changed["signature"], "Camille\nRelais");

    // The right password is tested, then kept (sealed anew).
    let (status, changed) = app.call_api(&token, Method::PATCH, &path, Some(json!({ "password": SECRET }))).await;
    assert_eq!(status, 200, "{changed}");
    assert!(!changed.to_string().contains(SECRET));
    let updates = app.org_audit_log(org).await.into_iter().filter(|e| e.action == "outreach.mailbox.updated");
    let payloads: Vec<Value> = updates.map(|e| e.payload).collect();
    assert_eq!(payloads.len(), 2);
    assert_eq!(payloads[1]["password_changed"], true);
    assert!(payloads.iter().all(|p| !p.to_string().contains(SECRET)));

    // A member who is not an owner keeps the default cap.
    app.add_member(org, "user@settings.example.eu", Role::User).await;
    let member = app.access_token("user@settings.example.eu").await;
    let member_id = connect(&app, &member, connect_body(USER, peers.smtp.port(), peers.imap.port(), SECRET)).await;
    let member_path = format!("/api/v1/outreach/mailboxes/{member_id}");
    let (status, problem) = app.call_api(&member, Method::PATCH, &member_path, Some(json!({ "daily_cap": 500 }))).await;
    assert_eq!(status, 422);
    assert_eq!(field_errors(&problem), [("daily_cap".to_string(), "owner_only".to_string())]);
    let (status, _) = app.call_api(&member, Method::PATCH, &member_path, Some(json!({ "min_gap_seconds": 10 }))).await;
    assert_eq!(status, 200);
}

/// P0-17: revoking deletes the row (and the sealed password with it) and cancels what the mailbox
/// had planned; it is audited.
#[tokio::test]
async fn p0_17_revoking_deletes_the_row_and_cancels_planned_messages() {
    let app = TestApp::spawn_with(ALLOW_PRIVATE).await;
    let peers = peers().await;
    let (org, user, token) = app.sign_up_with_token("owner@revoke.example.eu").await;
    let id = connect(&app, &token, connect_body(USER, peers.smtp.port(), peers.imap.port(), SECRET)).await;
    // Only tomorrow (Paris) is a sending day: the message is planned, not sent.
    let zone = kernel::dates::zone("Europe/Paris").unwrap();
    let tomorrow = kernel::dates::local(app.clock.now(), zone).weekday().next().number_from_monday();
    let (status, body) = app
        .call_api(
            &token,
            Method::PATCH,
            &format!("/api/v1/outreach/mailboxes/{id}"),
            Some(json!({ "window_days": [tomorrow], "min_gap_seconds": 0 })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let sequence = app
        .outreach_sequence(
            org,
            user.0,
            &[id],
            &[StepSpec::Email { subject: "Hi", body: "Hello.\n{{ unsubscribe_url }}", in_thread: false }],
        )
        .await;
    let contact = app.outreach_contact(org, "ada@example.org", "Ada", "").await;
    app.outreach_enroll(org, sequence, &[contact]).await;
    app.run_jobs().await;
    assert_eq!(app.outreach_messages(org).await, [("ada@example.org".into(), "planned".into(), String::new())]);

    let (status, _) = app.call_api(&token, Method::DELETE, &format!("/api/v1/outreach/mailboxes/{id}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(mailbox_count(&app, org).await, 0, "the row is deleted, not flagged");
    assert_eq!(
        app.outreach_messages(org).await,
        [("ada@example.org".into(), "cancelled".into(), "mailbox_revoked".into())]
    );
    assert_eq!(app.count_audit_events(org, "outreach.mailbox.revoked").await, 1);
    let (status, _) = app.call_api(&token, Method::GET, &format!("/api/v1/outreach/mailboxes/{id}"), None).await;
    assert_eq!(status, 404);
    let (status, _) = app.call_api(&token, Method::DELETE, &format!("/api/v1/outreach/mailboxes/{id}"), None).await;
    assert_eq!(status, 404);
}

/// A member sees and changes only their own mailboxes (anyone else's is not found); managers see
/// everyone's, read-only; owners disable and enable anyone's and set their caps. Another
/// organization finds none of them.
#[tokio::test]
async fn members_own_their_mailboxes_managers_read_owners_disable_and_other_orgs_find_nothing() {
    let app = TestApp::spawn_with(ALLOW_PRIVATE).await;
    let peers = peers().await;
    let (org, _, owner) = app.sign_up_with_token("owner@roles.example.eu").await;
    app.add_member(org, "user@roles.example.eu", Role::User).await;
    app.add_member(org, "other@roles.example.eu", Role::User).await;
    app.add_member(org, "manager@roles.example.eu", Role::Manager).await;
    let member = app.access_token("user@roles.example.eu").await;
    let other = app.access_token("other@roles.example.eu").await;
    let manager = app.access_token("manager@roles.example.eu").await;
    let id = connect(&app, &member, connect_body(USER, peers.smtp.port(), peers.imap.port(), SECRET)).await;
    let path = format!("/api/v1/outreach/mailboxes/{id}");

    // Another member: nothing to see, nothing to touch.
    let (status, list) = app.call_api(&other, Method::GET, "/api/v1/outreach/mailboxes", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["data"], json!([]));
    for (method, suffix) in [(Method::GET, ""), (Method::PATCH, ""), (Method::DELETE, ""), (Method::POST, "/test")] {
        let body = (method == Method::PATCH).then(|| json!({ "signature": "x" }));
        let (status, _) = app.call_api(&other, method.clone(), &format!("{path}{suffix}"), body).await;
        assert_eq!(status, 404, "{method} {suffix}");
    }
    for suffix in ["/disable", "/enable"] {
        let (status, _) = app.call_api(&other, Method::POST, &format!("{path}{suffix}"), None).await;
        assert_eq!(status, 403, "{suffix} is for owners");
    }

    // A manager sees it, cannot change it.
    let (_, list) = app.call_api(&manager, Method::GET, "/api/v1/outreach/mailboxes", None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let (status, _) = app.call_api(&manager, Method::GET, &path, None).await;
    assert_eq!(status, 200);
    let (status, _) = app.call_api(&manager, Method::PATCH, &path, Some(json!({ "signature": "x" }))).await;
    assert_eq!(status, 404);
    let (status, _) = app.call_api(&manager, Method::POST, &format!("{path}/disable"), None).await;
    assert_eq!(status, 403);

    // The owner sets the cap, cannot change the member's other settings, disables and enables.
    let (status, body) = app.call_api(&owner, Method::PATCH, &path, Some(json!({ "daily_cap": 80 }))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["daily_cap"], 80);
    let (status, _) = app.call_api(&owner, Method::PATCH, &path, Some(json!({ "signature": "x" }))).await;
    assert_eq!(status, 403);
    let (status, _) = app.call_api(&owner, Method::DELETE, &path, None).await;
    assert_eq!(status, 404, "only its member revokes a mailbox");
    let (status, body) = app.call_api(&owner, Method::POST, &format!("{path}/disable"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "disabled");
    assert_eq!(app.count_audit_events(org, "outreach.mailbox.disabled").await, 1);
    // A passing test does not undo an owner's decision.
    let (_, tested) = app.call_api(&member, Method::POST, &format!("{path}/test"), None).await;
    assert_eq!(tested["ok"], true);
    assert_eq!(tested["mailbox"]["status"], "disabled");
    let (status, body) = app.call_api(&owner, Method::POST, &format!("{path}/enable"), None).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "active");
    assert_eq!(app.count_audit_events(org, "outreach.mailbox.enabled").await, 1);

    // Another organization's owner: not found, whatever the route.
    let (_, _, stranger) = app.sign_up_with_token("owner@elsewhere.example.eu").await;
    for (method, suffix) in [
        (Method::GET, ""),
        (Method::PATCH, ""),
        (Method::DELETE, ""),
        (Method::POST, "/test"),
        (Method::POST, "/disable"),
        (Method::POST, "/enable"),
    ] {
        let body = (method == Method::PATCH).then(|| json!({ "daily_cap": 1 }));
        let (status, _) = app.call_api(&stranger, method.clone(), &format!("{path}{suffix}"), body).await;
        assert_eq!(status, 404, "{method} {suffix} from another organization");
    }
    let (_, list) = app.call_api(&stranger, Method::GET, "/api/v1/outreach/mailboxes", None).await;
    assert_eq!(list["data"], json!([]));
}

/// A mailbox that paused itself (its server refused the password while sending) is active again
/// once a test passes.
#[tokio::test]
async fn a_passing_test_reactivates_a_paused_mailbox() {
    let app = TestApp::spawn_with(ALLOW_PRIVATE).await;
    let peers = peers().await;
    let (org, _, token) = app.sign_up_with_token("owner@paused.example.eu").await;
    let id = connect(&app, &token, connect_body(USER, peers.smtp.port(), peers.imap.port(), SECRET)).await;
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    outreach::mailboxes::transport::pause(&mut tx, id, "auth_failed", app.clock.now()).await.unwrap();
    tx.commit().await.unwrap();
    let (_, body) = app.call_api(&token, Method::GET, &format!("/api/v1/outreach/mailboxes/{id}"), None).await;
    assert_eq!(body["status"], "paused");
    assert_eq!(body["pause_reason"], "auth_failed");

    let (status, tested) =
        app.call_api(&token, Method::POST, &format!("/api/v1/outreach/mailboxes/{id}/test"), None).await;
    assert_eq!(status, 200);
    assert_eq!(tested["mailbox"]["status"], "active");
    assert_eq!(tested["mailbox"]["pause_reason"], "");

    // With the IMAP server gone, the test fails and says so, and the mailbox keeps its state.
    drop(peers.imap);
    let (_, tested) = app.call_api(&token, Method::POST, &format!("/api/v1/outreach/mailboxes/{id}/test"), None).await;
    assert_eq!(tested["ok"], false);
    assert_eq!(tested["error"], "connect");
    assert_eq!(tested["server"], "imap");
    assert_eq!(tested["mailbox"]["last_test_error"], "connect");
}

/// The pages: the list, the connect form (a refusal draws it again with the message at the field
/// and what was typed, never the password), the mailbox's page, its settings and revoke.
#[tokio::test]
async fn the_pages_connect_show_refusals_in_place_change_settings_and_revoke() {
    let app = TestApp::spawn_with(ALLOW_PRIVATE).await;
    let peers = peers().await;
    let (_, _, browser) = app.sign_up_and_log_in("owner@pages.example.eu").await;

    let list = browser.get("/outreach/mailboxes").await;
    assert_eq!(list.status(), 200);
    assert!(list.text().await.unwrap().contains("No mailbox connected yet"));
    let form = browser.get("/outreach/mailboxes/new").await;
    assert_eq!(form.status(), 200);
    let html = form.text().await.unwrap();
    assert!(html.contains("name=\"smtp_host\"") && html.contains("name=\"password\""));

    let smtp_port = peers.smtp.port().to_string();
    let imap_port = peers.imap.port().to_string();
    let fields = |password: &'static str| {
        vec![
            ("from_name", "Camille Martin"),
            ("from_address", USER),
            ("smtp_host", "127.0.0.1"),
            ("smtp_port", smtp_port.as_str()),
            ("smtp_security", "none"),
            ("smtp_username", USER),
            ("imap_host", "127.0.0.1"),
            ("imap_port", imap_port.as_str()),
            ("imap_security", "none"),
            ("imap_username", ""),
            ("password", password),
        ]
    };
    let refused =
        browser.submit_form("/outreach/mailboxes/new", "/outreach/mailboxes/new", &fields("Wrong-password")).await;
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.unwrap();
    assert!(html.contains("The SMTP server refused the user name or password."), "{html}");
    assert!(html.contains("id=\"password-error\""));
    assert!(html.contains(&format!("value=\"{}\"", smtp_port)), "what was typed is kept");
    assert!(html.contains("value=\"camille@sender.example\""));
    assert!(!html.contains("Wrong-password"), "the password is never drawn back");

    let done = browser.submit_form("/outreach/mailboxes/new", "/outreach/mailboxes/new", &fields(SECRET)).await;
    assert_eq!(done.status(), 303);
    let location = testkit::http::header(&done, "location");
    assert!(location.starts_with("/outreach/mailboxes/"), "{location}");
    let page = browser.get(&location).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("The mailbox is connected"), "the toast");
    assert!(html.contains(USER) && !html.contains(SECRET));

    let list = browser.get("/outreach/mailboxes").await.text().await.unwrap();
    assert!(list.contains(USER) && list.contains("0 of 50"), "{list}");

    // Settings: a refusal in place, then a save.
    let mut settings = vec![
        ("from_name", "Camille"),
        ("daily_cap", "60"),
        ("min_gap_seconds", "90"),
        ("jitter_seconds", "10"),
        ("window_days", "1"),
        ("window_days", "5"),
        ("window_start", "18:00"),
        ("window_end", "08:00"),
        ("time_zone", "Europe/Paris"),
        ("signature", "Camille"),
        ("password", ""),
    ];
    let refused = browser.submit_form(&location, &location, &settings).await;
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.unwrap();
    assert!(html.contains("The end must come after the start."), "{html}");
    assert!(html.contains("value=\"90\""), "what was typed is kept");
    settings[7] = ("window_end", "19:00");
    let saved = browser.submit_form(&location, &location, &settings).await;
    assert_eq!(saved.status(), 303);
    let html = browser.get(&location).await.text().await.unwrap();
    assert!(html.contains("The settings are saved."));
    assert!(html.contains("value=\"60\"") && html.contains("value=\"19:00\""));

    // The test button, then revoke.
    let tested = browser.submit_form(&location, &format!("{location}/test"), &[]).await;
    assert_eq!(tested.status(), 303);
    assert!(browser.get(&location).await.text().await.unwrap().contains("The test passed"));
    let revoked = browser.submit_form(&location, &format!("{location}/revoke"), &[]).await;
    assert_eq!(revoked.status(), 303);
    assert_eq!(testkit::http::header(&revoked, "location"), "/outreach/mailboxes");
    assert_eq!(browser.get(&location).await.status(), 404);
}

/// The French pages read in French, with the test's error translated, never a bare code.
#[tokio::test]
async fn a_refused_connection_reads_in_french() {
    let app = TestApp::spawn_with(ALLOW_PRIVATE).await;
    let peers = peers().await;
    let (_, _, browser) = app.sign_up_and_log_in("owner@francais.example.eu").await;
    let csrf = browser.csrf_token("/outreach/mailboxes/new").await;
    browser.post_form("/lang", &[("csrf", &csrf), ("lang", "fr"), ("next", "/outreach/mailboxes/new")]).await;
    let smtp_port = peers.smtp.port().to_string();
    let refused = browser
        .submit_form(
            "/outreach/mailboxes/new",
            "/outreach/mailboxes/new",
            &[
                ("from_address", USER),
                ("smtp_host", "127.0.0.1"),
                ("smtp_port", &smtp_port),
                ("smtp_security", "none"),
                ("smtp_username", USER),
                ("imap_host", "127.0.0.1"),
                ("imap_port", &closed_port().to_string()),
                ("imap_security", "none"),
                ("password", SECRET),
            ],
        )
        .await;
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.unwrap();
    assert!(html.contains("Le serveur est injoignable sur ce port."), "{html}");
}
