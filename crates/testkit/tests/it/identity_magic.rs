//! Sign-in by email (issue #3 item 5; P2-07, P2-12): one mail with a magic link and a six-digit
//! code, delivered through the job queue to a real SMTP peer (aiosmtpd on loopback).

use hmac::{Hmac, KeyInit, Mac};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use testkit::db::find_in_database;
use testkit::{Browser, SESSION_COOKIE, TestApp};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// What a sign-in mail carries.
struct SignInMail {
    subject: String,
    text: String,
    /// `/login/link/{token}`.
    path: String,
    token: String,
    code: String,
}

async fn ask(app: &TestApp, email: &str) -> reqwest::Response {
    Browser::new(app).post_form("/login/email", &[("email", email)]).await
}

/// The last sign-in mail `email` received.
fn last_mail(app: &TestApp, email: &str) -> SignInMail {
    let mail = app.mailbox().messages_to(email).pop().expect("a mail");
    let link = mail.link(&app.origin()).expect("a link in the mail");
    let path = link.strip_prefix(&app.origin()).expect("a link to this app").to_string();
    let token = path.strip_prefix("/login/link/").expect("a sign-in link").to_string();
    let code = mail
        .text
        .split_whitespace()
        .find(|w| w.len() == 6 && w.bytes().all(|b| b.is_ascii_digit()))
        .expect("a six-digit code in the mail")
        .to_string();
    SignInMail { subject: mail.subject, text: mail.text, path, token, code }
}

/// Asks for a sign-in mail through the page, delivers it, and returns it.
async fn sign_in_mail(app: &TestApp, email: &str) -> SignInMail {
    let response = ask(app, email).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let tick = app.run_jobs().await;
    assert_eq!((tick.succeeded, tick.failed), (1, 0), "{tick:?}");
    last_mail(app, email)
}

async fn enter_code(browser: &Browser, email: &str, code: &str) -> reqwest::Response {
    browser.post_form("/login/code", &[("email", email), ("code", code)]).await
}

/// Asserts a successful sign-in answer: to the dashboard with a session cookie that works.
async fn assert_signed_in(browser: &Browser, response: reqwest::Response) {
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
    assert_eq!(response.headers()["location"], "/dashboard");
    assert!(browser.is_signed_in().await, "the session does not work");
}

/// P2-12: the sign-in mail really reaches an SMTP server — to the account's address, in the
/// member's language — and holds both a `/login/link/{token}` link (256-bit token) and a
/// six-digit code. Nothing is sent before the job runs.
#[tokio::test]
async fn p2_12_sign_in_mail_is_delivered_with_a_link_and_a_code() {
    let app = TestApp::spawn_with_mail().await;
    app.sign_up("ada@example.eu").await;
    let response = ask(&app, "ada@example.eu").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(response.text().await.unwrap().contains("name=\"code\""), "the code form follows the request");
    assert!(app.mailbox().messages().is_empty(), "mail sent before the job ran");

    let tick = app.run_jobs().await;
    assert_eq!((tick.claimed, tick.succeeded, tick.failed), (1, 1, 0));
    let mails = app.mailbox().messages();
    assert_eq!(mails.len(), 1, "one mail for both the link and the code");
    assert_eq!(mails[0].from, "Relais <no-reply@127.0.0.1>");
    assert_eq!(mails[0].to, vec!["ada@example.eu".to_string()]);
    let mail = last_mail(&app, "ada@example.eu");
    assert_eq!(mail.subject, "Your Relais sign-in link and code");
    assert!(mail.text.contains("Hello Ada,"), "{}", mail.text);
    assert!(mail.text.contains("10 minutes"), "{}", mail.text);
    assert_eq!(mail.token.len(), 43, "a 256-bit base64url token");
    assert_eq!(mail.code.len(), 6);

    // The mail follows the member's language, not the requester's.
    let mut db = app.superuser_connection().await;
    sqlx::query("update users set language = 'fr' where email = 'ada@example.eu'").execute(&mut db).await.unwrap();
    app.clock.advance(Duration::seconds(61));
    let french = sign_in_mail(&app, "ada@example.eu").await;
    assert_eq!(french.subject, "Votre lien et votre code de connexion Relais");
    assert!(french.text.contains("Bonjour Ada,"), "{}", french.text);
    assert_ne!(french.token, mail.token);
}

