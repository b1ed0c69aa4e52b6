//! Member management, departments and department admins, profile self-service (issue #3 items 1
//! and 2; P0-12 roles, P2-07 department admins), over HTTP against real PostgreSQL.

use std::sync::Arc;

use kernel::authz::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use testkit::members::{access_token_of, refresh_token_of};
use testkit::{Browser, PASSWORD, TestApp};
use time::Duration;
use uuid::Uuid;

const NEW_PASSWORD: &str = "a completely different passphrase";

async fn patch(app: &TestApp, bearer: &str, user: Uuid, body: Value) -> reqwest::Response {
    app.http.patch(app.url(&format!("/api/v1/members/{user}"))).bearer_auth(bearer).json(&body).send().await.unwrap()
}

async fn delete(app: &TestApp, bearer: &str, user: Uuid) -> reqwest::Response {
    app.http.delete(app.url(&format!("/api/v1/members/{user}"))).bearer_auth(bearer).send().await.unwrap()
}

async fn list(app: &TestApp, bearer: &str) -> Vec<Value> {
    let response = app.http.get(app.url("/api/v1/members")).bearer_auth(bearer).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn emails(members: &[Value]) -> Vec<String> {
    let mut emails: Vec<String> = members.iter().map(|m| m["email"].as_str().unwrap().to_string()).collect();
    emails.sort();
    emails
}

async fn scalar<T>(app: &TestApp, sql: &str, user: Uuid) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    let mut db = app.superuser_connection().await;
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).bind(user).fetch_one(&mut db).await.unwrap()
}

async fn department_id(app: &TestApp, name: &str) -> Uuid {
    let mut db = app.superuser_connection().await;
    sqlx::query_scalar("select department_id from departments where name = $1")
        .bind(name)
        .fetch_one(&mut db)
        .await
        .unwrap()
}

// ------------------------------------------------------------------ member management

