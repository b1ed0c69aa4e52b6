//! The audit log (P0-04, P0-20, P0-07): what is recorded, that it is append-only, and that the
//! HMAC chain names the first row edited, removed or forged out of band.

// Helpers outside `#[test]` functions fail loudly too; clippy.toml only exempts test bodies.
use std::collections::BTreeSet;
use std::sync::Arc;

use kernel::OrgId;
use kernel::audit::{Anchor, AuditEvent, AuditLog, Verification};
use kernel::db::Actor;
use kernel::db::embedded::OWNER_ROLE;
use kernel::keys::MasterKey;
use serde_json::json;
use sqlx::{ConnectOptions, Executor, PgConnection};
use testkit::{Browser, PASSWORD, TestApp};
use time::{Date, Duration, OffsetDateTime};
use tokio::sync::Barrier;
use uuid::Uuid;

/// An organization created directly in its tenant transaction (no sign-up, no bcrypt).
async fn insert_org(app: &TestApp) -> OrgId {
    let org = OrgId::new();
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    sqlx::query("insert into organizations (org_id, name, created_at) values ($1, 'Audit test org', $2)")
        .bind(org)
        .bind(app.clock.now())
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    org
}

/// Records one event with the app's own audit log, in its own tenant transaction.
async fn record(app: &TestApp, org: OrgId, action: &'static str, payload: serde_json::Value) -> i64 {
    app.state.audit.record_now(&app.db, org, Actor::System, AuditEvent::new(action).payload(payload)).await.unwrap()
}

/// Verifies `org`'s chain with `audit`, in platform scope (as `relais audit verify` does).
async fn verify_with(app: &TestApp, audit: &AuditLog, org: OrgId) -> Verification {
    let mut tx = app.db.begin_platform("test: verify an audit chain").await.unwrap();
    let verification = audit.verify(tx.conn(), org).await.unwrap();
    tx.commit().await.unwrap();
    verification
}

async fn verify(app: &TestApp, org: OrgId) -> Verification {
    verify_with(app, &app.state.audit, org).await
}

/// Verifies `org`'s chain against `anchor`, in platform scope.
async fn verify_anchored(app: &TestApp, org: OrgId, anchor: &Anchor) -> Verification {
    let mut tx = app.db.begin_platform("test: verify against an anchor").await.unwrap();
    let verification = app.state.audit.verify_against(tx.conn(), org, Some(anchor)).await.unwrap();
    tx.commit().await.unwrap();
    verification
}

fn broken_at(verification: &Verification) -> Option<i64> {
    verification.broken.as_ref().map(|b| b.seq)
}

#[derive(sqlx::FromRow, Debug)]
struct AuditRow {
    seq: i64,
    action: String,
    actor_kind: String,
    actor_id: Option<Uuid>,
    target_id: Option<Uuid>,
    payload: String,
    whole_row: String,
}