/// Following the link (GET, as a mail scanner does) only shows a confirmation page and signs
/// nobody in, however often; the page's POST signs in.
#[tokio::test]
async fn link_get_does_not_sign_in_and_the_confirmation_post_does() {
    let app = TestApp::spawn_with_mail().await;
    app.sign_up("ada@example.eu").await;
    let mail = sign_in_mail(&app, "ada@example.eu").await;
    let sessions_before = app.select_i64("select count(*) from sessions").await;

    let browser = Browser::new(&app);
    for _ in 0..3 {
        let page = browser.get(&mail.path).await;
        assert_eq!(page.status(), 200);
        assert_eq!(page.headers()["cache-control"], "no-store");
        assert!(page.headers().get("set-cookie").is_none());
        let html = page.text().await.unwrap();
        assert!(html.contains(&format!("action=\"{}\"", mail.path)), "{html}");
    }
    assert_eq!(app.select_i64("select count(*) from sessions").await, sessions_before);
    assert_eq!(app.select_i64("select count(*) from magic_logins where used_at is not null").await, 0);
    assert!(!browser.is_signed_in().await);

    let response = browser.post_form(&mail.path, &[]).await;
    assert_signed_in(&browser, response).await;
    assert_eq!(app.select_i64("select count(*) from sessions").await, sessions_before + 1);
}

/// The code signs in too, on `/login/code`.
#[tokio::test]
async fn the_code_signs_in() {
    let app = TestApp::spawn_with_mail().await;
    app.sign_up("ada@example.eu").await;
    let mail = sign_in_mail(&app, "ada@example.eu").await;
    let browser = Browser::new(&app);
    assert_eq!(browser.get("/login/code").await.status(), 200);
    // Typed with a space in the middle, as people copy codes.
    let typed = format!("{} {}", &mail.code[..3], &mail.code[3..]);
    let response = enter_code(&browser, "Ada@Example.eu", &typed).await;
    assert_signed_in(&browser, response).await;
}

/// Link and code are one credential used once: after the link, the link (GET and POST) and the
/// code are refused; after the code, the link is refused.
#[tokio::test]
async fn link_and_code_work_once_between_them() {
    let app = TestApp::spawn_with_mail().await;
    app.sign_up("ada@example.eu").await;
    let mail = sign_in_mail(&app, "ada@example.eu").await;
    let first = Browser::new(&app);
    assert_signed_in(&first, first.post_form(&mail.path, &[]).await).await;

    let second = Browser::new(&app);
    let reused = second.post_form(&mail.path, &[]).await;
    assert_eq!(reused.status(), 410);
    assert!(reused.text().await.unwrap().contains("This link is no longer valid"));
    assert_eq!(second.get(&mail.path).await.status(), 410);
    assert_eq!(enter_code(&second, "ada@example.eu", &mail.code).await.status(), 401);
    assert!(!second.is_signed_in().await);

    app.clock.advance(Duration::seconds(61));
    let mail = sign_in_mail(&app, "ada@example.eu").await;
    let third = Browser::new(&app);
    assert_signed_in(&third, enter_code(&third, "ada@example.eu", &mail.code).await).await;
    let fourth = Browser::new(&app);
    assert_eq!(enter_code(&fourth, "ada@example.eu", &mail.code).await.status(), 401);
    assert_eq!(fourth.get(&mail.path).await.status(), 410);
    assert_eq!(fourth.post_form(&mail.path, &[]).await.status(), 410);
    assert!(!fourth.is_signed_in().await);
    // A token that was never issued gets the same answer.
    assert_eq!(fourth.get(&format!("/login/link/{}", "A".repeat(43))).await.status(), 410);
}

/// Link and code work for 10 minutes: at 9 the link still shows its page; 11 minutes after the
/// request, link (GET and POST) and code are refused.
#[tokio::test]
async fn link_and_code_expire_after_10_minutes() {
    let app = TestApp::spawn_with_mail().await;
    app.sign_up("ada@example.eu").await;
    let mail = sign_in_mail(&app, "ada@example.eu").await;
    let browser = Browser::new(&app);
    app.clock.advance(Duration::minutes(9));
    assert_eq!(browser.get(&mail.path).await.status(), 200);
    app.clock.advance(Duration::minutes(2));
    assert_eq!(browser.get(&mail.path).await.status(), 410);
    assert_eq!(browser.post_form(&mail.path, &[]).await.status(), 410);
    assert_eq!(enter_code(&browser, "ada@example.eu", &mail.code).await.status(), 401);
    assert!(!browser.is_signed_in().await);
}

