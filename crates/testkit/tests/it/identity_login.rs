//! Login, sessions and logout: each login is recorded with IP and browser (P0-03), failures say
//! nothing about which part was wrong, sessions are stored only as hashes, expire, end on logout,
//! and cross-site POSTs are refused before any handler runs.

use sha2::{Digest, Sha256};
use testkit::db::{DatabaseScan, find_in_database};
use testkit::http::header;
use testkit::{Browser, SESSION_COOKIE, TestApp};
use time::Duration;
use uuid::Uuid;

/// A browser-like form POST built by hand: same-origin headers plus whatever `extra` adds.
async fn post_login(app: &TestApp, email: &str, password: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app.http.post(app.url("/login")).form(&[("email", email), ("password", password)]);
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request")
}

/// GET /dashboard with only this session cookie value.
async fn dashboard_with(app: &TestApp, token: &str) -> reqwest::Response {
    app.http
        .get(app.url("/dashboard"))
        .header(reqwest::header::COOKIE, format!("{SESSION_COOKIE}={token}"))
        .send()
        .await
        .expect("request")
}

#[derive(Debug, sqlx::FromRow)]
struct LoginEvent {
    user_id: Uuid,
    outcome: String,
    method: String,
    ip: Option<String>,
    user_agent: Option<String>,
    occurred_at: time::OffsetDateTime,
}

async fn login_events(app: &TestApp) -> Vec<LoginEvent> {
    let mut db = app.superuser_connection().await;
    sqlx::query_as(
        "select user_id, outcome, method, host(ip) as ip, user_agent, occurred_at from login_events order by occurred_at, event_id",
    )
    .fetch_all(&mut db)
    .await
    .unwrap()
}

async fn session_exists(app: &TestApp, token: &str) -> bool {
    let mut db = app.superuser_connection().await;
    sqlx::query_scalar("select exists (select from sessions where token_hash = $1)")
        .bind(Sha256::digest(token.as_bytes()).to_vec())
        .fetch_one(&mut db)
        .await
        .unwrap()
}

/// P0-03: a successful form login records a login event with outcome success, the client's IP
/// (127.0.0.1) and the exact User-Agent sent, stores them with the session, and sets
/// `users.last_login_at`.
#[tokio::test]
async fn p0_03_login_records_ip_browser_and_time() {
    let app = TestApp::spawn().await;
    let (_, user) = app.sign_up("ada@example.eu").await;
    app.clock.advance(Duration::hours(1));
    let user_agent = format!("Mozilla/5.0 (X11; Linux x86_64) RelaisProbe/{}", Uuid::new_v4().simple());

    let mut db = app.superuser_connection().await;
    let before: Option<time::OffsetDateTime> =
        sqlx::query_scalar("select last_login_at from users").fetch_one(&mut db).await.unwrap();
    assert!(before.is_none(), "last_login_at set before any login");

    let origin = app.origin();
    let response = post_login(
        &app,
        "ada@example.eu",
        testkit::PASSWORD,
        &[("origin", origin.as_str()), ("sec-fetch-site", "same-origin"), ("user-agent", user_agent.as_str())],
    )
    .await;
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap_or_default());
    assert_eq!(header(&response, "location"), "/dashboard");

    let events = login_events(&app).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.user_id, user.0);
    assert_eq!(event.outcome, "success");
    assert_eq!(event.method, "password");
    assert_eq!(event.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(event.user_agent.as_deref(), Some(user_agent.as_str()));

    let (last_login, created): (Option<time::OffsetDateTime>, time::OffsetDateTime) =
        sqlx::query_as("select last_login_at, created_at from users").fetch_one(&mut db).await.unwrap();
    assert_eq!(last_login, Some(event.occurred_at), "last_login_at is the login's time");
    assert_eq!(event.occurred_at - created, Duration::hours(1), "the login time comes from the app clock");

    let (ip, agent): (Option<String>, Option<String>) =
        sqlx::query_as("select host(ip), user_agent from sessions").fetch_one(&mut db).await.unwrap();
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(agent.as_deref(), Some(user_agent.as_str()));
}

