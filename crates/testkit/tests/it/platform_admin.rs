//! The platform super admin (issue #3 item 2; P2-18): created only from the CLI, set up once
//! through a short-lived link, logged in with password and TOTP (each step once), kept apart from
//! members in both directions, shown aggregates and never member data, audited append-only.

use kernel::authz::Access;
use kernel::db::Actor;
use kernel::db::embedded::OWNER_ROLE;
use sqlx::{ConnectOptions, Connection};
use testkit::{Browser, PASSWORD, TestApp};
use time::Duration;

const ADMIN_PASSWORD: &str = "a long and unguessable admin passphrase";

fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html.find(start).unwrap_or_else(|| panic!("{start:?} not in page")) + start.len();
    let rest = &html[from..];
    &rest[..rest.find(end).expect("end marker")]
}

/// What `relais admin create --email` does (the same library function), returning the link's path.
async fn create_admin(app: &TestApp, email: &str) -> String {
    use secrecy::ExposeSecret;
    let created =
        identity::platform_admin::create_admin(&app.db, &app.state.vault, &app.origin(), email, app.clock.now())
            .await
            .expect("admin create");
    let url = created.setup_url.expose_secret().to_string();
    url.strip_prefix(&app.origin()).expect("link on this instance").to_string()
}

/// Creates an admin and completes the setup; returns their TOTP secret.
async fn set_up_admin(app: &TestApp, email: &str) -> String {
    let link = create_admin(app, email).await;
    let browser = Browser::new(app);
    let html = browser.get(&link).await.text().await.unwrap();
    let secret = between(&html, "id=\"totp-secret\">", "<").to_string();
    let response =
        browser.post_form(&link, &[("password", ADMIN_PASSWORD), ("code", app.totp_code(&secret).as_str())]).await;
    assert_eq!(response.status(), 303, "setup: {}", response.text().await.unwrap_or_default());
    secret
}

async fn try_login(browser: &Browser, email: &str, password: &str, code: &str) -> (u16, String) {
    let response = browser.post_form("/admin/login", &[("email", email), ("password", password), ("code", code)]).await;
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// Logs the admin in at the next TOTP step (the setup spent the current one).
async fn admin_login(app: &TestApp, email: &str, secret: &str) -> Browser {
    app.clock.advance(Duration::seconds(30));
    let browser = Browser::new(app);
    let (status, body) = try_login(&browser, email, ADMIN_PASSWORD, &app.totp_code(secret)).await;
    assert_eq!(status, 303, "admin login failed: {body}");
    assert!(browser.cookie("relais_admin").is_some(), "no admin cookie");
    browser
}

async fn audit_actions(app: &TestApp) -> Vec<String> {
    let mut db = app.superuser_connection().await;
    sqlx::query_scalar("select action from platform_audit_events order by occurred_at, event_id")
        .fetch_all(&mut db)
        .await
        .unwrap()
}

/// P2-18: no HTTP route creates a super admin: every admin route is login, setup or needs an
/// admin already, and posting to the public ones creates nothing. The CLI's function does.
#[tokio::test]
async fn p2_18_super_admins_are_created_only_from_the_cli() {
    let app = TestApp::spawn().await;
    let anonymous = Browser::new(&app);
    for route in web::routes().into_iter().filter(|r| r.path.starts_with("/admin")) {
        let public = ["/admin/login", "/admin/setup/{token}"];
        assert!(
            route.access == Access::PlatformAdmin || public.contains(&route.path),
            "{} {} is reachable without an admin session",
            route.method,
            route.path
        );
        let path = route.path.replace("{token}", "x").replace("{org_id}", &uuid::Uuid::now_v7().to_string());
        anonymous
            .send_form(route.method.clone(), &path, &[("email", "intruder@example.eu"), ("password", ADMIN_PASSWORD)])
            .await;
    }
    assert_eq!(app.select_i64("select count(*) from platform_admins").await, 0, "a route created an admin");
    create_admin(&app, "root@operator.example.eu").await;
    assert_eq!(app.select_i64("select count(*) from platform_admins").await, 1);
    let admins = identity::platform_admin::list_admins(&app.db).await.unwrap();
    assert_eq!(admins[0].email, "root@operator.example.eu");
    assert_eq!(admins[0].status, "pending");
}

/// P2-18: the setup link works once, and not after 30 minutes; the token is stored hashed only.
#[tokio::test]
async fn p2_18_setup_link_is_single_use_and_expires() {
    let app = TestApp::spawn().await;
    let link = create_admin(&app, "late@operator.example.eu").await;
    let token = link.rsplit('/').next().unwrap().to_string();
    let mut db = app.superuser_connection().await;
    let stored: Vec<Vec<u8>> =
        sqlx::query_scalar("select token_hash from platform_admin_setup_tokens").fetch_all(&mut db).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].windows(token.len()).any(|w| w == token.as_bytes()), "token stored in clear");

    let browser = Browser::new(&app);
    assert_eq!(browser.get(&link).await.status(), 200);
    app.clock.advance(Duration::minutes(31));
    assert_eq!(browser.get(&link).await.status(), 404, "an expired link still works");

    // A new link for the still-pending admin; used once, it is spent.
    let link = create_admin(&app, "late@operator.example.eu").await;
    let html = browser.get(&link).await.text().await.unwrap();
    let secret = between(&html, "id=\"totp-secret\">", "<").to_string();
    let weak = browser.post_form(&link, &[("password", "short"), ("code", "000000")]).await;
    assert_eq!(weak.status(), 422, "a weak password and a wrong code are refused together");
    let body = weak.text().await.unwrap();
    assert!(body.contains("12"), "password rule not reported");
    let code = app.totp_code(&secret);
    let done = browser.post_form(&link, &[("password", ADMIN_PASSWORD), ("code", code.as_str())]).await;
    assert_eq!(done.status(), 303);
    assert_eq!(browser.get(&link).await.status(), 404, "a used link still shows the form");
    app.clock.advance(Duration::seconds(30));
    let again =
        browser.post_form(&link, &[("password", ADMIN_PASSWORD), ("code", app.totp_code(&secret).as_str())]).await;
    assert_eq!(again.status(), 404, "a used link set up the account again");
}