/// Five wrong codes burn the code and its link: the right code and the link are then refused.
/// Four wrong codes do not: the fifth try, the right one, signs in. Each wrong code is recorded
/// as a failed `email_otp` login.
#[tokio::test]
async fn five_wrong_codes_burn_the_code_and_its_link() {
    let app = TestApp::spawn_with_mail().await;
    app.sign_up("ada@example.eu").await;
    let mail = sign_in_mail(&app, "ada@example.eu").await;
    let wrong = if mail.code == "000000" { "000001" } else { "000000" };
    let browser = Browser::new(&app);
    for attempt in 1..=5 {
        let response = enter_code(&browser, "ada@example.eu", wrong).await;
        assert_eq!(response.status(), 401, "attempt {attempt}");
        assert!(response.text().await.unwrap().contains("The code is incorrect or has expired"));
    }
    assert_eq!(enter_code(&browser, "ada@example.eu", &mail.code).await.status(), 401);
    assert_eq!(browser.get(&mail.path).await.status(), 410);
    assert_eq!(browser.post_form(&mail.path, &[]).await.status(), 410);
    assert!(!browser.is_signed_in().await);
    assert_eq!(
        app.select_i64("select count(*) from login_events where outcome = 'failure' and method = 'email_otp'").await,
        5
    );

    // A new mail (past the code-entry rate limit's window): four wrong codes leave it working.
    app.clock.advance(Duration::minutes(16));
    let mail = sign_in_mail(&app, "ada@example.eu").await;
    let wrong = if mail.code == "000000" { "000001" } else { "000000" };
    for attempt in 1..=4 {
        assert_eq!(enter_code(&browser, "ada@example.eu", wrong).await.status(), 401, "attempt {attempt}");
    }
    assert_signed_in(&browser, enter_code(&browser, "ada@example.eu", &mail.code).await).await;
}

/// The body of a page with `email` replaced, to compare answers about different addresses.
async fn body_without(response: reqwest::Response, email: &str) -> (u16, String) {
    let status = response.status().as_u16();
    assert!(response.headers().get("set-cookie").is_none());
    (status, response.text().await.unwrap().replace(email, "EMAIL"))
}

/// No enumeration: an unknown address gets the same page as a known one (but for the address it
/// echoes), no mail and no row; a code for it gets the same refusal as a wrong code.
#[tokio::test]
async fn unknown_email_gets_the_identical_response_and_no_mail() {
    let app = TestApp::spawn_with_mail().await;
    app.sign_up("known@example.eu").await;
    let known = body_without(ask(&app, "known@example.eu").await, "known@example.eu").await;
    let unknown = body_without(ask(&app, "nobody@example.eu").await, "nobody@example.eu").await;
    assert_eq!(known, unknown);
    assert_eq!(known.0, 200);

    let tick = app.run_jobs().await;
    assert_eq!((tick.claimed, tick.succeeded), (1, 1), "only the known address gets a mail");
    assert!(app.mailbox().messages_to("nobody@example.eu").is_empty());
    assert_eq!(app.mailbox().messages().len(), 1);
    assert_eq!(app.select_i64("select count(*) from magic_logins").await, 1);

    let browser = Browser::new(&app);
    let wrong = body_without(enter_code(&browser, "known@example.eu", "999999").await, "known@example.eu").await;
    let nobody = body_without(enter_code(&browser, "nobody@example.eu", "999999").await, "nobody@example.eu").await;
    assert_eq!(wrong, nobody);
    assert_eq!(wrong.0, 401);

    // A malformed address is the only thing refused as such.
    assert_eq!(ask(&app, "not an address").await.status(), 422);
}

