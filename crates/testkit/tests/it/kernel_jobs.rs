//! The job queue: transactional enqueue, idempotency keys, tenant-scoped handlers, retries with
//! backoff, leases that survive a dead worker, and `SKIP LOCKED` claiming across workers.
//! Tests call `Worker::tick` directly; nothing polls or sleeps.

// Helpers outside `#[test]` functions fail loudly too; clippy.toml only exempts test bodies.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kernel::OrgId;
use kernel::audit::{AuditEvent, AuditLog};
use kernel::db::Actor;
use kernel::ids::JobId;
use kernel::jobs::{GiveUp, JobLimits, JobRun, NewJob, Registry, Tick, Worker, enqueue};
use serde_json::{Value, json};
use testkit::TestApp;
use time::{Duration, OffsetDateTime};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// An organization with `members` users, created with SQL in its tenant transaction.
async fn org_with_users(app: &TestApp, members: usize) -> OrgId {
    let org = OrgId::new();
    let now = app.clock.now();
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    sqlx::query("insert into organizations (org_id, name, created_at) values ($1, 'Jobs test org', $2)")
        .bind(org)
        .bind(now)
        .execute(tx.conn())
        .await
        .unwrap();
    for i in 0..members {
        sqlx::query(
            "insert into users (org_id, user_id, email, first_name, last_name, job_title, org_role, password_hash,
                                adult_attested_at, created_at, updated_at)
             values ($1, $2, $3, 'Test', 'Member', 'Tester', $4, $5, $6, $6, $6)",
        )
        .bind(org)
        .bind(Uuid::now_v7())
        .bind(format!("member{i}@{org}.example.eu"))
        .bind(if i == 0 { "owner" } else { "user" })
        .bind("$2b$04$unusedunusedunusedunuseOunusedunusedunusedunusedunuse")
        .bind(now)
        .execute(tx.conn())
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    org
}

async fn enqueue_committed(app: &TestApp, org: OrgId, job: NewJob) -> JobId {
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    let id = enqueue(&mut tx, &app.clock, job).await.unwrap();
    tx.commit().await.unwrap();
    id
}

/// A worker that dies in the middle of the job `id` (of `kind`): its handler starts, then its task
/// is killed. The job stays leased to the dead worker; returns once its transaction is gone.
async fn crash_a_worker_mid_job(app: &TestApp, org: OrgId, id: JobId, kind: &'static str) {
    let (started_tx, mut started) = mpsc::unbounded_channel::<()>();
    let mut hanging = Registry::default();
    hanging.register(kind, move |run: JobRun| {
        let started_tx = started_tx.clone();
        async move {
            let _ = started_tx.send(());
            std::future::pending::<()>().await;
            Ok(run.tx)
        }
    });
    let doomed = Worker::new(app.db.clone(), app.clock.clone(), hanging);
    let crashed = tokio::spawn(async move { doomed.tick(1).await });
    started.recv().await.unwrap();
    crashed.abort();
    assert!(crashed.await.unwrap_err().is_cancelled());
    wait_until_job_row_is_free(app, org, id).await;
}

/// Waits until no transaction holds a lock on the job's row: an aborted worker's transaction is
/// rolled back by the pool in the background, and until then the queue rightly skips the row.
/// Bounded, so a lock that is never released fails the test instead of hanging it.
async fn wait_until_job_row_is_free(app: &TestApp, org: OrgId, id: JobId) {
    let mut conn = app.superuser_connection().await;
    let wait = async {
        sqlx::query("begin").execute(&mut conn).await.unwrap();
        sqlx::query("select 1 from jobs where org_id = $1 and job_id = $2 for update")
            .bind(org)
            .bind(id)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        sqlx::query("commit").execute(&mut conn).await.unwrap();
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), wait).await.expect("the job's row stayed locked");
}

#[derive(sqlx::FromRow, Debug)]
struct JobRow {
    status: String,
    attempts: i32,
    run_at: OffsetDateTime,
    locked_by: Option<String>,
    last_error: Option<String>,
    finished_at: Option<OffsetDateTime>,
}

