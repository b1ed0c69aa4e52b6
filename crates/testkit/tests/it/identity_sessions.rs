//! Sessions and activity (issue #3 item 7; P1-04): members see and end their own sessions and API
//! sign-ins, owners end a member's, every API request made with a credential is logged (route
//! template, status — never the token, body or query string), and owners alone see the sign-in
//! history and the API request log, each view audited.

use kernel::authz::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use testkit::{Browser, PASSWORD, SESSION_COOKIE, TestApp};
use uuid::Uuid;

const FIREFOX_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// The id of the session behind a browser's cookie.
async fn session_id(app: &TestApp, browser: &Browser) -> Uuid {
    let token = browser.cookie(SESSION_COOKIE).expect("a session cookie");
    let hash = Sha256::digest(token.as_bytes()).to_vec();
    let mut db = app.superuser_connection().await;
    sqlx::query_scalar("select session_id from sessions where token_hash = $1")
        .bind(hash)
        .fetch_one(&mut db)
        .await
        .unwrap()
}

/// P1-04: a member's sessions page lists their live browser sessions — with IP and a readable
/// browser — and API sign-ins, and marks the session it is viewed from.
#[tokio::test]
async fn p1_04_own_sessions_are_listed_with_the_current_one_marked() {
    let app = TestApp::spawn().await;
    let (org, _, first) = app.sign_up_and_log_in("ada@sessions.example.eu").await;
    let second = app.browser_login("ada@sessions.example.eu", PASSWORD).await;
    let (first_id, second_id) = (session_id(&app, &first).await, session_id(&app, &second).await);
    let mut db = app.superuser_connection().await;
    sqlx::query("update sessions set user_agent = $1 where session_id = $2")
        .bind(FIREFOX_LINUX)
        .bind(second_id)
        .execute(&mut db)
        .await
        .unwrap();
    app.token_pair("ada@sessions.example.eu", PASSWORD).await;

    let response = first.get("/settings/sessions").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let html = response.text().await.unwrap();
    assert!(html.contains(&format!("/settings/sessions/{first_id}/revoke")), "{html}");
    assert!(html.contains(&format!("/settings/sessions/{second_id}/revoke")));
    assert_eq!(html.matches("data-current-session=").count(), 1);
    assert!(html.contains(&format!("data-current-session=\"{first_id}\"")));
    assert!(html.contains("Firefox · Linux"), "the browser is summarised from its user agent");
    assert!(html.contains("127.0.0.1"), "the IP address is shown");
    assert_eq!(html.matches("/settings/sessions/tokens/").count(), 1, "one API sign-in");

    // The other browser sees itself as the current one.
    let html = second.get("/settings/sessions").await.text().await.unwrap();
    assert!(html.contains(&format!("data-current-session=\"{second_id}\"")));
    let _ = org;
}