/// P2-18: a super admin logs in with email, password AND a TOTP code; without the code (or with
/// a wrong one) there is no session.
#[tokio::test]
async fn p2_18_admin_login_requires_totp() {
    let app = TestApp::spawn().await;
    let secret = set_up_admin(&app, "root@operator.example.eu").await;
    app.clock.advance(Duration::seconds(30));
    let browser = Browser::new(&app);
    let (status, _) = try_login(&browser, "root@operator.example.eu", ADMIN_PASSWORD, "").await;
    assert_eq!(status, 401, "a login without a code passed");
    let (status, _) = try_login(&browser, "root@operator.example.eu", ADMIN_PASSWORD, "123456").await;
    assert_eq!(status, 401);
    assert!(browser.cookie("relais_admin").is_none());
    assert_eq!(browser.get("/admin").await.headers()["location"], "/admin/login");

    let code = app.totp_code(&secret);
    let (status, _) = try_login(&browser, "root@operator.example.eu", ADMIN_PASSWORD, &code).await;
    assert_eq!(status, 303);
    let cookie = browser.cookie("relais_admin").expect("admin cookie");
    let overview = browser.get("/admin").await;
    assert_eq!(overview.status(), 200);
    let mut db = app.superuser_connection().await;
    let hashes: Vec<Vec<u8>> =
        sqlx::query_scalar("select token_hash from platform_admin_sessions").fetch_all(&mut db).await.unwrap();
    assert_eq!(hashes.len(), 1);
    assert!(!hashes[0].windows(cookie.len()).any(|w| w == cookie.as_bytes()), "session token stored in clear");
}

