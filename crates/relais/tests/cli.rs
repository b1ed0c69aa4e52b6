//! The `relais` binary as an operator runs it: `audit verify`, `catalog`, configuration errors and
//! `--help`. The database is a testkit one; the binary reaches it through DATABASE_URL and
//! RELAIS_APP_DATABASE_URL over the cluster's Unix socket.

// Helpers outside `#[test]` functions fail loudly too; clippy.toml only exempts test bodies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use kernel::OrgId;
use kernel::audit::{AuditEvent, AuditLog};
use kernel::db::Actor;
use kernel::db::embedded::{APP_ROLE, OWNER_ROLE};
use kernel::keys::MasterKey;
use serde_json::{Value, json};
use sqlx::Executor;
use testkit::TestApp;

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `relais` with exactly `vars` in its environment (plus PATH), and waits for it to exit.
async fn relais(args: &[&str], vars: &[(&str, String)]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_relais"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        // Were a command to reach for the embedded cluster by mistake, keep it out of the source tree.
        .env("RELAIS_DATA_DIR", std::env::temp_dir().join(format!("relais-cli-test-{}", uuid::Uuid::new_v4())))
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .unwrap_or_else(|_| panic!("relais {args:?} did not exit within 60 s"))
        .expect("run relais");
    Output {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// DATABASE_URL and RELAIS_APP_DATABASE_URL for the test's database.
fn database_vars(app: &TestApp) -> Vec<(&'static str, String)> {
    let socket = app.socket_dir().display().to_string();
    let url = |role: &str| format!("postgres://{role}@localhost/{}?host={socket}", app.database);
    vec![("DATABASE_URL", url(OWNER_ROLE)), ("RELAIS_APP_DATABASE_URL", url(APP_ROLE))]
}

/// An org with `events` audit events chained under `audit` (the key the binary will be given).
async fn org_with_events(app: &TestApp, audit: &AuditLog, events: usize) -> OrgId {
    let org = OrgId::new();
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    sqlx::query("insert into organizations (org_id, name, created_at) values ($1, 'CLI test org', $2)")
        .bind(org)
        .bind(app.clock.now())
        .execute(tx.conn())
        .await
        .unwrap();
    for n in 0..events {
        audit.record(&mut tx, AuditEvent::new("test.event").payload(json!({ "n": n }))).await.unwrap();
    }
    tx.commit().await.unwrap();
    org
}

/// P0-20: `relais audit verify` reports every org's chain intact and exits 0; once a row is edited
/// out of band it names the org and "sequence 2" and exits non-zero; `--org` checks one org only.
#[tokio::test]
async fn p0_20_audit_verify_reports_the_first_broken_sequence() {
    let app = TestApp::spawn().await;
    let key = MasterKey::generate_base64();
    let audit = AuditLog::new(Arc::new(MasterKey::parse(&key).unwrap()), app.clock.clone());
    let tampered = org_with_events(&app, &audit, 4).await;
    let untouched = org_with_events(&app, &audit, 3).await;
    let mut vars = database_vars(&app);
    vars.push(("RELAIS_MASTER_KEY", key.clone()));

    let run = relais(&["audit", "verify"], &vars).await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(&format!("{tampered}: intact (4 events)")), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("{untouched}: intact (3 events)")), "{}", run.stdout);

    let mut superuser = app.superuser_connection().await;
    superuser.execute("set session_replication_role = replica").await.unwrap();
    let edited = sqlx::query("update audit_events set payload = '{\"n\": 99}' where org_id = $1 and seq = 2")
        .bind(tampered)
        .execute(&mut superuser)
        .await
        .unwrap();
    assert_eq!(edited.rows_affected(), 1);

    let run = relais(&["audit", "verify"], &vars).await;
    assert!(run.code.is_some_and(|code| code != 0), "exit {:?}\n{}", run.code, run.stdout);
    let line = run.stdout.lines().find(|l| l.starts_with(&tampered.to_string())).unwrap_or_default();
    assert!(line.contains("sequence 2"), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("{untouched}: intact")), "{}", run.stdout);

    let run = relais(&["audit", "verify", "--org", &untouched.to_string()], &vars).await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(&format!("{untouched}: intact")), "{}", run.stdout);
    assert!(!run.stdout.contains(&tampered.to_string()), "--org checked another org: {}", run.stdout);

    let run = relais(&["audit", "verify", "--org", &tampered.to_string()], &vars).await;
    assert!(run.code.is_some_and(|code| code != 0), "exit {:?}\n{}", run.code, run.stdout);
    assert!(run.stdout.contains("sequence 2"), "{}", run.stdout);
    assert!(!run.stdout.contains(&untouched.to_string()), "--org checked another org: {}", run.stdout);

    // P0-07: under another master key the same chain does not verify.
    let mut wrong_key = database_vars(&app);
    wrong_key.push(("RELAIS_MASTER_KEY", MasterKey::generate_base64()));
    let run = relais(&["audit", "verify", "--org", &untouched.to_string()], &wrong_key).await;
    assert!(run.code.is_some_and(|code| code != 0), "exit {:?}\n{}", run.code, run.stdout);
    assert!(run.stdout.contains("sequence 1"), "{}", run.stdout);
}