async fn job_row(app: &TestApp, org: OrgId, id: JobId) -> JobRow {
    let mut tx = app.db.begin_platform("test: inspect a job").await.unwrap();
    let row = sqlx::query_as(
        "select status, attempts, run_at, locked_by, last_error, finished_at from jobs where org_id = $1 and job_id = $2",
    )
    .bind(org)
    .bind(id)
    .fetch_one(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
    row
}

async fn count_jobs(app: &TestApp) -> i64 {
    let mut tx = app.db.begin_platform("test: count jobs").await.unwrap();
    let count = sqlx::query_scalar("select count(*) from jobs").fetch_one(tx.conn()).await.unwrap();
    tx.commit().await.unwrap();
    count
}

/// A handler that records `test.job_ran` (with the payload's `worker`) in the job's org.
fn audit_writing_handler(
    registry: &mut Registry,
    kind: &'static str,
    audit: AuditLog,
    runs: Arc<Mutex<HashMap<JobId, u32>>>,
) {
    registry.register(kind, move |mut run: JobRun| {
        let (audit, runs) = (audit.clone(), runs.clone());
        async move {
            audit
                .record(
                    &mut run.tx,
                    AuditEvent::new("test.job_ran").target("job", run.job_id.0).payload(run.payload.clone()),
                )
                .await?;
            *runs.lock().unwrap().entry(run.job_id).or_default() += 1;
            Ok(run.tx)
        }
    });
}

/// A job enqueued in a rolled-back transaction never exists; a committed one runs exactly once,
/// inside its own org's tenant transaction (it sees its org's users, not another org's), and its
/// writes commit together with its `done` status.
#[tokio::test]
async fn job_exists_only_if_enqueued_in_a_committed_transaction_and_runs_once_inside_its_org() {
    let app = TestApp::spawn().await;
    let (org, other) = (org_with_users(&app, 2).await, org_with_users(&app, 3).await);

    let seen: Arc<Mutex<Vec<(OrgId, i64, i64)>>> = Arc::default();
    let mut registry = Registry::default();
    let (audit, log) = (app.state.audit.clone(), seen.clone());
    registry.register("test.count_users", move |mut run: JobRun| {
        let (audit, log) = (audit.clone(), log.clone());
        async move {
            let own: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(run.tx.conn()).await?;
            let other: Uuid = run.payload["other"].as_str().unwrap_or_default().parse()?;
            let theirs: i64 = sqlx::query_scalar("select count(*) from users where org_id = $1")
                .bind(other)
                .fetch_one(run.tx.conn())
                .await?;
            audit.record(&mut run.tx, AuditEvent::new("test.job_ran").target("job", run.job_id.0)).await?;
            log.lock().unwrap().push((run.tx.org(), own, theirs));
            Ok(run.tx)
        }
    });
    let worker = Worker::new(app.db.clone(), app.clock.clone(), registry);
    let job = || NewJob::new("test.count_users", "count-1", json!({ "other": other.0 }));

    let mut rolled_back = app.db.begin_org(org, Actor::System).await.unwrap();
    enqueue(&mut rolled_back, &app.clock, job()).await.unwrap();
    drop(rolled_back);
    assert_eq!(count_jobs(&app).await, 0);
    assert_eq!(worker.tick(10).await.unwrap(), Tick::default());
    assert!(seen.lock().unwrap().is_empty());

    let id = enqueue_committed(&app, org, job()).await;
    assert_eq!(worker.tick(10).await.unwrap(), Tick { claimed: 1, succeeded: 1, failed: 0 });
    assert_eq!(worker.tick(10).await.unwrap(), Tick::default(), "a done job ran again");
    assert_eq!(*seen.lock().unwrap(), [(org, 2, 0)]);

    let row = job_row(&app, org, id).await;
    assert_eq!((row.status.as_str(), row.attempts), ("done", 1), "{row:?}");
    assert!(row.finished_at.is_some() && row.locked_by.is_none() && row.last_error.is_none(), "{row:?}");
    let events = app.org_audit_log(org).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((events[0].action.as_str(), events[0].actor_kind.as_str()), ("test.job_ran", "system"));
    assert!(app.org_audit_log(other).await.is_empty());
}

/// Enqueueing twice with the same idempotency key yields the same job, which runs once; another
/// key is another job; the key still answers once the job is done, without running it again.
#[tokio::test]
async fn job_idempotency_key_yields_the_same_job_which_runs_once() {
    let app = TestApp::spawn().await;
    let org = org_with_users(&app, 1).await;
    let runs: Arc<Mutex<HashMap<JobId, u32>>> = Arc::default();
    let mut registry = Registry::default();
    audit_writing_handler(&mut registry, "test.welcome", app.state.audit.clone(), runs.clone());
    let worker = Worker::new(app.db.clone(), app.clock.clone(), registry);

    let first = enqueue_committed(&app, org, NewJob::new("test.welcome", "welcome-1", json!({ "try": 1 }))).await;
    let second = enqueue_committed(&app, org, NewJob::new("test.welcome", "welcome-1", json!({ "try": 2 }))).await;
    assert_eq!(first, second);
    let other = enqueue_committed(&app, org, NewJob::new("test.welcome", "welcome-2", json!({ "try": 3 }))).await;
    assert_ne!(first, other);
    assert_eq!(count_jobs(&app).await, 2);

    assert_eq!(worker.tick(10).await.unwrap(), Tick { claimed: 2, succeeded: 2, failed: 0 });
    let again = enqueue_committed(&app, org, NewJob::new("test.welcome", "welcome-1", json!({ "try": 4 }))).await;
    assert_eq!(again, first);
    assert_eq!(worker.tick(10).await.unwrap(), Tick::default());
    assert_eq!(*runs.lock().unwrap(), HashMap::from([(first, 1), (other, 1)]));
    // The first enqueue's payload is the one that ran.
    let payloads: Vec<Value> = app.org_audit_log(org).await.into_iter().map(|e| e.payload).collect();
    assert!(payloads.contains(&json!({ "try": 1 })) && !payloads.contains(&json!({ "try": 2 })), "{payloads:?}");
}

/// A failing job goes back to `queued` with a later `run_at` (backoff), is not claimed before it,
/// is retried once the clock reaches it, and after `max_attempts` stays `failed` with its error.
/// The handler's writes from failed attempts are rolled back.
#[tokio::test]
async fn job_failures_retry_with_backoff_then_fail_and_roll_back_their_writes() {
    let app = TestApp::spawn().await;
    let org = org_with_users(&app, 1).await;
    let attempts: Arc<Mutex<Vec<i32>>> = Arc::default();
    let mut registry = Registry::default();
    let (audit, seen) = (app.state.audit.clone(), attempts.clone());
    registry.register("test.flaky", move |mut run: JobRun| {
        let (audit, seen) = (audit.clone(), seen.clone());
        async move {
            audit.record(&mut run.tx, AuditEvent::new("test.partial_work")).await?;
            seen.lock().unwrap().push(run.attempt);
            anyhow::bail!("upstream said boom on attempt {}", run.attempt)
        }
    });
    let worker = Worker::new(app.db.clone(), app.clock.clone(), registry);
    let job = NewJob { max_attempts: 2, ..NewJob::new("test.flaky", "flaky-1", json!({})) };
    let id = enqueue_committed(&app, org, job).await;

    let t0 = app.clock.now();
    assert_eq!(worker.tick(10).await.unwrap(), Tick { claimed: 1, succeeded: 0, failed: 1 });
    let row = job_row(&app, org, id).await;
    assert_eq!((row.status.as_str(), row.attempts), ("queued", 1), "{row:?}");
    // backoff(1) is 2 s ± 20 %.
    let wait = row.run_at - t0;
    assert!(wait >= Duration::milliseconds(1500) && wait <= Duration::milliseconds(2500), "backoff {wait}");
    assert!(row.last_error.as_deref().unwrap_or_default().contains("boom on attempt 1"), "{row:?}");
    assert!(row.locked_by.is_none() && row.finished_at.is_none(), "{row:?}");

    assert_eq!(worker.tick(10).await.unwrap(), Tick::default(), "claimed before its run_at");

    app.clock.advance(Duration::seconds(3));
    assert_eq!(worker.tick(10).await.unwrap(), Tick { claimed: 1, succeeded: 0, failed: 1 });
    let row = job_row(&app, org, id).await;
    assert_eq!((row.status.as_str(), row.attempts), ("failed", 2), "{row:?}");
    assert!(row.last_error.as_deref().unwrap_or_default().contains("boom on attempt 2"), "{row:?}");
    assert!(row.finished_at.is_some() && row.locked_by.is_none(), "{row:?}");

    app.clock.advance(Duration::hours(2));
    assert_eq!(worker.tick(10).await.unwrap(), Tick::default(), "a failed job was retried");
    assert_eq!(*attempts.lock().unwrap(), [1, 2]);
    assert!(app.org_audit_log(org).await.is_empty(), "a failed attempt's writes were committed");
}

/// A worker that dies while running a job (its task is killed mid-handler) leaves the job leased;
/// another worker leaves it alone until the lease runs out (30 s), then runs it, exactly once.
#[tokio::test]
async fn job_of_a_dead_worker_is_taken_over_after_a_30_second_lease_and_runs_once() {
    let app = TestApp::spawn().await;
    let org = org_with_users(&app, 1).await;
    let id = enqueue_committed(&app, org, NewJob::new("test.once", "once-1", json!({ "worker": "survivor" }))).await;

    crash_a_worker_mid_job(&app, org, id, "test.once").await;

    let row = job_row(&app, org, id).await;
    assert_eq!((row.status.as_str(), row.attempts), ("running", 1), "{row:?}");
    assert!(row.locked_by.is_some(), "{row:?}");

    let runs: Arc<Mutex<HashMap<JobId, u32>>> = Arc::default();
    let mut registry = Registry::default();
    audit_writing_handler(&mut registry, "test.once", app.state.audit.clone(), runs.clone());
    let survivor = Worker::new(app.db.clone(), app.clock.clone(), registry);
    assert_eq!(survivor.tick(10).await.unwrap(), Tick::default(), "took a job whose lease is still valid");

    // The lease is 30 s (it was 5 minutes): a killed worker's job is taken over within half a minute.
    app.clock.advance(Duration::seconds(31));
    assert_eq!(survivor.tick(10).await.unwrap(), Tick { claimed: 1, succeeded: 1, failed: 0 });
    assert_eq!(survivor.tick(10).await.unwrap(), Tick::default());
    assert_eq!(*runs.lock().unwrap(), HashMap::from([(id, 1)]));
    let row = job_row(&app, org, id).await;
    assert_eq!((row.status.as_str(), row.attempts), ("done", 2), "{row:?}");
    assert_eq!(app.org_audit_log(org).await.len(), 1);
}

/// A worker still busy with a job keeps it, even past the lease: it holds the job's row lock for as
/// long as its tenant transaction is open, so other workers skip the job instead of running it a
/// second time. (Takeover happens only when the holder's connection dies — see the test above.)
#[tokio::test]
async fn job_held_by_a_live_worker_is_not_taken_over_even_after_its_lease() {
    let app = TestApp::spawn().await;
    let org = org_with_users(&app, 1).await;
    let id = enqueue_committed(&app, org, NewJob::new("test.slow", "slow-1", json!({}))).await;

    let (started_tx, mut started) = mpsc::unbounded_channel::<()>();
    let (proceed_tx, proceed) = oneshot::channel::<()>();
    let proceed = Arc::new(Mutex::new(Some(proceed)));
    let mut slow = Registry::default();
    let audit = app.state.audit.clone();
    slow.register("test.slow", move |mut run: JobRun| {
        let (started_tx, proceed, audit) = (started_tx.clone(), proceed.clone(), audit.clone());
        async move {
            let _ = started_tx.send(());
            let wait = proceed.lock().unwrap().take();
            if let Some(wait) = wait {
                wait.await?;
            }
            audit.record(&mut run.tx, AuditEvent::new("test.job_ran").payload(json!({ "worker": "slow" }))).await?;
            Ok(run.tx)
        }
    });
    let slow_worker = Worker::new(app.db.clone(), app.clock.clone(), slow);
    let slow_tick = tokio::spawn(async move { slow_worker.tick(1).await });
    started.recv().await.unwrap();

    let runs: Arc<Mutex<HashMap<JobId, u32>>> = Arc::default();
    let mut registry = Registry::default();
    audit_writing_handler(&mut registry, "test.slow", app.state.audit.clone(), runs.clone());
    let other = Worker::new(app.db.clone(), app.clock.clone(), registry);
    app.clock.advance(Duration::minutes(5) + Duration::seconds(1));
    assert_eq!(other.tick(10).await.unwrap(), Tick::default(), "took over a job its live worker was running");

    proceed_tx.send(()).unwrap();
    assert_eq!(slow_tick.await.unwrap().unwrap(), Tick { claimed: 1, succeeded: 1, failed: 0 });
    assert_eq!(other.tick(10).await.unwrap(), Tick::default(), "ran a finished job again");
    assert!(runs.lock().unwrap().is_empty());

    let row = job_row(&app, org, id).await;
    assert_eq!((row.status.as_str(), row.attempts), ("done", 1), "{row:?}");
    let events = app.org_audit_log(org).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].payload, json!({ "worker": "slow" }), "{events:?}");
}