/// A wrong password and an unknown email get the same status and the same page (apart from the
/// echoed email): neither says which part was wrong. Only the known account gets a failure event.
#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_answer() {
    let app = TestApp::spawn().await;
    let (_, user) = app.sign_up("known@example.eu").await;
    let browser = Browser::new(&app);

    let wrong =
        browser.post_form("/login", &[("email", "known@example.eu"), ("password", "not the password at all")]).await;
    assert_eq!(wrong.status(), 401);
    assert!(header(&wrong, "set-cookie").is_empty(), "a cookie was set on a failed login");
    let wrong_html = wrong.text().await.unwrap();

    let unknown =
        browser.post_form("/login", &[("email", "nobody@example.eu"), ("password", "not the password at all")]).await;
    assert_eq!(unknown.status(), 401);
    assert!(header(&unknown, "set-cookie").is_empty());
    let unknown_html = unknown.text().await.unwrap();

    let message = "<p class=\"alert\" role=\"alert\">The email or password is incorrect.</p>";
    assert!(wrong_html.contains(message), "{wrong_html}");
    assert!(unknown_html.contains(message), "{unknown_html}");
    assert_eq!(
        wrong_html.replace("known@example.eu", "EMAIL"),
        unknown_html.replace("nobody@example.eu", "EMAIL"),
        "the two failures are told apart by the page"
    );

    let events = login_events(&app).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((events[0].user_id, events[0].outcome.as_str()), (user.0, "failure"));
    assert_eq!(events[0].ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(app.select_i64("select count(*) from sessions").await, 0);
    assert!(browser.cookie(SESSION_COOKIE).is_none());
}

/// Sessions are stored hashed: the row holds SHA-256 of the cookie value (32 bytes), and the
/// cookie value itself appears in no column of any table.
#[tokio::test]
async fn sessions_are_stored_only_as_a_sha256_of_the_cookie() {
    let app = TestApp::spawn().await;
    let (_, _, browser) = app.sign_up_and_log_in("hashed@example.eu").await;
    let token = browser.cookie(SESSION_COOKIE).expect("session cookie");
    assert!(token.len() >= 43, "a session token should carry 256 random bits: {token}");

    let mut db = app.superuser_connection().await;
    let hashes: Vec<Vec<u8>> = sqlx::query_scalar("select token_hash from sessions").fetch_all(&mut db).await.unwrap();
    assert_eq!(hashes.len(), 1);
    assert_eq!(hashes[0].len(), 32);
    assert_eq!(hashes[0], Sha256::digest(token.as_bytes()).to_vec(), "token_hash is not SHA-256 of the cookie");

    let DatabaseScan { found, scanned } = find_in_database(&mut db, &token).await;
    assert!(found.is_empty(), "the session token is stored in clear in {found:?}");
    // A prefix is enough to recognise a leaked token too.
    let found_prefix = find_in_database(&mut db, &token[..20]).await.found;
    assert!(found_prefix.is_empty(), "part of the session token is stored in {found_prefix:?}");
    let control = find_in_database(&mut db, "hashed@example.eu").await.found;
    assert!(!control.is_empty() && !scanned.is_empty(), "the scan finds nothing at all");

    // And the hash alone, sent as a cookie, opens nothing.
    assert_eq!(dashboard_with(&app, &hex::encode(&hashes[0])).await.status(), 303);
    assert_eq!(dashboard_with(&app, &token).await.status(), 200);
}

