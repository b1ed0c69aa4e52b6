//! API authentication over HTTP (issue #3 item 6): JWT access tokens and rotating refresh tokens
//! (P1-13), API keys (P1-14), and bearer-only authentication of the JSON API.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kernel::authz::Role;
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use testkit::db::{DatabaseScan, find_in_database};
use testkit::members::{access_token_of, refresh_token_of};
use testkit::{PASSWORD, TestApp};
use time::Duration;
use uuid::Uuid;

async fn sql(app: &TestApp, statement: &str, user: Uuid) {
    let mut db = app.superuser_connection().await;
    sqlx::query(sqlx::AssertSqlSafe(statement.to_string())).bind(user).execute(&mut db).await.unwrap();
}

/// Asserts the API's answer to a credential that authenticates nobody: 401 problem+json with a
/// Bearer challenge.
async fn assert_refused(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
    assert_eq!(response.headers()["content-type"], "application/problem+json", "{what}");
    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(challenge.starts_with("Bearer"), "{what}: {challenge}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], 401, "{what}");
}

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn sign(app: &TestApp, alg: Algorithm, claims: &Value) -> String {
    let key = app.state.jwt_key();
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(key.expose_secret())).unwrap()
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// P1-13: email and password give a Bearer pair (a 15-minute JWT with every required claim and an
/// opaque refresh token) without opening a browser session; the access token authenticates
/// /api/v1/me; a wrong password gets the login form's answer; the session cookie does not
/// authenticate the API, and a bearer token does not authenticate pages.
#[tokio::test]
async fn p1_13_token_endpoint_issues_a_pair_and_me_answers() {
    let app = TestApp::spawn().await;
    let (org, user) = app.sign_up("ada@api.example.eu").await;
    let pair = app.token_pair("ada@api.example.eu", PASSWORD).await;
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    let jwt = access_token_of(&pair);
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jwt.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["alg"], "HS256");
    let claims = claims_of(&jwt);
    assert_eq!(claims["iss"], app.origin());
    assert_eq!(claims["aud"], "relais-api");
    assert_eq!(claims["sub"], user.0.to_string());
    assert_eq!(claims["org"], org.0.to_string());
    assert_eq!(claims["role"], "owner");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);
    assert_eq!(claims["nbf"], claims["iat"]);
    assert!(claims["jti"].as_str().unwrap().parse::<Uuid>().is_ok());
    assert!(claims["fam"].as_str().unwrap().parse::<Uuid>().is_ok());
    assert_eq!(claims["iat"].as_i64().unwrap(), app.clock.now().unix_timestamp());

    let response = app.me(&jwt).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "user_id": user.0, "organization_id": org.0, "role": "owner", "credential": "access_token" })
    );

    // No browser session was opened; the login is recorded like a form login (P0-03).
    let mut db = app.superuser_connection().await;
    let sessions: i64 = sqlx::query_scalar("select count(*) from sessions").fetch_one(&mut db).await.unwrap();
    assert_eq!(sessions, 0);
    let logins: i64 = sqlx::query_scalar("select count(*) from login_events where outcome = 'success'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(logins, 1);

    let wrong = app
        .post_json("/api/v1/auth/token", &json!({ "email": "ada@api.example.eu", "password": "nope nope nope" }))
        .await;
    assert_eq!(wrong.status(), 422);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "bad_credentials");

    // Anonymous and cookie-only callers of the API get 401; a bearer token does not open pages.
    assert_refused(app.http.get(app.url("/api/v1/me")).send().await.unwrap(), "no credential").await;
    let browser = app.browser_login("ada@api.example.eu", PASSWORD).await;
    assert_eq!(browser.get("/dashboard").await.status(), 200);
    assert_eq!(browser.get("/api/v1/me").await.status(), 401, "the session cookie authenticated the API");
    let page = app.get_with_bearer(&jwt, "/dashboard").await;
    assert_eq!(page.status(), 303, "a bearer token opened a page");
}