/// P1-04: ending another of one's own sessions signs that browser out and leaves this one
/// signed in; ending the current one logs out; another member's session cannot be ended this
/// way (404, as if it did not exist).
#[tokio::test]
async fn p1_04_revoking_an_own_session_ends_it() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("ada@revoke.example.eu").await;
    app.add_named_member(org, "grace@revoke.example.eu", Role::User, ("Grace", "Hopper")).await;
    let here = app.browser_login("ada@revoke.example.eu", PASSWORD).await;
    let elsewhere = app.browser_login("ada@revoke.example.eu", PASSWORD).await;
    let colleague = app.browser_login("grace@revoke.example.eu", PASSWORD).await;
    let elsewhere_id = session_id(&app, &elsewhere).await;
    let colleague_id = session_id(&app, &colleague).await;

    // Without the CSRF token: refused, nothing ended.
    let response = here.post_form(&format!("/settings/sessions/{elsewhere_id}/revoke"), &[("csrf", "forged")]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(elsewhere.is_signed_in().await);

    let csrf = here.csrf_token("/settings/sessions").await;
    let response = here.post_form(&format!("/settings/sessions/{elsewhere_id}/revoke"), &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/settings/sessions");
    assert!(!elsewhere.is_signed_in().await, "the revoked session's cookie no longer works");
    assert!(here.is_signed_in().await);
    assert!(
        app.org_audit_log(org).await.iter().any(|e| e.action == "session.revoked" && e.target_id == Some(elsewhere_id))
    );

    // A colleague's session is not one's own.
    let response = here.post_form(&format!("/settings/sessions/{colleague_id}/revoke"), &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(colleague.is_signed_in().await);

    // Ending the current session logs out.
    let here_id = session_id(&app, &here).await;
    let response = here.post_form(&format!("/settings/sessions/{here_id}/revoke"), &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/login");
    assert!(here.cookie(SESSION_COOKIE).is_none(), "the cookie is removed");
    let mut db = app.superuser_connection().await;
    let left: i64 = sqlx::query_scalar("select count(*) from sessions where session_id = $1")
        .bind(here_id)
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

/// P1-04: revoking one's own API sign-in (a refresh-token family) ends its access and refresh
/// tokens at once, and leaves the other sign-ins working.
#[tokio::test]
async fn p1_04_revoking_an_own_api_sign_in_ends_its_tokens() {
    let app = TestApp::spawn().await;
    let (_, _, browser) = app.sign_up_and_log_in("ada@family.example.eu").await;
    let revoked = app.token_pair("ada@family.example.eu", PASSWORD).await;
    let kept = app.token_pair("ada@family.example.eu", PASSWORD).await;
    let access = |pair: &Value| pair["access_token"].as_str().unwrap().to_string();
    assert_eq!(app.me(&access(&revoked)).await.status(), StatusCode::OK);

    let mut db = app.superuser_connection().await;
    let hash = Sha256::digest(revoked["refresh_token"].as_str().unwrap().as_bytes()).to_vec();
    let family: Uuid = sqlx::query_scalar("select family_id from refresh_tokens where token_hash = $1")
        .bind(hash)
        .fetch_one(&mut db)
        .await
        .unwrap();
    let html = browser.get("/settings/sessions").await.text().await.unwrap();
    assert!(html.contains(&format!("/settings/sessions/tokens/{family}/revoke")));
    let csrf = browser.csrf_token("/settings/sessions").await;
    let response = browser.post_form(&format!("/settings/sessions/tokens/{family}/revoke"), &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    assert_eq!(app.me(&access(&revoked)).await.status(), StatusCode::UNAUTHORIZED);
    let refresh = app.post_json("/api/v1/auth/refresh", &json!({ "refresh_token": revoked["refresh_token"] })).await;
    assert_eq!(refresh.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.me(&access(&kept)).await.status(), StatusCode::OK, "the other sign-in still works");
    let html = browser.get("/settings/sessions").await.text().await.unwrap();
    assert!(!html.contains(&format!("/settings/sessions/tokens/{family}/revoke")), "no longer listed");
    // Revoking it again: nothing left to revoke.
    let response = browser.post_form(&format!("/settings/sessions/tokens/{family}/revoke"), &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

/// P1-04: an owner ends a member's sessions — every browser session and every API token of theirs
/// stops working at once — and the act is audited `member.sessions_ended`.
#[tokio::test]
async fn p1_04_owner_ends_a_members_sessions_and_api_tokens() {
    let app = TestApp::spawn().await;
    let (org, owner_id) = app.sign_up("ada@end.example.eu").await;
    let member = app.add_named_member(org, "grace@end.example.eu", Role::Manager, ("Grace", "Hopper")).await;
    let owner = app.browser_login("ada@end.example.eu", PASSWORD).await;
    let laptop = app.browser_login("grace@end.example.eu", PASSWORD).await;
    let phone = app.browser_login("grace@end.example.eu", PASSWORD).await;
    let pair = app.token_pair("grace@end.example.eu", PASSWORD).await;
    let access = pair["access_token"].as_str().unwrap().to_string();
    assert_eq!(app.me(&access).await.status(), StatusCode::OK);

    let response = owner.get(&format!("/settings/members/{member}/sessions")).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("Grace Hopper"));
    let csrf = owner.csrf_token(&format!("/settings/members/{member}/sessions")).await;
    let response = owner.post_form(&format!("/settings/members/{member}/sessions/end"), &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    assert!(!laptop.is_signed_in().await);
    assert!(!phone.is_signed_in().await);
    assert_eq!(app.me(&access).await.status(), StatusCode::UNAUTHORIZED, "the access token is revoked");
    let refresh = app.post_json("/api/v1/auth/refresh", &json!({ "refresh_token": pair["refresh_token"] })).await;
    assert_eq!(refresh.status(), StatusCode::UNAUTHORIZED, "the refresh token is revoked");
    assert!(owner.is_signed_in().await, "the owner's own session is untouched");
    assert!(
        app.org_audit_log(org).await.iter().any(|e| e.action == "member.sessions_ended" && e.target_id == Some(member))
    );

    // Unknown members: 404, nothing audited.
    let before = app.count_audit_events(org, "member.sessions_ended").await;
    let response =
        owner.post_form(&format!("/settings/members/{}/sessions/end", Uuid::now_v7()), &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.count_audit_events(org, "member.sessions_ended").await, before);
    let _ = owner_id;
}

/// P1-04: only owners end others' sessions: a manager or a user gets 403 and the owner stays
/// signed in.
#[tokio::test]
async fn p1_04_members_cannot_end_others_sessions() {
    let app = TestApp::spawn().await;
    let (org, owner_id) = app.sign_up("ada@deny.example.eu").await;
    app.add_named_member(org, "grace@deny.example.eu", Role::User, ("Grace", "Hopper")).await;
    app.add_named_member(org, "alan@deny.example.eu", Role::Manager, ("Grace", "Hopper")).await;
    let owner = app.browser_login("ada@deny.example.eu", PASSWORD).await;
    for email in ["grace@deny.example.eu", "alan@deny.example.eu"] {
        let browser = app.browser_login(email, PASSWORD).await;
        let csrf = browser.csrf_token("/settings/sessions").await;
        let response = browser.get(&format!("/settings/members/{owner_id}/sessions")).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{email}");
        let response =
            browser.post_form(&format!("/settings/members/{owner_id}/sessions/end"), &[("csrf", &csrf)]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{email}");
        assert!(owner.is_signed_in().await);
    }
    assert_eq!(app.count_audit_events(org, "member.sessions_ended").await, 0);
}

/// P1-04: every API request made with a credential is logged with its route template, status,
/// member and kind of credential — never the concrete path, the query string, the body or the
/// token. Requests without a credential are not logged.
#[tokio::test]
async fn p1_04_api_requests_are_logged_by_route_template_never_secrets() {
    let app = TestApp::spawn().await;
    let (org, owner) = app.sign_up("ada@log.example.eu").await;
    let pair = app.token_pair("ada@log.example.eu", PASSWORD).await;
    let access = pair["access_token"].as_str().unwrap().to_string();
    let missing = Uuid::now_v7();

    let response = app.http.get(app.url("/api/v1/me?secret=xyz")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let response = app
        .http
        .delete(app.url(&format!("/api/v1/api-keys/{missing}?secret=xyz")))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let response = app
        .http
        .post(app.url("/api/v1/api-keys"))
        .bearer_auth(&access)
        .json(&json!({ "name": "Sync bodyname", "role": "user" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_string();
    let key_id: Uuid = created["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(app.me(&key).await.status(), StatusCode::OK);
    // No credential: not logged (there is nobody to attribute it to).
    assert_eq!(app.http.get(app.url("/api/v1/me")).send().await.unwrap().status(), 401);
    web::request_log::settled().await;

    #[derive(sqlx::FromRow, Debug)]
    struct Logged {
        method: String,
        route: String,
        status: i16,
        user_id: Uuid,
        credential: String,
        api_key_id: Option<Uuid>,
        ip: Option<String>,
        whole: String,
    }
    let mut db = app.superuser_connection().await;
    let rows: Vec<Logged> = sqlx::query_as(
        "select method, route, status, user_id, credential, api_key_id, host(ip) as ip, row_to_json(r)::text as whole
         from api_request_log r where org_id = $1 order by at, request_id",
    )
    .bind(org)
    .fetch_all(&mut db)
    .await
    .unwrap();
    let summary: Vec<(String, String, i16, String)> =
        rows.iter().map(|r| (r.method.clone(), r.route.clone(), r.status, r.credential.clone())).collect();
    let expected = [
        ("GET", "/api/v1/me", 200, "access_token"),
        ("DELETE", "/api/v1/api-keys/{id}", 404, "access_token"),
        ("POST", "/api/v1/api-keys", 201, "access_token"),
        ("GET", "/api/v1/me", 200, "api_key"),
    ];
    let mut sorted = summary.clone();
    sorted.sort();
    let mut wanted: Vec<(String, String, i16, String)> =
        expected.iter().map(|(m, r, s, c)| (m.to_string(), r.to_string(), *s, c.to_string())).collect();
    wanted.sort();
    assert_eq!(sorted, wanted, "one row per authenticated request: {summary:?}");
    for row in &rows {
        assert_eq!(row.user_id, owner.0);
        assert_eq!(row.ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(row.api_key_id, (row.credential == "api_key").then_some(key_id));
        for secret in ["xyz", "secret", &missing.to_string(), &access, &key, "bodyname"] {
            assert!(!row.whole.contains(secret), "{secret:?} leaked into the log: {}", row.whole);
        }
    }

    // The owner sees the requests on the activity page, with the key's prefix and no secret.
    let browser = app.browser_login("ada@log.example.eu", PASSWORD).await;
    let html = browser.get("/settings/activity").await.text().await.unwrap();
    assert!(html.contains("DELETE /api/v1/api-keys/{id}"), "{html}");
    assert!(html.contains(&format!("rk_{}_…", created["prefix"].as_str().unwrap())));
    for secret in ["xyz", &missing.to_string(), &access, &key] {
        assert!(!html.contains(secret), "{secret:?} shown on the activity page");
    }
}

/// P1-04: the activity page (sign-ins and API requests, with IP addresses) is for owners only,
/// every view of it is audited, and it pages through history by keyset, newest first, without
/// overlap or gaps.
#[tokio::test]
async fn p1_04_activity_page_is_owner_only_paged_and_audited() {
    let app = TestApp::spawn().await;
    let (org, owner) = app.sign_up("ada@activity.example.eu").await;
    app.add_named_member(org, "grace@activity.example.eu", Role::User, ("Grace", "Hopper")).await;
    app.add_named_member(org, "alan@activity.example.eu", Role::Manager, ("Grace", "Hopper")).await;
    // 60 sign-ins from distinct addresses, one second apart, newer than the real ones.
    let mut db = app.superuser_connection().await;
    for n in 1..=60 {
        sqlx::query(
            "insert into login_events (org_id, event_id, user_id, occurred_at, outcome, method, ip, user_agent)
             values ($1, $2, $3, $4, 'failure', 'password', $5::inet, $6)",
        )
        .bind(org)
        .bind(Uuid::now_v7())
        .bind(owner.0)
        .bind(app.clock.now() + time::Duration::seconds(60 + n))
        .bind(format!("10.0.0.{n}"))
        .bind(FIREFOX_LINUX)
        .execute(&mut db)
        .await
        .unwrap();
    }

    for email in ["grace@activity.example.eu", "alan@activity.example.eu"] {
        let browser = app.browser_login(email, PASSWORD).await;
        let response = browser.get("/settings/activity").await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{email}");
        let html = response.text().await.unwrap();
        assert!(!html.contains("10.0.0."), "{email} sees no addresses");
    }
    assert_eq!(app.count_audit_events(org, "activity.viewed").await, 0, "refused views are not views");

    let browser = app.browser_login("ada@activity.example.eu", PASSWORD).await;
    let response = browser.get("/settings/activity").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let first = response.text().await.unwrap();
    assert_eq!(app.count_audit_events(org, "activity.viewed").await, 1);
    let shown = |html: &str, n: i64| html.contains(&format!("<td>10.0.0.{n}</td>"));
    for n in 11..=60 {
        assert!(shown(&first, n), "newest 50 on the first page: 10.0.0.{n} missing");
    }
    for n in 1..=10 {
        assert!(!shown(&first, n), "10.0.0.{n} belongs on the next page");
    }
    assert!(first.contains("Firefox · Linux"));

    let marker = "href=\"/settings/activity?logins_before=";
    let start = first.find(marker).expect("a link to older sign-ins") + "href=\"".len();
    let next = first[start..].split('"').next().unwrap().replace("&amp;", "&");
    assert!(!next.contains("offset"));
    let second = browser.get(&next).await.text().await.unwrap();
    for n in 1..=10 {
        assert!(shown(&second, n), "10.0.0.{n} on the second page");
    }
    for n in 11..=60 {
        assert!(!shown(&second, n), "10.0.0.{n} shown twice");
    }
    assert!(second.contains("127.0.0.1"), "the real sign-ins come last");
    assert!(!second.contains("logins_before="), "nothing older");
    assert_eq!(app.count_audit_events(org, "activity.viewed").await, 2, "every view is audited");

    let response = browser.get("/settings/activity?logins_before=garbage").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

/// Issue #11: the sessions, a member's sessions, the activity and the API keys pages show their
/// moments in the member's time zone and language (`kernel::dates`), never a UTC timestamp; the
/// API keeps RFC 3339 in UTC.
#[tokio::test]
async fn identity_pages_show_moments_in_the_members_zone_and_language() {
    let app = TestApp::spawn().await;
    let (org, _, browser) = app.sign_up_and_log_in("ada@dates.example.eu").await;
    let grace = app.add_member(org, "grace@dates.example.eu", Role::User).await;
    app.browser_login("grace@dates.example.eu", PASSWORD).await;
    let access = app.access_token("ada@dates.example.eu").await;
    let response = app
        .http
        .post(app.url("/api/v1/api-keys"))
        .bearer_auth(&access)
        .json(&json!({ "name": "Sync", "role": "user" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let invited = browser
        .submit_form("/members", "/members/invite", &[("email", "alan@dates.example.eu"), ("role", "user")])
        .await;
    assert_eq!(invited.status(), 303);
    // Every moment these pages show is 6 December, 13:05 UTC: of 2025 for what happened, of 2031
    // for when the invitation lapses.
    let mut db = app.superuser_connection().await;
    for (sql, year) in [
        ("update sessions set created_at = $1, last_seen_at = $1", 2025),
        ("update refresh_tokens set created_at = $1", 2025),
        ("update login_events set occurred_at = $1", 2025),
        ("update api_request_log set at = $1", 2025),
        ("update api_keys set created_at = $1", 2025),
        ("update invitations set expires_at = $1", 2031),
    ] {
        let at = time::macros::datetime!(2025-12-06 13:05 UTC).replace_year(year).unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(at).execute(&mut db).await.unwrap();
    }
    let pages = [
        ("/settings/sessions".to_string(), 2025),
        (format!("/settings/members/{grace}/sessions"), 2025),
        ("/settings/activity".to_string(), 2025),
        ("/settings/api-keys".to_string(), 2025),
        ("/members".to_string(), 2031),
    ];
    // English, in Paris until the member chooses.
    for (page, year) in &pages {
        let html = browser.get(page).await.text().await.unwrap();
        assert!(html.contains(&format!("Dec 6, {year}, 2:05\u{a0}PM")), "{page}: {html}");
        assert!(!html.contains(&format!("{year}-12-06")), "{page}: {html}");
    }
    let saved = browser
        .submit_form(
            "/settings/profile",
            "/settings/profile",
            &[
                ("first_name", "Ada"),
                ("last_name", "Owner"),
                ("job_title", "Founder"),
                ("language", "fr"),
                ("time_zone", "America/Guadeloupe"),
            ],
        )
        .await;
    assert_eq!(saved.status(), 303);
    for (page, year) in &pages {
        let html = browser.get(page).await.text().await.unwrap();
        assert!(html.contains(&format!("6 déc. {year} à 09:05")), "{page}: {html}");
        assert!(!html.contains(&format!("{year}-12-06")), "{page}: {html}");
    }
    let keys: Value =
        app.http.get(app.url("/api/v1/api-keys")).bearer_auth(&access).send().await.unwrap().json().await.unwrap();
    assert!(keys.to_string().contains("\"2025-12-06T13:05:00Z\""), "the API keeps RFC 3339 UTC: {keys}");
}