/// Two workers claiming concurrently (`FOR UPDATE SKIP LOCKED`) run each of 20 jobs exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_claimed_by_two_concurrent_workers_run_exactly_once() {
    const BATCH: i64 = 4;
    let app = TestApp::spawn().await;
    let orgs = [org_with_users(&app, 1).await, org_with_users(&app, 1).await];
    let mut ids = Vec::new();
    for i in 0..20 {
        let org = orgs[i % 2];
        ids.push(enqueue_committed(&app, org, NewJob::new("test.count", format!("job-{i}"), json!({ "i": i }))).await);
    }
    let runs: Arc<Mutex<HashMap<JobId, u32>>> = Arc::default();
    let mut registry = Registry::default();
    let counter = runs.clone();
    registry.register("test.count", move |run: JobRun| {
        let counter = counter.clone();
        async move {
            *counter.lock().unwrap().entry(run.job_id).or_default() += 1;
            Ok(run.tx)
        }
    });
    let first = Worker::new(app.db.clone(), app.clock.clone(), registry.clone());
    let second = Worker::new(app.db.clone(), app.clock.clone(), registry);

    let mut claimed = 0;
    for _ in 0..20 {
        let (a, b) = tokio::join!(first.tick(BATCH), second.tick(BATCH));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a.claimed as i64 <= BATCH && b.claimed as i64 <= BATCH, "{a:?} {b:?}");
        assert_eq!((a.failed, b.failed), (0, 0), "{a:?} {b:?}");
        claimed += a.claimed + b.claimed;
        if a.claimed + b.claimed == 0 {
            break;
        }
    }
    assert_eq!(claimed, 20);
    let runs = runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 20);
    assert!(ids.iter().all(|id| runs.get(id) == Some(&1)), "{runs:?}");
    assert_eq!(runs.values().sum::<u32>(), 20);
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(job_row(&app, orgs[i % 2], *id).await.status, "done");
    }
}