/// P1-13: forged, altered, foreign and stale access tokens are refused with 401 problem+json:
/// `alg: none`, an algorithm switch (HS512 with the real key, RS256 header), wrong audience,
/// wrong issuer, a missing claim, a tampered payload or signature, a token not yet valid, and a
/// token 16 minutes old on the application clock.
#[tokio::test]
async fn p1_13_jwt_attacks_are_refused() {
    let app = TestApp::spawn().await;
    app.sign_up("ada@jwt.example.eu").await;
    let jwt = access_token_of(&app.token_pair("ada@jwt.example.eu", PASSWORD).await);
    assert_eq!(app.me(&jwt).await.status(), 200);
    let claims = claims_of(&jwt);
    let parts: Vec<&str> = jwt.split('.').collect();
    let with = |field: &str, value: Value| {
        let mut changed = claims.clone();
        changed[field] = value;
        changed
    };

    // The control: a token we sign ourselves with the right claims is accepted, so each refusal
    // below is due to the one thing changed.
    assert_eq!(app.me(&sign(&app, Algorithm::HS256, &claims)).await.status(), 200);

    let mut without_exp = claims.clone();
    without_exp.as_object_mut().unwrap().remove("exp");
    let mut admin = claims.clone();
    admin["role"] = json!("owner");
    admin["sub"] = json!(Uuid::now_v7());
    let now = app.clock.now().unix_timestamp();
    let attacks: Vec<(&str, String)> = vec![
        ("alg none", format!("{}.{}.", b64(&json!({ "alg": "none", "typ": "JWT" })), parts[1])),
        ("alg none, original signature", format!("{}.{}.{}", b64(&json!({ "alg": "none" })), parts[1], parts[2])),
        ("HS512 with the real key", sign(&app, Algorithm::HS512, &claims)),
        ("HS384 with the real key", sign(&app, Algorithm::HS384, &claims)),
        ("RS256 header", format!("{}.{}.{}", b64(&json!({ "alg": "RS256", "typ": "JWT" })), parts[1], parts[2])),
        ("wrong audience", sign(&app, Algorithm::HS256, &with("aud", json!("another-api")))),
        ("wrong issuer", sign(&app, Algorithm::HS256, &with("iss", json!("https://evil.example")))),
        ("missing exp", sign(&app, Algorithm::HS256, &without_exp)),
        ("not yet valid", sign(&app, Algorithm::HS256, &with("nbf", json!(now + 60)))),
        ("lifetime over 15 minutes", sign(&app, Algorithm::HS256, &with("exp", json!(now + 3600)))),
        ("payload changed, signature kept", format!("{}.{}.{}", parts[0], b64(&admin), parts[2])),
        ("signature tampered", {
            let mut signature = parts[2].to_string();
            let last = signature.pop().unwrap();
            signature.push(if last == 'A' { 'B' } else { 'A' });
            format!("{}.{}.{}", parts[0], parts[1], signature)
        }),
        ("signed with another key", {
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&[7u8; 32]))
                .unwrap()
        }),
        ("garbage", "not-a-jwt".to_string()),
    ];
    for (what, token) in attacks {
        assert_refused(app.me(&token).await, what).await;
    }
    // A malformed Authorization header is refused too, not served as anonymous.
    let basic = app.http.get(app.url("/api/v1/me")).header("authorization", "Basic YWRhOnB3").send().await.unwrap();
    assert_refused(basic, "Basic scheme").await;

    // Expiry is checked against the application clock, not the system clock.
    assert_eq!(app.me(&jwt).await.status(), 200);
    app.clock.advance(Duration::minutes(16));
    assert_refused(app.me(&jwt).await, "expired").await;
}