/// P0-12: an owner changes a member's role, deactivates, reactivates and removes them, through the
/// API and the page buttons (CSRF-checked); each change is audited with the member as target.
#[tokio::test]
async fn p0_12_owner_changes_roles_deactivates_reactivates_and_removes() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@manage.example.eu").await;
    let grace = app.add_member(org, "grace@manage.example.eu", Role::User).await;
    let owner = access_token_of(&app.token_pair("owner@manage.example.eu", PASSWORD).await);

    assert_eq!(patch(&app, &owner, grace, json!({ "role": "manager" })).await.status(), 204);
    assert_eq!(scalar::<String>(&app, "select org_role from users where user_id = $1", grace).await, "manager");
    let listed = list(&app, &owner).await;
    let row = listed.iter().find(|m| m["user_id"] == grace.to_string()).unwrap();
    assert_eq!((row["role"].as_str(), row["status"].as_str()), (Some("manager"), Some("active")));

    // Every invalid field at once.
    let response = patch(&app, &owner, grace, json!({ "role": "boss", "status": "asleep" })).await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["role", "status"], "{problem}");

    // The page: buttons post forms with the CSRF token; without it nothing happens.
    let browser = app.browser_login("owner@manage.example.eu", PASSWORD).await;
    let page = browser.get("/members").await.text().await.unwrap();
    assert!(page.contains("href=\"/members/manage\""), "no link to member management");
    let manage = browser.get("/members/manage").await.text().await.unwrap();
    assert!(manage.contains(&format!("/members/{grace}/deactivate")));
    // Removing asks first (the shell's `data-confirm`, /static/app.js): it is one click otherwise.
    let remove_form = format!(r#"action="/members/{grace}/remove" class="inline" data-confirm="Remove this member"#);
    assert!(manage.contains(&remove_form), "no confirmation before removing a member");
    let forged = browser.post_form(&format!("/members/{grace}/deactivate"), &[("csrf", "forged")]).await;
    assert_eq!(forged.status(), 403);
    assert_eq!(scalar::<String>(&app, "select status from users where user_id = $1", grace).await, "active");
    let response = browser.submit_form("/members/manage", &format!("/members/{grace}/deactivate"), &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(scalar::<String>(&app, "select status from users where user_id = $1", grace).await, "deactivated");
    assert_eq!(
        Browser::new(&app)
            .post_form("/login", &[("email", "grace@manage.example.eu"), ("password", PASSWORD)])
            .await
            .status(),
        401,
        "a deactivated member signed in"
    );
    let response = browser.submit_form("/members/manage", &format!("/members/{grace}/reactivate"), &[]).await;
    assert_eq!(response.status(), 303);
    app.browser_login("grace@manage.example.eu", PASSWORD).await;
    let response = browser.submit_form("/members/manage", &format!("/members/{grace}/role"), &[("role", "user")]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(scalar::<String>(&app, "select org_role from users where user_id = $1", grace).await, "user");

    assert_eq!(delete(&app, &owner, grace).await.status(), 204);
    assert_eq!(scalar::<i64>(&app, "select count(*) from users where user_id = $1", grace).await, 0);
    assert_eq!(delete(&app, &owner, grace).await.status(), 404);

    let actions: Vec<String> =
        app.audit_log().await.into_iter().filter(|e| e.target_id == Some(grace)).map(|e| e.action).collect();
    for expected in ["member.role_changed", "member.deactivated", "member.reactivated", "member.removed"] {
        assert!(actions.iter().any(|a| a == expected), "{expected} missing from {actions:?}");
    }
    assert_eq!(actions.iter().filter(|a| *a == "member.role_changed").count(), 2);
}

/// P0-12: deactivating a member ends their browser sessions, access tokens, refresh families and
/// API keys at once — not at expiry.
#[tokio::test]
async fn p0_12_deactivation_ends_sessions_and_api_tokens_at_once() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@deact.example.eu").await;
    let max = app.add_member(org, "max@deact.example.eu", Role::Manager).await;
    let owner = access_token_of(&app.token_pair("owner@deact.example.eu", PASSWORD).await);
    let browser = app.browser_login("max@deact.example.eu", PASSWORD).await;
    let pair = app.token_pair("max@deact.example.eu", PASSWORD).await;
    let key_response = app
        .http
        .post(app.url("/api/v1/api-keys"))
        .bearer_auth(access_token_of(&pair))
        .json(&json!({ "name": "sync", "role": "user" }))
        .send()
        .await
        .unwrap();
    assert_eq!(key_response.status(), 201);
    let key = key_response.json::<Value>().await.unwrap()["key"].as_str().unwrap().to_string();
    assert_eq!(browser.get("/dashboard").await.status(), 200);
    assert_eq!(app.me(&access_token_of(&pair)).await.status(), 200);
    assert_eq!(app.me(&key).await.status(), 200);

    assert_eq!(patch(&app, &owner, max, json!({ "status": "deactivated" })).await.status(), 204);

    assert_eq!(scalar::<i64>(&app, "select count(*) from sessions where user_id = $1", max).await, 0);
    assert_eq!(browser.get("/dashboard").await.status(), 303, "the browser session survived");
    assert_eq!(app.me(&access_token_of(&pair)).await.status(), 401, "the access token survived");
    assert_eq!(app.refresh_tokens(&refresh_token_of(&pair)).await.status(), 401, "the refresh family survived");
    assert_eq!(app.me(&key).await.status(), 401, "the API key survived");
    let live_families: i64 =
        scalar(&app, "select count(*) from refresh_tokens where user_id = $1 and revoked_at is null", max).await;
    assert_eq!(live_families, 0);

    // Reactivated: the old credentials stay dead; signing in again works.
    assert_eq!(patch(&app, &owner, max, json!({ "status": "active" })).await.status(), 204);
    assert_eq!(app.me(&access_token_of(&pair)).await.status(), 401);
    assert_eq!(app.refresh_tokens(&refresh_token_of(&pair)).await.status(), 401);
    app.clock.advance(Duration::seconds(2));
    let fresh = app.token_pair("max@deact.example.eu", PASSWORD).await;
    assert_eq!(app.me(&access_token_of(&fresh)).await.status(), 200);
}

/// P0-12: the last active owner cannot be demoted, deactivated or removed (by themselves or
/// anyone), through the API (409) or the page; with a second owner it works.
#[tokio::test]
async fn p0_12_the_last_owner_cannot_be_demoted_deactivated_or_removed() {
    let app = TestApp::spawn().await;
    let (org, ada) = app.sign_up("ada@last.example.eu").await;
    let ada = ada.0;
    let token = access_token_of(&app.token_pair("ada@last.example.eu", PASSWORD).await);
    for body in [json!({ "role": "manager" }), json!({ "role": "user" }), json!({ "status": "deactivated" })] {
        let response = patch(&app, &token, ada, body.clone()).await;
        assert_eq!(response.status(), 409, "{body}");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
    }
    assert_eq!(delete(&app, &token, ada).await.status(), 409);
    let browser = app.browser_login("ada@last.example.eu", PASSWORD).await;
    let response = browser.submit_form("/members/manage", &format!("/members/{ada}/remove"), &[]).await;
    assert_eq!(response.status(), 409);
    assert!(response.text().await.unwrap().contains("without an active owner"));
    // A deactivated second owner does not count.
    let bob = app.add_member(org, "bob@last.example.eu", Role::Owner).await;
    assert_eq!(patch(&app, &token, bob, json!({ "status": "deactivated" })).await.status(), 204);
    assert_eq!(patch(&app, &token, ada, json!({ "role": "manager" })).await.status(), 409);
    assert_eq!(patch(&app, &token, bob, json!({ "status": "active" })).await.status(), 204);
    // With an active second owner, ada may step down.
    assert_eq!(patch(&app, &token, ada, json!({ "role": "manager" })).await.status(), 204);
    let owners: i64 = scalar(
        &app,
        "select count(*) from users where org_id = (select org_id from users where user_id = $1)
           and org_role = 'owner' and status = 'active'",
        ada,
    )
    .await;
    assert_eq!(owners, 1);
}

/// P0-12: the two remaining owners demote each other at the same moment: at most one succeeds
/// (the owners are locked `for update` in the transaction), so an active owner always remains.
#[tokio::test]
async fn p0_12_two_concurrent_demotions_of_the_last_two_owners_cannot_both_pass() {
    let app = Arc::new(TestApp::spawn().await);
    let (org, ada) = app.sign_up("ada@race.example.eu").await;
    let ada = ada.0;
    let bob = app.add_member(org, "bob@race.example.eu", Role::Owner).await;
    for round in 0..4 {
        let ada_token = access_token_of(&app.token_pair("ada@race.example.eu", PASSWORD).await);
        let bob_token = access_token_of(&app.token_pair("bob@race.example.eu", PASSWORD).await);
        // Alternate: demotions, then deactivations.
        let body = if round % 2 == 0 { json!({ "role": "user" }) } else { json!({ "status": "deactivated" }) };
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let spawn = |token: String, target: Uuid| {
            let (app, barrier, body) = (app.clone(), barrier.clone(), body.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                patch(&app, &token, target, body).await.status()
            })
        };
        let first = spawn(ada_token, bob);
        let second = spawn(bob_token, ada);
        let statuses = [first.await.unwrap(), second.await.unwrap()];
        let passed = statuses.iter().filter(|s| **s == StatusCode::NO_CONTENT).count();
        assert_eq!(passed, 1, "round {round}: {statuses:?}");
        // The loser is refused by the service (409) or, if the winner committed first, by the access
        // layer because the loser is no longer an active owner (403 / 401).
        assert!(statuses.iter().all(|s| matches!(s.as_u16(), 204 | 409 | 403 | 401)), "round {round}: {statuses:?}");
        let owners: i64 = scalar(
            &app,
            "select count(*) from users where org_id = (select org_id from users where user_id = $1)
               and org_role = 'owner' and status = 'active'",
            ada,
        )
        .await;
        assert_eq!(owners, 1, "round {round}");
        let mut db = app.superuser_connection().await;
        sqlx::query("update users set org_role = 'owner', status = 'active' where user_id = any($1)")
            .bind(vec![ada, bob])
            .execute(&mut db)
            .await
            .unwrap();
        app.clock.advance(Duration::seconds(2));
    }
}