/// The org's audit rows as the org itself sees them (tenant transaction).
async fn audit_rows(app: &TestApp, org: OrgId) -> Vec<AuditRow> {
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    let rows = sqlx::query_as(
        "select seq, action, actor_kind, actor_id, target_id, payload::text as payload, a::text as whole_row
         from audit_events a order by seq",
    )
    .fetch_all(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
    rows
}

/// A superuser connection with triggers off: a DBA (or an attacker with the server) editing rows.
async fn tamperer(app: &TestApp) -> PgConnection {
    let mut conn = app.superuser_connection().await;
    conn.execute("set session_replication_role = replica").await.unwrap();
    conn
}

/// A fresh app with one org whose chain holds five events, checked intact.
async fn chain_of_five() -> (TestApp, OrgId) {
    let app = TestApp::spawn().await;
    let org = insert_org(&app).await;
    for i in 1..=5 {
        let seq = record(&app, org, "test.event", json!({ "n": i })).await;
        assert_eq!(seq, i);
    }
    let verification = verify(&app, org).await;
    assert!(verification.is_intact(), "{verification:?}");
    assert_eq!(verification.events_checked, 5);
    (app, org)
}

fn assert_is_permission_denied(error: sqlx::Error, what: &str) {
    let db = error.as_database_error().unwrap_or_else(|| panic!("{what}: not a database error: {error}"));
    assert_eq!(db.code().as_deref(), Some("42501"), "{what}: {db}");
    assert!(db.message().contains("permission denied"), "{what}: {db}");
}

fn assert_is_refused_by_trigger(error: sqlx::Error, what: &str) {
    let db = error.as_database_error().unwrap_or_else(|| panic!("{what}: not a database error: {error}"));
    assert!(db.message().contains("append-only"), "{what}: {db}");
}

/// Refused for want of a privilege, or by one of the audit tables' triggers (42501 either way).
fn assert_is_permission_denied_or_refused(error: sqlx::Error, what: &str) {
    let db = error.as_database_error().unwrap_or_else(|| panic!("{what}: not a database error: {error}"));
    assert_eq!(db.code().as_deref(), Some("42501"), "{what}: {db}");
}

// ------------------------------------------------------------------ what is recorded

/// P0-04: sign-up, login, a failed login and logout each write an audit event, in order, with
/// pseudonymous ids only: no email, name or IP address in any column, and the chain verifies.
#[tokio::test]
async fn p0_04_signup_login_and_logout_are_audited_without_personal_data() {
    let app = TestApp::spawn().await;
    let email = "audit.owner@example.eu";
    let (org, user, browser) = app.sign_up_and_log_in(email).await;

    let stranger = Browser::new(&app);
    let refused = stranger.post_form("/login", &[("email", email), ("password", "not the right password")]).await;
    assert_eq!(refused.status(), 401);

    let csrf = browser.csrf_token("/dashboard").await;
    let logout = browser.post_form("/logout", &[("csrf", csrf.as_str())]).await;
    assert_eq!(logout.status(), 303);

    let rows = audit_rows(&app, org).await;
    let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["org.signed_up", "auth.login.succeeded", "auth.login.failed", "auth.logout"]);
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    let actors: Vec<(&str, Option<Uuid>)> = rows.iter().map(|r| (r.actor_kind.as_str(), r.actor_id)).collect();
    let me = Some(user.0);
    assert_eq!(actors, [("user", me), ("user", me), ("anonymous", None), ("user", me)]);
    // The sign-up and the failed login point at the account by its id.
    assert_eq!(rows[0].target_id, me);
    assert_eq!(rows[2].target_id, me);

    for row in &rows {
        for forbidden in [email, "127.0.0.1", "Lovelace", "Ada"] {
            assert!(!row.payload.contains(forbidden), "{forbidden} in payload of {row:?}");
            assert!(!row.whole_row.contains(forbidden), "{forbidden} in {row:?}");
        }
    }
    let verification = verify(&app, org).await;
    assert!(verification.is_intact(), "{verification:?}");
    assert_eq!(verification.events_checked, 4);
}

