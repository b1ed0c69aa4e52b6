//! Multi-factor authentication (issue #3 item 4; P2-18 "MFA for administrators"; ASVS 5.0 L2 V6):
//! TOTP enrollment that needs a valid code, the second login step, one use per time step, single-use
//! recovery codes, rate limits and lockout on wrong codes, required MFA for owners and managers,
//! the secret sealed in the database, and the token endpoint's `otp`. TOTP codes are computed here
//! with `totp-rs` from the secret the enrollment page shows, as an authenticator app would.

use kernel::authz::Role;
use testkit::db::find_in_database;
use testkit::http::header;
use testkit::{Browser, PASSWORD, TestApp};
use time::Duration;

/// Moves the clock to the next 30-second step, so a new code is due.
fn next_step(app: &TestApp) {
    app.clock.advance(Duration::seconds(30));
}

fn between<'a>(html: &'a str, start: &str, end: &str) -> Vec<&'a str> {
    html.split(start).skip(1).filter_map(|part| part.split(end).next()).collect()
}

/// Reads the secret off `/settings/mfa` and enrolls with a valid code: (secret, recovery codes).
async fn enroll(app: &TestApp, browser: &Browser) -> (String, Vec<String>) {
    let page = browser.get("/settings/mfa").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let secret = between(&html, "id=\"totp-secret\">", "<")[0].to_string();
    let csrf = between(&html, "name=\"csrf\" value=\"", "\"")[0].to_string();
    let response =
        browser.post_form("/settings/mfa/enroll", &[("csrf", csrf.as_str()), ("code", &app.totp_code(&secret))]).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    let codes: Vec<String> = between(&html, "class=\"recovery-code\">", "<").into_iter().map(str::to_string).collect();
    (secret, codes)
}

/// Posts email and password to the login form: the browser then holds a pending login.
async fn password_step(app: &TestApp, email: &str) -> Browser {
    let browser = Browser::new(app);
    let response = browser.post_form("/login", &[("email", email), ("password", PASSWORD)]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(header(&response, "location"), "/login/mfa");
    assert!(browser.cookie("relais_session").is_none(), "a session before the second factor");
    browser
}

/// P2-18: the enrollment page shows an inline SVG QR code and the secret; a wrong code does not
/// enroll; the right one does, shows ten recovery codes once and is audited.
#[tokio::test]
async fn p2_18_enrollment_needs_a_valid_code() {
    let app = TestApp::spawn().await;
    let (_, _, browser) = app.sign_up_and_log_in("ada@example.eu").await;

    let page = browser.get("/settings/mfa").await;
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, "cache-control"), "no-store");
    let html = page.text().await.unwrap();
    assert!(html.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""), "no inline SVG QR code");
    assert!(!html.contains("<img"), "the QR code must not come from an image service");
    let secret = between(&html, "id=\"totp-secret\">", "<")[0].to_string();
    assert_eq!(totp_rs::Secret::try_from_base32(&secret).unwrap().as_bytes().len(), 20, "160-bit secret");
    // Reloading shows the same secret (the member may already have scanned it).
    let again = browser.get("/settings/mfa").await.text().await.unwrap();
    assert_eq!(between(&again, "id=\"totp-secret\">", "<")[0], secret);

    let csrf = browser.csrf_token("/settings/mfa").await;
    let right = app.totp_code(&secret);
    let wrong = format!("{:06}", (right.parse::<u32>().unwrap() + 1) % 1_000_000);
    let response = browser.post_form("/settings/mfa/enroll", &[("csrf", &csrf), ("code", &wrong)]).await;
    assert_eq!(response.status(), 422);
    assert_eq!(app.select_i64("select count(*) from mfa_factors where enrolled_at is not null").await, 0);
    assert_eq!(app.select_i64("select count(*) from mfa_recovery_codes").await, 0);

    let response = browser.post_form("/settings/mfa/enroll", &[("csrf", &csrf), ("code", &right)]).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    let codes = between(&html, "class=\"recovery-code\">", "<");
    assert_eq!(codes.len(), 10, "ten recovery codes");
    assert_eq!(app.select_i64("select count(*) from mfa_factors where enrolled_at is not null").await, 1);
    assert_eq!(app.select_i64("select count(*) from mfa_recovery_codes where used_at is null").await, 10);
    assert!(app.audit_actions().await.contains(&"mfa.enrolled".to_string()));
    // Shown once: the page no longer lists them.
    let later = browser.get("/settings/mfa").await.text().await.unwrap();
    assert!(!later.contains(codes[0]), "recovery codes shown again");
}