/// A job of a kind no handler is registered for fails with an error naming the kind: retried
/// while attempts remain, then `failed`.
#[tokio::test]
async fn job_of_unknown_kind_fails_naming_the_kind() {
    let app = TestApp::spawn().await;
    let org = org_with_users(&app, 1).await;
    let retried = enqueue_committed(&app, org, NewJob::new("test.no_such_kind", "unknown-1", json!({}))).await;
    let last_try = NewJob { max_attempts: 1, ..NewJob::new("test.no_such_kind", "unknown-2", json!({})) };
    let given_up = enqueue_committed(&app, org, last_try).await;
    let worker = Worker::new(app.db.clone(), app.clock.clone(), Registry::default());

    let now = app.clock.now();
    assert_eq!(worker.tick(10).await.unwrap(), Tick { claimed: 2, succeeded: 0, failed: 2 });
    let row = job_row(&app, org, retried).await;
    assert_eq!((row.status.as_str(), row.attempts), ("queued", 1), "{row:?}");
    assert!(row.run_at > now, "{row:?}");
    assert!(row.last_error.as_deref().unwrap_or_default().contains("test.no_such_kind"), "{row:?}");
    let row = job_row(&app, org, given_up).await;
    assert_eq!((row.status.as_str(), row.attempts), ("failed", 1), "{row:?}");
    assert!(row.last_error.as_deref().unwrap_or_default().contains("test.no_such_kind"), "{row:?}");
    assert!(row.finished_at.is_some(), "{row:?}");
}