/// P0-04: the owner's view of sign-in history (which shows IP addresses, on `/settings/activity`
/// since the home page left members administration) is audited; a member with the `user` role
/// may not open it, and their home page shows no sign-in history and writes no such event.
#[tokio::test]
async fn p0_04_login_history_views_are_audited_and_shown_to_owners_only() {
    let app = TestApp::spawn().await;
    let owner_email = "history.owner@example.eu";
    let (org, owner, owner_browser) = app.sign_up_and_log_in(owner_email).await;

    // No HTTP route creates members yet: add one with the `user` role in the org's tenant
    // transaction, reusing the owner's bcrypt hash (it is the hash of the same test password).
    let member_email = "history.member@example.eu";
    let mut tx = app.db.begin_org(org, Actor::User(owner.0)).await.unwrap();
    let inserted = sqlx::query(
        "insert into users (org_id, user_id, email, first_name, last_name, job_title, org_role, password_hash,
                            adult_attested_at, created_at, updated_at)
         select org_id, $2, $3, 'Grace', 'Hopper', 'Account executive', 'user', password_hash, $4, $4, $4
         from users where org_id = $1 and user_id = $5",
    )
    .bind(org)
    .bind(Uuid::now_v7())
    .bind(member_email)
    .bind(app.clock.now())
    .bind(owner.0)
    .execute(tx.conn())
    .await
    .unwrap();
    assert_eq!(inserted.rows_affected(), 1);
    tx.commit().await.unwrap();
    let member_browser = app.browser_login(member_email, PASSWORD).await;

    let member_page = member_browser.get("/dashboard").await;
    assert_eq!(member_page.status(), 200);
    let member_html = member_page.text().await.unwrap();
    assert!(member_html.contains("Hello, Grace"), "the member's home did not render: {member_html}");
    assert!(!member_html.contains("127.0.0.1"), "a member sees IP addresses: {member_html}");
    assert_eq!(member_browser.get("/settings/activity").await.status(), 403);
    assert_eq!(app.count_audit_events(org, "activity.viewed").await, 0);

    let owner_home = owner_browser.get("/dashboard").await.text().await.unwrap();
    assert!(!owner_home.contains("127.0.0.1"), "the home page shows sign-in history: {owner_home}");
    assert!(owner_home.contains("href=\"/settings/activity\""), "no way from home to the sign-in history");
    assert_eq!(app.count_audit_events(org, "activity.viewed").await, 0, "the home page is not a history view");
    let owner_page = owner_browser.get("/settings/activity").await;
    assert_eq!(owner_page.status(), 200);
    let owner_html = owner_page.text().await.unwrap();
    assert!(owner_html.contains("127.0.0.1"), "the owner's sign-in history shows no IP: {owner_html}");

    let views: Vec<AuditRow> =
        audit_rows(&app, org).await.into_iter().filter(|r| r.action == "activity.viewed").collect();
    assert_eq!(views.len(), 1, "{views:?}");
    assert_eq!((views[0].actor_kind.as_str(), views[0].actor_id), ("user", Some(owner.0)));

    // A second visit of the member's home still writes nothing.
    assert_eq!(member_browser.get("/dashboard").await.status(), 200);
    assert_eq!(app.count_audit_events(org, "activity.viewed").await, 1);
}

// ------------------------------------------------------------------ append-only

/// P0-20: the request role (in a tenant transaction of the org itself) cannot UPDATE, DELETE or
/// TRUNCATE audit events or checkpoints: permission denied, and the chain stays intact.
#[tokio::test]
async fn p0_20_audit_rows_cannot_be_changed_by_app_role() {
    let (app, org) = chain_of_five().await;
    let statements: [&'static str; 6] = [
        "update audit_events set payload = '{}', action = 'nothing.happened' where seq = 2",
        "delete from audit_events where seq = 2",
        "truncate audit_events",
        "update audit_checkpoints set first_seq = 2",
        "delete from audit_checkpoints",
        "truncate audit_checkpoints",
    ];
    for statement in statements {
        let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
        let error = sqlx::query(statement).execute(tx.conn()).await.unwrap_err();
        assert_is_permission_denied(error, statement);
    }
    let verification = verify(&app, org).await;
    assert!(verification.is_intact(), "{verification:?}");
    assert_eq!(verification.events_checked, 5);
}

/// P0-20: even the superuser is refused UPDATE and TRUNCATE on the audit log by its triggers.
#[tokio::test]
async fn p0_20_audit_triggers_refuse_update_and_truncate_even_to_the_superuser() {
    let (app, org) = chain_of_five().await;
    let mut superuser = app.superuser_connection().await;
    let error = sqlx::query("update audit_events set payload = '{}' where org_id = $1 and seq = 2")
        .bind(org)
        .execute(&mut superuser)
        .await
        .unwrap_err();
    assert_is_refused_by_trigger(error, "update audit_events");
    let error = sqlx::query("update audit_checkpoints set first_seq = 2 where org_id = $1")
        .bind(org)
        .execute(&mut superuser)
        .await
        .unwrap_err();
    assert_is_refused_by_trigger(error, "update audit_checkpoints");
    for statement in ["truncate audit_events", "truncate audit_checkpoints"] {
        let error = sqlx::query(statement).execute(&mut superuser).await.unwrap_err();
        assert_is_refused_by_trigger(error, statement);
    }
    let verification = verify(&app, org).await;
    assert!(verification.is_intact(), "{verification:?}");
    assert_eq!(verification.events_checked, 5);
}