/// P2-18: with MFA, the right password opens no session — only a five-minute pending login; the
/// TOTP code then opens it. An expired pending login goes back to the login page.
#[tokio::test]
async fn p2_18_login_requires_the_second_factor() {
    let app = TestApp::spawn().await;
    app.sign_up("ada@example.eu").await;
    let (secret, _) = enroll(&app, &app.browser_login("ada@example.eu", PASSWORD).await).await;
    let sessions_before = app.select_i64("select count(*) from sessions").await;

    let browser = password_step(&app, "ada@example.eu").await;
    assert_eq!(app.select_i64("select count(*) from sessions").await, sessions_before);
    assert_eq!(header(&browser.get("/dashboard").await, "location"), "/login");
    assert_eq!(browser.get("/login/mfa").await.status(), 200);

    next_step(&app);
    let response = browser.post_form("/login/mfa", &[("code", &app.totp_code(&secret))]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(header(&response, "location"), "/dashboard");
    assert!(browser.cookie("relais_session").is_some());
    assert_eq!(browser.get("/dashboard").await.status(), 200);
    assert_eq!(app.select_i64("select count(*) from sessions").await, sessions_before + 1);
    // The pending login is spent: it cannot open a second session.
    assert_eq!(app.select_i64("select count(*) from mfa_pending_logins where used_at is null").await, 0);

    let late = password_step(&app, "ada@example.eu").await;
    app.clock.advance(Duration::minutes(5) + Duration::seconds(1));
    let response = late.post_form("/login/mfa", &[("code", &app.totp_code(&secret))]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(header(&response, "location"), "/login");
    assert!(late.cookie("relais_session").is_none());
    assert_eq!(header(&late.get("/login/mfa").await, "location"), "/login");
}

/// P2-18 (RFC 6238 §5.2): a code is accepted once per time step — replaying it in the same 30
/// seconds is refused (and audited as a failed second factor); the next step's code works.
#[tokio::test]
async fn p2_18_a_totp_code_replayed_in_the_same_step_is_refused() {
    let app = TestApp::spawn().await;
    app.sign_up("ada@example.eu").await;
    let (secret, _) = enroll(&app, &app.browser_login("ada@example.eu", PASSWORD).await).await;
    next_step(&app);
    let code = app.totp_code(&secret);

    let first = password_step(&app, "ada@example.eu").await;
    assert_eq!(first.post_form("/login/mfa", &[("code", &code)]).await.status(), 303);
    let second = password_step(&app, "ada@example.eu").await;
    let replay = second.post_form("/login/mfa", &[("code", &code)]).await;
    assert_eq!(replay.status(), 401);
    assert!(second.cookie("relais_session").is_none());
    assert!(app.audit_actions().await.contains(&"auth.login.mfa_failed".to_string()));

    next_step(&app);
    let response = second.post_form("/login/mfa", &[("code", &app.totp_code(&secret))]).await;
    assert_eq!(response.status(), 303, "the same pending login works with the next step's code");
}

/// P2-18: a recovery code opens a session once (audited); the same code again is refused.
#[tokio::test]
async fn p2_18_a_recovery_code_works_once() {
    let app = TestApp::spawn().await;
    app.sign_up("ada@example.eu").await;
    let (_, codes) = enroll(&app, &app.browser_login("ada@example.eu", PASSWORD).await).await;
    assert_eq!(codes.len(), 10);

    let browser = password_step(&app, "ada@example.eu").await;
    // Typed in capitals with spaces instead of dashes: still the code.
    let typed = codes[3].to_uppercase().replace('-', " ");
    assert_eq!(browser.post_form("/login/mfa", &[("code", &typed)]).await.status(), 303);
    assert_eq!(browser.get("/dashboard").await.status(), 200);
    assert!(app.audit_actions().await.contains(&"mfa.recovery_code_used".to_string()));
    assert_eq!(app.select_i64("select count(*) from mfa_recovery_codes where used_at is null").await, 9);

    let again = password_step(&app, "ada@example.eu").await;
    assert_eq!(again.post_form("/login/mfa", &[("code", &codes[3])]).await.status(), 401);
    assert!(again.cookie("relais_session").is_none());
    assert_eq!(again.post_form("/login/mfa", &[("code", &codes[4])]).await.status(), 303);
}

/// P1-16, P1-17, P2-18: wrong codes count toward the account lockout and their own rate limit:
/// the fifth wrong code locks the account (the right code is then refused too), and past the
/// member's code limit every entry is answered 429. Once lock and window are over, the right code works.
#[tokio::test]
async fn p1_16_p1_17_p2_18_wrong_codes_are_rate_limited_and_lock_the_account() {
    let app = TestApp::spawn().await;
    app.sign_up("ada@example.eu").await;
    let (secret, _) = enroll(&app, &app.browser_login("ada@example.eu", PASSWORD).await).await;
    next_step(&app);

    let browser = password_step(&app, "ada@example.eu").await;
    let right = app.totp_code(&secret);
    let wrong = format!("{:06}", (right.parse::<u32>().unwrap() + 500_000) % 1_000_000);
    for attempt in 1..=4 {
        assert_eq!(browser.post_form("/login/mfa", &[("code", &wrong)]).await.status(), 401, "attempt {attempt}");
    }
    // The right password again does not reset the count of wrong codes.
    let browser = password_step(&app, "ada@example.eu").await;
    assert_eq!(browser.post_form("/login/mfa", &[("code", &wrong)]).await.status(), 401);
    assert_eq!(app.select_i64("select failed_logins::bigint from users").await, 5);
    assert_eq!(app.select_i64("select count(*) from users where locked_until is not null").await, 1);
    assert!(app.audit_actions().await.contains(&"auth.account_locked".to_string()));

    // Locked: the right code is refused like a wrong one.
    assert_eq!(browser.post_form("/login/mfa", &[("code", &right)]).await.status(), 401);
    assert!(browser.cookie("relais_session").is_none());
    // The member's code limit (enrollment included) runs out at its tenth entry in the window.
    for attempt in 8..=10 {
        assert_eq!(browser.post_form("/login/mfa", &[("code", &wrong)]).await.status(), 401, "entry {attempt}");
    }
    let limited = browser.post_form("/login/mfa", &[("code", &right)]).await;
    assert_eq!(limited.status(), 429);
    assert!(!header(&limited, "retry-after").is_empty());
    assert!(browser.cookie("relais_session").is_none());

    // Lock (1 min) and code window (15 min) over: the next step's right code works.
    app.clock.advance(Duration::minutes(16));
    let browser = password_step(&app, "ada@example.eu").await;
    let response = browser.post_form("/login/mfa", &[("code", &app.totp_code(&secret))]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.select_i64("select failed_logins::bigint from users").await, 0);
}

/// P2-18: an owner without MFA is signed in but every page sends them to `/settings/mfa` once the
/// grace period is over; enrolling ends it. Owners cannot turn MFA off. A plain user is not
/// pushed, until the owner requires MFA of everyone (an owner-only setting).
#[tokio::test]
async fn p2_18_owner_without_mfa_is_pushed_to_enrollment() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@example.eu").await;
    app.add_member(org, "user@example.eu", Role::User).await;
    let owner = app.browser_login("owner@example.eu", PASSWORD).await;
    assert_eq!(owner.get("/dashboard").await.status(), 200, "within the grace period");

    app.clock.advance(identity::mfa::ADMIN_ENROLLMENT_GRACE);
    // (Sessions last 12 hours: a new login after the grace period.)
    let owner = app.browser_login("owner@example.eu", PASSWORD).await;
    for path in ["/dashboard", "/members", "/settings/api-keys"] {
        let response = owner.get(path).await;
        assert_eq!(response.status(), 303, "{path}");
        assert_eq!(header(&response, "location"), "/settings/mfa", "{path}");
    }
    // A form elsewhere is not served either.
    let csrf = owner.csrf_token("/settings/mfa").await;
    let response = owner.post_form("/settings/api-keys", &[("csrf", &csrf), ("name", "x"), ("role", "user")]).await;
    assert_eq!(header(&response, "location"), "/settings/mfa");
    let page = owner.get("/settings/mfa").await.text().await.unwrap();
    assert!(page.contains("<svg"));

    let user = app.browser_login("user@example.eu", PASSWORD).await;
    assert_eq!(user.get("/dashboard").await.status(), 200, "users are not required by default");

    enroll(&app, &owner).await;
    assert_eq!(owner.get("/dashboard").await.status(), 200);

    // Owners cannot turn MFA off, even with their password.
    let csrf = owner.csrf_token("/settings/mfa").await;
    let response = owner.post_form("/settings/mfa/disable", &[("csrf", &csrf), ("password", PASSWORD)]).await;
    assert_eq!(response.status(), 403);
    assert_eq!(app.select_i64("select count(*) from mfa_factors where enrolled_at is not null").await, 1);

    // Only the owner may require MFA of everyone; then the user is pushed at once.
    let user_csrf = user.csrf_token("/dashboard").await;
    let refused =
        user.post_form("/settings/mfa/organization", &[("csrf", &user_csrf), ("require_mfa_all", "on")]).await;
    assert_eq!(refused.status(), 403);
    let response = owner.post_form("/settings/mfa/organization", &[("csrf", &csrf), ("require_mfa_all", "on")]).await;
    assert_eq!(response.status(), 303);
    assert!(app.audit_actions().await.contains(&"org.require_mfa_all_changed".to_string()));
    assert_eq!(header(&user.get("/dashboard").await, "location"), "/settings/mfa");
}

/// Issue #11 ("discovery and safety"), P2-18: during an owner's grace period every page says from
/// when MFA is required and links to its setup; a plain user sees nothing; enrolling ends it.
#[tokio::test]
async fn p2_18_the_grace_period_is_announced_on_every_page_until_enrollment() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@grace.example.eu").await;
    app.add_member(org, "user@grace.example.eu", Role::User).await;
    let owner = app.browser_login("owner@grace.example.eu", PASSWORD).await;
    // The date in the member's time zone and language ("Dec 21, 2026"), not ISO.
    let by = kernel::dates::local_date(
        app.clock.now() + identity::mfa::ADMIN_ENROLLMENT_GRACE,
        kernel::dates::DEFAULT_ZONE,
        kernel::i18n::Lang::En,
    );
    for path in ["/dashboard", "/members", "/crm/contacts", "/settings/profile"] {
        let html = owner.get(path).await.text().await.unwrap();
        assert!(
            html.contains(&format!("Two-factor authentication is required for your role from {by}"))
                && html.contains(r#"<a href="/settings/mfa">Set it up now</a>"#),
            "{path}: no notice"
        );
    }
    let user = app.browser_login("user@grace.example.eu", PASSWORD).await;
    assert!(!user.get("/dashboard").await.text().await.unwrap().contains("class=\"banner\""), "not required of users");

    enroll(&app, &owner).await;
    assert!(!owner.get("/dashboard").await.text().await.unwrap().contains("class=\"banner\""), "enrolled");
}

/// P2-18: a member for whom MFA is optional can turn it off, but only re-authenticated (current
/// password or code); it is audited and the factor and codes are gone.
#[tokio::test]
async fn p2_18_disabling_mfa_needs_reauthentication() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@example.eu").await;
    app.add_member(org, "user@example.eu", Role::User).await;
    let user = app.browser_login("user@example.eu", PASSWORD).await;
    let (secret, _) = enroll(&app, &user).await;
    let csrf = user.csrf_token("/settings/mfa").await;

    let response = user.post_form("/settings/mfa/disable", &[("csrf", &csrf), ("password", "not my password")]).await;
    assert_eq!(response.status(), 422);
    let response = user.post_form("/settings/mfa/recovery-codes", &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), 422, "regenerating codes needs re-authentication too");

    next_step(&app);
    let response =
        user.post_form("/settings/mfa/recovery-codes", &[("csrf", &csrf), ("code", &app.totp_code(&secret))]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(between(&response.text().await.unwrap(), "class=\"recovery-code\">", "<").len(), 10);

    let response = user.post_form("/settings/mfa/disable", &[("csrf", &csrf), ("password", PASSWORD)]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.select_i64("select count(*) from mfa_factors").await, 0);
    assert_eq!(app.select_i64("select count(*) from mfa_recovery_codes").await, 0);
    assert!(app.audit_actions().await.contains(&"mfa.disabled".to_string()));
    // Without MFA, the password alone logs in again.
    let again = Browser::new(&app);
    let response = again.post_form("/login", &[("email", "user@example.eu"), ("password", PASSWORD)]).await;
    assert_eq!(header(&response, "location"), "/dashboard");
}