/// P1-07: an owner of another organization cannot change, deactivate or remove this one's member:
/// 404, as if the member did not exist, through the API and the pages.
#[tokio::test]
async fn p1_07_an_owner_of_another_org_cannot_manage_this_orgs_members() {
    let app = TestApp::spawn().await;
    let (org_a, _) = app.sign_up("owner@org-a.example.eu").await;
    let member = app.add_member(org_a, "member@org-a.example.eu", Role::User).await;
    app.sign_up("owner@org-b.example.eu").await;
    let b = access_token_of(&app.token_pair("owner@org-b.example.eu", PASSWORD).await);
    assert_eq!(patch(&app, &b, member, json!({ "role": "manager" })).await.status(), 404);
    assert_eq!(patch(&app, &b, member, json!({ "status": "deactivated" })).await.status(), 404);
    assert_eq!(delete(&app, &b, member).await.status(), 404);
    assert!(!emails(&list(&app, &b).await).contains(&"member@org-a.example.eu".to_string()));
    let browser = app.browser_login("owner@org-b.example.eu", PASSWORD).await;
    for action in ["deactivate", "remove"] {
        let response = browser.submit_form("/members/manage", &format!("/members/{member}/{action}"), &[]).await;
        assert_eq!(response.status(), 404, "{action}");
    }
    let (role, status): (String, String) = {
        let mut db = app.superuser_connection().await;
        sqlx::query_as("select org_role, status from users where user_id = $1")
            .bind(member)
            .fetch_one(&mut db)
            .await
            .unwrap()
    };
    assert_eq!((role.as_str(), status.as_str()), ("user", "active"));
}

