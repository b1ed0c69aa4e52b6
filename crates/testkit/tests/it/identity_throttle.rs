//! Rate limits (P1-16), client addresses behind trusted proxies, account lockout (P1-17) and the
//! common-password list: counted in PostgreSQL on the app clock, which the tests move instead of
//! sleeping.

use serde_json::Value;
use sha2::{Digest, Sha256};
use testkit::http::header;
use testkit::{Browser, TestApp};
use time::Duration;
use uuid::Uuid;

const WRONG: &str = "not the password at all";

fn retry_after(response: &reqwest::Response) -> i64 {
    let value = header(response, "retry-after");
    value.parse().unwrap_or_else(|_| panic!("Retry-After is not a number of seconds: {value:?}"))
}

/// POST /api/v1/signup with an optional X-Forwarded-For.
async fn api_signup(app: &TestApp, body: &Value, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = app.http.post(app.url("/api/v1/signup")).json(body);
    if let Some(value) = forwarded_for {
        request = request.header("x-forwarded-for", value);
    }
    request.send().await.unwrap()
}

/// A sign-up body that fails validation (no age attestation) before any bcrypt work.
async fn invalid_signup_body(app: &TestApp) -> Value {
    let mut body = app.signup_body("invalid@example.eu").await;
    body["adult"] = Value::Bool(false);
    body
}

/// A login form POST as a browser sends it, plus an optional X-Forwarded-For.
async fn login(app: &TestApp, email: &str, password: &str, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = app
        .http
        .post(app.url("/login"))
        .header("origin", app.origin())
        .header("sec-fetch-site", "same-origin")
        .form(&[("email", email), ("password", password)]);
    if let Some(value) = forwarded_for {
        request = request.header("x-forwarded-for", value);
    }
    request.send().await.unwrap()
}

async fn lock_state(app: &TestApp, user: Uuid) -> (i32, Option<time::OffsetDateTime>) {
    let mut db = app.superuser_connection().await;
    sqlx::query_as("select failed_logins, locked_until from users where user_id = $1")
        .bind(user)
        .fetch_one(&mut db)
        .await
        .unwrap()
}

/// P1-16: from one address, 20 login attempts in 5 minutes are answered (401 here), the 21st gets
/// 429 with `Retry-After` on the login form — even with the right password, and without reaching
/// the login (no login event). Moving the clock by `Retry-After` opens a new window.
#[tokio::test]
async fn p1_16_login_is_limited_per_ip_with_retry_after_and_the_window_resets() {
    let app = TestApp::spawn().await;
    app.sign_up("owner@example.eu").await;
    // Unknown emails, so that the per-account limit (10) is not what stops them.
    for i in 0..20 {
        let response = login(&app, &format!("nobody{i}@example.eu"), WRONG, None).await;
        assert_eq!(response.status(), 401, "attempt {}", i + 1);
    }
    let refused = login(&app, "owner@example.eu", testkit::PASSWORD, None).await;
    assert_eq!(refused.status(), 429, "the 21st attempt in 5 minutes");
    let wait = retry_after(&refused);
    assert!((1..=300).contains(&wait), "Retry-After {wait}");
    assert!(header(&refused, "content-type").starts_with("text/html"));
    assert!(header(&refused, "set-cookie").is_empty(), "a session was opened past the limit");
    let html = refused.text().await.unwrap();
    assert!(html.contains("Too many sign-in attempts."), "{html}");
    assert_eq!(app.select_i64("select count(*) from login_events").await, 0, "a refused attempt reached the login");

    // A second before the window ends it is still closed; at its end it opens again.
    app.clock.advance(Duration::seconds(wait - 1));
    assert_eq!(login(&app, "owner@example.eu", testkit::PASSWORD, None).await.status(), 429);
    app.clock.advance(Duration::seconds(1));
    let response = login(&app, "owner@example.eu", testkit::PASSWORD, None).await;
    assert_eq!(response.status(), 303, "the window did not reset");
}