/// A handler that locks its org's users (`for update`), reporting when it starts and when it got
/// the lock, then records `test.job_ran`.
fn locking_handler(registry: &mut Registry, audit: AuditLog, events: mpsc::UnboundedSender<(&'static str, OrgId)>) {
    registry.register("test.lock_users", move |mut run: JobRun| {
        let (audit, events) = (audit.clone(), events.clone());
        async move {
            let org = run.tx.org();
            let _ = events.send(("started", org));
            sqlx::query("select 1 from users where org_id = $1 for update").bind(org).fetch_all(run.tx.conn()).await?;
            audit.record(&mut run.tx, AuditEvent::new("test.job_ran").target("job", run.job_id.0)).await?;
            let _ = events.send(("locked", org));
            Ok(run.tx)
        }
    });
}

/// Holds the row locks of `org`'s users in a transaction of the test's own until it is dropped.
async fn lock_users(app: &TestApp, org: OrgId) -> sqlx::PgConnection {
    let mut conn = app.superuser_connection().await;
    sqlx::query("begin").execute(&mut conn).await.unwrap();
    sqlx::query("select 1 from users where org_id = $1 for update").bind(org).fetch_all(&mut conn).await.unwrap();
    conn
}

/// One org's job blocked on a row lock does not hold up another org's: both are claimed together
/// and run concurrently, and org B's job finishes while org A's is still waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_orgs_job_runs_while_one_orgs_job_is_blocked_on_a_lock() {
    let app = TestApp::spawn().await;
    let (a, b) = (org_with_users(&app, 1).await, org_with_users(&app, 1).await);
    enqueue_committed(&app, a, NewJob::new("test.lock_users", "a-1", json!({}))).await;
    app.clock.advance(Duration::seconds(1));
    let b_job = enqueue_committed(&app, b, NewJob::new("test.lock_users", "b-1", json!({}))).await;
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let mut registry = Registry::default();
    locking_handler(&mut registry, app.state.audit.clone(), events_tx);
    // A lock timeout far longer than the test: org A's job waits until the test lets it go.
    let limits = JobLimits { lock_timeout: std::time::Duration::from_secs(600), ..JobLimits::default() };
    let worker = Worker::new(app.db.clone(), app.clock.clone(), registry).with_limits(limits);

    let mut holder = lock_users(&app, a).await;
    let tick = tokio::spawn(async move { worker.tick(10).await });
    let mut seen = Vec::new();
    // Bounded so the test fails (rather than hangs) if B waits behind A.
    let wait = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(event) = events.recv().await {
            seen.push(event);
            // Either job may start first; B must get its lock while A is still stuck on its own.
            if seen.contains(&("locked", b)) && seen.contains(&("started", a)) {
                return;
            }
        }
    });
    assert!(wait.await.is_ok(), "org B's job did not run while org A's was blocked: {seen:?}");
    assert!(!seen.contains(&("locked", a)), "{seen:?}");
    // B's handler has returned; its worker commits right after (the job's row stays locked until).
    wait_until_job_row_is_free(&app, b, b_job).await;
    assert_eq!(app.org_audit_log(b).await.len(), 1, "org B's job committed");

    sqlx::query("commit").execute(&mut holder).await.unwrap();
    assert_eq!(tick.await.unwrap().unwrap(), Tick { claimed: 2, succeeded: 2, failed: 0 });
    assert_eq!(app.org_audit_log(a).await.len(), 1);
}