/// P1-13: revocation takes effect before expiry: an access token issued before the member's
/// `tokens_not_before` is refused although unexpired, and "log out everywhere" sets it.
#[tokio::test]
async fn p1_13_tokens_not_before_revokes_unexpired_access_tokens() {
    let app = TestApp::spawn().await;
    let (_, user) = app.sign_up("ada@nbf.example.eu").await;
    let jwt = access_token_of(&app.token_pair("ada@nbf.example.eu", PASSWORD).await);
    assert_eq!(app.me(&jwt).await.status(), 200);
    // Set by hand, one second after issue: the token is refused although it has 15 minutes left.
    app.clock.advance(Duration::seconds(1));
    let mut db = app.superuser_connection().await;
    sqlx::query("update users set tokens_not_before = $2 where user_id = $1")
        .bind(user.0)
        .bind(app.clock.now())
        .execute(&mut db)
        .await
        .unwrap();
    assert_refused(app.me(&jwt).await, "issued before tokens_not_before").await;
    // A token issued later works.
    app.clock.advance(Duration::seconds(1));
    let pair = app.token_pair("ada@nbf.example.eu", PASSWORD).await;
    assert_eq!(app.me(&access_token_of(&pair)).await.status(), 200);

    // Log out everywhere: the caller's tokens, refresh families and browser sessions all end.
    let browser = app.browser_login("ada@nbf.example.eu", PASSWORD).await;
    let other = app.token_pair("ada@nbf.example.eu", PASSWORD).await;
    app.clock.advance(Duration::seconds(1));
    let response =
        app.http.post(app.url("/api/v1/auth/logout-all")).bearer_auth(access_token_of(&pair)).send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert_refused(app.me(&access_token_of(&pair)).await, "after logout-all").await;
    assert_refused(app.me(&access_token_of(&other)).await, "other login after logout-all").await;
    assert_eq!(app.refresh_tokens(&refresh_token_of(&other)).await.status(), 401);
    assert_eq!(browser.get("/dashboard").await.status(), 303, "browser session survived logout-all");
    let tnb: Option<time::OffsetDateTime> =
        sqlx::query_scalar("select tokens_not_before from users where user_id = $1")
            .bind(user.0)
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(tnb, Some(app.clock.now()));
}