// ------------------------------------------------------------------ tamper detection

/// P0-20: a payload edited out of band (triggers disabled) breaks the chain at that row.
#[tokio::test]
async fn p0_20_edited_payload_is_detected_at_its_sequence() {
    let (app, org) = chain_of_five().await;
    let mut conn = tamperer(&app).await;
    let edited = sqlx::query("update audit_events set payload = '{\"n\": 20}' where org_id = $1 and seq = 2")
        .bind(org)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(edited.rows_affected(), 1);
    assert_eq!(broken_at(&verify(&app, org).await), Some(2));
}

/// P0-20: an action renamed out of band breaks the chain at that row.
#[tokio::test]
async fn p0_20_edited_action_is_detected_at_its_sequence() {
    let (app, org) = chain_of_five().await;
    let mut conn = tamperer(&app).await;
    let edited = sqlx::query("update audit_events set action = 'test.harmless' where org_id = $1 and seq = 2")
        .bind(org)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(edited.rows_affected(), 1);
    assert_eq!(broken_at(&verify(&app, org).await), Some(2));
}

/// P0-20: a row deleted from the middle of the chain is reported at its sequence number.
#[tokio::test]
async fn p0_20_deleted_middle_row_is_detected_at_its_sequence() {
    let (app, org) = chain_of_five().await;
    let mut conn = tamperer(&app).await;
    let deleted = sqlx::query("delete from audit_events where org_id = $1 and seq = 3")
        .bind(org)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 1);
    assert_eq!(broken_at(&verify(&app, org).await), Some(3));
}

/// P0-20: a row forged at the end of the chain (without the key, so with a made-up MAC) is reported.
#[tokio::test]
async fn p0_20_forged_row_at_the_end_is_detected_at_its_sequence() {
    let (app, org) = chain_of_five().await;
    let mut conn = tamperer(&app).await;
    sqlx::query(
        "insert into audit_events (org_id, seq, event_id, occurred_at, actor_kind, action, payload, mac)
         values ($1, 6, $2, $3, 'system', 'test.event', '{\"n\": 6}', $4)",
    )
    .bind(org)
    .bind(Uuid::now_v7())
    .bind(app.clock.now())
    .bind(rand::random::<[u8; 32]>().to_vec())
    .execute(&mut conn)
    .await
    .unwrap();
    assert_eq!(broken_at(&verify(&app, org).await), Some(6));
}

/// P0-20: removing the newest row is caught by the chain head.
#[tokio::test]
async fn p0_20_deleted_last_row_is_detected() {
    let (app, org) = chain_of_five().await;
    let mut conn = tamperer(&app).await;
    let deleted = sqlx::query("delete from audit_events where org_id = $1 and seq = 5")
        .bind(org)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 1);
    let verification = verify(&app, org).await;
    assert_eq!(broken_at(&verification), Some(5), "{verification:?}");
}

// ------------------------------------------------------------------ concurrency, months, keys