// ------------------------------------------------------------------ departments

/// P0-12: owners create, rename and delete departments (names unique per organization, whatever
/// the case) and assign members, who may belong to several; managers may not. Audited.
#[tokio::test]
async fn p0_12_departments_crud_and_assignment() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@dept.example.eu").await;
    let grace = app.add_member(org, "grace@dept.example.eu", Role::User).await;
    app.add_member(org, "max@dept.example.eu", Role::Manager).await;
    let owner = app.browser_login("owner@dept.example.eu", PASSWORD).await;
    let page = "/members/manage";
    assert_eq!(owner.submit_form(page, "/departments", &[("name", "Sales")]).await.status(), 303);
    assert_eq!(owner.submit_form(page, "/departments", &[("name", "Support")]).await.status(), 303);
    let duplicate = owner.submit_form(page, "/departments", &[("name", " sales ")]).await;
    assert_eq!(duplicate.status(), 422);
    assert!(duplicate.text().await.unwrap().contains("A department with this name already exists."));
    assert_eq!(owner.submit_form(page, "/departments", &[("name", " ")]).await.status(), 422);
    let sales = department_id(&app, "Sales").await;
    let support = department_id(&app, "Support").await;

    let rename = owner.submit_form(page, &format!("/departments/{sales}/rename"), &[("name", "Field sales")]).await;
    assert_eq!(rename.status(), 303);
    assert_eq!(department_id(&app, "Field sales").await, sales);
    let clash = owner.submit_form(page, &format!("/departments/{sales}/rename"), &[("name", "SUPPORT")]).await;
    assert_eq!(clash.status(), 422);

    let grace_id = grace.to_string();
    for department in [sales, support] {
        let response =
            owner.submit_form(page, &format!("/departments/{department}/members"), &[("user_id", &grace_id)]).await;
        assert_eq!(response.status(), 303);
    }
    assert_eq!(scalar::<i64>(&app, "select count(*) from department_members where user_id = $1", grace).await, 2);
    let owner_token = access_token_of(&app.token_pair("owner@dept.example.eu", PASSWORD).await);
    let listed = list(&app, &owner_token).await;
    let row = listed.iter().find(|m| m["user_id"] == grace_id).unwrap();
    let mut names: Vec<&str> =
        row["departments"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["Field sales", "Support"]);
    let manage = owner.get(page).await.text().await.unwrap();
    assert!(
        manage.contains("Field sales") && manage.contains(&format!("/departments/{support}/members/{grace}/remove"))
    );

    let unassign = owner.submit_form(page, &format!("/departments/{support}/members/{grace}/remove"), &[]).await;
    assert_eq!(unassign.status(), 303);
    assert_eq!(scalar::<i64>(&app, "select count(*) from department_members where user_id = $1", grace).await, 1);
    let unknown = owner.submit_form(page, &format!("/departments/{}/delete", Uuid::now_v7()), &[]).await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(owner.submit_form(page, &format!("/departments/{sales}/delete"), &[]).await.status(), 303);
    assert_eq!(scalar::<i64>(&app, "select count(*) from department_members where user_id = $1", grace).await, 0);

    // A manager may not manage departments (the access layer refuses before the handler).
    let manager = app.browser_login("max@dept.example.eu", PASSWORD).await;
    assert_eq!(manager.submit_form("/members", "/departments", &[("name", "Shadow")]).await.status(), 403);

    let actions = app.audit_actions().await;
    for expected in [
        "department.created",
        "department.renamed",
        "department.member_added",
        "department.member_removed",
        "department.deleted",
    ] {
        assert!(actions.iter().any(|a| a == expected), "{expected} missing");
    }
}