/// P2-18: the admin cookie is HttpOnly, Secure and SameSite=Strict; sessions end when idle and
/// after their absolute lifetime; logout ends them.
#[tokio::test]
async fn p2_18_admin_sessions_are_strict_short_and_end_on_logout() {
    let app = TestApp::spawn().await;
    let secret = set_up_admin(&app, "root@operator.example.eu").await;
    app.clock.advance(Duration::seconds(30));
    let response = Browser::new(&app)
        .post_form(
            "/admin/login",
            &[
                ("email", "root@operator.example.eu"),
                ("password", ADMIN_PASSWORD),
                ("code", app.totp_code(&secret).as_str()),
            ],
        )
        .await;
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap().to_ascii_lowercase();
    for attribute in ["httponly", "secure", "samesite=strict", "path=/"] {
        assert!(set_cookie.contains(attribute), "admin cookie lacks {attribute}: {set_cookie}");
    }

    let browser = admin_login(&app, "root@operator.example.eu", &secret).await;
    app.clock.advance(Duration::minutes(29));
    assert_eq!(browser.get("/admin").await.status(), 200, "used within the idle timeout");
    app.clock.advance(Duration::minutes(31));
    assert_eq!(browser.get("/admin").await.status(), 303, "an idle session still works");

    let browser = admin_login(&app, "root@operator.example.eu", &secret).await;
    for _ in 0..17 {
        app.clock.advance(Duration::minutes(29));
        if browser.get("/admin").await.status() != 200 {
            break;
        }
    }
    assert_eq!(browser.get("/admin").await.status(), 303, "a session outlived 8 hours");

    let browser = admin_login(&app, "root@operator.example.eu", &secret).await;
    let html = browser.get("/admin").await.text().await.unwrap();
    let csrf = between(&html, "name=\"csrf\" value=\"", "\"").to_string();
    assert_eq!(browser.post_form("/admin/logout", &[("csrf", "forged")]).await.status(), 403);
    assert_eq!(browser.post_form("/admin/logout", &[("csrf", csrf.as_str())]).await.status(), 303);
    assert_eq!(browser.get("/admin").await.headers()["location"], "/admin/login");

    // A browser signed in as a member too: the admin's forms still take the admin's token.
    app.sign_up("owner@both.example.eu").await;
    let browser = app.browser_login("owner@both.example.eu", PASSWORD).await;
    app.clock.advance(Duration::seconds(30));
    let code = app.totp_code(&secret);
    assert_eq!(try_login(&browser, "root@operator.example.eu", ADMIN_PASSWORD, &code).await.0, 303);
    assert!(browser.cookie("relais_admin").is_some() && browser.is_signed_in().await);
    let member_csrf = browser.csrf_token("/dashboard").await;
    let html = browser.get("/admin").await.text().await.unwrap();
    let csrf = between(&html, "name=\"csrf\" value=\"", "\"").to_string();
    assert_eq!(browser.post_form("/admin/logout", &[("csrf", member_csrf.as_str())]).await.status(), 403);
    assert_eq!(browser.post_form("/admin/logout", &[("csrf", csrf.as_str())]).await.status(), 303);
}

/// P2-18: a TOTP code is accepted once: replaying it within its 30-second step opens nothing.
#[tokio::test]
async fn p2_18_admin_totp_step_replay_is_refused() {
    let app = TestApp::spawn().await;
    let secret = set_up_admin(&app, "root@operator.example.eu").await;
    // The setup spent the current step: the same code cannot log in.
    let code = app.totp_code(&secret);
    let (status, _) = try_login(&Browser::new(&app), "root@operator.example.eu", ADMIN_PASSWORD, &code).await;
    assert_eq!(status, 401, "the setup's code was accepted again");
    app.clock.advance(Duration::seconds(30));
    let code = app.totp_code(&secret);
    let (status, _) = try_login(&Browser::new(&app), "root@operator.example.eu", ADMIN_PASSWORD, &code).await;
    assert_eq!(status, 303);
    let (status, _) = try_login(&Browser::new(&app), "root@operator.example.eu", ADMIN_PASSWORD, &code).await;
    assert_eq!(status, 401, "a replayed code opened a second session");
}

