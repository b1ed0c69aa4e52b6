//! Tenant isolation proven through data: two organizations sign up and log in for real, then the
//! tests probe each other's rows through the raw app role, the tenant transaction and HTTP.

use identity::doors::IdentityDoors;
use kernel::db::Actor;
use kernel::db::embedded::APP_ROLE;
use kernel::{OrgId, UserId};
use secrecy::SecretString;
use sqlx::{ConnectOptions, Connection, Executor, PgConnection, Row};
use testkit::{Browser, TestApp};
use uuid::Uuid;

struct Tenant {
    org: OrgId,
    user: UserId,
    email: &'static str,
    org_name: String,
    browser: Browser,
}

/// Signs up an org over the API and logs its owner in through the login form, so it has users,
/// a session, login events and audit rows.
async fn tenant(app: &TestApp, email: &'static str) -> Tenant {
    let (org, user, browser) = app.sign_up_and_log_in(email).await;
    Tenant { org, user, email, org_name: format!("Org of {email}"), browser }
}

/// Orgs A and B, both signed up and logged in.
async fn two_orgs(app: &TestApp) -> (Tenant, Tenant) {
    let a = tenant(app, "alice@tenant-a.example").await;
    let b = tenant(app, "bruno@tenant-b.example").await;
    (a, b)
}

/// Every tenant table of the data catalog.
fn tenant_tables() -> Vec<&'static str> {
    let tables: Vec<_> = web::data_catalog().into_iter().filter(|e| e.tenant).map(|e| e.table).collect();
    assert!(tables.contains(&"users") && tables.contains(&"sessions"), "catalog lost its tenant tables: {tables:?}");
    tables
}

async fn count(conn: &mut PgConnection, sql: String, org: Option<OrgId>) -> Result<i64, sqlx::Error> {
    let query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
    let query = match org {
        Some(org) => query.bind(org),
        None => query,
    };
    query.fetch_one(conn).await
}

fn sqlstate(error: &sqlx::Error) -> Option<String> {
    error.as_database_error().and_then(|e| e.code()).map(|c| c.into_owned())
}

/// Asserts that `result` is PostgreSQL's refusal of a row by row-level security.
fn assert_rls_refusal<T: std::fmt::Debug>(what: &str, result: Result<T, sqlx::Error>) {
    assert!(result.is_err(), "{what}: accepted ({result:?}), expected a row-level security refusal");
    if let Err(error) = result {
        assert_eq!(sqlstate(&error).as_deref(), Some("42501"), "{what}: {error}");
        assert!(error.to_string().contains("row-level security"), "{what}: {error}");
    }
}

/// P0-21: with no org set, the request role sees no tenant row at all — every tenant table of the
/// catalog counts 0 — although both orgs' organizations, users, sessions, login events and audit
/// rows are there (the superuser sees them). Switching row security off or stepping into the
/// platform scope is refused rather than leaking rows.
#[tokio::test]
async fn p0_21_app_role_without_org_sees_no_tenant_rows() {
    let app = TestApp::spawn().await;
    let (a, b) = two_orgs(&app).await;

    let mut superuser = app.superuser_connection().await;
    for table in ["organizations", "users", "sessions", "login_events", "audit_events"] {
        for tenant in [&a, &b] {
            let rows =
                count(&mut superuser, format!("select count(*) from {table} where org_id = $1"), Some(tenant.org))
                    .await
                    .unwrap();
            assert!(rows > 0, "the superuser sees no {table} row of {}: the probe would prove nothing", tenant.email);
        }
    }

    let mut raw = app.app_role_connection().await;
    let org: Option<String> = sqlx::query_scalar("select app.current_org()::text").fetch_one(&mut raw).await.unwrap();
    assert_eq!(org, None, "a fresh relais_app connection already has an org set");
    let mut leaks = Vec::new();
    for table in tenant_tables() {
        let rows = count(&mut raw, format!("select count(*) from {table}"), None).await.unwrap();
        if rows != 0 {
            leaks.push(format!("{table}: {rows} rows"));
        }
    }
    assert!(leaks.is_empty(), "relais_app with no org set sees tenant rows: {leaks:?}");

    // An empty org id is "no org" as well.
    raw.execute("select set_config('app.org_id', '', false)").await.unwrap();
    assert_eq!(count(&mut raw, "select count(*) from users".into(), None).await.unwrap(), 0);

    // With row security off, PostgreSQL refuses the query instead of running it unfiltered.
    raw.execute("set row_security = off").await.unwrap();
    let error = sqlx::query_scalar::<_, i64>("select count(*) from users").fetch_one(&mut raw).await.unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("42501"), "row_security = off: {error}");
    raw.execute("reset row_security").await.unwrap();

    // The platform scope and the schema owner are out of reach.
    for role in ["relais_platform", "relais_owner"] {
        let error = raw.execute(sqlx::AssertSqlSafe(format!("set role {role}"))).await.unwrap_err();
        assert_eq!(sqlstate(&error).as_deref(), Some("42501"), "set role {role}: {error}");
    }
}