/// P2-07: a manager who administers a department (a department admin) sees only that
/// department's members (and themselves) where the matrix grants managers department scope — the
/// members API and the /members page; a manager without departments (an organization admin), the
/// owner and users see everyone.
#[tokio::test]
async fn p2_07_a_department_admin_sees_only_their_departments_members() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@scope.example.eu").await;
    let dana = app.add_member(org, "dana@scope.example.eu", Role::Manager).await;
    app.add_member(org, "olga@scope.example.eu", Role::Manager).await;
    let sam = app.add_member(org, "sam@scope.example.eu", Role::User).await;
    let sue = app.add_member(org, "sue@scope.example.eu", Role::User).await;
    let owner = app.browser_login("owner@scope.example.eu", PASSWORD).await;
    let page = "/members/manage";
    owner.submit_form(page, "/departments", &[("name", "Sales")]).await;
    owner.submit_form(page, "/departments", &[("name", "Support")]).await;
    let sales = department_id(&app, "Sales").await;
    let support = department_id(&app, "Support").await;
    let path = |d: Uuid| format!("/departments/{d}/members");
    let r = owner.submit_form(page, &path(sales), &[("user_id", &dana.to_string()), ("admin", "on")]).await;
    assert_eq!(r.status(), 303);
    owner.submit_form(page, &path(sales), &[("user_id", &sam.to_string())]).await;
    owner.submit_form(page, &path(support), &[("user_id", &sue.to_string())]).await;
    let role: String = scalar(&app, "select role from department_members where user_id = $1", dana).await;
    assert_eq!(role, "admin");

    let everyone = [
        "dana@scope.example.eu",
        "olga@scope.example.eu",
        "owner@scope.example.eu",
        "sam@scope.example.eu",
        "sue@scope.example.eu",
    ];
    let dana_token = access_token_of(&app.token_pair("dana@scope.example.eu", PASSWORD).await);
    assert_eq!(emails(&list(&app, &dana_token).await), ["dana@scope.example.eu", "sam@scope.example.eu"]);
    let dana_page =
        app.browser_login("dana@scope.example.eu", PASSWORD).await.get("/members").await.text().await.unwrap();
    // (The organization's name, in the navigation, is "Org of owner@…": look at table cells.)
    assert!(dana_page.contains("<td>sam@scope.example.eu</td>"));
    for hidden in ["sue@scope.example.eu", "owner@scope.example.eu", "olga@scope.example.eu"] {
        assert!(!dana_page.contains(&format!("<td>{hidden}</td>")), "the department admin saw {hidden}");
    }
    for email in ["olga@scope.example.eu", "owner@scope.example.eu", "sue@scope.example.eu"] {
        let token = access_token_of(&app.token_pair(email, PASSWORD).await);
        assert_eq!(emails(&list(&app, &token).await), everyone, "{email}");
    }
    // Administering a second department widens the view; losing the admin flag ends the scope.
    owner.submit_form(page, &path(support), &[("user_id", &dana.to_string()), ("admin", "on")]).await;
    assert_eq!(
        emails(&list(&app, &dana_token).await),
        ["dana@scope.example.eu", "sam@scope.example.eu", "sue@scope.example.eu"]
    );
    // Department admins still cannot manage members (owner only).
    assert_eq!(patch(&app, &dana_token, sam, json!({ "status": "deactivated" })).await.status(), 403);
}