/// P0-20: concurrent appends to one org's chain serialize: sequence numbers 1..=N with no gap or
/// duplicate, one checkpoint, and the chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn p0_20_concurrent_appends_keep_the_chain_contiguous() {
    const N: usize = 25;
    let app = TestApp::spawn().await;
    let org = insert_org(&app).await;
    let barrier = Arc::new(Barrier::new(N));
    let mut tasks = Vec::new();
    for i in 0..N {
        let (db, audit, barrier) = (app.db.clone(), app.state.audit.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            // Wait before taking a connection: N exceeds the pool, so waiting after would deadlock.
            barrier.wait().await;
            let mut tx = db.begin_org(org, Actor::System).await.unwrap();
            let seq =
                audit.record(&mut tx, AuditEvent::new("test.concurrent").payload(json!({ "i": i }))).await.unwrap();
            tx.commit().await.unwrap();
            seq
        }));
    }
    let mut returned = Vec::new();
    for task in tasks {
        returned.push(task.await.unwrap());
    }
    returned.sort_unstable();
    let expected: Vec<i64> = (1..=N as i64).collect();
    assert_eq!(returned, expected);

    let rows = audit_rows(&app, org).await;
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), expected);
    let payloads: BTreeSet<String> = rows.iter().map(|r| r.payload.clone()).collect();
    assert_eq!(payloads.len(), N, "every append is its own row");

    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    let checkpoints: i64 =
        sqlx::query_scalar("select count(*) from audit_checkpoints").fetch_one(tx.conn()).await.unwrap();
    let head: i64 = sqlx::query_scalar("select last_seq from audit_chain_heads").fetch_one(tx.conn()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(checkpoints, 1);
    assert_eq!(head, N as i64);
    let verification = verify(&app, org).await;
    assert!(verification.is_intact(), "{verification:?}");
    assert_eq!(verification.events_checked, N as u64);
}

fn first_of_month(at: OffsetDateTime) -> Date {
    at.date().replace_day(1).unwrap()
}

/// Records three events in each of four consecutive months (40 days apart): `(month, sequence
/// numbers)` in order.
async fn four_months(app: &TestApp, org: OrgId) -> Vec<(Date, Vec<i64>)> {
    let mut months: Vec<(Date, Vec<i64>)> = Vec::new();
    for m in 0..4 {
        if m > 0 {
            app.clock.advance(Duration::days(40));
        }
        let month = first_of_month(app.clock.now());
        assert!(months.last().is_none_or(|(last, _)| *last < month));
        let mut seqs = Vec::new();
        for n in 0..3 {
            seqs.push(record(app, org, "test.monthly", json!({ "month": m, "n": n })).await);
        }
        months.push((month, seqs));
    }
    months
}

/// P0-20 (with P0-16 retention): each month's first event writes one checkpoint; once a month is
/// past retention, `AuditLog::purge` removes it (events and checkpoint) after appending a signed
/// `audit.purged` event, and the chain still verifies from there — while a row deleted from a
/// remaining month is still caught.
#[tokio::test]
async fn p0_20_a_purge_past_retention_keeps_the_chain_verifiable() {
    let app = TestApp::spawn().await;
    let org = insert_org(&app).await;
    let months = four_months(&app, org).await;

    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    let checkpoints: Vec<(Date, i64)> =
        sqlx::query_as("select month, first_seq from audit_checkpoints order by first_seq")
            .fetch_all(tx.conn())
            .await
            .unwrap();
    tx.commit().await.unwrap();
    let expected: Vec<(Date, i64)> = months.iter().map(|(month, seqs)| (*month, seqs[0])).collect();
    assert_eq!(checkpoints, expected, "one checkpoint per month, at its first event");
    assert!(verify(&app, org).await.is_intact());

    // A year on, the oldest month is past retention: purge it.
    app.clock.advance(Duration::days(400));
    let purged = app.state.audit.purge(&app.db, org, months[1].0).await.unwrap().expect("something to purge");
    assert_eq!((purged.through_seq, purged.events, purged.checkpoints, purged.purge_seq), (3, 3, 1, 13));
    let log = app.org_audit_log(org).await;
    assert_eq!(log.first().map(|e| e.seq), Some(4));
    let last = log.last().unwrap();
    assert_eq!((last.seq, last.action.as_str(), &last.payload["through_seq"]), (13, "audit.purged", &json!(3)));
    let verification = verify(&app, org).await;
    assert!(verification.is_intact(), "purging the oldest month broke the chain: {verification:?}");
    assert_eq!((verification.events_checked, verification.purged_through), (10, 3));
    // Nothing left to purge before that month.
    assert_eq!(app.state.audit.purge(&app.db, org, months[1].0).await.unwrap(), None);

    // Deleting one more event, inside a month that is kept, is tampering.
    let victim = months[2].1[1];
    let deleted = sqlx::query("delete from audit_events where org_id = $1 and seq = $2")
        .bind(org)
        .bind(victim)
        .execute(&mut tamperer(&app).await)
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 1);
    assert_eq!(broken_at(&verify(&app, org).await), Some(victim));
}