/// P0-21: with `app.org_id` set to A on a raw request-role connection, every tenant table returns
/// exactly A's rows — all of them, and none of B's (which exist).
#[tokio::test]
async fn p0_21_app_role_with_org_a_sees_only_org_a_rows() {
    let app = TestApp::spawn().await;
    let (a, b) = two_orgs(&app).await;
    let mut superuser = app.superuser_connection().await;
    let mut raw = app.app_role_connection().await;
    sqlx::query("select set_config('app.org_id', $1, false)").bind(a.org.to_string()).execute(&mut raw).await.unwrap();

    let mut problems = Vec::new();
    for table in tenant_tables() {
        let visible = count(&mut raw, format!("select count(*) from {table}"), None).await.unwrap();
        let visible_a =
            count(&mut raw, format!("select count(*) from {table} where org_id = $1"), Some(a.org)).await.unwrap();
        let real_a = count(&mut superuser, format!("select count(*) from {table} where org_id = $1"), Some(a.org))
            .await
            .unwrap();
        let real_b = count(&mut superuser, format!("select count(*) from {table} where org_id = $1"), Some(b.org))
            .await
            .unwrap();
        if visible != visible_a {
            problems.push(format!("{table}: {visible} rows visible, only {visible_a} of them are A's"));
        }
        if visible_a != real_a {
            problems.push(format!("{table}: A sees {visible_a} of its {real_a} rows"));
        }
        let must_have_rows =
            ["organizations", "users", "policy_acceptances", "sessions", "login_events", "audit_events"];
        if must_have_rows.contains(&table) && (real_a == 0 || real_b == 0) {
            problems.push(format!("{table}: A has {real_a} and B {real_b} rows; both should have some"));
        }
    }
    assert!(problems.is_empty(), "org A's view through RLS is wrong:\n{}", problems.join("\n"));

    let (org_name, emails): (String, Vec<String>) =
        sqlx::query_as("select (select name from organizations), array(select email from users order by email)")
            .fetch_one(&mut raw)
            .await
            .unwrap();
    assert_eq!(org_name, a.org_name);
    assert_eq!(emails, vec![a.email.to_string()]);
}