/// At most one mail per account a minute, whatever the number of requests (the answer does not
/// change); a later request sends a new mail whose link and code replace the older ones.
#[tokio::test]
async fn one_mail_a_minute_and_a_new_mail_replaces_the_old_one() {
    let app = TestApp::spawn_with_mail().await;
    app.sign_up("ada@example.eu").await;
    let first = sign_in_mail(&app, "ada@example.eu").await;
    assert_eq!(ask(&app, "ada@example.eu").await.status(), 200);
    app.clock.advance(Duration::seconds(59));
    assert_eq!(ask(&app, "ada@example.eu").await.status(), 200);
    assert_eq!(app.run_jobs().await.claimed, 0, "a second mail within the minute");

    app.clock.advance(Duration::seconds(2));
    let second = sign_in_mail(&app, "ada@example.eu").await;
    assert_eq!(app.mailbox().messages().len(), 2);
    let browser = Browser::new(&app);
    assert_eq!(browser.get(&first.path).await.status(), 410, "the older link was replaced");
    assert_eq!(enter_code(&browser, "ada@example.eu", &first.code).await.status(), 401);
    assert_signed_in(&browser, browser.post_form(&second.path, &[]).await).await;
}

/// P1-16: requests for sign-in mails are rate-limited per client address (HTTP 429 with
/// `Retry-After`), whatever the addresses asked for.
#[tokio::test]
async fn p1_16_sign_in_mail_requests_are_rate_limited_per_address() {
    let app = TestApp::spawn_with_mail().await;
    for i in 0..10 {
        assert_eq!(ask(&app, &format!("person{i}@example.eu")).await.status(), 200, "request {i}");
    }
    let refused = ask(&app, "person10@example.eu").await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().get("retry-after").is_some());
}

#[derive(sqlx::FromRow, Debug)]
struct MagicRow {
    requested_at: OffsetDateTime,
    requested_ip: Option<sqlx::types::ipnet::IpNet>,
    used_at: Option<OffsetDateTime>,
    used_ip: Option<sqlx::types::ipnet::IpNet>,
    used_method: Option<String>,
}

#[derive(sqlx::FromRow, Debug, PartialEq)]
struct EventRow {
    occurred_at: OffsetDateTime,
    outcome: String,
    method: String,
    ip: Option<sqlx::types::ipnet::IpNet>,
}

/// P2-07: each request and each sign-in keeps its time and client address — on the link's row
/// (`requested_at`/`requested_ip`, `used_at`/`used_ip` and the method) and as a successful
/// `login_events` row with method `magic_link` or `email_otp` — and both are audited, the
/// sign-in with its method.
#[tokio::test]
async fn p2_07_request_and_sign_in_record_ip_and_timestamps() {
    let app = TestApp::spawn_with_mail().await;
    let (_, user) = app.sign_up("ada@example.eu").await;
    let loopback: sqlx::types::ipnet::IpNet = "127.0.0.1/32".parse().unwrap();

    let asked_at = app.clock.now();
    let mail = sign_in_mail(&app, "ada@example.eu").await;
    app.clock.advance(Duration::minutes(3));
    let browser = Browser::new(&app);
    assert_signed_in(&browser, browser.post_form(&mail.path, &[]).await).await;

    app.clock.advance(Duration::minutes(1));
    let asked_again_at = app.clock.now();
    let mail = sign_in_mail(&app, "ada@example.eu").await;
    app.clock.advance(Duration::minutes(2));
    let browser = Browser::new(&app);
    assert_signed_in(&browser, enter_code(&browser, "ada@example.eu", &mail.code).await).await;

    let mut db = app.superuser_connection().await;
    let rows: Vec<MagicRow> = sqlx::query_as(
        "select requested_at, requested_ip, used_at, used_ip, used_method from magic_logins order by requested_at",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0].requested_at, asked_at);
    assert_eq!(rows[0].requested_ip, Some(loopback));
    assert_eq!(rows[0].used_at, Some(asked_at + Duration::minutes(3)));
    assert_eq!(rows[0].used_ip, Some(loopback));
    assert_eq!(rows[0].used_method.as_deref(), Some("magic_link"));
    assert_eq!(rows[1].requested_at, asked_again_at);
    assert_eq!(rows[1].requested_ip, Some(loopback));
    assert_eq!(rows[1].used_at, Some(asked_again_at + Duration::minutes(2)));
    assert_eq!(rows[1].used_ip, Some(loopback));
    assert_eq!(rows[1].used_method.as_deref(), Some("email_otp"));

    let events: Vec<EventRow> = sqlx::query_as(
        "select occurred_at, outcome, method, ip from login_events where method <> 'password' order by occurred_at",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(
        events,
        vec![
            EventRow {
                occurred_at: asked_at + Duration::minutes(3),
                outcome: "success".into(),
                method: "magic_link".into(),
                ip: Some(loopback),
            },
            EventRow {
                occurred_at: asked_again_at + Duration::minutes(2),
                outcome: "success".into(),
                method: "email_otp".into(),
                ip: Some(loopback),
            },
        ]
    );
    let last_login: Option<OffsetDateTime> = sqlx::query_scalar("select last_login_at from users where user_id = $1")
        .bind(user.0)
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(last_login, Some(asked_again_at + Duration::minutes(2)));

    let audit = app.audit_log().await;
    let requested: Vec<_> = audit.iter().filter(|e| e.action == "auth.magic_link.requested").collect();
    assert_eq!(requested.len(), 2);
    assert!(requested.iter().all(|e| e.actor_kind == "anonymous" && e.target_id == Some(user.0)));
    let methods: Vec<(&str, &Value)> = audit
        .iter()
        .filter(|e| e.action == "auth.login.succeeded")
        .map(|e| (e.actor_kind.as_str(), &e.payload))
        .collect();
    assert_eq!(
        methods,
        vec![("user", &json!({ "method": "magic_link" })), ("user", &json!({ "method": "email_otp" }))]
    );
    // No address, email or IP in any of these payloads.
    for entry in &audit {
        let text = entry.payload.to_string();
        assert!(!text.contains("example.eu") && !text.contains("127.0.0.1"), "{text}");
    }
}