/// An unknown email, a wrong password, a wrong code and a disabled admin get the same answer.
#[tokio::test]
async fn admin_login_answers_do_not_reveal_accounts() {
    let app = TestApp::spawn().await;
    let secret = set_up_admin(&app, "root@operator.example.eu").await;
    set_up_admin(&app, "gone@operator.example.eu").await;
    identity::platform_admin::disable_admin(&app.db, "gone@operator.example.eu", app.clock.now()).await.unwrap();
    app.clock.advance(Duration::seconds(30));
    let good = app.totp_code(&secret);
    let wrong_code = format!("{:06}", (good.parse::<u32>().unwrap() + 1) % 1_000_000);
    let attempts = [
        ("nobody@operator.example.eu", ADMIN_PASSWORD, good.as_str()),
        ("root@operator.example.eu", "not the password at all", good.as_str()),
        ("root@operator.example.eu", ADMIN_PASSWORD, wrong_code.as_str()),
        ("gone@operator.example.eu", ADMIN_PASSWORD, good.as_str()),
    ];
    let mut answers = Vec::new();
    for (email, password, code) in attempts {
        let (status, body) = try_login(&Browser::new(&app), email, password, code).await;
        answers.push((status, body.replace(email, "EMAIL")));
    }
    assert_eq!(answers[0].0, 401);
    for answer in &answers[1..] {
        assert_eq!(answer, &answers[0], "login answers differ");
    }
    let failed = audit_actions(&app).await.iter().filter(|a| *a == "platform.admin.login.failed").count();
    assert_eq!(failed, 4, "failed logins are audited");
}

/// P1-16: admin login is rate limited per account: 429 with Retry-After, even with the right code.
#[tokio::test]
async fn admin_login_is_rate_limited() {
    let app = TestApp::spawn().await;
    let secret = set_up_admin(&app, "root@operator.example.eu").await;
    let browser = Browser::new(&app);
    for _ in 0..identity::platform_admin::LOGIN_PER_ACCOUNT.limit {
        let (status, _) = try_login(&browser, "root@operator.example.eu", "wrong password!", "000000").await;
        assert_eq!(status, 401);
    }
    app.clock.advance(Duration::seconds(30));
    let response = browser
        .post_form(
            "/admin/login",
            &[
                ("email", "root@operator.example.eu"),
                ("password", ADMIN_PASSWORD),
                ("code", app.totp_code(&secret).as_str()),
            ],
        )
        .await;
    assert_eq!(response.status(), 429);
    let retry: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 0);
}

/// P2-18: the admin session grants nothing on tenant pages or the API, and a member's session
/// (even the owner's) grants nothing under /admin.
#[tokio::test]
async fn p2_18_admin_and_member_sessions_do_not_cross() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@tenant.example.eu").await;
    let secret = set_up_admin(&app, "root@operator.example.eu").await;
    let admin = admin_login(&app, "root@operator.example.eu", &secret).await;
    for path in ["/dashboard", "/members", "/settings/profile", "/settings/activity"] {
        let response = admin.get(path).await;
        assert_eq!(response.status(), 303, "admin reached {path}");
        assert_eq!(response.headers()["location"], "/login");
    }
    let cookie = admin.cookie("relais_admin").unwrap();
    for (name, path) in [("relais_admin", "/api/v1/me"), ("relais_admin", "/api/v1/members")] {
        let response = app.http.get(app.url(path)).header("cookie", format!("{name}={cookie}")).send().await.unwrap();
        assert_eq!(response.status(), 401, "admin cookie reached {path}");
        let response = app.http.get(app.url(path)).bearer_auth(&cookie).send().await.unwrap();
        assert_eq!(response.status(), 401, "admin token as bearer reached {path}");
    }

    let member = app.browser_login("owner@tenant.example.eu", PASSWORD).await;
    assert_eq!(member.get("/admin").await.status(), 403);
    let csrf = member.csrf_token("/dashboard").await;
    let suspend = format!("/admin/orgs/{org}/suspend");
    assert_eq!(member.post_form(&suspend, &[("csrf", csrf.as_str())]).await.status(), 403);
    // The member's session cookie under the admin cookie's name is no admin session either.
    let session = member.cookie("relais_session").unwrap();
    let response =
        app.http.get(app.url("/admin")).header("cookie", format!("relais_admin={session}")).send().await.unwrap();
    assert_eq!(response.headers()["location"], "/admin/login");
}