/// P0-16, P0-20: nothing inside the 12-month retention window can be purged.
#[tokio::test]
async fn p0_20_a_purge_inside_the_retention_window_is_refused() {
    let app = TestApp::spawn().await;
    let org = insert_org(&app).await;
    let months = four_months(&app, org).await;
    let error = app.state.audit.purge(&app.db, org, months[3].0).await.unwrap_err();
    assert!(matches!(error, kernel::audit::PurgeError::InsideRetention { .. }), "{error}");
    assert_eq!(app.org_audit_log(org).await.len(), 12);
    assert!(verify(&app, org).await.is_intact());
}

/// P0-20 (issue #10 item 3): the oldest months deleted out of band together with their
/// checkpoints — months well inside the retention window — are reported: only a recorded purge
/// makes missing rows legitimate, so the chain no longer silently starts at the oldest checkpoint.
#[tokio::test]
async fn p0_20_oldest_months_deleted_with_their_checkpoints_are_reported() {
    let app = TestApp::spawn().await;
    let org = insert_org(&app).await;
    let months = four_months(&app, org).await;
    let mut conn = tamperer(&app).await;
    let events = sqlx::query("delete from audit_events where org_id = $1 and seq < $2")
        .bind(org)
        .bind(months[2].1[0])
        .execute(&mut conn)
        .await
        .unwrap();
    let checkpoints = sqlx::query("delete from audit_checkpoints where org_id = $1 and month < $2")
        .bind(org)
        .bind(months[2].0)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!((events.rows_affected(), checkpoints.rows_affected()), (6, 2));
    let verification = verify(&app, org).await;
    assert_eq!(broken_at(&verification), Some(1), "{verification:?}");

    // The same after a genuine purge: rows missing before what it recorded are reported where they start.
    let app = TestApp::spawn().await;
    let org = insert_org(&app).await;
    let months = four_months(&app, org).await;
    app.clock.advance(Duration::days(400));
    app.state.audit.purge(&app.db, org, months[1].0).await.unwrap().expect("a purge");
    let events = sqlx::query("delete from audit_events where org_id = $1 and seq < $2")
        .bind(org)
        .bind(months[2].1[0])
        .execute(&mut tamperer(&app).await)
        .await
        .unwrap();
    assert_eq!(events.rows_affected(), 3);
    assert_eq!(broken_at(&verify(&app, org).await), Some(4));
}