/// P1-13: a refresh token gives a new pair once: the new tokens work, the spent one is refused,
/// and only the SHA-256 of each refresh token is stored.
#[tokio::test]
async fn p1_13_refresh_rotates_on_every_use() {
    let app = TestApp::spawn().await;
    app.sign_up("ada@rotate.example.eu").await;
    let first = app.token_pair("ada@rotate.example.eu", PASSWORD).await;
    app.clock.advance(Duration::minutes(10));
    let response = app.refresh_tokens(&refresh_token_of(&first)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let second: Value = response.json().await.unwrap();
    assert_ne!(refresh_token_of(&second), refresh_token_of(&first));
    assert_eq!(claims_of(&access_token_of(&second))["fam"], claims_of(&access_token_of(&first))["fam"], "same family");
    assert_eq!(app.me(&access_token_of(&second)).await.status(), 200);
    let third = app.refresh_tokens(&refresh_token_of(&second)).await;
    assert_eq!(third.status(), 200);

    let mut db = app.superuser_connection().await;
    let hashes: Vec<Vec<u8>> = sqlx::query_scalar("select token_hash from refresh_tokens order by created_at")
        .fetch_all(&mut db)
        .await
        .unwrap();
    assert_eq!(hashes.len(), 3);
    assert_eq!(hashes[0], Sha256::digest(refresh_token_of(&first).as_bytes()).to_vec());
    let DatabaseScan { found, scanned } = find_in_database(&mut db, &refresh_token_of(&first)).await;
    assert!(scanned.len() > 10 && found.is_empty(), "refresh token stored in clear: {found:?}");
    let used: i64 = sqlx::query_scalar("select count(*) from refresh_tokens where used_at is not null")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(used, 2);
    assert_eq!(app.refresh_tokens("").await.status(), 401);
    assert_eq!(app.refresh_tokens("never-issued").await.status(), 401);
}

/// P1-13: presenting a spent refresh token again revokes its whole family — the token issued in
/// its place and that token's access token stop working too — writes the critical audit event
/// `auth.refresh_reuse_detected` and emails the member; another login's family is untouched.
#[tokio::test]
async fn p1_13_refresh_reuse_revokes_the_family_audits_and_notifies() {
    let app = TestApp::spawn_with_mail().await;
    let (_, user) = app.sign_up("ada@reuse.example.eu").await;
    let stolen = app.token_pair("ada@reuse.example.eu", PASSWORD).await;
    let other_device = app.token_pair("ada@reuse.example.eu", PASSWORD).await;
    let rotated: Value = app.refresh_tokens(&refresh_token_of(&stolen)).await.json().await.unwrap();
    assert_eq!(app.me(&access_token_of(&rotated)).await.status(), 200);

    assert_eq!(app.refresh_tokens(&refresh_token_of(&stolen)).await.status(), 401, "reuse accepted");
    assert_eq!(app.refresh_tokens(&refresh_token_of(&rotated)).await.status(), 401, "family not revoked");
    assert_refused(app.me(&access_token_of(&rotated)).await, "access token of a revoked family").await;
    assert_eq!(app.me(&access_token_of(&other_device)).await.status(), 200, "another family was revoked");
    assert_eq!(app.refresh_tokens(&refresh_token_of(&other_device)).await.status(), 200);

    let mut db = app.superuser_connection().await;
    let family: Uuid = claims_of(&access_token_of(&stolen))["fam"].as_str().unwrap().parse().unwrap();
    let events: Vec<(String, Option<Uuid>, Value)> = sqlx::query_as(
        "select actor_kind, target_id, payload from audit_events where action = 'auth.refresh_reuse_detected'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].1, Some(family));
    assert_eq!(events[0].2["severity"], "critical");
    assert_eq!(events[0].2["user_id"], user.0.to_string());
    let revoked: i64 =
        sqlx::query_scalar("select count(*) from refresh_tokens where family_id = $1 and revoked_at is null")
            .bind(family)
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(revoked, 0);

    let tick = app.run_jobs().await;
    assert_eq!(tick.succeeded, 1, "{tick:?}");
    let mails = app.mailbox().messages_to("ada@reuse.example.eu");
    assert_eq!(mails.len(), 1);
    assert!(mails[0].subject.contains("Security alert"), "{}", mails[0].subject);
    assert!(mails[0].text.contains("used twice"), "{}", mails[0].text);
}

/// P1-13: logout with an access token revokes its family: the refresh token and the access token
/// stop working at once.
#[tokio::test]
async fn p1_13_logout_revokes_the_family() {
    let app = TestApp::spawn().await;
    app.sign_up("ada@logout.example.eu").await;
    let pair = app.token_pair("ada@logout.example.eu", PASSWORD).await;
    let response =
        app.http.post(app.url("/api/v1/auth/logout")).bearer_auth(access_token_of(&pair)).send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert_refused(app.me(&access_token_of(&pair)).await, "access token after logout").await;
    assert_eq!(app.refresh_tokens(&refresh_token_of(&pair)).await.status(), 401);
    let mut db = app.superuser_connection().await;
    let logged: i64 = sqlx::query_scalar("select count(*) from audit_events where action = 'auth.api_logout'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(logged, 1);
    // Logging out needs a bearer token.
    assert_refused(app.http.post(app.url("/api/v1/auth/logout")).send().await.unwrap(), "anonymous logout").await;
}

/// P1-13: a refresh family dies after 7 idle days, and after 30 days whatever its use.
#[tokio::test]
async fn p1_13_refresh_families_have_idle_and_absolute_lifetimes() {
    let app = TestApp::spawn().await;
    app.sign_up("ada@idle.example.eu").await;
    let idle = app.token_pair("ada@idle.example.eu", PASSWORD).await;
    let mut busy = refresh_token_of(&app.token_pair("ada@idle.example.eu", PASSWORD).await);
    app.clock.advance(Duration::days(6));
    busy = refresh_token_of(&app.refresh_tokens(&busy).await.json::<Value>().await.unwrap());
    app.clock.advance(Duration::days(1) + Duration::minutes(1));
    assert_eq!(
        app.refresh_tokens(&refresh_token_of(&idle)).await.status(),
        401,
        "idle family still alive after 7 days"
    );
    // Used every 6 days, a family still ends 30 days after its login.
    for _ in 0..3 {
        let response = app.refresh_tokens(&busy).await;
        assert_eq!(response.status(), 200);
        busy = refresh_token_of(&response.json::<Value>().await.unwrap());
        app.clock.advance(Duration::days(6));
    }
    // Day 25 (7 + 6 × 3): still within 30 days.
    let response = app.refresh_tokens(&busy).await;
    assert_eq!(response.status(), 200);
    busy = refresh_token_of(&response.json::<Value>().await.unwrap());
    app.clock.advance(Duration::days(5) + Duration::minutes(1));
    assert_eq!(app.refresh_tokens(&busy).await.status(), 401, "family outlived 30 days");
}

/// Creates an API key through the API with `bearer`; returns the response.
async fn create_key(app: &TestApp, bearer: &str, body: Value) -> reqwest::Response {
    app.http.post(app.url("/api/v1/api-keys")).bearer_auth(bearer).json(&body).send().await.unwrap()
}

async fn new_key(app: &TestApp, bearer: &str, role: &str) -> Value {
    let response = create_key(app, bearer, json!({ "name": format!("{role} sync"), "role": role })).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap_or_default());
    response.json().await.unwrap()
}

/// P1-14: an API key is shown once as `rk_<prefix>_<secret>`, the database holds only its SHA-256
/// (a scan of every column finds neither the key nor its secret part), lists never show it, it
/// authenticates as its creator with its scope, and its last use is recorded.
#[tokio::test]
async fn p1_14_api_keys_are_stored_only_as_hashes_and_work() {
    let app = TestApp::spawn().await;
    let (org, user) = app.sign_up("ada@keys.example.eu").await;
    let jwt = access_token_of(&app.token_pair("ada@keys.example.eu", PASSWORD).await);
    let created = new_key(&app, &jwt, "manager").await;
    let key = created["key"].as_str().unwrap().to_string();
    let prefix = created["prefix"].as_str().unwrap().to_string();
    assert!(key.starts_with(&format!("rk_{prefix}_")), "{key}");
    let secret_part = &key[format!("rk_{prefix}_").len()..];
    assert!(secret_part.len() >= 43);

    let mut db = app.superuser_connection().await;
    for needle in [key.as_str(), secret_part] {
        let DatabaseScan { found, scanned } = find_in_database(&mut db, needle).await;
        assert!(scanned.len() > 10 && found.is_empty(), "API key stored in clear: {found:?}");
    }
    let stored: (Vec<u8>, String, String) =
        sqlx::query_as("select key_hash, prefix, scope from api_keys").fetch_one(&mut db).await.unwrap();
    assert_eq!(stored, (Sha256::digest(key.as_bytes()).to_vec(), prefix.clone(), "manager".to_string()));

    let response = app.me(&key).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "user_id": user.0, "organization_id": org.0, "role": "manager", "credential": "api_key" })
    );
    let last_used: Option<time::OffsetDateTime> =
        sqlx::query_scalar("select last_used_at from api_keys").fetch_one(&mut db).await.unwrap();
    assert_eq!(last_used, Some(app.clock.now()));

    let list = app.get_with_bearer(&key, "/api/v1/api-keys").await;
    assert_eq!(list.status(), 200);
    let text = list.text().await.unwrap();
    assert!(!text.contains(secret_part), "the list shows the secret");
    let listed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(listed[0]["prefix"], prefix);
    assert_eq!(listed[0]["role"], "manager");
    assert_eq!(listed[0]["name"], "manager sync");
    assert!(listed[0]["last_used_at"].is_string());

    // A key with a wrong secret but a real prefix authenticates nobody.
    let forged = format!("rk_{prefix}_{}", "A".repeat(43));
    assert_refused(app.me(&forged).await, "forged secret").await;
}