/// P0-20 (issue #10 item 2): `relais audit anchor` verifies every chain and anchors its head
/// outside the database — printed, and written (owner-only) to RELAIS_DATA_DIR/audit-anchors.txt.
/// Once the newest events are deleted and the head row rewound to match (what the schema owner
/// can do, triggers disabled), `relais audit verify` reports the cut where it starts, from the
/// data directory's anchors or from the printed lines given with `--anchors`; `audit anchor` then
/// refuses to anchor the damage. A deleted organization's chain is still listed and checked.
#[tokio::test]
async fn p0_20_audit_anchor_catches_a_chain_cut_back_to_an_earlier_head() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::spawn().await;
    let key = MasterKey::generate_base64();
    let audit = AuditLog::new(Arc::new(MasterKey::parse(&key).unwrap()), app.clock.clone());
    let cut = org_with_events(&app, &audit, 5).await;
    let deleted = org_with_events(&app, &audit, 2).await;
    let data_dir = std::env::temp_dir().join(format!("relais-cli-anchor-{}", uuid::Uuid::new_v4()));
    let mut vars = database_vars(&app);
    vars.push(("RELAIS_MASTER_KEY", key.clone()));
    vars.push(("RELAIS_DATA_DIR", data_dir.display().to_string()));

    let run = relais(&["audit", "anchor"], &vars).await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let printed: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(printed.len(), 2, "{}", run.stdout);
    let line = printed.iter().find(|l| l.contains(&cut.to_string())).copied().unwrap_or_default();
    assert!(line.starts_with(&format!("relais-audit-anchor/v1 {cut} 5 ")), "{}", run.stdout);
    let file = data_dir.join("audit-anchors.txt");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&file).unwrap().contains(line));
    let kept = data_dir.join("kept-elsewhere.txt");
    std::fs::write(&kept, &run.stdout).unwrap();

    let run = relais(&["audit", "verify"], &vars).await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(&format!("{cut}: intact (5 events); anchored at sequence 5")), "{}", run.stdout);

    // The organization is deleted: its chain stays, listed and intact.
    let mut tx = app.db.begin_platform("test: delete an organization").await.unwrap();
    sqlx::query("delete from organizations where org_id = $1").bind(deleted).execute(tx.conn()).await.unwrap();
    tx.commit().await.unwrap();
    // The newest two events of the other are deleted and its head rewound onto event 3.
    let mut superuser = app.superuser_connection().await;
    superuser.execute("set session_replication_role = replica").await.unwrap();
    sqlx::query("delete from audit_events where org_id = $1 and seq > 3")
        .bind(cut)
        .execute(&mut superuser)
        .await
        .unwrap();
    sqlx::query(
        "update audit_chain_heads h set last_seq = 3, last_mac = e.mac from audit_events e
         where h.org_id = $1 and e.org_id = h.org_id and e.seq = 3",
    )
    .bind(cut)
    .execute(&mut superuser)
    .await
    .unwrap();

    let run = relais(&["audit", "verify"], &vars).await;
    assert!(run.code.is_some_and(|code| code != 0), "exit {:?}\n{}", run.code, run.stdout);
    let line = run.stdout.lines().find(|l| l.starts_with(&cut.to_string())).unwrap_or_default();
    assert!(line.contains("BROKEN at sequence 4") && line.contains("cut off"), "{}", run.stdout);
    assert!(
        run.stdout.contains(&format!("{deleted}: intact (2 events); anchored at sequence 2; organization deleted")),
        "{}",
        run.stdout
    );

    // The printed lines, kept elsewhere, catch it too — and without any anchor it is invisible.
    let mut elsewhere = vars.clone();
    elsewhere.retain(|(name, _)| *name != "RELAIS_DATA_DIR");
    let run = relais(&["audit", "verify", "--anchors", &kept.display().to_string()], &elsewhere).await;
    assert!(run.code.is_some_and(|code| code != 0), "exit {:?}\n{}", run.code, run.stdout);
    assert!(run.stdout.contains("BROKEN at sequence 4"), "{}", run.stdout);
    let run = relais(&["audit", "verify", "--org", &cut.to_string()], &elsewhere).await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("relais audit anchor"), "no warning that nothing anchors the chains: {}", run.stderr);

    // Anchoring again does not bless the cut; the old anchor is kept.
    let run = relais(&["audit", "anchor"], &vars).await;
    assert!(run.code.is_some_and(|code| code != 0), "exit {:?}\n{}\n{}", run.code, run.stdout, run.stderr);
    assert!(run.stderr.contains("not anchored"), "{}", run.stderr);
    assert!(std::fs::read_to_string(&file).unwrap().contains(&format!("relais-audit-anchor/v1 {cut} 5 ")));

    // Another master key cannot read (or forge) the anchors.
    let mut wrong_key = vars.clone();
    wrong_key.retain(|(name, _)| *name != "RELAIS_MASTER_KEY");
    wrong_key.push(("RELAIS_MASTER_KEY", MasterKey::generate_base64()));
    let run = relais(&["audit", "verify"], &wrong_key).await;
    assert!(run.code.is_some_and(|code| code != 0), "exit {:?}\n{}", run.code, run.stdout);
    assert!(run.stderr.contains("signature"), "{}", run.stderr);
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// `relais catalog` prints the data catalog as a Markdown table with one row per table, and as
/// JSON with one object per table.
#[tokio::test]
async fn catalog_lists_every_table_as_markdown_and_json() {
    let expected: Vec<&str> = web::data_catalog().iter().map(|entry| entry.table).collect();
    let expected_set: BTreeSet<&str> = expected.iter().copied().collect();
    assert!(expected_set.contains("audit_events") && expected_set.contains("users"));

    let run = relais(&["catalog"], &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let mut lines = run.stdout.lines();
    assert!(lines.next().unwrap_or_default().starts_with("| table |"), "{}", run.stdout);
    assert!(lines.next().unwrap_or_default().starts_with("|---|"), "{}", run.stdout);
    let rows: Vec<&str> = lines.filter(|l| l.starts_with('|')).collect();
    let tables: Vec<&str> = rows.iter().filter_map(|row| row.split('`').nth(1)).collect();
    assert_eq!(tables.len(), expected.len(), "{}", run.stdout);
    assert_eq!(tables.iter().copied().collect::<BTreeSet<_>>(), expected_set, "{}", run.stdout);

    let run = relais(&["catalog", "--format", "json"], &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let json: Value = serde_json::from_str(&run.stdout).expect("catalog --format json is JSON");
    let entries = json.as_array().expect("a JSON array");
    assert_eq!(entries.len(), expected.len());
    let tables: BTreeSet<&str> = entries.iter().map(|e| e["table"].as_str().expect("an object with a table")).collect();
    assert_eq!(tables, expected_set);
    assert!(entries.iter().all(|e| e["legal_basis"].is_string() && e["purpose"].is_string()), "{json}");
}

/// A bad RELAIS_LISTEN stops `relais migrate` with exit code 2 and names the variable.
#[tokio::test]
async fn config_error_names_relais_listen_and_exits_2() {
    let app = TestApp::spawn().await;
    let mut vars = database_vars(&app);
    vars.push(("RELAIS_LISTEN", "nonsense".into()));
    let run = relais(&["migrate"], &vars).await;
    assert_eq!(run.code, Some(2), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("RELAIS_LISTEN"), "{}", run.stderr);
    assert!(!run.stdout.contains("migrations applied"), "{}", run.stdout);
}

/// P0-07: `relais serve` refuses to start without RELAIS_MASTER_KEY and says which variable is missing.
#[tokio::test]
async fn p0_07_serve_without_master_key_fails_naming_the_variable() {
    let app = TestApp::spawn().await;
    let mut vars = database_vars(&app);
    vars.push(("RELAIS_LISTEN", "127.0.0.1:0".into()));
    let run = relais(&["serve"], &vars).await;
    assert!(run.code.is_some_and(|code| code != 0), "exit {:?}\n{}", run.code, run.stderr);
    assert!(run.stderr.contains("RELAIS_MASTER_KEY"), "{}", run.stderr);
}

/// P0-07: an invalid RELAIS_MASTER_KEY stops the program naming the variable, without printing
/// the value (wrong length, and not base64 at all).
#[tokio::test]
async fn p0_07_invalid_master_key_is_named_but_not_echoed() {
    let app = TestApp::spawn().await;
    // base64 of "SENTINEL-short-key", 18 bytes; and a value that is not base64.
    for bad in ["U0VOVElORUwtc2hvcnQta2V5", "SENTINEL*not*base64*at*all"] {
        let mut vars = database_vars(&app);
        vars.push(("RELAIS_LISTEN", "127.0.0.1:0".into()));
        vars.push(("RELAIS_MASTER_KEY", bad.into()));
        let run = relais(&["serve"], &vars).await;
        assert_eq!(run.code, Some(2), "{bad}: {}\n{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("RELAIS_MASTER_KEY"), "{bad}: {}", run.stderr);
        assert!(!run.stderr.contains(bad) && !run.stdout.contains(bad), "the key was echoed: {}", run.stderr);
    }
}

/// `relais --help` lists every subcommand and every environment variable.
#[tokio::test]
async fn help_lists_subcommands_and_environment_variables() {
    let run = relais(&["--help"], &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let commands: BTreeSet<&str> = run
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for command in ["serve", "worker", "demo", "migrate", "catalog", "audit"] {
        assert!(commands.contains(command), "{command} missing from --help:\n{}", run.stdout);
    }
    let environment = run.stdout.split("Environment:").nth(1).unwrap_or_default();
    for (variable, _) in kernel::config::VARIABLES {
        assert!(environment.contains(variable), "{variable} missing from --help:\n{}", run.stdout);
    }
    for variable in ["DATABASE_URL", "RELAIS_APP_DATABASE_URL", "RELAIS_MASTER_KEY", "RELAIS_LISTEN"] {
        assert!(environment.contains(variable), "{variable} missing from --help:\n{}", run.stdout);
    }
}

/// P0-20: a running node anchors the audit chains itself — once at start, then every
/// RELAIS_AUDIT_ANCHOR_EVERY_SECS — so the anchors keep up with new events even when no operator
/// runs `relais audit anchor`. (Waits on the node's own log lines, never on time.)
#[tokio::test]
async fn p0_20_a_running_node_anchors_the_chains_at_start_and_periodically() {
    use tokio::io::AsyncBufReadExt;
    let app = TestApp::spawn().await;
    let key = MasterKey::generate_base64();
    let audit = AuditLog::new(Arc::new(MasterKey::parse(&key).unwrap()), app.clock.clone());
    let org = org_with_events(&app, &audit, 3).await;
    let data_dir = std::env::temp_dir().join(format!("relais-cli-anchor-{}", uuid::Uuid::new_v4()));
    let file = data_dir.join("audit-anchors.txt");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_relais"));
    command
        .arg("worker")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(database_vars(&app))
        .env("RELAIS_MASTER_KEY", &key)
        .env("RELAIS_DATA_DIR", &data_dir)
        .env("RELAIS_AUDIT_ANCHOR_EVERY_SECS", "1")
        .env("RELAIS_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut node = command.spawn().expect("start relais worker");
    let mut log = tokio::io::BufReader::new(node.stderr.take().unwrap()).lines();
    let mut next_pass = async || loop {
        let line = tokio::time::timeout(Duration::from_secs(60), log.next_line())
            .await
            .expect("no anchoring pass within 60 s")
            .unwrap()
            .expect("the node stopped");
        if line.contains("audit chain heads anchored") {
            return;
        }
    };

    next_pass().await;
    let anchored = std::fs::read_to_string(&file).expect("anchored at start");
    assert!(anchored.contains(&format!("relais-audit-anchor/v1 {org} 3 ")), "{anchored}");

    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    audit.record(&mut tx, AuditEvent::new("test.event").payload(json!({ "n": 3 }))).await.unwrap();
    tx.commit().await.unwrap();
    // The pass after the next one started after the event was committed.
    next_pass().await;
    next_pass().await;
    let anchored = std::fs::read_to_string(&file).unwrap();
    assert!(anchored.contains(&format!("relais-audit-anchor/v1 {org} 4 ")), "{anchored}");
    node.kill().await.unwrap();
    let _ = std::fs::remove_dir_all(&data_dir);
}