/// Logout with the page's CSRF token deletes the session row, and the old cookie no longer opens
/// the dashboard. Without a valid CSRF token logout is refused (403) and the session still works.
#[tokio::test]
async fn logout_needs_the_csrf_token_and_ends_the_session() {
    let app = TestApp::spawn().await;
    let (_, _, browser) = app.sign_up_and_log_in("bye@example.eu").await;
    let token = browser.cookie(SESSION_COOKIE).expect("session cookie");
    let csrf = browser.csrf_token("/dashboard").await;
    assert_eq!(csrf.len(), 64, "{csrf}");
    // The token of another session of the same member does not do.
    let other_csrf = app.browser_login("bye@example.eu", testkit::PASSWORD).await.csrf_token("/dashboard").await;
    assert_ne!(other_csrf, csrf);

    for (case, form) in [
        ("no token", vec![]),
        ("empty token", vec![("csrf", String::new())]),
        ("wrong token", vec![("csrf", "0".repeat(64))]),
        ("another session's token", vec![("csrf", other_csrf.clone())]),
    ] {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let response = browser.post_form("/logout", &form).await;
        assert_eq!(response.status(), 403, "{case}");
        assert!(session_exists(&app, &token).await, "{case}: the session was deleted");
        assert_eq!(browser.get("/dashboard").await.status(), 200, "{case}: the session stopped working");
    }

    let response = browser.post_form("/logout", &[("csrf", csrf.as_str())]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(header(&response, "location"), "/login");
    let removal = header(&response, "set-cookie");
    assert!(removal.starts_with(&format!("{SESSION_COOKIE}=;")), "the cookie is not cleared: {removal}");
    assert!(!session_exists(&app, &token).await, "the session row survived logout");
    assert_eq!(
        app.select_i64("select count(*) from sessions").await,
        1,
        "logout ends this session only, not the member's other one"
    );

    let old = dashboard_with(&app, &token).await;
    assert_eq!(old.status(), 303);
    assert_eq!(header(&old, "location"), "/login");

    let mut db = app.superuser_connection().await;
    let logouts: i64 = sqlx::query_scalar("select count(*) from audit_events where action = 'auth.logout'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(logouts, 1);
}

/// A session lasts at most 12 hours: at 11 hours it still opens the dashboard, at 13 it does not.
#[tokio::test]
async fn a_session_expires_after_twelve_hours() {
    let app = TestApp::spawn().await;
    let (_, _, browser) = app.sign_up_and_log_in("late@example.eu").await;
    assert_eq!(browser.get("/dashboard").await.status(), 200);

    app.clock.advance(Duration::hours(11));
    assert_eq!(browser.get("/dashboard").await.status(), 200, "expired too early");

    app.clock.advance(Duration::hours(2));
    let response = browser.get("/dashboard").await;
    assert_eq!(response.status(), 303, "still signed in 13 hours after login");
    assert_eq!(header(&response, "location"), "/login");
}

/// Cross-site POSTs are refused before any handler: a foreign Origin, `Sec-Fetch-Site: cross-site`
/// or `same-site`, or a session cookie with neither header. A client with no cookie and neither
/// header (an API client) reaches the handler.
#[tokio::test]
async fn cross_site_posts_are_refused_before_the_handler() {
    let app = TestApp::spawn().await;
    app.sign_up("guard@example.eu").await;
    let (email, password) = ("guard@example.eu", testkit::PASSWORD);

    for (case, headers) in [
        ("foreign Origin", vec![("origin", "https://evil.example")]),
        (
            "foreign Origin, same-origin fetch",
            vec![("origin", "https://evil.example"), ("sec-fetch-site", "same-origin")],
        ),
        ("opaque Origin, cross-site fetch", vec![("origin", "null"), ("sec-fetch-site", "cross-site")]),
        ("Sec-Fetch-Site: cross-site", vec![("sec-fetch-site", "cross-site")]),
        ("Sec-Fetch-Site: same-site", vec![("sec-fetch-site", "same-site")]),
    ] {
        let response = post_login(&app, email, password, &headers).await;
        assert_eq!(response.status(), 403, "{case}");
        assert!(header(&response, "set-cookie").is_empty(), "{case}: a session was opened");
    }
    assert!(login_events(&app).await.is_empty(), "a refused request reached the login handler");
    assert_eq!(app.select_i64("select count(*) from sessions").await, 0);

    // A signed-in member's logout, with the right CSRF token but from another site or without
    // any browser header, is refused and the session goes on.
    let browser = app.browser_login(email, password).await;
    let token = browser.cookie(SESSION_COOKIE).unwrap();
    let csrf = browser.csrf_token("/dashboard").await;
    let cookie = format!("{SESSION_COOKIE}={token}");
    for (case, headers) in [
        ("foreign Origin", vec![("origin", "https://evil.example")]),
        ("Sec-Fetch-Site: cross-site", vec![("sec-fetch-site", "cross-site")]),
        ("opaque Origin and no Sec-Fetch-Site", vec![("origin", "null")]),
        ("session cookie and neither header", vec![]),
    ] {
        let mut request = app.http.post(app.url("/logout")).header("cookie", &cookie).form(&[("csrf", csrf.as_str())]);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 403, "logout with {case}");
        assert_eq!(dashboard_with(&app, &token).await.status(), 200, "logout with {case} ended the session");
    }
    // A session cookie plus neither header on the login form is refused too.
    let response = app
        .http
        .post(app.url("/login"))
        .header("cookie", &cookie)
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "a cookie-bearing POST without Origin or Sec-Fetch-Site");

    // No cookie, no browser headers: an API client, let through to the handler.
    let response = post_login(&app, email, password, &[]).await;
    assert_eq!(response.status(), 303, "an API client was refused");
    assert_eq!(header(&response, "location"), "/dashboard");
    let wrong = post_login(&app, email, "not the password at all", &[]).await;
    assert_eq!(wrong.status(), 401, "the handler answers an API client");
    // The same-origin form (what the Browser sends) passes, and so does the loopback alias.
    let alias = app.origin().replace("127.0.0.1", "localhost");
    let response = post_login(&app, email, password, &[("origin", alias.as_str())]).await;
    assert_eq!(response.status(), 303, "localhost and 127.0.0.1 are the same local origin");
}

/// What Chromium really sends for our forms: under `Referrer-Policy: no-referrer` a same-origin
/// POST carries `Origin: null` with `Sec-Fetch-Site: same-origin`. It must be accepted — this
/// once refused every real browser's sign-up and login while header-perfect test clients passed.
#[tokio::test]
async fn a_real_browsers_same_origin_post_with_a_null_origin_is_accepted() {
    let app = TestApp::spawn().await;
    app.sign_up("chrome@example.eu").await;
    let response = post_login(
        &app,
        "chrome@example.eu",
        testkit::PASSWORD,
        &[("origin", "null"), ("sec-fetch-site", "same-origin")],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(header(&response, "location"), "/dashboard");
}