/// Issue #10 item 4: the platform doors are not the request role's. Connected as `relais_app` —
/// the role of every member request, with or without an org set — suspending an organization,
/// ending an admin session, reading the platform audit log or listing organizations is refused
/// (permission denied), nothing changes, and the role cannot become `relais_admin`. The
/// backoffice, on its own connection, still can.
#[tokio::test]
async fn the_request_role_cannot_open_the_platform_doors() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@target.example.eu").await;
    let member = app.browser_login("owner@target.example.eu", PASSWORD).await;
    let secret = set_up_admin(&app, "root@operator.example.eu").await;
    let admin = admin_login(&app, "root@operator.example.eu", &secret).await;
    let sessions_before = app.select_i64("select count(*) from platform_admin_sessions").await;

    let calls: [(&str, &str); 6] = [
        ("suspend an organization", "select app.platform_set_org_status($1, true)"),
        (
            "end an admin session",
            "select app.platform_admin_end_session(s.session_id) from (select $1::uuid as session_id) s",
        ),
        (
            "read the platform audit log",
            "select count(*) from app.platform_audit_recent(50) where $1::uuid is not null",
        ),
        ("list every organization", "select count(*) from app.platform_overview_orgs() where $1::uuid is not null"),
        (
            "open an admin session",
            "select app.platform_admin_open_session($1, 99999999999, gen_random_uuid(), sha256('x'), now(), now() + interval '1 hour')",
        ),
        (
            "write the platform audit log",
            "select app.platform_audit_append(gen_random_uuid(), now(), 'admin', $1, 'platform.org.suspended', null, null, '{}')",
        ),
    ];
    let mut raw = app.app_role_connection().await;
    for (what, sql) in calls {
        for (via, result) in [
            ("a raw relais_app connection", sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.0).execute(&mut raw).await),
            (
                "the request path's pool",
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.0).execute(app.db.before_tenant()).await,
            ),
        ] {
            let error = result.expect_err(&format!("{what} through {via}"));
            let code = error.as_database_error().and_then(|e| e.code()).map(|c| c.into_owned());
            assert_eq!(code.as_deref(), Some("42501"), "{what} through {via}: {error}");
        }
        let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
        let error = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.0).execute(tx.conn()).await.expect_err(what);
        assert!(error.to_string().contains("permission denied"), "{what} in a tenant transaction: {error}");
    }
    let error =
        sqlx::query("set role relais_admin").execute(&mut raw).await.expect_err("relais_app became relais_admin");
    assert!(error.to_string().contains("permission denied"), "{error}");

    assert_eq!(member.get("/dashboard").await.status(), 200, "the member was signed out");
    assert_eq!(app.select_i64("select count(*) from platform_admin_sessions").await, sessions_before);
    let html = admin.get("/admin").await.text().await.unwrap();
    assert!(between(&html, &format!("data-org=\"{org}\""), "</tr>").contains("active"));

    // The backoffice's own path still suspends.
    let csrf = between(&html, "name=\"csrf\" value=\"", "\"").to_string();
    assert_eq!(admin.post_form(&format!("/admin/orgs/{org}/suspend"), &[("csrf", csrf.as_str())]).await.status(), 303);
    assert_eq!(member.get("/dashboard").await.headers()["location"], "/login");
}