/// A job waiting on a lock is cancelled by the database at the job transaction's `lock_timeout`:
/// the job fails with that reason (and is retried later) and its worker is free again, while the
/// lock is still held.
#[tokio::test]
async fn job_blocked_on_a_lock_fails_at_the_lock_timeout_and_frees_its_worker() {
    let app = TestApp::spawn().await;
    let org = org_with_users(&app, 1).await;
    let id = enqueue_committed(&app, org, NewJob::new("test.lock_users", "blocked-1", json!({}))).await;
    let (events_tx, _events) = mpsc::unbounded_channel();
    let mut registry = Registry::default();
    locking_handler(&mut registry, app.state.audit.clone(), events_tx);
    let limits = JobLimits { lock_timeout: std::time::Duration::from_millis(200), ..JobLimits::default() };
    let worker = Worker::new(app.db.clone(), app.clock.clone(), registry).with_limits(limits);

    let mut holder = lock_users(&app, org).await;
    let tick = tokio::time::timeout(std::time::Duration::from_secs(60), worker.tick(10)).await;
    let tick = tick.expect("the worker stayed blocked on the lock").unwrap();
    assert_eq!(tick, Tick { claimed: 1, succeeded: 0, failed: 1 });
    let row = job_row(&app, org, id).await;
    assert_eq!((row.status.as_str(), row.attempts), ("queued", 1), "{row:?}");
    assert!(row.last_error.as_deref().unwrap_or_default().contains("lock timeout"), "{row:?}");
    assert!(app.org_audit_log(org).await.is_empty());

    sqlx::query("commit").execute(&mut holder).await.unwrap();
    app.clock.advance(Duration::seconds(5));
    assert_eq!(worker.tick(10).await.unwrap(), Tick { claimed: 1, succeeded: 1, failed: 0 });
}