/// P0-20 (issue #10 items 2 and 3): the schema owner — the `DATABASE_URL` role — can no longer
/// cut a chain with plain SQL: deleting events or checkpoints without a recorded purge, deleting
/// or truncating a chain head, re-inserting it at an earlier sequence or rewinding it are refused;
/// and a forged purge event (the owner has no master key) does not open the way unnoticed.
#[tokio::test]
async fn p0_20_the_schema_owner_cannot_cut_a_chain_with_plain_sql() {
    let (app, org) = chain_of_five().await;
    let mut owner = app.connect_options(OWNER_ROLE).connect().await.unwrap();
    let mac3: Vec<u8> = sqlx::query_scalar("select mac from audit_events where org_id = $1 and seq = 3")
        .bind(org)
        .fetch_one(&mut owner)
        .await
        .unwrap();
    // (statement, whether it takes the MAC of event 3 as $2)
    let statements = [
        ("delete from audit_events where org_id = $1 and seq > 3", false),
        ("delete from audit_checkpoints where org_id = $1", false),
        ("delete from audit_chain_heads where org_id = $1", false),
        ("update audit_chain_heads set last_seq = 3, last_mac = $2 where org_id = $1", true),
        (
            "insert into audit_chain_heads (org_id, last_seq, last_mac) values ($1, 3, $2)
             on conflict (org_id) do update set last_seq = 3, last_mac = $2",
            true,
        ),
    ];
    for (statement, takes_mac) in statements {
        let query = sqlx::query(sqlx::AssertSqlSafe(statement)).bind(org);
        let query = if takes_mac { query.bind(&mac3) } else { query };
        let error = query.execute(&mut owner).await.expect_err(statement);
        assert_is_permission_denied_or_refused(error, statement);
    }
    for statement in ["truncate audit_chain_heads", "truncate audit_events", "truncate audit_checkpoints"] {
        let error = sqlx::query(statement).execute(&mut owner).await.expect_err(statement);
        assert_is_refused_by_trigger(error, statement);
    }
    assert!(verify(&app, org).await.is_intact());

    // An `audit.purged` event forged without the key lets the owner's DELETE through the trigger,
    // but the chain reports the forgery.
    let mut tx = app.db.begin_platform("test: forge a purge").await.unwrap();
    sqlx::query(
        "insert into audit_events (org_id, seq, event_id, occurred_at, actor_kind, action, payload, mac)
         values ($1, 6, $2, $3, 'system', 'audit.purged', $4, $5)",
    )
    .bind(org)
    .bind(Uuid::now_v7())
    .bind(app.clock.now())
    .bind(json!({ "through_seq": 5, "through_mac": hex::encode([0u8; 32]) }))
    .bind(rand::random::<[u8; 32]>().to_vec())
    .execute(tx.conn())
    .await
    .unwrap();
    let mac6: Vec<u8> = sqlx::query_scalar("select mac from audit_events where org_id = $1 and seq = 6")
        .bind(org)
        .fetch_one(tx.conn())
        .await
        .unwrap();
    sqlx::query("update audit_chain_heads set last_seq = 6, last_mac = $2 where org_id = $1")
        .bind(org)
        .bind(&mac6)
        .execute(tx.conn())
        .await
        .unwrap();
    let deleted = sqlx::query("delete from audit_events where org_id = $1 and seq <= 5")
        .bind(org)
        .execute(tx.conn())
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 5);
    tx.commit().await.unwrap();
    let verification = verify(&app, org).await;
    assert_eq!(broken_at(&verification), Some(6), "a forged purge passed: {verification:?}");
}

/// P0-20 (issue #10 item 2): with the triggers off (a superuser, or an owner who disables them),
/// the newest events deleted and the head rewound onto the last kept one look intact from inside
/// the database — the documented limit — but not against an anchor taken before: the cut is
/// reported at the first missing sequence number. An anchor still reached verifies.
#[tokio::test]
async fn p0_20_a_chain_cut_back_to_an_earlier_head_is_caught_by_its_anchor() {
    let (app, org) = chain_of_five().await;
    let mut platform = app.db.begin_platform("test: anchor").await.unwrap();
    let anchor = app.state.audit.head(platform.conn(), org).await.unwrap().expect("a head");
    platform.commit().await.unwrap();
    assert_eq!(anchor.seq, 5);
    let line = app.state.audit.anchor_line(&anchor);
    let anchor = app.state.audit.parse_anchor(&line).unwrap();
    assert!(verify_anchored(&app, org, &anchor).await.is_intact());

    let mut conn = tamperer(&app).await;
    sqlx::query("delete from audit_events where org_id = $1 and seq > 3").bind(org).execute(&mut conn).await.unwrap();
    let rewound = sqlx::query(
        "update audit_chain_heads h set last_seq = 3, last_mac = e.mac from audit_events e
         where h.org_id = $1 and e.org_id = h.org_id and e.seq = 3",
    )
    .bind(org)
    .execute(&mut conn)
    .await
    .unwrap();
    assert_eq!(rewound.rows_affected(), 1);

    assert!(verify(&app, org).await.is_intact(), "inside the database, a consistent cut is invisible");
    let verification = verify_anchored(&app, org, &anchor).await;
    assert_eq!(broken_at(&verification), Some(4), "{verification:?}");

    // Events appended after the anchor do not trouble it; a different event at its sequence does.
    let (app, org) = chain_of_five().await;
    let mut platform = app.db.begin_platform("test: anchor").await.unwrap();
    let anchor = app.state.audit.head(platform.conn(), org).await.unwrap().expect("a head");
    platform.commit().await.unwrap();
    record(&app, org, "test.after", json!({})).await;
    assert!(verify_anchored(&app, org, &anchor).await.is_intact());
    let other = kernel::audit::Anchor { mac: vec![9; 32], ..anchor };
    assert_eq!(broken_at(&verify_anchored(&app, org, &other).await), Some(5));
}