/// P2-18, P0-06: neither the TOTP secret (base32 or raw bytes) nor any recovery code is anywhere
/// in the database in clear; the sealed secret opens with the vault in its own context only.
#[tokio::test]
async fn p2_18_the_totp_secret_is_not_in_the_database_in_clear() {
    let app = TestApp::spawn().await;
    let (org, user) = app.sign_up("ada@example.eu").await;
    let (secret, codes) = enroll(&app, &app.browser_login("ada@example.eu", PASSWORD).await).await;
    let raw = totp_rs::Secret::try_from_base32(&secret).unwrap().as_bytes().to_vec();
    let mut db = app.superuser_connection().await;
    let scan = find_in_database(&mut db, secret.as_bytes()).await;
    assert!(scan.scanned.contains(&"public.mfa_factors.secret_sealed".to_string()), "scan misses mfa_factors");
    assert_eq!(scan.found, Vec::<String>::new(), "base32 secret in clear");
    assert_eq!(find_in_database(&mut db, &raw).await.found, Vec::<String>::new(), "raw secret bytes in clear");
    for code in &codes {
        assert_eq!(find_in_database(&mut db, code.replace('-', "")).await.found, Vec::<String>::new());
        assert_eq!(find_in_database(&mut db, code).await.found, Vec::<String>::new());
    }
    // What is stored is the vault's sealing of this member's secret.
    let sealed: Vec<u8> = sqlx::query_scalar("select secret_sealed from mfa_factors").fetch_one(&mut db).await.unwrap();
    let context = kernel::vault::SecretContext { org, record_kind: "mfa_totp", record_id: user.0, field: "secret" };
    use secrecy::ExposeSecret;
    assert_eq!(app.state.vault.open(&context, &sealed).unwrap().expose_secret(), secret);
}