/// P1-14: a revoked key and an expired key are refused (401), and so is the key of a deactivated
/// creator.
#[tokio::test]
async fn p1_14_revoked_expired_and_orphaned_keys_are_refused() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("ada@revoke.example.eu").await;
    let jwt = access_token_of(&app.token_pair("ada@revoke.example.eu", PASSWORD).await);
    let revoked = new_key(&app, &jwt, "user").await;
    assert_eq!(app.me(revoked["key"].as_str().unwrap()).await.status(), 200);
    let path = format!("/api/v1/api-keys/{}", revoked["id"].as_str().unwrap());
    let response = app.http.delete(app.url(&path)).bearer_auth(&jwt).send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert_refused(app.me(revoked["key"].as_str().unwrap()).await, "revoked key").await;
    let again = app.http.delete(app.url(&path)).bearer_auth(&jwt).send().await.unwrap();
    assert_eq!(again.status(), 404);

    let expires_at =
        (app.clock.now() + Duration::hours(1)).format(&time::format_description::well_known::Rfc3339).unwrap();
    let expiring = create_key(&app, &jwt, json!({ "name": "Short", "role": "user", "expires_at": expires_at })).await;
    assert_eq!(expiring.status(), 201);
    let expiring: Value = expiring.json().await.unwrap();
    assert_eq!(app.me(expiring["key"].as_str().unwrap()).await.status(), 200);
    app.clock.advance(Duration::hours(1));
    assert_refused(app.me(expiring["key"].as_str().unwrap()).await, "expired key").await;

    let manager = app.add_member(org, "manager@revoke.example.eu", Role::Manager).await;
    let manager_jwt = access_token_of(&app.token_pair("manager@revoke.example.eu", PASSWORD).await);
    let orphan = new_key(&app, &manager_jwt, "user").await;
    assert_eq!(app.me(orphan["key"].as_str().unwrap()).await.status(), 200);
    sql(&app, "update users set status = 'deactivated' where user_id = $1", manager).await;
    assert_refused(app.me(orphan["key"].as_str().unwrap()).await, "key of a deactivated creator").await;
    assert_refused(app.me(&manager_jwt).await, "access token of a deactivated member").await;
}