// ------------------------------------------------------------------ profile

/// P0-12: a member changes their own name, job title and language; every invalid field is
/// reported at once; the change is audited and the pages follow the new language.
#[tokio::test]
async fn p0_12_profile_details_are_self_service() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@profile.example.eu").await;
    let grace = app.add_member(org, "grace@profile.example.eu", Role::User).await;
    let browser = app.browser_login("grace@profile.example.eu", PASSWORD).await;
    let page = "/settings/profile";
    assert_eq!(browser.get(page).await.status(), 200);
    let bad = browser
        .submit_form(
            page,
            page,
            &[("first_name", " "), ("last_name", "Hopper"), ("job_title", "CTO"), ("language", "xx")],
        )
        .await;
    assert_eq!(bad.status(), 422);
    let html = bad.text().await.unwrap();
    assert!(html.contains("Fill in this field.") && html.contains("This value is not valid."), "{html}");
    let ok = browser
        .submit_form(
            page,
            page,
            &[("first_name", "Grace"), ("last_name", "Hopper"), ("job_title", "Rear admiral"), ("language", "fr")],
        )
        .await;
    assert_eq!(ok.status(), 303);
    let (first, last, title, lang): (String, String, String, String) = {
        let mut db = app.superuser_connection().await;
        sqlx::query_as("select first_name, last_name, job_title, language from users where user_id = $1")
            .bind(grace)
            .fetch_one(&mut db)
            .await
            .unwrap()
    };
    assert_eq!(
        (first.as_str(), last.as_str(), title.as_str(), lang.as_str()),
        ("Grace", "Hopper", "Rear admiral", "fr")
    );
    assert!(browser.get(page).await.text().await.unwrap().contains("Votre profil"));
    assert!(app.audit_log().await.iter().any(|e| e.action == "profile.updated" && e.target_id == Some(grace)));
}