/// Nothing in clear in the database: neither the link's token nor the code appears in any text,
/// bytea or JSON column — before the mail is sent, after, and after the sign-in. The link is kept
/// as its SHA-256; the code as an HMAC under the instance key (bound to its row), not a plain hash
/// that trying the 10^6 codes would reverse.
#[tokio::test]
async fn nothing_in_clear_in_the_database() {
    let app = TestApp::spawn_with_mail().await;
    app.sign_up("ada@example.eu").await;
    assert_eq!(ask(&app, "ada@example.eu").await.status(), 200);
    // The job (with the sealed mail) is in the database before delivery: scan it then too, with
    // the token and code read from the delivered mail afterwards.
    let mut db = app.superuser_connection().await;
    let sealed_jobs: i64 =
        sqlx::query_scalar("select count(*) from jobs where kind = 'mail.send'").fetch_one(&mut db).await.unwrap();
    assert_eq!(sealed_jobs, 1);
    let snapshot: Vec<(Value,)> = sqlx::query_as("select payload from jobs").fetch_all(&mut db).await.unwrap();
    assert_eq!(app.run_jobs().await.succeeded, 1);
    let mail = last_mail(&app, "ada@example.eu");
    for (payload,) in &snapshot {
        let text = payload.to_string();
        assert!(!text.contains(&mail.token) && !text.contains(&mail.code), "the queued mail is sealed");
    }

    // The scan finds what is stored in clear (a control: the member's address)...
    let scan = find_in_database(&mut db, "ada@example.eu").await;
    assert!(scan.scanned.contains(&"public.magic_logins.code_mac".to_string()), "the scan sees the new table");
    assert!(scan.found.contains(&"public.users.email".to_string()));
    // ...and finds neither secret.
    for needle in [&mail.token, &mail.code] {
        assert_eq!(find_in_database(&mut db, needle).await.found, Vec::<String>::new(), "before use");
    }
    let browser = Browser::new(&app);
    assert_signed_in(&browser, browser.post_form(&mail.path, &[]).await).await;
    for needle in [&mail.token, &mail.code] {
        assert_eq!(find_in_database(&mut db, needle).await.found, Vec::<String>::new(), "after use");
    }

    let (magic_id, token_hash, code_mac): (Uuid, Vec<u8>, Vec<u8>) =
        sqlx::query_as("select magic_id, token_hash, code_mac from magic_logins").fetch_one(&mut db).await.unwrap();
    assert_eq!(token_hash, Sha256::digest(mail.token.as_bytes()).to_vec());
    assert_ne!(code_mac, Sha256::digest(mail.code.as_bytes()).to_vec());
    let mut keyed = Hmac::<Sha256>::new_from_slice(app.state.email_otp_key().expose_secret()).unwrap();
    keyed.update(magic_id.as_bytes());
    keyed.update(mail.code.as_bytes());
    assert_eq!(code_mac, keyed.finalize().into_bytes().to_vec(), "an HMAC under the email-otp instance key");
}