/// P1-14: a key never acts above its creator: a `user`-scope key cannot manage keys (403), a
/// manager cannot create an owner key (422), and a key follows its creator's demotion.
#[tokio::test]
async fn p1_14_a_key_never_exceeds_its_scope_or_its_creator() {
    let app = TestApp::spawn().await;
    let (org, owner) = app.sign_up("ada@scope.example.eu").await;
    let jwt = access_token_of(&app.token_pair("ada@scope.example.eu", PASSWORD).await);
    let user_key = new_key(&app, &jwt, "user").await;
    let user_key = user_key["key"].as_str().unwrap();
    let response = create_key(&app, user_key, json!({ "name": "Escalate", "role": "user" })).await;
    assert_eq!(response.status(), 403);
    assert_eq!(app.get_with_bearer(user_key, "/api/v1/api-keys").await.status(), 403);

    app.add_member(org, "manager@scope.example.eu", Role::Manager).await;
    let manager_jwt = access_token_of(&app.token_pair("manager@scope.example.eu", PASSWORD).await);
    let response = create_key(&app, &manager_jwt, json!({ "name": "Escalate", "role": "owner" })).await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "role_above_yours");
    // A manager-scope key may create keys, but none above manager.
    let manager_key = new_key(&app, &jwt, "manager").await;
    let manager_key = manager_key["key"].as_str().unwrap();
    let response = create_key(&app, manager_key, json!({ "name": "Escalate", "role": "owner" })).await;
    assert_eq!(response.status(), 422);

    // An owner-scope key of an owner later demoted to user acts as a user.
    let owner_key = new_key(&app, &jwt, "owner").await;
    let owner_key = owner_key["key"].as_str().unwrap();
    let body: Value = app.me(owner_key).await.json().await.unwrap();
    assert_eq!(body["role"], "owner");
    sql(&app, "update users set org_role = 'user' where user_id = $1", owner.0).await;
    let body: Value = app.me(owner_key).await.json().await.unwrap();
    assert_eq!(body["role"], "user");
    assert_eq!(create_key(&app, owner_key, json!({ "name": "x", "role": "user" })).await.status(), 403);
    // The access token issued while owner follows the demotion too.
    let body: Value = app.me(&jwt).await.json().await.unwrap();
    assert_eq!(body["role"], "user");
}