/// P2-18: `/api/v1/auth/token` refuses email and password alone for a member with MFA (422 naming
/// `otp`), refuses a wrong or replayed `otp`, and issues tokens with a current one.
#[tokio::test]
async fn p2_18_token_endpoint_needs_otp_for_mfa_members() {
    let app = TestApp::spawn().await;
    app.sign_up("ada@example.eu").await;
    let body = serde_json::json!({ "email": "ada@example.eu", "password": PASSWORD });
    assert_eq!(app.post_json("/api/v1/auth/token", &body).await.status(), 200, "no MFA yet: password is enough");
    let (secret, codes) = enroll(&app, &app.browser_login("ada@example.eu", PASSWORD).await).await;

    let response = app.post_json("/api/v1/auth/token", &body).await;
    assert_eq!(response.status(), 422);
    assert_eq!(header(&response, "content-type"), "application/problem+json");
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "otp", "{problem}");
    assert_eq!(problem["errors"][0]["code"], "otp_required", "{problem}");

    next_step(&app);
    let code = app.totp_code(&secret);
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    let with = |otp: &str| serde_json::json!({ "email": "ada@example.eu", "password": PASSWORD, "otp": otp });
    assert_eq!(app.post_json("/api/v1/auth/token", &with(&wrong)).await.status(), 422);
    assert_eq!(app.post_json("/api/v1/auth/token", &with(&codes[0])).await.status(), 422, "recovery codes: pages only");
    let response = app.post_json("/api/v1/auth/token", &with(&code)).await;
    assert_eq!(response.status(), 200);
    let pair: serde_json::Value = response.json().await.unwrap();
    assert!(pair["access_token"].as_str().is_some());
    assert_eq!(app.post_json("/api/v1/auth/token", &with(&code)).await.status(), 422, "replayed otp");
    assert!(app.audit_actions().await.contains(&"auth.login.mfa_failed".to_string()));
}
