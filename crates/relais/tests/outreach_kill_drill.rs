//! The kill drill (issue #12 item 5): `relais worker` sends a campaign to a real SMTP server on
//! loopback and is killed with SIGKILL several times mid-send. Afterwards, counted at the server:
//! every recipient got the message exactly once, or — when a worker died between handing it to
//! SMTP and recording that — its message awaits review; nobody got it twice, and nothing is lost.

// Helpers outside `#[test]` functions fail loudly too; clippy.toml only exempts test bodies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use kernel::db::Actor;
use kernel::db::embedded::{APP_ROLE, OWNER_ROLE, SUPERUSER};
use kernel::keys::MasterKey;
use sqlx::Connection;
use testkit::TestApp;
use testkit::outreach::{MailboxLimits, StepSpec};

const RECIPIENTS: usize = 300;
const KILLS: usize = 4;

fn worker(app: &TestApp, master_key: &str) -> tokio::process::Child {
    let socket = app.socket_dir().display().to_string();
    let url = |role: &str| format!("postgres://{role}@localhost/{}?host={socket}", app.database);
    tokio::process::Command::new(env!("CARGO_BIN_EXE_relais"))
        .arg("worker")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", url(OWNER_ROLE))
        .env("RELAIS_APP_DATABASE_URL", url(APP_ROLE))
        .env("RELAIS_MASTER_KEY", master_key)
        .env("RELAIS_PUBLIC_URL", app.origin())
        .env("RELAIS_LOG", "warn")
        // The SMTP peer is on loopback, which only a local instance may reach.
        .env("RELAIS_OUTREACH_ALLOW_PRIVATE", "true")
        .env("RELAIS_DATA_DIR", std::env::temp_dir().join(format!("relais-drill-{}", uuid::Uuid::new_v4())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start relais worker")
}

/// Waits (bounded) until the SMTP server holds at least `count` messages.
async fn until_delivered(app: &TestApp, count: usize) {
    for _ in 0..3000 {
        if app.mailbox().messages().len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut superuser = sqlx::PgConnection::connect_with(&app.connect_options(SUPERUSER)).await.unwrap();
    let jobs: Vec<(String, String, i32, Option<String>)> =
        sqlx::query_as("select kind, status, attempts, last_error from jobs order by created_at")
            .fetch_all(&mut superuser)
            .await
            .unwrap();
    let states: Vec<(String, i64)> = sqlx::query_as("select state, count(*) from outreach_messages group by 1")
        .fetch_all(&mut superuser)
        .await
        .unwrap();
    panic!(
        "the worker did not deliver {count} messages within 60 s: {} delivered; jobs {jobs:?}; messages {states:?}",
        app.mailbox().messages().len()
    );
}

#[tokio::test]
async fn kill_9_mid_campaign_loses_nothing_and_sends_nothing_twice() {
    let master_key = MasterKey::generate_base64();
    let app = TestApp::spawn_with_mail_and(&[("RELAIS_MASTER_KEY", &master_key)]).await;
    let (org, user) = app.sign_up_directly("owner@drill.example.eu").await;
    let mailbox =
        app.outreach_mailbox(org, user.0, "drill@sender.example", app.smtp_port(), MailboxLimits::default()).await;
    let sequence = app
        .outreach_sequence(
            org,
            user.0,
            &[mailbox],
            &[StepSpec::Email {
                subject: "Drill {{ first_name }}",
                body: "Hello.\n{{ unsubscribe_url }}",
                in_thread: false,
            }],
        )
        .await;
    let mut contacts = Vec::new();
    for n in 0..RECIPIENTS {
        contacts.push(app.outreach_contact(org, &format!("r{n}@example.org"), "R", "").await);
    }
    app.outreach_enroll(org, sequence, &contacts).await;

    let mut superuser = sqlx::PgConnection::connect_with(&app.connect_options(SUPERUSER)).await.unwrap();
    for round in 1..=KILLS {
        let mut child = worker(&app, &master_key);
        until_delivered(&app, round * RECIPIENTS / (KILLS + 1)).await;
        child.start_kill().unwrap();
        child.wait().await.unwrap();
        // The dead worker's job keeps its lease for 30 s, and the batch it had out keeps the
        // mailbox for 5 min: let both run out now rather than wait (the batch goes to review),
        // and wake the engine as any new enrollment would.
        sqlx::query("update jobs set locked_until = now() - interval '1 second' where status = 'running'")
            .execute(&mut superuser)
            .await
            .unwrap();
        sqlx::query("update outreach_messages set lease_until = now() - interval '1 second' where state = 'sending'")
            .execute(&mut superuser)
            .await
            .unwrap();
        sqlx::query(
            "update outreach_mailboxes set sending_until = now() - interval '1 second' where sending_until is not null",
        )
        .execute(&mut superuser)
        .await
        .unwrap();
        let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
        outreach::sending::service::wake(&mut tx, app.clock.now()).await.unwrap();
        tx.commit().await.unwrap();
    }

    // What the last worker had in flight: once its lease has run out (the app's clock moved past
    // it), it goes to review; the rest is sent by a worker in this process.
    app.clock.advance(time::Duration::minutes(30));
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    outreach::sending::service::wake(&mut tx, app.clock.now()).await.unwrap();
    tx.commit().await.unwrap();
    app.run_jobs().await;

    let mut received: HashMap<String, usize> = HashMap::new();
    for mail in app.mailbox().messages() {
        *received.entry(mail.to[0].clone()).or_default() += 1;
    }
    let states: HashMap<String, String> =
        app.outreach_messages(org).await.into_iter().map(|(to, state, _)| (to, state)).collect();
    assert_eq!(states.len(), RECIPIENTS, "one message per recipient, planned once");
    let mut in_review = 0;
    for n in 0..RECIPIENTS {
        let address = format!("r{n}@example.org");
        let count = received.get(&address).copied().unwrap_or(0);
        let state = states.get(&address).map(String::as_str);
        assert!(count <= 1, "{address} received {count} copies");
        match state {
            Some("sent") => assert_eq!(count, 1, "{address} is recorded sent but the server has nothing"),
            Some("review") => in_review += 1,
            other => panic!("{address} ended {other:?}"),
        }
    }
    // Each kill leaves at most one claimed batch (20) in doubt: a mailbox sends from one worker
    // at a time.
    assert!(in_review <= KILLS * 20, "{in_review} messages in review");
    eprintln!("kill drill: {KILLS} kills, {} delivered once, {in_review} awaiting review", received.len());
}