/// P0-21: while org A is set, rows labelled with org B are refused by row-level security (42501)
/// on insert, and updates and deletes of B's rows touch nothing; nor can A's rows be moved to B.
#[tokio::test]
async fn p0_21_app_role_cannot_write_into_another_org() {
    let app = TestApp::spawn().await;
    let (a, b) = two_orgs(&app).await;
    let mut raw = app.app_role_connection().await;
    sqlx::query("select set_config('app.org_id', $1, false)").bind(a.org.to_string()).execute(&mut raw).await.unwrap();

    let result = sqlx::query("insert into organizations (org_id, name, created_at) values ($1, 'Mallory Ltd', now())")
        .bind(b.org)
        .execute(&mut raw)
        .await;
    assert_rls_refusal("insert an organizations row labelled B", result);
    let result = sqlx::query("insert into organizations (org_id, name, created_at) values ($1, 'Mallory Ltd', now())")
        .bind(Uuid::now_v7())
        .execute(&mut raw)
        .await;
    assert_rls_refusal("insert an organizations row for a new org", result);
    let result = sqlx::query(
        "insert into users (org_id, user_id, email, first_name, last_name, job_title, org_role, password_hash,
                            adult_attested_at, created_at, updated_at)
         values ($1, $2, 'mallory@tenant-a.example', 'Mallory', 'M', 'Spy', 'owner', '$2b$12$x', now(), now(), now())",
    )
    .bind(b.org)
    .bind(Uuid::now_v7())
    .execute(&mut raw)
    .await;
    assert_rls_refusal("insert a users row labelled B", result);
    let result = sqlx::query(
        "insert into login_events (org_id, event_id, user_id, occurred_at, outcome, method)
         values ($1, $2, $3, now(), 'success', 'password')",
    )
    .bind(b.org)
    .bind(Uuid::now_v7())
    .bind(b.user)
    .execute(&mut raw)
    .await;
    assert_rls_refusal("insert a login_events row labelled B", result);

    let updated = sqlx::query("update users set first_name = 'Mallory' where org_id = $1")
        .bind(b.org)
        .execute(&mut raw)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(updated, 0, "an update of B's users touched rows");
    let updated = sqlx::query("update sessions set expires_at = now() + interval '10 years' where org_id = $1")
        .bind(b.org)
        .execute(&mut raw)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(updated, 0, "an update of B's sessions touched rows");
    let deleted = sqlx::query("delete from login_events where org_id = $1")
        .bind(b.org)
        .execute(&mut raw)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(deleted, 0, "a delete of B's login events touched rows");
    // Unfiltered, the same statements reach A's rows only.
    let updated =
        sqlx::query("update users set first_name = 'Alicia'").execute(&mut raw).await.unwrap().rows_affected();
    assert_eq!(updated, 1, "an unfiltered update should reach exactly A's one member");
    // Relabelling A's row as B's is refused by WITH CHECK.
    let result = sqlx::query("update login_events set org_id = $1 where org_id = $2")
        .bind(b.org)
        .bind(a.org)
        .execute(&mut raw)
        .await;
    assert_rls_refusal("move A's login events to B", result);

    let mut superuser = app.superuser_connection().await;
    let (b_name, b_logins, b_expiry_ok): (String, i64, bool) = sqlx::query_as(
        "select (select first_name from users where org_id = $1),
                (select count(*) from login_events where org_id = $1),
                (select bool_and(expires_at < now() + interval '1 year') from sessions where org_id = $1)",
    )
    .bind(b.org)
    .fetch_one(&mut superuser)
    .await
    .unwrap();
    assert_eq!(b_name, "Ada", "B's member was renamed from org A");
    assert!(b_logins > 0, "B's login events were deleted from org A");
    assert!(b_expiry_ok, "B's session was extended from org A");
    let a_name: String = sqlx::query_scalar("select first_name from users where org_id = $1")
        .bind(a.org)
        .fetch_one(&mut superuser)
        .await
        .unwrap();
    assert_eq!(a_name, "Alicia");
}