/// P2-18: the backoffice lists organizations by name with counts, and no member email; the request
/// role still cannot read admins, sessions or the platform audit log directly.
#[tokio::test]
async fn p2_18_backoffice_shows_org_names_and_counts_but_no_member_email() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@secretive.example.eu").await;
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    sqlx::query("update organizations set name = 'Secretive Widgets' where org_id = $1")
        .bind(org)
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    app.browser_login("owner@secretive.example.eu", PASSWORD).await;
    let secret = set_up_admin(&app, "root@operator.example.eu").await;
    let admin = admin_login(&app, "root@operator.example.eu", &secret).await;
    let html = admin.get("/admin").await.text().await.unwrap();
    assert!(html.contains("Secretive Widgets"), "org name missing");
    let row = between(&html, &format!("data-org=\"{org}\""), "</tr>");
    assert!(row.contains("<td class=\"member-count\">1</td>"), "member count missing: {row}");
    assert!(!html.contains("owner@secretive.example.eu"), "the backoffice shows a member email");
    assert!(!html.contains("Ada") && !html.contains("Lovelace"), "the backoffice shows a member name");
    let mut db = app.superuser_connection().await;
    let latest: i64 = sqlx::query_scalar("select max(version) from _sqlx_migrations").fetch_one(&mut db).await.unwrap();
    assert!(html.contains(&format!("id=\"schema-version\">{latest}<")), "schema version missing");
    assert!(html.contains("root@operator.example.eu"), "admin list missing");
    assert!(html.contains("platform.admin.login.succeeded"), "audit entries missing");

    let mut app_role = app.app_role_connection().await;
    for table in ["platform_admins", "platform_admin_sessions", "platform_admin_setup_tokens", "platform_audit_events"]
    {
        let read = sqlx::query(sqlx::AssertSqlSafe(format!("select * from {table}"))).fetch_all(&mut app_role).await;
        assert!(read.is_err(), "relais_app can read {table}");
    }
    let users: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&mut app_role).await.unwrap();
    assert_eq!(users, 0, "relais_app without an org sees members");
}

/// P2-18: every admin action is in the platform audit log, which refuses UPDATE, DELETE and
/// TRUNCATE even to the schema owner; payloads name no email.
#[tokio::test]
async fn p2_18_admin_actions_are_audited_append_only() {
    let app = TestApp::spawn().await;
    let secret = set_up_admin(&app, "root@operator.example.eu").await;
    let admin = admin_login(&app, "root@operator.example.eu", &secret).await;
    let html = admin.get("/admin").await.text().await.unwrap();
    let csrf = between(&html, "name=\"csrf\" value=\"", "\"").to_string();
    admin.post_form("/admin/logout", &[("csrf", csrf.as_str())]).await;
    identity::platform_admin::disable_admin(&app.db, "root@operator.example.eu", app.clock.now()).await.unwrap();
    let actions = audit_actions(&app).await;
    for expected in [
        "platform.admin.created",
        "platform.admin.setup_completed",
        "platform.admin.login.succeeded",
        "platform.admin.logout",
        "platform.admin.disabled",
    ] {
        assert!(actions.iter().any(|a| a == expected), "{expected} not audited: {actions:?}");
    }
    let mut owner = app.connect_options(OWNER_ROLE).connect().await.unwrap();
    let payloads: Vec<String> =
        sqlx::query_scalar("select payload::text from platform_audit_events").fetch_all(&mut owner).await.unwrap();
    assert!(payloads.iter().all(|p| !p.contains('@')), "an email in an audit payload: {payloads:?}");
    for statement in [
        "update platform_audit_events set action = 'x'",
        "delete from platform_audit_events",
        "truncate platform_audit_events",
    ] {
        let mut tx = owner.begin().await.unwrap();
        let error = sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&mut *tx).await.expect_err(statement);
        assert!(error.to_string().contains("append-only"), "{statement}: {error}");
        tx.rollback().await.unwrap();
    }
}

/// `relais admin disable` ends the admin's sessions at once and stops their logins.
#[tokio::test]
async fn disabling_an_admin_ends_their_sessions() {
    let app = TestApp::spawn().await;
    let secret = set_up_admin(&app, "root@operator.example.eu").await;
    let admin = admin_login(&app, "root@operator.example.eu", &secret).await;
    assert_eq!(admin.get("/admin").await.status(), 200);
    assert!(
        identity::platform_admin::disable_admin(&app.db, "root@operator.example.eu", app.clock.now()).await.unwrap()
    );
    assert_eq!(admin.get("/admin").await.headers()["location"], "/admin/login");
    app.clock.advance(Duration::seconds(30));
    let (status, _) =
        try_login(&Browser::new(&app), "root@operator.example.eu", ADMIN_PASSWORD, &app.totp_code(&secret)).await;
    assert_eq!(status, 401);
    assert!(
        !identity::platform_admin::disable_admin(&app.db, "nobody@operator.example.eu", app.clock.now()).await.unwrap()
    );
}