/// Issue #11: a member chooses their time zone on the profile page (an IANA name, checked like
/// the CRM's time_zone values); Europe/Paris until they do; a name the tz database does not know is
/// refused in place, naming the field, and nothing changes.
#[tokio::test]
async fn the_profile_sets_the_members_time_zone() {
    let app = TestApp::spawn().await;
    let (_, owner) = app.sign_up("owner@profile-tz.example.eu").await;
    let browser = app.browser_login("owner@profile-tz.example.eu", PASSWORD).await;
    let page = "/settings/profile";
    async fn zone_of(app: &TestApp, user: kernel::UserId) -> String {
        let mut db = app.superuser_connection().await;
        sqlx::query_scalar::<_, String>("select time_zone from users where user_id = $1")
            .bind(user)
            .fetch_one(&mut db)
            .await
            .unwrap()
    }
    let zone = |app| zone_of(app, owner);
    assert_eq!(zone(&app).await, "Europe/Paris");
    let html = browser.get(page).await.text().await.unwrap();
    assert!(html.contains(r#"name="time_zone""#) && html.contains(r#"value="Europe/Paris""#), "{html}");
    assert!(html.contains(r#"<option value="America/Martinique">"#), "the field suggests the tz database's names");
    let fields = |tz: &'static str| {
        [("first_name", "Ada"), ("last_name", "Owner"), ("job_title", "Founder"), ("language", "fr"), ("time_zone", tz)]
    };
    let bad = browser.submit_form(page, page, &fields("Mars/Olympus")).await;
    assert_eq!(bad.status(), 422);
    let html = bad.text().await.unwrap();
    assert!(
        html.contains("Use a time zone such as Europe/Paris.") && html.contains(r#"value="Mars/Olympus""#),
        "{html}"
    );
    assert_eq!(zone(&app).await, "Europe/Paris", "nothing changed");
    let ok = browser.submit_form(page, page, &fields("America/Martinique")).await;
    assert_eq!(ok.status(), 303);
    assert_eq!(zone(&app).await, "America/Martinique");
    let html = browser.get(page).await.text().await.unwrap();
    assert!(html.contains(r#"value="America/Martinique""#) && html.contains("Fuseau horaire"), "{html}");
}

/// P0-12: changing the password needs the current one; it ends every other browser session and
/// every API token family at once, keeps the current session, and is audited.
#[tokio::test]
async fn p0_12_password_change_ends_other_sessions_and_api_families_but_keeps_the_current_one() {
    let app = TestApp::spawn().await;
    let (_, ada, here) = app.sign_up_and_log_in("ada@pw.example.eu").await;
    let elsewhere = app.browser_login("ada@pw.example.eu", PASSWORD).await;
    let pair = app.token_pair("ada@pw.example.eu", PASSWORD).await;
    let page = "/settings/profile";
    let action = "/settings/profile/password";

    let wrong =
        here.submit_form(page, action, &[("current_password", "not my password"), ("new_password", "short")]).await;
    assert_eq!(wrong.status(), 422);
    let html = wrong.text().await.unwrap();
    assert!(html.contains("The current password is incorrect.") && html.contains("Use at least 12 characters."));
    let missing = here.submit_form(page, action, &[("new_password", NEW_PASSWORD)]).await;
    assert_eq!(missing.status(), 422);
    assert_eq!(elsewhere.get("/dashboard").await.status(), 200, "a refused change ended a session");

    app.clock.advance(Duration::seconds(1));
    let ok = here.submit_form(page, action, &[("current_password", PASSWORD), ("new_password", NEW_PASSWORD)]).await;
    assert_eq!(ok.status(), 303);
    assert_eq!(here.get("/dashboard").await.status(), 200, "the current session was ended");
    assert_eq!(elsewhere.get("/dashboard").await.status(), 303, "another session survived");
    assert_eq!(app.me(&access_token_of(&pair)).await.status(), 401, "an access token survived");
    assert_eq!(app.refresh_tokens(&refresh_token_of(&pair)).await.status(), 401, "a refresh family survived");
    assert_eq!(scalar::<i64>(&app, "select count(*) from sessions where user_id = $1", ada.0).await, 1);

    assert_eq!(
        Browser::new(&app)
            .post_form("/login", &[("email", "ada@pw.example.eu"), ("password", PASSWORD)])
            .await
            .status(),
        401,
        "the old password still works"
    );
    app.browser_login("ada@pw.example.eu", NEW_PASSWORD).await;
    assert!(app.audit_log().await.iter().any(|e| e.action == "auth.password_changed" && e.target_id == Some(ada.0)));
}

/// P0-12: changing the email address needs the current password and a confirmation link mailed
/// (through a real SMTP peer) to the new address — single use, 24 hours, only its SHA-256 stored,
/// followed by the same signed-in member; the old address is told. Only confirming changes it.
#[tokio::test]
async fn p0_12_email_change_needs_confirmation_by_the_new_address() {
    let app = TestApp::spawn_with_mail().await;
    let (org, ada) = app.sign_up("ada@old.example.eu").await;
    app.add_member(org, "taken@old.example.eu", Role::User).await;
    let browser = app.browser_login("ada@old.example.eu", PASSWORD).await;
    let page = "/settings/profile";
    let action = "/settings/profile/email";

    let refused = browser
        .submit_form(
            page,
            action,
            &[("new_email", "taken@old.example.eu"), ("email_current_password", "wrong password!")],
        )
        .await;
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("The current password is incorrect.")
            && html.contains("Another member of your organization uses this address.")
    );

    let ok = browser
        .submit_form(page, action, &[("new_email", "Ada@New.example.eu"), ("email_current_password", PASSWORD)])
        .await;
    assert_eq!(ok.status(), 303);
    let tick = app.run_jobs().await;
    assert_eq!((tick.succeeded, tick.failed), (2, 0), "{tick:?}");
    let notice = app.mailbox().messages_to("ada@old.example.eu").pop().expect("a notice to the old address");
    assert!(notice.subject.contains("email address was requested"), "{}", notice.subject);
    let confirmation = app.mailbox().messages_to("ada@new.example.eu").pop().expect("a link to the new address");
    let link = confirmation.link(&app.origin()).expect("a link");
    let path = link.strip_prefix(&app.origin()).unwrap().to_string();
    let secret = path.rsplit('/').next().unwrap().to_string();
    assert!(path.starts_with("/settings/profile/email/"), "{path}");
    let stored: Vec<u8> = scalar(&app, "select token_hash from email_changes where user_id = $1", ada.0).await;
    assert_eq!(stored, Sha256::digest(secret.as_bytes()).to_vec());
    // Nothing changed yet.
    assert_eq!(scalar::<String>(&app, "select email from users where user_id = $1", ada.0).await, "ada@old.example.eu");

    // Another member following the link gets nothing; following it (GET) spends nothing.
    let other = app.browser_login("taken@old.example.eu", PASSWORD).await;
    assert_eq!(other.get(&path).await.status(), 410);
    assert_eq!(other.submit_form(page, &path, &[]).await.status(), 410);
    let confirm_page = browser.get(&path).await;
    assert_eq!(confirm_page.status(), 200);
    assert!(confirm_page.text().await.unwrap().contains("ada@new.example.eu"));
    assert_eq!(browser.submit_form(page, &path, &[]).await.status(), 303);
    assert_eq!(scalar::<String>(&app, "select email from users where user_id = $1", ada.0).await, "ada@new.example.eu");
    assert_eq!(browser.submit_form(page, &path, &[]).await.status(), 410, "the link worked twice");
    app.browser_login("ada@new.example.eu", PASSWORD).await;

    // A link older than 24 hours is refused.
    let again = browser
        .submit_form(page, action, &[("new_email", "ada@later.example.eu"), ("email_current_password", PASSWORD)])
        .await;
    assert_eq!(again.status(), 303);
    app.run_jobs().await;
    let late = app.mailbox().messages_to("ada@later.example.eu").pop().unwrap().link(&app.origin()).unwrap();
    app.clock.advance(Duration::hours(24) + Duration::seconds(1));
    let browser = app.browser_login("ada@new.example.eu", PASSWORD).await;
    let late_path = late.strip_prefix(&app.origin()).unwrap().to_string();
    assert_eq!(browser.submit_form(page, &late_path, &[]).await.status(), 410);
    assert_eq!(scalar::<String>(&app, "select email from users where user_id = $1", ada.0).await, "ada@new.example.eu");
    let actions = app.audit_actions().await;
    assert!(actions.contains(&"profile.email_change_requested".to_string()));
    assert!(actions.contains(&"profile.email_changed".to_string()));
}

/// Issue #11 ("discovery"): the profile page links to every security page the member may open —
/// two-factor authentication, sessions, and for those allowed API keys and the login activity —
/// and each link opens.
#[tokio::test]
async fn the_profile_links_to_every_security_page_the_member_may_open() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@security-links.example.eu").await;
    app.add_member(org, "user@security-links.example.eu", Role::User).await;
    for (email, must, must_not) in [
        (
            "owner@security-links.example.eu",
            vec!["/settings/mfa", "/settings/sessions", "/settings/api-keys", "/settings/activity"],
            vec![],
        ),
        ("user@security-links.example.eu", vec!["/settings/mfa", "/settings/sessions"], vec!["/settings/activity"]),
    ] {
        let browser = app.browser_login(email, PASSWORD).await;
        let html = browser.get("/settings/profile").await.text().await.unwrap();
        let start = html.find(r#"id="security-links""#).expect("no security section");
        let section = &html[start..start + html[start..].find("</ul>").unwrap()];
        for href in &must {
            assert!(section.contains(&format!(r#"href="{href}""#)), "{email}: no link to {href}");
            assert_eq!(browser.get(href).await.status(), 200, "{email}: {href}");
        }
        for href in &must_not {
            assert!(!section.contains(&format!(r#"href="{href}""#)), "{email}: a link to {href}, which it cannot open");
        }
        for link in section.split(r#"href=""#).skip(1) {
            let href = &link[..link.find('"').unwrap()];
            assert_eq!(browser.get(href).await.status(), 200, "{email}: every link opens ({href})");
        }
    }
}