/// P1-14: the API-keys page (owners and managers) creates a key behind a CSRF-checked form, shows
/// it once, lists it by prefix, and revokes it; members with the `user` role are refused.
#[tokio::test]
async fn p1_14_api_keys_page_creates_shows_once_and_revokes() {
    let app = TestApp::spawn().await;
    let (org, _, browser) = app.sign_up_and_log_in("ada@page.example.eu").await;
    let csrf = browser.csrf_token("/settings/api-keys").await;
    let forged =
        browser.post_form("/settings/api-keys", &[("csrf", "wrong"), ("name", "CRM sync"), ("role", "user")]).await;
    assert_eq!(forged.status(), 403);
    let response =
        browser.post_form("/settings/api-keys", &[("csrf", &csrf), ("name", "CRM sync"), ("role", "manager")]).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    let start = html.find("id=\"new-api-key\">").unwrap() + "id=\"new-api-key\">".len();
    let key: String =
        html[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect();
    assert!(key.len() > 50, "{key}");
    assert_eq!(app.me(&key).await.status(), 200);
    let listed = browser.get("/settings/api-keys").await.text().await.unwrap();
    assert!(listed.contains("CRM sync") && listed.contains(&key[..15]), "prefix not listed");
    assert!(!listed.contains(&key), "the page shows the key again");

    let invalid = browser.post_form("/settings/api-keys", &[("csrf", &csrf), ("name", ""), ("role", "boss")]).await;
    assert_eq!(invalid.status(), 422);

    let mut db = app.superuser_connection().await;
    let id: Uuid = sqlx::query_scalar("select key_id from api_keys").fetch_one(&mut db).await.unwrap();
    let revoked = browser.post_form(&format!("/settings/api-keys/{id}/revoke"), &[("csrf", &csrf)]).await;
    assert_eq!(revoked.status(), 303);
    assert_refused(app.me(&key).await, "key revoked on the page").await;

    app.add_member(org, "user@page.example.eu", Role::User).await;
    let member = app.browser_login("user@page.example.eu", PASSWORD).await;
    assert_eq!(member.get("/settings/api-keys").await.status(), 403);
}

/// The OpenAPI document lists the authentication and API-key endpoints with a bearer scheme.
#[tokio::test]
async fn openapi_documents_bearer_authentication() {
    let app = TestApp::spawn().await;
    let doc: Value = app.http.get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    for (path, method) in [
        ("/api/v1/auth/token", "post"),
        ("/api/v1/auth/refresh", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/me", "get"),
        ("/api/v1/api-keys", "get"),
        ("/api/v1/api-keys", "post"),
        ("/api/v1/api-keys/{id}", "delete"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} missing");
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert!(doc["paths"]["/api/v1/me"]["get"]["security"].is_array());
}

/// An API key acts for an integration, not a login: it cannot sign its creator out everywhere.
#[tokio::test]
async fn an_api_key_cannot_log_its_creator_out_everywhere() {
    let app = TestApp::spawn().await;
    app.sign_up("owner@keys-logout.example.eu").await;
    let access = app.access_token("owner@keys-logout.example.eu").await;
    let (_, created) = app
        .call_api(&access, Method::POST, "/api/v1/api-keys", Some(json!({ "name": "sync", "role": "manager" })))
        .await;
    let key = created["key"].as_str().unwrap();
    let refused = app.http.post(app.url("/api/v1/auth/logout-all")).bearer_auth(key).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    let me = app.http.get(app.url("/api/v1/me")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(me.status(), 200, "the owner's token must survive");
}