/// A suspended organization's members are signed out at once and can neither log in nor use the
/// API until it is reactivated; both changes are audited.
#[tokio::test]
async fn suspending_an_org_blocks_its_members_until_reactivated() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@suspended.example.eu").await;
    let (other, _) = app.sign_up("owner@unaffected.example.eu").await;
    let member = app.browser_login("owner@suspended.example.eu", PASSWORD).await;
    let bystander = app.browser_login("owner@unaffected.example.eu", PASSWORD).await;
    let token_body = serde_json::json!({ "email": "owner@suspended.example.eu", "password": PASSWORD });
    let token: serde_json::Value = app.post_json("/api/v1/auth/token", &token_body).await.json().await.unwrap();
    let access = token["access_token"].as_str().unwrap().to_string();

    let secret = set_up_admin(&app, "root@operator.example.eu").await;
    let admin = admin_login(&app, "root@operator.example.eu", &secret).await;
    let html = admin.get("/admin").await.text().await.unwrap();
    let csrf = between(&html, "name=\"csrf\" value=\"", "\"").to_string();
    let suspend = format!("/admin/orgs/{org}/suspend");
    assert_eq!(admin.post_form(&suspend, &[("csrf", "forged")]).await.status(), 403);
    assert_eq!(admin.post_form(&suspend, &[("csrf", csrf.as_str())]).await.status(), 303);

    assert_eq!(member.get("/dashboard").await.headers()["location"], "/login", "the session survived");
    assert_eq!(bystander.get("/dashboard").await.status(), 200, "another org was affected");
    let login = Browser::new(&app)
        .post_form("/login", &[("email", "owner@suspended.example.eu"), ("password", PASSWORD)])
        .await;
    assert_ne!(login.status(), 303, "a suspended org's member logged in");
    let me = app.http.get(app.url("/api/v1/me")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(me.status(), 401, "a suspended org's access token still works");
    assert_ne!(app.post_json("/api/v1/auth/token", &token_body).await.status(), 200);
    let html = admin.get("/admin").await.text().await.unwrap();
    assert!(between(&html, &format!("data-org=\"{org}\""), "</tr>").contains("suspended"));
    assert!(between(&html, &format!("data-org=\"{other}\""), "</tr>").contains("active"));

    let reactivate = format!("/admin/orgs/{org}/reactivate");
    assert_eq!(admin.post_form(&reactivate, &[("csrf", csrf.as_str())]).await.status(), 303);
    app.browser_login("owner@suspended.example.eu", PASSWORD).await;
    let actions = audit_actions(&app).await;
    assert!(actions.iter().any(|a| a == "platform.org.suspended"));
    assert!(actions.iter().any(|a| a == "platform.org.reactivated"));
    let unknown = format!("/admin/orgs/{}/suspend", uuid::Uuid::now_v7());
    assert_eq!(admin.post_form(&unknown, &[("csrf", csrf.as_str())]).await.status(), 404);
}

/// Issue #11: the backoffice shows its moments in the admin's language, in the instance's default
/// time zone (admins have none of their own), never as a UTC timestamp.
#[tokio::test]
async fn the_backoffice_shows_local_dates_in_the_admins_language() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@dated.example.eu").await;
    let mut db = app.superuser_connection().await;
    sqlx::query("update organizations set created_at = '2031-12-06 13:05Z' where org_id = $1")
        .bind(org)
        .execute(&mut db)
        .await
        .unwrap();
    let secret = set_up_admin(&app, "root@operator.example.eu").await;
    let admin = admin_login(&app, "root@operator.example.eu", &secret).await;
    let cookie = format!("relais_admin={}", admin.cookie("relais_admin").unwrap());
    for (lang, shown) in [("en", "Dec 6, 2031, 2:05\u{a0}PM"), ("fr", "6 déc. 2031 à 14:05")] {
        let response =
            app.http.get(app.url("/admin")).header("cookie", &cookie).header("accept-language", lang).send().await;
        let html = response.unwrap().text().await.unwrap();
        let row = between(&html, &format!("data-org=\"{org}\""), "</tr>");
        assert!(row.contains(shown), "{lang}: {row}");
        assert!(!html.contains(" UTC<"), "{lang}: {html}");
    }
}