/// The per-account login limit counts failed attempts only: a member who signs in eleven times in
/// a quarter of an hour is never refused. Ten failures in 15 minutes refuse the next attempt with
/// 429, and the page says how many minutes to wait, in English and in French.
#[tokio::test]
async fn successful_logins_do_not_count_toward_the_account_limit_and_a_refusal_says_how_long_to_wait() {
    let app = TestApp::spawn().await;
    app.sign_up("owner@example.eu").await;
    for i in 0..11 {
        let response = login(&app, "owner@example.eu", testkit::PASSWORD, None).await;
        assert_eq!(response.status(), 303, "successful login {} was refused", i + 1);
    }
    // A fresh per-address window; the account's failures start now.
    app.clock.advance(Duration::minutes(5));
    for i in 0..10 {
        let response = login(&app, "owner@example.eu", WRONG, None).await;
        assert_eq!(response.status(), 401, "failure {}", i + 1);
    }
    let refused = login(&app, "owner@example.eu", testkit::PASSWORD, None).await;
    assert_eq!(refused.status(), 429, "the attempt after ten failures in 15 minutes");
    assert_eq!(retry_after(&refused), 900);
    let html = refused.text().await.unwrap();
    assert!(html.contains("try again in 15 min"), "{html}");
    // The login form again, the address kept: not a dead-end error page.
    assert!(html.contains("Too many sign-in attempts."), "{html}");
    assert!(html.contains(r#"name="password""#) && html.contains("owner@example.eu"), "{html}");
    let refused = app
        .http
        .post(app.url("/login"))
        .header("origin", app.origin())
        .header("sec-fetch-site", "same-origin")
        .header("accept-language", "fr")
        .form(&[("email", "owner@example.eu"), ("password", testkit::PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    let html = refused.text().await.unwrap();
    assert!(html.contains("réessayer dans 15 min"), "{html}");
    assert!(html.contains("Trop de tentatives de connexion."), "{html}");
}

/// P1-16: the API sign-up allows 10 attempts (valid or not) an hour from one address; the 11th is
/// a 429 problem+json with `Retry-After` and writes nothing; the next window accepts again.
#[tokio::test]
async fn p1_16_api_signup_is_limited_per_ip_with_problem_json() {
    let app = TestApp::spawn().await;
    app.sign_up("first@example.eu").await;
    let invalid = invalid_signup_body(&app).await;
    for i in 1..10 {
        assert_eq!(api_signup(&app, &invalid, None).await.status(), 422, "attempt {}", i + 1);
    }
    let body = app.signup_body("eleventh@example.eu").await;
    let refused = api_signup(&app, &body, None).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(header(&refused, "content-type"), "application/problem+json");
    let wait = retry_after(&refused);
    assert!((1..=3600).contains(&wait), "Retry-After {wait}");
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["status"], 429);
    assert_eq!(problem["type"], "/docs/problems#rate-limited");
    assert_eq!(app.select_i64("select count(*) from users").await, 1, "the refused sign-up wrote an account");

    app.clock.advance(Duration::seconds(wait));
    assert_eq!(api_signup(&app, &body, None).await.status(), 202, "the window did not reset");
}

/// P1-16: a client that is not a trusted proxy cannot pick its address: with no
/// `RELAIS_TRUSTED_PROXIES`, a different X-Forwarded-For on each request still counts against the
/// peer's address, and the login records the peer's address, not the header's.
#[tokio::test]
async fn p1_16_spoofed_forwarded_for_from_an_untrusted_peer_does_not_change_the_bucket() {
    let app = TestApp::spawn().await;
    app.sign_up("spoof@example.eu").await;
    let invalid = invalid_signup_body(&app).await;
    for i in 1..10 {
        let spoofed = format!("203.0.113.{i}");
        assert_eq!(api_signup(&app, &invalid, Some(&spoofed)).await.status(), 422);
    }
    let refused = api_signup(&app, &invalid, Some("198.51.100.77")).await;
    assert_eq!(refused.status(), 429, "a spoofed X-Forwarded-For opened a fresh bucket");
    let refused = api_signup(&app, &invalid, Some("198.51.100.78, 127.0.0.1")).await;
    assert_eq!(refused.status(), 429);

    let response = login(&app, "spoof@example.eu", testkit::PASSWORD, Some("198.51.100.79")).await;
    assert_eq!(response.status(), 303);
    let mut db = app.superuser_connection().await;
    let ip: String = sqlx::query_scalar("select host(ip) from login_events").fetch_one(&mut db).await.unwrap();
    assert_eq!(ip, "127.0.0.1", "the spoofed address was recorded");
}

/// P1-16: behind a configured trusted proxy (`RELAIS_TRUSTED_PROXIES=127.0.0.1/32`), the right-most
/// untrusted address of X-Forwarded-For is the client: each client has its own bucket, a spoofed
/// left part does not help, and logins record the client's address.
#[tokio::test]
async fn p1_16_forwarded_for_is_honoured_behind_a_trusted_proxy() {
    let app = TestApp::spawn_with(&[("RELAIS_TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    app.sign_up("proxied@example.eu").await;
    let invalid = invalid_signup_body(&app).await;
    for _ in 0..10 {
        assert_eq!(api_signup(&app, &invalid, Some("203.0.113.1")).await.status(), 422);
    }
    assert_eq!(api_signup(&app, &invalid, Some("203.0.113.1")).await.status(), 429);
    // What the client wrote left of its own address proves nothing.
    assert_eq!(api_signup(&app, &invalid, Some("6.6.6.6, 203.0.113.1")).await.status(), 429);
    // Another client behind the same proxy is not affected, through one proxy or two.
    assert_eq!(api_signup(&app, &invalid, Some("203.0.113.2")).await.status(), 422);
    assert_eq!(api_signup(&app, &invalid, Some("203.0.113.3, 127.0.0.1")).await.status(), 422);
    // Nor is the proxy itself (requests without the header).
    assert_eq!(api_signup(&app, &invalid, None).await.status(), 422);

    let response = login(&app, "proxied@example.eu", testkit::PASSWORD, Some("198.51.100.4")).await;
    assert_eq!(response.status(), 303);
    let mut db = app.superuser_connection().await;
    let ip: String = sqlx::query_scalar("select host(ip) from login_events").fetch_one(&mut db).await.unwrap();
    assert_eq!(ip, "198.51.100.4");
}

/// P1-16: the counters hold no email and no readable address (keyed hashes only), the request role
/// cannot write them except through `app.rate_limit_hit`, and expired windows are purged.
#[tokio::test]
async fn p1_16_rate_limit_buckets_hold_no_email_and_expire() {
    let app = TestApp::spawn().await;
    let email = "secret-person@example.eu";
    assert_eq!(login(&app, email, WRONG, None).await.status(), 401);
    let mut db = app.superuser_connection().await;
    let buckets: Vec<String> =
        sqlx::query_scalar("select bucket from rate_limit_buckets order by 1").fetch_all(&mut db).await.unwrap();
    assert_eq!(buckets.len(), 2, "one per-IP and one per-account bucket: {buckets:?}");
    let email_sha = hex::encode(Sha256::digest(email.as_bytes()));
    for bucket in &buckets {
        assert!(bucket.starts_with("login-ip:") || bucket.starts_with("login-account:"), "{bucket}");
        for leak in [email, "secret-person", &email_sha, "127.0.0.1"] {
            assert!(!bucket.contains(leak), "bucket {bucket} contains {leak}");
        }
    }

    let mut raw = app.app_role_connection().await;
    for statement in [
        "insert into rate_limit_buckets values ('login-ip:x', now(), now(), 1)",
        "update rate_limit_buckets set hits = 0",
        "delete from rate_limit_buckets",
    ] {
        let error = sqlx::query(statement).execute(&mut raw).await.unwrap_err();
        assert_eq!(error.as_database_error().unwrap().code().as_deref(), Some("42501"), "{statement}");
    }

    // A day later, the next hit (another bucket) purges the expired windows.
    app.clock.advance(Duration::days(1));
    assert_eq!(api_signup(&app, &invalid_signup_body(&app).await, None).await.status(), 422);
    let left: Vec<String> =
        sqlx::query_scalar("select bucket from rate_limit_buckets").fetch_all(&mut db).await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].starts_with("signup-ip:"), "{left:?}");
}

/// P1-17: after 5 consecutive wrong passwords the account is locked: the right password then gets
/// exactly the page a wrong password gets (same status, same message, no cookie), the lock is
/// audited as `auth.account_locked`, every attempt is a failure in login_events, and once the
/// minute is over the right password works and resets the count.
#[tokio::test]
async fn p1_17_five_failures_lock_the_account_and_it_answers_like_a_wrong_password() {
    let app = TestApp::spawn().await;
    let user = app.sign_up("locked@example.eu").await.1.0;
    let browser = Browser::new(&app);
    for i in 1..=4 {
        let response = browser.post_form("/login", &[("email", "locked@example.eu"), ("password", WRONG)]).await;
        assert_eq!(response.status(), 401, "attempt {i}");
        assert_eq!(lock_state(&app, user).await, (i, None), "after failure {i}");
    }
    let fifth = browser.post_form("/login", &[("email", "locked@example.eu"), ("password", WRONG)]).await;
    assert_eq!(fifth.status(), 401);
    let wrong_html = fifth.text().await.unwrap();
    assert_eq!(lock_state(&app, user).await, (5, Some(app.clock.now() + Duration::minutes(1))));

    let right = browser.post_form("/login", &[("email", "locked@example.eu"), ("password", testkit::PASSWORD)]).await;
    assert_eq!(right.status(), 401, "a locked account let the right password in");
    assert!(header(&right, "set-cookie").is_empty());
    assert_eq!(right.text().await.unwrap(), wrong_html, "a locked account is told apart from a wrong password");
    let unknown = browser.post_form("/login", &[("email", "nobody@example.eu"), ("password", WRONG)]).await;
    assert_eq!(unknown.status(), 401);
    assert_eq!(unknown.text().await.unwrap().replace("nobody@example.eu", "locked@example.eu"), wrong_html);
    // Attempts while locked neither count nor extend the lock.
    assert_eq!(lock_state(&app, user).await, (5, Some(app.clock.now() + Duration::minutes(1))));

    assert_eq!(app.select_i64("select count(*) from audit_events where action = 'auth.account_locked'").await, 1);
    let mut db = app.superuser_connection().await;
    let outcomes: Vec<String> =
        sqlx::query_scalar("select outcome from login_events where user_id = $1 order by occurred_at, event_id")
            .bind(user)
            .fetch_all(&mut db)
            .await
            .unwrap();
    assert_eq!(outcomes, vec!["failure"; 6], "every failure, the locked attempt too, is recorded");
    let payload: Value = sqlx::query_scalar("select payload from audit_events where action = 'auth.account_locked'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(payload["failures"], 5);
    assert_eq!(payload["locked_for_secs"], 60);
    assert!(!payload.to_string().contains("locked@"), "{payload}");

    app.clock.advance(Duration::seconds(59));
    let still = browser.post_form("/login", &[("email", "locked@example.eu"), ("password", testkit::PASSWORD)]).await;
    assert_eq!(still.status(), 401, "unlocked before the minute was over");
    app.clock.advance(Duration::seconds(1));
    let open = browser.post_form("/login", &[("email", "locked@example.eu"), ("password", testkit::PASSWORD)]).await;
    assert_eq!(open.status(), 303, "the lock did not end with its delay");
    assert_eq!(lock_state(&app, user).await, (0, None), "a successful login resets the count");
}

/// P1-17: each failure after a lock ends locks again for longer — 1 min, 5 min, 15 min, then
/// 1 hour, and never more than an hour.
#[tokio::test]
async fn p1_17_lock_delays_grow_and_are_capped_at_an_hour() {
    let app = TestApp::spawn().await;
    let user = app.sign_up("growing@example.eu").await.1.0;
    for _ in 0..5 {
        assert_eq!(login(&app, "growing@example.eu", WRONG, None).await.status(), 401);
    }
    let mut delay = Duration::minutes(1);
    for (failures, next) in
        [(6, Duration::minutes(5)), (7, Duration::minutes(15)), (8, Duration::hours(1)), (9, Duration::hours(1))]
    {
        assert_eq!(lock_state(&app, user).await.1, Some(app.clock.now() + delay), "lock before failure {failures}");
        app.clock.advance(delay);
        // Stay clear of the per-account rate limit (10 per 15 minutes): it is not under test here.
        app.clock.advance(Duration::minutes(15));
        assert_eq!(login(&app, "growing@example.eu", WRONG, None).await.status(), 401);
        assert_eq!(lock_state(&app, user).await, (failures, Some(app.clock.now() + next)), "failure {failures}");
        delay = next;
    }
    // Within the hour the right password is refused; after it, accepted.
    app.clock.advance(Duration::minutes(59));
    assert_eq!(login(&app, "growing@example.eu", testkit::PASSWORD, None).await.status(), 401);
    app.clock.advance(Duration::minutes(1));
    assert_eq!(login(&app, "growing@example.eu", testkit::PASSWORD, None).await.status(), 303);
    assert_eq!(app.select_i64("select count(*) from audit_events where action = 'auth.account_locked'").await, 5);
}

/// P1-17: an owner unlocks a locked member from the members administration page (a CSRF-checked POST,
/// audited `member.unlocked`); the member can log in at once. A member who is not an owner cannot
/// unlock anyone.
#[tokio::test]
async fn p1_17_the_owner_unlocks_a_locked_member() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("boss@example.eu").await;
    // A second member of the organization (invitations are another module's work).
    let member = Uuid::now_v7();
    let mut db = app.superuser_connection().await;
    sqlx::query(
        "insert into users (org_id, user_id, email, first_name, last_name, job_title, org_role, password_hash,
                            adult_attested_at, created_at, updated_at)
         select org_id, $2, 'member@example.eu', 'Mia', 'Member', 'Sales', 'user', password_hash, now(), now(), now()
         from users where org_id = $1",
    )
    .bind(org.0)
    .bind(member)
    .execute(&mut db)
    .await
    .unwrap();
    for _ in 0..5 {
        assert_eq!(login(&app, "member@example.eu", WRONG, None).await.status(), 401);
    }
    assert_eq!(login(&app, "member@example.eu", testkit::PASSWORD, None).await.status(), 401, "not locked");

    let owner = app.browser_login("boss@example.eu", testkit::PASSWORD).await;
    let home = owner.get("/dashboard").await.text().await.unwrap();
    assert!(home.contains("Locked out: 1") && home.contains("href=\"/members/manage\""), "{home}");
    let manage = owner.get("/members/manage").await.text().await.unwrap();
    let action = format!("/members/{member}/unlock");
    assert!(manage.contains(&action), "no unlock button for the locked member");
    assert!(manage.contains("Locked after failed logins until"), "{manage}");
    let csrf = owner.csrf_token("/members/manage").await;

    for (case, form) in [("no token", vec![]), ("wrong token", vec![("csrf", "0".repeat(64))])] {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(owner.post_form(&action, &form).await.status(), 403, "{case}");
    }
    assert!(lock_state(&app, member).await.1.is_some(), "unlocked without a valid CSRF token");

    let response = owner.post_form(&action, &[("csrf", csrf.as_str())]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(header(&response, "location"), "/members/manage");
    assert_eq!(lock_state(&app, member).await, (0, None));
    let (actor, target): (Option<Uuid>, Option<Uuid>) =
        sqlx::query_as("select actor_id, target_id from audit_events where action = 'member.unlocked'")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(target, Some(member));
    assert!(actor.is_some() && actor != Some(member));
    let manage = owner.get("/members/manage").await.text().await.unwrap();
    assert!(!manage.contains(&action), "the unlock button stayed after the unlock");

    // The member logs in straight away, and may not unlock anyone.
    let member_browser = app.browser_login("member@example.eu", testkit::PASSWORD).await;
    let member_csrf = member_browser.csrf_token("/dashboard").await;
    let boss: Uuid = sqlx::query_scalar("select user_id from users where email = 'boss@example.eu'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    let refused = member_browser.post_form(&format!("/members/{boss}/unlock"), &[("csrf", member_csrf.as_str())]).await;
    assert_eq!(refused.status(), 403, "a plain member unlocked an account");
    assert_eq!(app.select_i64("select count(*) from audit_events where action = 'member.unlocked'").await, 1);
}

/// ASVS V6.2.4: a password on the common-password list is refused at sign-up, whatever its case,
/// with `password_common` on the API and the localized message on the page; nothing is written.
#[tokio::test]
async fn common_password_is_refused_at_signup() {
    let app = TestApp::spawn().await;
    let mut body = app.signup_body("common@example.eu").await;
    body["password"] = Value::String("QWERTY123456".into());
    let response = api_signup(&app, &body, None).await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    let errors = problem["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{problem}");
    assert_eq!((errors[0]["field"].as_str(), errors[0]["code"].as_str()), (Some("password"), Some("password_common")));
    assert_eq!(app.select_i64("select count(*) from users").await, 0);

    let policy = app.current_policy_version().await;
    let form = [
        ("first_name", "Ada"),
        ("last_name", "Lovelace"),
        ("email", "common@example.eu"),
        ("password", "1q2w3e4r5t6y"),
        ("organization_name", "Common SAS"),
        ("job_title", "Gérante"),
        ("adult", "on"),
        ("accepted_policy_version", policy.as_str()),
    ];
    let response = app
        .http
        .post(app.url("/signup"))
        .header("origin", app.origin())
        .header("sec-fetch-site", "same-origin")
        .header("accept-language", "fr")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("Ce mot de passe est trop courant"), "{html}");
    assert!(!html.contains("1q2w3e4r5t6y"), "the password was echoed");
    assert_eq!(app.select_i64("select count(*) from users").await, 0);
}