/// P1-07: over HTTP, A's signed-in browser sees A's home and members and never B's, and
/// no route or parameter lets A's session cookie reach B's data; A's language switch writes A's
/// profile only.
#[tokio::test]
async fn p1_07_a_session_reads_only_its_own_org_over_http() {
    let app = TestApp::spawn().await;
    let (a, b) = two_orgs(&app).await;
    let b_markers = [b.email.to_string(), b.org_name.clone(), b.org.to_string(), b.user.to_string()];

    for page in ["/dashboard", "/members"] {
        let response = a.browser.get(page).await;
        assert_eq!(response.status(), 200);
        let html = response.text().await.unwrap();
        assert!(html.contains(&a.org_name), "A's {page} lacks A's organization: {html}");
        for marker in &b_markers {
            assert!(!html.contains(marker.as_str()), "A's {page} shows B's {marker}");
        }
    }
    let html = a.browser.get("/members").await.text().await.unwrap();
    assert!(html.contains(a.email), "A's members page lacks A: {html}");
    // And the other way round: B's members are B's.
    let html = b.browser.get("/members").await.text().await.unwrap();
    assert!(html.contains(b.email) && !html.contains(a.email), "B's members: {html}");

    // Every route that exists, and guesses that name B, with A's cookie.
    let paths = [
        "/".to_string(),
        "/dashboard".to_string(),
        format!("/dashboard?org={}", b.org),
        format!("/dashboard?org_id={}", b.org),
        format!("/dashboard?organization_id={}&user_id={}", b.org, b.user),
        format!("/dashboard/{}", b.org),
        format!("/orgs/{}", b.org),
        "/login".to_string(),
        "/signup".to_string(),
        "/api/v1/openapi.json".to_string(),
        format!("/api/v1/orgs/{}", b.org),
        format!("/api/v1/users/{}", b.user),
    ];
    let cookie_name = app.state.session_cookie_name();
    let cookie = format!("{cookie_name}={}", a.browser.cookie(cookie_name).expect("A's session cookie"));
    for path in &paths {
        let response = app
            .http
            .get(app.url(path))
            .header("cookie", &cookie)
            .header("x-org-id", b.org.to_string())
            .header("x-organization-id", b.org.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        // Pages echo their own path (the language switch returns to it): ids the probe itself
        // carries in its path prove nothing, B's email and org name always do.
        for marker in b_markers.iter().filter(|m| !path.contains(m.as_str())) {
            assert!(!body.contains(marker.as_str()), "GET {path} with A's cookie ({status}) shows B's {marker}");
        }
    }

    // A writes through A's session: only A's profile changes.
    let csrf = a.browser.csrf_token("/dashboard").await;
    let response = a.browser.post_form("/lang", &[("lang", "fr"), ("next", "/dashboard"), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), 303);
    let mut superuser = app.superuser_connection().await;
    let languages: Vec<(String, String)> =
        sqlx::query_as("select email, language from users order by email").fetch_all(&mut superuser).await.unwrap();
    assert_eq!(
        languages,
        vec![(a.email.to_string(), "fr".to_string()), (b.email.to_string(), "en".to_string())],
        "the language switch of A's member reached another org"
    );
}

/// P1-07: a session made for org A cannot be found from B's tenant transaction, by token or by
/// org, while A's own transaction finds it.
#[tokio::test]
async fn p1_07_org_a_session_is_invisible_in_org_b_transaction() {
    let app = TestApp::spawn().await;
    let (a, b) = two_orgs(&app).await;
    let cookie_name = app.state.session_cookie_name();
    let token = SecretString::from(a.browser.cookie(cookie_name).expect("A's session cookie"));
    let token_hash = kernel::token::hash(&token);

    // The door resolves the cookie to A.
    let resolved = app.db.resolve_session(&token_hash, app.clock.now()).await.unwrap();
    assert_eq!(resolved.map(|(org, _, user)| (org, user)), Some((a.org, a.user.0)));

    let lookup = "select count(*) from sessions where token_hash = $1";
    let mut tx = app.db.begin_org(b.org, Actor::User(b.user.0)).await.unwrap();
    let by_token: i64 = sqlx::query_scalar(lookup).bind(token_hash.as_slice()).fetch_one(tx.conn()).await.unwrap();
    let by_org: i64 = sqlx::query_scalar("select count(*) from sessions where org_id = $1")
        .bind(a.org)
        .fetch_one(tx.conn())
        .await
        .unwrap();
    let joined: i64 = sqlx::query_scalar(
        "select count(*) from sessions s join users u on u.org_id = s.org_id and u.user_id = s.user_id
         where u.email = $1",
    )
    .bind(a.email)
    .fetch_one(tx.conn())
    .await
    .unwrap();
    let own: i64 = sqlx::query_scalar("select count(*) from sessions").fetch_one(tx.conn()).await.unwrap();
    drop(tx);
    assert_eq!((by_token, by_org, joined), (0, 0, 0), "A's session is visible inside B's transaction");
    assert!(own > 0, "B's transaction should see B's own session");

    let mut tx = app.db.begin_org(a.org, Actor::User(a.user.0)).await.unwrap();
    let by_token: i64 = sqlx::query_scalar(lookup).bind(token_hash.as_slice()).fetch_one(tx.conn()).await.unwrap();
    assert_eq!(by_token, 1, "A's own transaction should find A's session");
}

/// P0-21: the SECURITY DEFINER login door gives the request role only what a login needs —
/// exactly org_id, user_id, password_hash and status, at most 3 accounts, matched by exact email —
/// and no role without an explicit grant may call it (EXECUTE is revoked from PUBLIC).
#[tokio::test]
async fn p0_21_login_door_exposes_only_login_columns() {
    let app = TestApp::spawn().await;
    let (a, b) = two_orgs(&app).await;
    let mut raw = app.app_role_connection().await;

    let rows = sqlx::query("select * from app.login_candidates($1)").bind(a.email).fetch_all(&mut raw).await.unwrap();
    assert_eq!(rows.len(), 1, "A's email should match exactly A's owner");
    let columns: Vec<&str> = rows[0].columns().iter().map(sqlx::Column::name).collect();
    assert_eq!(columns, ["org_id", "user_id", "password_hash", "status"]);
    assert_eq!(rows[0].get::<Uuid, _>("org_id"), a.org.0);
    assert_eq!(rows[0].get::<Uuid, _>("user_id"), a.user.0);
    let result: String =
        sqlx::query_scalar("select pg_get_function_result('app.login_candidates(text,uuid)'::regprocedure)")
            .fetch_one(&mut raw)
            .await
            .unwrap();
    assert_eq!(result, "TABLE(org_id uuid, user_id uuid, password_hash text, status text)");

    // No pattern matching: a wildcard or B's email in another case finds nothing of anyone.
    for probe in ["%", "%@tenant-b.example", "_runo@tenant-b.example", "BRUNO@TENANT-B.EXAMPLE"] {
        let found: i64 = sqlx::query_scalar("select count(*) from app.login_candidates($1)")
            .bind(probe)
            .fetch_one(&mut raw)
            .await
            .unwrap();
        assert_eq!(found, 0, "login_candidates({probe:?}) found accounts");
    }
    let found: i64 = sqlx::query_scalar("select count(*) from app.login_candidates($1)")
        .bind(b.email)
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert_eq!(found, 1);

    // Five more orgs with a member of the same email (sign-up refuses duplicates, so the superuser
    // plants them): the door still returns at most 3.
    let mut superuser = app.superuser_connection().await;
    for i in 0..5 {
        let org = Uuid::now_v7();
        sqlx::query("insert into organizations (org_id, name, created_at) values ($1, $2, now())")
            .bind(org)
            .bind(format!("Shared {i}"))
            .execute(&mut superuser)
            .await
            .unwrap();
        sqlx::query(
            "insert into users (org_id, user_id, email, first_name, last_name, job_title, org_role, password_hash,
                                adult_attested_at, created_at, updated_at)
             values ($1, $2, $3, 'Shared', 'Member', 'Seller', 'user', '$2b$12$x', now(), now(), now())",
        )
        .bind(org)
        .bind(Uuid::now_v7())
        .bind(a.email)
        .execute(&mut superuser)
        .await
        .unwrap();
    }
    let found: i64 = sqlx::query_scalar("select count(*) from app.login_candidates($1)")
        .bind(a.email)
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert_eq!(found, 3, "login_candidates returned {found} accounts for an email held in 6 orgs");

    // EXECUTE: granted to relais_app, not to PUBLIC, so a role without the grant cannot call it.
    let (app_may, public_may): (bool, bool) = sqlx::query_as(
        "select has_function_privilege($1::name, 'app.login_candidates(text,uuid)', 'EXECUTE'),
                has_function_privilege('public', 'app.login_candidates(text,uuid)', 'EXECUTE')",
    )
    .bind(APP_ROLE)
    .fetch_one(&mut superuser)
    .await
    .unwrap();
    assert!(app_may, "{APP_ROLE} lost EXECUTE on the login door");
    assert!(!public_may, "PUBLIC may EXECUTE app.login_candidates");

    // A throwaway login role with schema usage but no grant on the function: refused. Roles are
    // cluster-wide, so the name is unique and the role is dropped before asserting.
    let probe = format!("relais_probe_{}", Uuid::new_v4().simple());
    superuser
        .execute(sqlx::AssertSqlSafe(format!("create role {probe} login; grant usage on schema app to {probe}")))
        .await
        .unwrap();
    let may: bool =
        sqlx::query_scalar("select has_function_privilege($1::name, 'app.login_candidates(text,uuid)', 'EXECUTE')")
            .bind(&probe)
            .fetch_one(&mut superuser)
            .await
            .unwrap();
    let call = async {
        let mut conn = app.connect_options(&probe).connect().await.unwrap();
        let result = sqlx::query("select * from app.login_candidates($1)").bind(a.email).fetch_all(&mut conn).await;
        let _ = conn.close_hard().await;
        result
    }
    .await;
    superuser.execute(sqlx::AssertSqlSafe(format!("drop owned by {probe}; drop role {probe}"))).await.unwrap();
    assert!(!may, "a role without the grant may EXECUTE app.login_candidates");
    let error = call.expect_err("a role without the grant called app.login_candidates");
    assert_eq!(sqlstate(&error).as_deref(), Some("42501"), "{error}");
    assert!(error.to_string().contains("login_candidates"), "refused for another reason: {error}");
}