/// A member with MFA signing in by email still goes through the second step: the link yields
/// the pending login of `/login/mfa`, not a session (the mail replaces the password, never the
/// second factor).
#[tokio::test]
async fn a_member_with_mfa_still_needs_the_second_factor() {
    let app = TestApp::spawn_with_mail().await;
    let (org, user) = app.sign_up("ada@example.eu").await;
    let mut db = app.superuser_connection().await;
    sqlx::query(
        "insert into mfa_factors (org_id, user_id, secret_sealed, created_at, enrolled_at) values ($1, $2, '\\x00', $3, $3)",
    )
    .bind(org.0)
    .bind(user.0)
    .bind(app.clock.now())
    .execute(&mut db)
    .await
    .unwrap();
    let sessions_before = app.select_i64("select count(*) from sessions").await;

    let mail = sign_in_mail(&app, "ada@example.eu").await;
    let browser = Browser::new(&app);
    let response = browser.post_form(&mail.path, &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/login/mfa");
    assert!(browser.cookie(SESSION_COOKIE).is_none());
    assert_eq!(app.select_i64("select count(*) from sessions").await, sessions_before);
    assert_eq!(app.select_i64("select count(*) from mfa_pending_logins where used_at is null").await, 1);
    assert_eq!(browser.get("/login/mfa").await.status(), 200);

    app.clock.advance(Duration::seconds(61));
    let mail = sign_in_mail(&app, "ada@example.eu").await;
    let by_code = Browser::new(&app);
    let response = enter_code(&by_code, "ada@example.eu", &mail.code).await;
    assert_eq!(response.headers()["location"], "/login/mfa");
    assert!(by_code.cookie(SESSION_COOKIE).is_none());
    assert_eq!(app.select_i64("select count(*) from sessions").await, sessions_before);
}

/// A sign-in by emailed link finished through the second step records the link as its method
/// (login history and session), not `password`; a code is recorded as `email_otp` the same way.
#[tokio::test]
async fn an_emailed_sign_in_finished_through_mfa_records_its_own_method() {
    let app = TestApp::spawn_with_mail().await;
    let (_, _, owner) = app.sign_up_and_log_in("ada@example.eu").await;
    let html = owner.get("/settings/mfa").await.text().await.unwrap();
    let after = |marker: &str| html.split(marker).nth(1).unwrap().split(['<', '"']).next().unwrap().to_string();
    let (secret, csrf) = (after("id=\"totp-secret\">"), after("name=\"csrf\" value=\""));
    let code = app.totp_code(&secret);
    let enrolled = owner.post_form("/settings/mfa/enroll", &[("csrf", csrf.as_str()), ("code", &code)]).await;
    assert_eq!(enrolled.status(), 200);

    for (by_link, method) in [(true, "magic_link"), (false, "email_otp")] {
        app.clock.advance(Duration::seconds(61));
        let mail = sign_in_mail(&app, "ada@example.eu").await;
        let browser = Browser::new(&app);
        let response = if by_link {
            browser.post_form(&mail.path, &[]).await
        } else {
            enter_code(&browser, "ada@example.eu", &mail.code).await
        };
        assert_eq!(response.headers()["location"], "/login/mfa");
        let response = browser.post_form("/login/mfa", &[("code", &app.totp_code(&secret))]).await;
        assert_signed_in(&browser, response).await;
        let (recorded,): (String,) = sqlx::query_as(
            "select method from login_events where outcome = 'success' order by occurred_at desc limit 1",
        )
        .fetch_one(&mut app.superuser_connection().await)
        .await
        .unwrap();
        assert_eq!(recorded, method, "the sign-in was recorded as {recorded}");
    }
}