/// Claims are fair between organizations: with five jobs of org A queued before org B's one, a
/// claim of two takes A's oldest and B's, not A's two oldest.
#[tokio::test]
async fn each_claim_takes_the_oldest_due_job_of_every_org_first() {
    let app = TestApp::spawn().await;
    let (a, b) = (org_with_users(&app, 1).await, org_with_users(&app, 1).await);
    for i in 0..5 {
        enqueue_committed(&app, a, NewJob::new("test.count", format!("a-{i}"), json!({ "i": i }))).await;
        app.clock.advance(Duration::seconds(1));
    }
    let b_job = enqueue_committed(&app, b, NewJob::new("test.count", "b-0", json!({}))).await;
    let ran: Arc<Mutex<Vec<(OrgId, JobId)>>> = Arc::default();
    let mut registry = Registry::default();
    let log = ran.clone();
    registry.register("test.count", move |run: JobRun| {
        let log = log.clone();
        async move {
            log.lock().unwrap().push((run.tx.org(), run.job_id));
            Ok(run.tx)
        }
    });
    let worker = Worker::new(app.db.clone(), app.clock.clone(), registry);
    assert_eq!(worker.tick(2).await.unwrap(), Tick { claimed: 2, succeeded: 2, failed: 0 });
    let ran = ran.lock().unwrap().clone();
    assert!(ran.contains(&(b, b_job)), "org B waited behind org A's backlog: {ran:?}");
    assert_eq!(ran.iter().filter(|(org, _)| *org == a).count(), 1, "{ran:?}");
}