/// P0-20 (issue #10 item 3): a deleted organization's chain keeps its head: its events stay
/// listed and verifiable (and removing them is still caught) until, past retention, a purge
/// removes them and leaves its signed record as the chain's one event.
#[tokio::test]
async fn p0_20_a_deleted_organizations_chain_stays_verifiable() {
    let (app, org) = chain_of_five().await;
    let mut platform = app.db.begin_platform("test: delete an organization").await.unwrap();
    let deleted =
        sqlx::query("delete from organizations where org_id = $1").bind(org).execute(platform.conn()).await.unwrap();
    assert_eq!(deleted.rows_affected(), 1);
    let chains = kernel::audit::AuditLog::chains(platform.conn()).await.unwrap();
    platform.commit().await.unwrap();
    assert!(chains.contains(&(org, false)), "the deleted organization's chain is not listed: {chains:?}");
    let verification = verify(&app, org).await;
    assert!(verification.is_intact(), "{verification:?}");
    assert_eq!(verification.events_checked, 5);

    // Past retention, its whole chain is purged: the purge event remains, and verifies.
    app.clock.advance(Duration::days(400));
    let cut = kernel::audit::retention_start(app.clock.now().date());
    let purged = app.state.audit.purge(&app.db, org, cut).await.unwrap().expect("a purge");
    assert_eq!((purged.through_seq, purged.events, purged.purge_seq), (5, 5, 6));
    let verification = verify(&app, org).await;
    assert!(verification.is_intact(), "{verification:?}");
    assert_eq!((verification.events_checked, verification.purged_through), (1, 5));

    // Removing what is left of a deleted organization's chain is still caught.
    let (app, org) = chain_of_five().await;
    let mut platform = app.db.begin_platform("test: delete an organization").await.unwrap();
    sqlx::query("delete from organizations where org_id = $1").bind(org).execute(platform.conn()).await.unwrap();
    platform.commit().await.unwrap();
    sqlx::query("delete from audit_events where org_id = $1 and seq >= 4")
        .bind(org)
        .execute(&mut tamperer(&app).await)
        .await
        .unwrap();
    assert_eq!(broken_at(&verify(&app, org).await), Some(4));
}

/// P0-07: the chain's key derives from the master key: verified under another master key, an
/// intact chain is reported broken from its first row.
#[tokio::test]
async fn p0_07_another_master_key_cannot_verify_the_chain() {
    let (app, org) = chain_of_five().await;
    let other_key = Arc::new(MasterKey::parse(&MasterKey::generate_base64()).unwrap());
    let other = AuditLog::new(other_key, app.clock.clone());
    let verification = verify_with(&app, &other, org).await;
    assert_eq!(broken_at(&verification), Some(1), "{verification:?}");
    // The right key still verifies it.
    assert!(verify(&app, org).await.is_intact());
}

/// P0-07: whoever can write to the database but lacks the master key cannot append a valid event:
/// one appended through the normal code path under another key is reported at its sequence.
#[tokio::test]
async fn p0_07_event_appended_without_the_master_key_is_detected() {
    let (app, org) = chain_of_five().await;
    let other_key = Arc::new(MasterKey::parse(&MasterKey::generate_base64()).unwrap());
    let forger = AuditLog::new(other_key, app.clock.clone());
    let seq = forger
        .record_now(&app.db, org, Actor::System, AuditEvent::new("test.forged").payload(json!({ "n": 6 })))
        .await
        .unwrap();
    assert_eq!(seq, 6);
    assert_eq!(broken_at(&verify(&app, org).await), Some(6));
}