/// While a job runs, its worker renews the lease (heartbeat), so the lease stays ahead of the
/// clock however long the job takes.
#[tokio::test]
async fn a_running_job_renews_its_lease_by_heartbeat() {
    let app = TestApp::spawn().await;
    let org = org_with_users(&app, 1).await;
    let id = enqueue_committed(&app, org, NewJob::new("test.slow", "slow-hb", json!({}))).await;
    let (started_tx, mut started) = mpsc::unbounded_channel::<()>();
    let (proceed_tx, proceed) = oneshot::channel::<()>();
    let proceed = Arc::new(Mutex::new(Some(proceed)));
    let mut registry = Registry::default();
    registry.register("test.slow", move |run: JobRun| {
        let (started_tx, proceed) = (started_tx.clone(), proceed.clone());
        async move {
            let _ = started_tx.send(());
            let wait = proceed.lock().unwrap().take();
            if let Some(wait) = wait {
                wait.await?;
            }
            Ok(run.tx)
        }
    });
    let limits = JobLimits { heartbeat: std::time::Duration::from_millis(20), ..JobLimits::default() };
    let worker = Worker::new(app.db.clone(), app.clock.clone(), registry).with_limits(limits);
    let mut beats = worker.heartbeats();
    let running = tokio::spawn({
        let worker = worker.clone();
        async move { worker.tick(1).await }
    });
    started.recv().await.unwrap();

    app.clock.advance(Duration::hours(1));
    beats.borrow_and_update();
    // A renewal after the clock moved (waits on the worker's events, no sleep): the first one
    // seen may have read the clock before it moved, the one after it cannot have.
    beats.changed().await.unwrap();
    beats.borrow_and_update();
    beats.changed().await.unwrap();
    let mut tx = app.db.begin_platform("test: read a lease").await.unwrap();
    let until: OffsetDateTime = sqlx::query_scalar("select locked_until from jobs where org_id = $1 and job_id = $2")
        .bind(org)
        .bind(id)
        .fetch_one(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(until > app.clock.now(), "the lease was not renewed: {until} <= {}", app.clock.now());
    assert!(until <= app.clock.now() + Duration::seconds(30), "the lease is 30 s: {until}");

    proceed_tx.send(()).unwrap();
    assert_eq!(running.await.unwrap().unwrap(), Tick { claimed: 1, succeeded: 1, failed: 0 });
}

/// A job whose last attempt never finished (its worker was killed) is given up once the lease runs
/// out, not run again: its kind's give-up handler runs (here it records an audit event) with the
/// reason, and the job is `failed` with its attempts capped at the maximum.
#[tokio::test]
async fn job_whose_last_attempt_never_finished_is_given_up_through_its_handler() {
    let app = TestApp::spawn().await;
    let org = org_with_users(&app, 1).await;
    let last_try = NewJob { max_attempts: 1, ..NewJob::new("test.doomed", "doomed-1", json!({ "thing": 7 })) };
    let id = enqueue_committed(&app, org, last_try).await;

    crash_a_worker_mid_job(&app, org, id, "test.doomed").await;

    let runs: Arc<Mutex<HashMap<JobId, u32>>> = Arc::default();
    let mut registry = Registry::default();
    audit_writing_handler(&mut registry, "test.doomed", app.state.audit.clone(), runs.clone());
    let audit = app.state.audit.clone();
    registry.on_give_up("test.doomed", move |mut run: GiveUp| {
        let audit = audit.clone();
        async move {
            let payload = json!({ "thing": run.payload["thing"], "reason": run.reason });
            audit
                .record(&mut run.tx, AuditEvent::new("test.gave_up").target("job", run.job_id.0).payload(payload))
                .await?;
            Ok(run.tx)
        }
    });
    let survivor = Worker::new(app.db.clone(), app.clock.clone(), registry);
    app.clock.advance(Duration::seconds(31));
    assert_eq!(survivor.tick(10).await.unwrap(), Tick { claimed: 1, succeeded: 0, failed: 1 });
    assert!(runs.lock().unwrap().is_empty(), "the job ran again past its last attempt");
    let row = job_row(&app, org, id).await;
    assert_eq!((row.status.as_str(), row.attempts), ("failed", 1), "{row:?}");
    assert!(row.last_error.as_deref().unwrap_or_default().contains("never finished"), "{row:?}");
    let events = app.org_audit_log(org).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].action, "test.gave_up");
    assert_eq!(events[0].payload["thing"], 7);
    assert!(events[0].payload["reason"].as_str().unwrap_or_default().contains("never finished"), "{events:?}");
    assert_eq!(survivor.tick(10).await.unwrap(), Tick::default());
}
