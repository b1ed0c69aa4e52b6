//! CSV import over HTTP (issue #4 item 7): encodings and delimiters, quoted newlines, per-row
//! rejects with reasons, dedupe within the file and against the organization, custom-field
//! validation, dry run, batches that resume after a failure, revert, isolation and permissions.

use kernel::authz::Role;
use serde_json::{Value, json};
use testkit::reqwest::{Method, StatusCode};
use testkit::{PASSWORD, TestApp};

async fn contacts(app: &TestApp, org: kernel::OrgId) -> Vec<(String, String, String, String, Value)> {
    app.select_rows_in_org(
        org,
        "select first_name, last_name, email, phone, custom from contacts where org_id = $1 order by email, last_name",
    )
    .await
}

/// UTF-8 with a BOM and `,`; Windows-1252 (French Excel) with `;` and accents; a quoted newline.
#[tokio::test]
async fn imports_utf8_bom_windows_1252_semicolons_and_quoted_newlines() {
    let app = TestApp::spawn().await;
    let (org, _, bearer) = app.sign_up_with_token("owner@import-enc.example.eu").await;

    let utf8 =
        "\u{feff}First name,Last name,E-mail,Téléphone\nZoé,Durand,zoe@durand.fr,06 12 34 56 78\n".as_bytes().to_vec();
    let done = app.import_csv(&bearer, "contacts", utf8, 100).await;
    assert_eq!(
        (done["status"].as_str(), done["encoding"].as_str(), done["delimiter"].as_str()),
        (Some("done"), Some("utf-8-bom"), Some(","))
    );
    assert_eq!(done["mapping"], json!({"0": "first_name", "1": "last_name", "2": "email", "3": "phone"}));
    assert_eq!(done["created_count"], 1);

    let (status, _) = app
        .call_api(
            &bearer,
            Method::POST,
            "/api/v1/custom-fields",
            Some(json!({ "object_type": "contact", "key": "notes", "label": "Remarques", "kind": "long_text" })),
        )
        .await;
    assert_eq!(status, 201);
    // "Prénom;Nom;Courriel;Remarques" in Windows-1252, as Excel (French) saves a CSV, with a
    // line break inside a quoted cell.
    let mut cp1252: Vec<u8> = b"Pr\xe9nom;Nom;Courriel;Remarques\r\n".to_vec();
    cp1252.extend(b"\xc9milie;L\xe9ger;emilie@leger.fr;\"Directrice\r\ng\xe9n\xe9rale; \xe0 rappeler\"\r\n");
    cp1252.extend(b"Andr\xe9;;andre@exemple.fr;\r\n");
    let done = app.import_csv(&bearer, "contacts", cp1252, 100).await;
    assert_eq!((done["encoding"].as_str(), done["delimiter"].as_str()), (Some("windows-1252"), Some(";")));
    assert_eq!(done["headers"], json!(["Prénom", "Nom", "Courriel", "Remarques"]));
    assert_eq!(done["mapping"], json!({"0": "first_name", "1": "last_name", "2": "email", "3": "custom.notes"}));
    assert_eq!((done["created_count"].as_i64(), done["error_count"].as_i64()), (Some(2), Some(0)));

    let mut tx = app.db.begin_org(org, kernel::db::Actor::System).await.unwrap();
    let notes: String =
        sqlx::query_scalar("select custom ->> 'notes' from contacts where org_id = $1 and email = 'emilie@leger.fr'")
            .bind(org)
            .fetch_one(tx.conn())
            .await
            .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(notes, "Directrice\r\ngénérale; à rappeler", "the quoted line break and the `;` stay in the cell");
    let all = contacts(&app, org).await;
    assert_eq!(
        all.iter().map(|c| (c.0.as_str(), c.1.as_str())).collect::<Vec<_>>(),
        vec![("André", ""), ("Émilie", "Léger"), ("Zoé", "Durand")]
    );
    assert_eq!(all[2].3, "+33612345678", "cells are parsed like any write: the phone is stored in E.164");
    // The history says where a record came from.
    assert_eq!(
        app.select_i64_in_org(
            org,
            "select count(*) from record_changes where org_id = $1 and action = 'imported' and source = 'import'"
        )
        .await,
        3
    );
}

/// Bad rows are refused with a reason naming the field while the good rows import; the dry run
/// finds the same and writes no record; the rejects CSV carries the original cells and the reason.
#[tokio::test]
async fn bad_rows_are_rejected_with_reasons_and_the_dry_run_writes_nothing() {
    let app = TestApp::spawn().await;
    let (org, _, bearer) = app.sign_up_with_token("owner@import-bad.example.eu").await;
    let csv = "email,first_name,phone,language\n\
               ok1@exemple.fr,Ana,,fr\n\
               not-an-email,Bob,,\n\
               ok2@exemple.fr,Cy,12,\n\
               ok3@exemple.fr,Dee,,french\n\
               ,,,\n\
               ,,0612345678,\n\
               ok4@exemple.fr,Eve,+33 6 11 22 33 44,en\n";
    let (status, created) = app.upload_import(&bearer, "contacts", csv.as_bytes().to_vec()).await;
    assert_eq!(status, 201);
    let id = created["import_id"].as_str().unwrap().to_string();

    let (status, preview) = app.call_api(&bearer, Method::GET, &format!("/api/v1/imports/{id}/preview"), None).await;
    assert_eq!(status, 200);
    assert_eq!(preview["rows"].as_array().unwrap().len(), 5, "five rows previewed (the blank line is no row)");
    assert_eq!(preview["rows"][0]["values"]["email"], "ok1@exemple.fr");
    assert!(preview["rows"][1]["error"].as_str().unwrap().starts_with("email:"), "{preview}");

    let (status, _) = app.call_api(&bearer, Method::POST, &format!("/api/v1/imports/{id}/dry-run"), None).await;
    assert_eq!(status, 202);
    app.run_jobs().await;
    let (_, dry) = app.call_api(&bearer, Method::GET, &format!("/api/v1/imports/{id}"), None).await;
    assert_eq!(dry["status"], "dry_run_done");
    let counts = &dry["dry_run"]["counts"];
    assert_eq!(
        (counts["to_create"].as_i64(), counts["errors"].as_i64(), counts["rows"].as_i64(), counts["warnings"].as_i64()),
        (Some(3), Some(3), Some(6), Some(1)),
        "{dry}"
    );
    let reasons: Vec<(i64, String, String)> = dry["dry_run"]["rejects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["row"].as_i64().unwrap(),
                r["kind"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap().split(':').next().unwrap().to_string(),
            )
        })
        .collect();
    // A phone no parser reads keeps its row (issue #11): a warning, not a reject.
    assert_eq!(
        reasons,
        vec![
            (3, "error".into(), "email".into()),
            (4, "warning".into(), "phone".into()),
            (5, "error".into(), "language".into()),
            (7, "error".into(), "last_name".into())
        ]
    );
    assert_eq!(
        app.select_i64_in_org(org, "select count(*) from contacts where org_id = $1").await,
        0,
        "a dry run writes no record"
    );

    let (status, _) =
        app.call_api(&bearer, Method::POST, &format!("/api/v1/imports/{id}/run?batch_rows=2"), None).await;
    assert_eq!(status, 202);
    app.run_jobs().await;
    let (_, done) = app.call_api(&bearer, Method::GET, &format!("/api/v1/imports/{id}"), None).await;
    assert_eq!(
        (done["status"].as_str(), done["created_count"].as_i64(), done["error_count"].as_i64()),
        (Some("done"), Some(3), Some(3))
    );
    assert_eq!(done["warning_count"], 1);
    assert_eq!(done["progress"], 100);
    let emails: Vec<String> = contacts(&app, org).await.into_iter().map(|c| c.2).collect();
    assert_eq!(emails, vec!["ok1@exemple.fr", "ok2@exemple.fr", "ok4@exemple.fr"]);

    let (status, rejects) = app.get_text_with_bearer(&bearer, &format!("/api/v1/imports/{id}/rejects.csv")).await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = rejects.lines().collect();
    assert_eq!(lines[0], "email,first_name,phone,language,row,error,code");
    assert_eq!(lines.len(), 5, "{rejects}");
    assert!(lines[1].starts_with("not-an-email,Bob,,,3,email: "), "{}", lines[1]);
    assert!(lines[2].contains(",4,\"phone: "), "{}", lines[2]);
    // Once run, an import cannot be run again.
    let (status, _) = app.call_api(&bearer, Method::POST, &format!("/api/v1/imports/{id}/run"), None).await;
    assert_eq!(status, 409);
}

/// Duplicates in the file are reported; a key already in the organization updates the record
/// (only mapped, non-empty cells); custom fields are validated; revert restores the updated fields
/// and removes the created records.
#[tokio::test]
async fn duplicates_update_existing_records_custom_fields_are_checked_and_revert_undoes_all() {
    let app = TestApp::spawn().await;
    let (org, _, bearer) = app.sign_up_with_token("owner@import-dup.example.eu").await;
    let (status, _) = app.call_api(&bearer,
        Method::POST,
        "/api/v1/custom-fields",
        Some(json!({ "object_type": "contact", "key": "tier", "label": "Niveau", "kind": "select", "options": ["gold", "silver"] })),
    )
    .await;
    assert_eq!(status, 201);
    let (status, existing) = app.call_api(&bearer,
        Method::POST,
        "/api/v1/contacts",
        Some(json!({ "first_name": "Old", "last_name": "Name", "email": "known@exemple.fr", "title": "CEO", "custom": {"tier": "silver"} })),
    )
    .await;
    assert_eq!(status, 201);
    let known = existing["id"].as_str().unwrap().to_string();

    let csv = "Courriel,Prénom,Nom,Niveau\n\
               new@exemple.fr,New,One,gold\n\
               KNOWN@exemple.fr,Fresh,,gold\n\
               new@exemple.fr,Twice,Again,\n\
               known@exemple.fr,Third,,\n\
               bad@exemple.fr,Bad,Tier,platinum\n\
               other@exemple.fr,Other,Two,\n";
    // Overwrite: the file's values replace the record's (the default only fills empty fields).
    let (_, done) = import_with_mode(&app, &bearer, "contacts", csv, "overwrite", 2).await;
    assert_eq!(done["mapping"], json!({"0": "email", "1": "first_name", "2": "last_name", "3": "custom.tier"}));
    let got = (
        done["created_count"].as_i64(),
        done["updated_count"].as_i64(),
        done["duplicate_count"].as_i64(),
        done["error_count"].as_i64(),
    );
    assert_eq!(got, (Some(2), Some(1), Some(2), Some(1)), "{done}");
    let id = done["import_id"].as_str().unwrap().to_string();

    let (_, record) = app.call_api(&bearer, Method::GET, &format!("/api/v1/contacts/{known}"), None).await;
    assert_eq!(
        (record["first_name"].as_str(), record["last_name"].as_str(), record["title"].as_str()),
        (Some("Fresh"), Some("Name"), Some("CEO")),
        "empty cells leave fields alone"
    );
    assert_eq!(record["custom"], json!({"tier": "gold"}));
    let (_, rejects) = app.get_text_with_bearer(&bearer, &format!("/api/v1/imports/{id}/rejects.csv")).await;
    assert!(rejects.contains("bad@exemple.fr,Bad,Tier,platinum,6,custom.tier: "), "{rejects}");
    assert!(rejects.contains("new@exemple.fr,Twice,Again,,4,A row earlier"), "{rejects}");
    assert!(rejects.contains("known@exemple.fr,Third,,,5,A row earlier"), "{rejects}");
    assert_eq!(app.select_i64_in_org(org, "select count(*) from contacts where org_id = $1").await, 3);

    let (status, reverting) = app.call_api(&bearer, Method::POST, &format!("/api/v1/imports/{id}/revert"), None).await;
    assert_eq!(status, 202, "{reverting}");
    assert_eq!(reverting["status"], "reverting");
    let (status, _) = app.call_api(&bearer, Method::POST, &format!("/api/v1/imports/{id}/revert"), None).await;
    assert_eq!(status, 409, "a revert under way is not started twice");
    app.run_jobs().await;
    let (_, reverted) = app.call_api(&bearer, Method::GET, &format!("/api/v1/imports/{id}"), None).await;
    assert_eq!(reverted["status"], "reverted", "{reverted}");
    assert_eq!(reverted["revert_deleted"], 2);
    assert_eq!(reverted["revert_restored_fields"], 2, "first_name and custom.tier of the known contact: {reverted}");
    let (_, record) = app.call_api(&bearer, Method::GET, &format!("/api/v1/contacts/{known}"), None).await;
    assert_eq!((record["first_name"].as_str(), record["custom"].clone()), (Some("Old"), json!({"tier": "silver"})));
    assert_eq!(app.select_i64_in_org(org, "select count(*) from contacts where org_id = $1").await, 1);
    assert_eq!(
        app.select_i64_in_org(
            org,
            "select count(*) from audit_events where org_id = $1 and action = 'import.reverted'"
        )
        .await,
        1
    );
    let (status, _) = app.call_api(&bearer, Method::POST, &format!("/api/v1/imports/{id}/revert"), None).await;
    assert_eq!(status, 409, "an import is reverted once");
}

/// A batch commits with its checkpoint: after one batch the import is part-way; a stale job for
/// a batch already done does nothing; a batch that fails (its file unreadable) is rolled back and
/// retried from the checkpoint; the end result has every row exactly once.
#[tokio::test]
async fn a_failed_batch_resumes_from_its_checkpoint_without_duplicates() {
    let app = TestApp::spawn().await;
    let (org, _, bearer) = app.sign_up_with_token("owner@import-crash.example.eu").await;
    let mut csv = String::from("email,last_name\n");
    for i in 0..10 {
        csv.push_str(&format!("p{i}@exemple.fr,Person {i}\n"));
    }
    let (_, created) = app.upload_import(&bearer, "contacts", csv.into_bytes()).await;
    let id = created["import_id"].as_str().unwrap().to_string();
    let (status, _) =
        app.call_api(&bearer, Method::POST, &format!("/api/v1/imports/{id}/run?batch_rows=3"), None).await;
    assert_eq!(status, 202);

    let worker = kernel::jobs::Worker::new(app.db.clone(), app.clock.clone(), app.job_registry());
    let tick = worker.tick(1).await.unwrap();
    assert_eq!(tick.succeeded, 1);
    let (_, partway) = app.call_api(&bearer, Method::GET, &format!("/api/v1/imports/{id}"), None).await;
    assert_eq!(
        (partway["status"].as_str(), partway["rows_done"].as_i64(), partway["batches_done"].as_i64()),
        (Some("running"), Some(3), Some(1))
    );
    let progress = partway["progress"].as_i64().unwrap();
    assert!(progress > 0 && progress < 100, "{progress}");

    // The file disappears (a disk hiccup, a node without the volume): the batch fails and rolls back.
    let path = app.state.config.data_dir.join("imports").join(org.0.to_string()).join(format!("{id}.csv"));
    let aside = path.with_extension("aside");
    std::fs::rename(&path, &aside).unwrap();
    let tick = worker.tick(1).await.unwrap();
    assert_eq!(tick.failed, 1);
    let (_, after_failure) = app.call_api(&bearer, Method::GET, &format!("/api/v1/imports/{id}"), None).await;
    assert_eq!((after_failure["rows_done"].as_i64(), after_failure["batches_done"].as_i64()), (Some(3), Some(1)));
    std::fs::rename(&aside, &path).unwrap();

    // A stale job for the first batch (as a worker that lost its lease would replay) does nothing.
    let mut tx = app.db.begin_org(org, kernel::db::Actor::System).await.unwrap();
    let stale = json!({ "import_id": id, "dir": app.state.config.data_dir.join("imports"), "seq": 0, "at": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap() });
    kernel::jobs::enqueue(&mut tx, &app.clock, kernel::jobs::NewJob::new("crm.import.run", "stale", stale))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    app.clock.advance(time::Duration::hours(2));
    app.run_jobs().await;
    let bearer = app.access_token("owner@import-crash.example.eu").await;
    let (_, done) = app.call_api(&bearer, Method::GET, &format!("/api/v1/imports/{id}"), None).await;
    assert_eq!(
        (done["status"].as_str(), done["created_count"].as_i64(), done["duplicate_count"].as_i64()),
        (Some("done"), Some(10), Some(0)),
        "{done}"
    );
    assert_eq!(app.select_i64_in_org(org, "select count(*) from contacts where org_id = $1").await, 10);
    assert_eq!(
        app.select_i64_in_org(org, "select count(*) from record_changes where org_id = $1 and action = 'imported'")
            .await,
        10
    );

    // The revert runs in steps of the import's batch size (3): restore, then delete 3 at a time,
    // each step committed with its counter, so a crash resumes where it stopped.
    let (status, _) = app.call_api(&bearer, Method::POST, &format!("/api/v1/imports/{id}/revert"), None).await;
    assert_eq!(status, 202);
    assert_eq!(worker.tick(1).await.unwrap().succeeded, 1, "restore step");
    assert_eq!(worker.tick(1).await.unwrap().succeeded, 1, "first delete step");
    let (_, partway) = app.call_api(&bearer, Method::GET, &format!("/api/v1/imports/{id}"), None).await;
    assert_eq!(
        (partway["status"].as_str(), partway["revert_deleted"].as_i64(), partway["progress"].as_i64()),
        (Some("reverting"), Some(3), Some(30)),
        "{partway}"
    );
    assert_eq!(app.select_i64_in_org(org, "select count(*) from contacts where org_id = $1").await, 7);
    app.run_jobs().await;
    let (_, reverted) = app.call_api(&bearer, Method::GET, &format!("/api/v1/imports/{id}"), None).await;
    assert_eq!((reverted["status"].as_str(), reverted["revert_deleted"].as_i64()), (Some("reverted"), Some(10)));
    assert_eq!(app.select_i64_in_org(org, "select count(*) from contacts where org_id = $1").await, 0);
}

/// An import whose batch job keeps failing on the database (here: the import's row locked by
/// someone else, so every attempt hits the job's lock timeout) is not left `running` for ever:
/// once the queue gives the job up, the import is `failed` with the reason and the failed step.
/// Nothing can be done to it while it runs (409), and a retry (audited) resumes the run from its
/// checkpoint to the end, every row imported once.
#[tokio::test]
async fn an_import_whose_job_is_given_up_is_failed_with_the_reason_then_retried_to_the_end() {
    let app = TestApp::spawn().await;
    let email = "owner@import-stuck.example.eu";
    let (org, _, bearer) = app.sign_up_with_token(email).await;
    let mut csv = String::from("email,last_name\n");
    for i in 0..10 {
        csv.push_str(&format!("s{i}@exemple.fr,Stuck {i}\n"));
    }
    let (_, created) = app.upload_import(&bearer, "contacts", csv.into_bytes()).await;
    let id = created["import_id"].as_str().unwrap().to_string();
    let (status, _) =
        app.call_api(&bearer, Method::POST, &format!("/api/v1/imports/{id}/run?batch_rows=4"), None).await;
    assert_eq!(status, 202);
    let limits = kernel::jobs::JobLimits { lock_timeout: std::time::Duration::from_millis(200), ..Default::default() };
    let worker = kernel::jobs::Worker::new(app.db.clone(), app.clock.clone(), app.job_registry()).with_limits(limits);
    assert_eq!(worker.tick(1).await.unwrap().succeeded, 1, "the first batch");

    // Someone holds the import's row: every attempt of the next batch waits, then times out.
    let mut holder = app.superuser_connection().await;
    sqlx::query("begin").execute(&mut holder).await.unwrap();
    sqlx::query("select 1 from imports where import_id = $1::text::uuid for update")
        .bind(&id)
        .execute(&mut holder)
        .await
        .unwrap();
    for _ in 0..5 {
        assert_eq!(worker.tick(10).await.unwrap().failed, 1);
        app.clock.advance(time::Duration::hours(2));
    }
    sqlx::query("commit").execute(&mut holder).await.unwrap();
    app.run_jobs().await;

    let bearer = app.access_token(email).await;
    let (_, failed) = app.call_api(&bearer, Method::GET, &format!("/api/v1/imports/{id}"), None).await;
    assert_eq!((failed["status"].as_str(), failed["failed_step"].as_str()), (Some("failed"), Some("run")), "{failed}");
    let reason = failed["last_error"].as_str().unwrap_or_default();
    assert!(reason.contains("lock timeout"), "{failed}");
    assert_eq!((failed["rows_done"].as_i64(), failed["batches_done"].as_i64()), (Some(4), Some(1)), "{failed}");
    let (status, _) = app.call_api(&bearer, Method::POST, &format!("/api/v1/imports/{id}/run"), None).await;
    assert_eq!(status, 409, "a failed import cannot be started again, only retried");

    let (status, retried) = app.call_api(&bearer, Method::POST, &format!("/api/v1/imports/{id}/retry"), None).await;
    assert_eq!(status, 202, "{retried}");
    assert_eq!((retried["status"].as_str(), retried["last_error"].as_str()), (Some("running"), None), "{retried}");
    let (status, _) = app.call_api(&bearer, Method::POST, &format!("/api/v1/imports/{id}/retry"), None).await;
    assert_eq!(status, 409, "only a failed import can be retried");
    let (status, _) = app.call_api(&bearer, Method::POST, &format!("/api/v1/imports/{id}/discard"), None).await;
    assert_eq!(status, 409, "only a failed import can be discarded");
    app.run_jobs().await;
    let (_, done) = app.call_api(&bearer, Method::GET, &format!("/api/v1/imports/{id}"), None).await;
    assert_eq!((done["status"].as_str(), done["created_count"].as_i64()), (Some("done"), Some(10)), "{done}");
    assert_eq!(app.select_i64_in_org(org, "select count(*) from contacts where org_id = $1").await, 10);
    assert_eq!(app.count_audit_events(org, "import.retried").await, 1);
}

/// A failed import shows Retry and Discard on its page; discarding it there closes it (audited
/// once) and nothing more can run; the API refuses a retry of a discarded import.
#[tokio::test]
async fn a_failed_import_is_discarded_from_its_page_and_audited_once() {
    let app = TestApp::spawn().await;
    let email = "owner@import-discard.example.eu";
    let (org, _) = app.sign_up(email).await;
    let bearer = app.access_token(email).await;
    let (_, created) = app.upload_import(&bearer, "contacts", b"email,last_name\nd@exemple.fr,Un\n".to_vec()).await;
    let id = created["import_id"].as_str().unwrap().to_string();
    let (status, _) = app.call_api(&bearer, Method::POST, &format!("/api/v1/imports/{id}/dry-run"), None).await;
    assert_eq!(status, 202);
    // The file is gone: every attempt of the dry run fails; at the last one the import fails.
    let path = app.state.config.data_dir.join("imports").join(org.0.to_string()).join(format!("{id}.csv"));
    std::fs::remove_file(&path).unwrap();
    for _ in 0..6 {
        app.run_jobs().await;
        app.clock.advance(time::Duration::hours(2));
    }
    let bearer = app.access_token(email).await;
    let (_, failed) = app.call_api(&bearer, Method::GET, &format!("/api/v1/imports/{id}"), None).await;
    assert_eq!(
        (failed["status"].as_str(), failed["failed_step"].as_str()),
        (Some("failed"), Some("dry_run")),
        "{failed}"
    );
    assert!(failed["last_error"].as_str().unwrap_or_default().contains("no longer on the server"), "{failed}");
    assert_eq!(failed["progress"], 0, "a dry run makes no progress: {failed}");

    let browser = app.browser_login(email, PASSWORD).await;
    // The page opens without its file (it was a 500), says which step failed, and offers no
    // revert: a dry run wrote nothing.
    let response = browser.get(&format!("/crm/imports/{id}")).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("Failed during the dry run."), "{html}");
    assert!(!html.contains(&format!("/crm/imports/{id}/revert")), "no revert after a failed dry run");
    // The polled box of a step that has ended reloads the page, where the next actions are.
    let response = browser.get(&format!("/crm/imports/{id}/progress")).await;
    assert_eq!(testkit::http::header(&response, "hx-refresh"), "true");
    let html = response.text().await.unwrap();
    assert!(html.contains(&format!("/crm/imports/{id}/retry")) && html.contains(&format!("/crm/imports/{id}/discard")));
    let csrf = browser.csrf_token(&format!("/crm/imports/{id}/progress")).await;
    let response = browser.post_form(&format!("/crm/imports/{id}/discard"), &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), 303);
    let (_, discarded) = app.call_api(&bearer, Method::GET, &format!("/api/v1/imports/{id}"), None).await;
    assert_eq!(discarded["status"], "discarded", "{discarded}");
    assert_eq!(app.count_audit_events(org, "import.discarded").await, 1);
    let (status, _) = app.call_api(&bearer, Method::POST, &format!("/api/v1/imports/{id}/retry"), None).await;
    assert_eq!(status, 409);
    let html = browser.get(&format!("/crm/imports/{id}/progress")).await.text().await.unwrap();
    assert!(!html.contains(&format!("/crm/imports/{id}/retry")), "no retry on a discarded import");
}

/// Another organization's member gets 404 on an import; a member with the User role is refused.
#[tokio::test]
async fn imports_are_isolated_between_orgs_and_refused_to_users() {
    let app = TestApp::spawn().await;
    let (org, _, bearer) = app.sign_up_with_token("owner@import-iso.example.eu").await;
    let (_, _, other) = app.sign_up_with_token("owner@import-other.example.eu").await;
    app.add_member(org, "user@import-iso.example.eu", Role::User).await;
    let user = app.access_token("user@import-iso.example.eu").await;

    let (_, created) = app.upload_import(&bearer, "contacts", b"email\na@b.fr\n".to_vec()).await;
    let id = created["import_id"].as_str().unwrap().to_string();
    for (method, path) in [
        (Method::GET, format!("/api/v1/imports/{id}")),
        (Method::POST, format!("/api/v1/imports/{id}/run")),
        (Method::POST, format!("/api/v1/imports/{id}/revert")),
        (Method::GET, format!("/api/v1/imports/{id}/rejects.csv")),
    ] {
        let (status, _) = app.call_api(&other, method.clone(), &path, None).await;
        assert_eq!(status, 404, "{path}");
        let (status, _) = app.call_api(&user, method, &path, None).await;
        assert_eq!(status, 403, "{path}");
    }
    let (status, list) = app.call_api(&other, Method::GET, "/api/v1/imports", None).await;
    assert_eq!((status, list), (StatusCode::OK, json!([])));
    let (status, _) = app.upload_import(&user, "contacts", b"email\na@b.fr\n".to_vec()).await;
    assert_eq!(status, 403);
    let (status, problem) = app.upload_import(&bearer, "widgets", b"name\nX\n".to_vec()).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "object");
}

/// The pages: upload form (multipart, CSRF checked), mapping screen prefilled by auto-match with a
/// preview, a remapped column, the run, the progress fragment, the rejects download and revert.
#[tokio::test]
async fn the_import_pages_upload_map_run_and_revert() {
    let app = TestApp::spawn().await;
    let (org, _, browser) = app.sign_up_and_log_in("owner@import-pages.example.eu").await;
    let list = browser.get("/crm/imports").await;
    assert_eq!(list.status(), 200);
    let csrf = browser.csrf_token("/crm/imports").await;

    let csv = "Prénom;Nom;Adresse électronique;Poste\r\nZoé;Durand;zoe@durand.fr;Acheteuse\r\nLéo;;pas-un-email;\r\n";
    let refused = post_import_form(&app, &browser, "forged", "contacts", csv.as_bytes()).await;
    assert_eq!(refused.status(), 403, "the CSRF token is checked before the file is read");
    let response = post_import_form(&app, &browser, &csrf, "contacts", csv.as_bytes()).await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("/crm/imports/"), "{location}");

    let page = browser.get(&location).await.text().await.unwrap();
    assert!(page.contains("<option value=\"first_name\" selected>"), "Prénom is matched to the first name");
    assert!(page.contains("<option value=\"title\" selected>"), "Poste is matched to the job title");
    assert!(page.contains("Zoé"), "the preview shows the rows");

    // "Adresse électronique" is not a known label: the person maps it to the email.
    let csrf = browser.csrf_token(&location).await;
    let response = browser
        .post_form(
            &format!("{location}/mapping"),
            &[("csrf", &csrf), ("col.0", "first_name"), ("col.1", "last_name"), ("col.2", "email"), ("col.3", "title")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let response = browser.post_form(&format!("{location}/run"), &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), 303);
    let fragment = browser.get(&format!("{location}/progress")).await.text().await.unwrap();
    assert!(fragment.contains("hx-trigger=\"every 1s\""), "the progress bar polls while the import runs");
    app.run_jobs().await;
    let fragment = browser.get(&format!("{location}/progress")).await.text().await.unwrap();
    assert!(!fragment.contains("hx-trigger"), "and stops when it is done");
    assert!(fragment.contains("value=\"100\""), "{fragment}");
    let rejects = browser.get(&format!("{location}/rejects.csv")).await.text().await.unwrap();
    assert!(rejects.contains("pas-un-email"), "{rejects}");
    assert_eq!(app.select_i64_in_org(org, "select count(*) from contacts where org_id = $1").await, 1);

    let response = browser.post_form(&format!("{location}/revert"), &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), 303);
    let fragment = browser.get(&format!("{location}/progress")).await.text().await.unwrap();
    assert!(fragment.contains("hx-trigger") && fragment.contains("Reverting"), "polls while reverting: {fragment}");
    app.run_jobs().await;
    assert_eq!(app.select_i64_in_org(org, "select count(*) from contacts where org_id = $1").await, 0);
}

/// Posts the import page's upload form as the browser would: `multipart/form-data` with `csrf`
/// and `object` before `file`, the session cookie and a same-origin request.
async fn post_import_form(
    app: &TestApp,
    browser: &testkit::Browser,
    csrf: &str,
    object: &str,
    csv: &[u8],
) -> testkit::reqwest::Response {
    let boundary = "relaisboundary42";
    let mut body = Vec::new();
    for (name, value) in [("csrf", csrf), ("object", object)] {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"clients.csv\"\r\nContent-Type: text/csv\r\n\r\n").as_bytes());
    body.extend(csv);
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    let cookie =
        format!("{}={}", app.state.session_cookie_name(), browser.cookie(app.state.session_cookie_name()).unwrap());
    app.http
        .post(app.url("/crm/imports"))
        .header("cookie", cookie)
        .header("origin", "null")
        .header("sec-fetch-site", "same-origin")
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap()
}

/// An upload writes exactly one `import.uploaded`, through the API as through the import page.
#[tokio::test]
async fn an_import_upload_is_audited_once_through_the_api_and_once_through_the_page() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@import-audit-up.example.eu").await;
    let bearer = app.access_token("owner@import-audit-up.example.eu").await;
    let (status, created) =
        app.upload_import(&bearer, "contacts", b"email,last_name\na@exemple.fr,Un\n".to_vec()).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(app.count_audit_events(org, "import.uploaded").await, 1, "one event for the API's upload");

    let browser = app.browser_login("owner@import-audit-up.example.eu", PASSWORD).await;
    let csrf = browser.csrf_token("/crm/imports").await;
    let response = post_import_form(&app, &browser, &csrf, "contacts", b"email,last_name\nb@exemple.fr,Deux\n").await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.select_i64_in_org(org, "select count(*) from imports where org_id = $1").await, 2);
    assert_eq!(app.count_audit_events(org, "import.uploaded").await, 2, "and one for the page's");
}

/// Starting a run writes exactly one `import.started`, through the API as through the page.
#[tokio::test]
async fn an_import_run_is_audited_once_through_the_api_and_once_through_the_page() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@import-audit-run.example.eu").await;
    let bearer = app.access_token("owner@import-audit-run.example.eu").await;
    let (_, first) = app.upload_import(&bearer, "contacts", b"email,last_name\na@exemple.fr,Un\n".to_vec()).await;
    let (_, second) = app.upload_import(&bearer, "contacts", b"email,last_name\nb@exemple.fr,Deux\n".to_vec()).await;
    let (first, second) = (first["import_id"].as_str().unwrap(), second["import_id"].as_str().unwrap());

    let (status, started) = app.call_api(&bearer, Method::POST, &format!("/api/v1/imports/{first}/run"), None).await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(app.count_audit_events(org, "import.started").await, 1, "one event for the API's run");

    let browser = app.browser_login("owner@import-audit-run.example.eu", PASSWORD).await;
    let csrf = browser.csrf_token(&format!("/crm/imports/{second}")).await;
    let response = browser.post_form(&format!("/crm/imports/{second}/run"), &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), 303);
    app.run_jobs().await;
    assert_eq!(app.select_i64_in_org(org, "select count(*) from contacts where org_id = $1").await, 2);
    assert_eq!(app.count_audit_events(org, "import.started").await, 2, "and one for the page's");
}

/// Starting a revert writes exactly one `import.reverted`, through the API as through the page.
#[tokio::test]
async fn an_import_revert_is_audited_once_through_the_api_and_once_through_the_page() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@import-audit-rev.example.eu").await;
    let bearer = app.access_token("owner@import-audit-rev.example.eu").await;
    let first = app.import_csv(&bearer, "contacts", b"email,last_name\na@exemple.fr,Un\n".to_vec(), 5000).await;
    let second = app.import_csv(&bearer, "contacts", b"email,last_name\nb@exemple.fr,Deux\n".to_vec(), 5000).await;
    let (first, second) = (first["import_id"].as_str().unwrap(), second["import_id"].as_str().unwrap());
    assert_eq!(app.select_i64_in_org(org, "select count(*) from contacts where org_id = $1").await, 2);

    let (status, reverting) =
        app.call_api(&bearer, Method::POST, &format!("/api/v1/imports/{first}/revert"), None).await;
    assert_eq!(status, 202, "{reverting}");
    assert_eq!(app.count_audit_events(org, "import.reverted").await, 1, "one event for the API's revert");

    let browser = app.browser_login("owner@import-audit-rev.example.eu", PASSWORD).await;
    let csrf = browser.csrf_token(&format!("/crm/imports/{second}")).await;
    let response = browser.post_form(&format!("/crm/imports/{second}/revert"), &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), 303);
    app.run_jobs().await;
    assert_eq!(app.select_i64_in_org(org, "select count(*) from contacts where org_id = $1").await, 0);
    assert_eq!(app.count_audit_events(org, "import.reverted").await, 2, "and one for the page's");
}

/// (name, stage, amount, company, closed, expected close date) of an imported deal.
type DealRow = (String, String, Option<String>, Option<String>, bool, Option<String>);

/// Deals import like the other records: French headers are matched, stages and pipelines are
/// named as people name them (or left out: the default stage), companies by name or domain; a
/// name that matches nothing, or several companies, rejects the row with the reason; a deal
/// imported into a won stage is closed; revert removes them.
#[tokio::test]
async fn deals_import_with_stages_and_companies_by_name() {
    let app = TestApp::spawn().await;
    let (org, _, bearer) = app.sign_up_with_token("owner@import-deals.example.eu").await;
    for body in [
        json!({ "name": "Acme SAS", "domain": "acme.fr" }),
        json!({ "name": "Twin" }),
        json!({ "name": "Twin", "domain": "twin-two.fr" }),
    ] {
        let (status, created) = app.call_api(&bearer, Method::POST, "/api/v1/companies", Some(body)).await;
        assert_eq!(status, 201, "{created}");
    }
    let csv = "Affaire;Étape;Montant;Devise;Entreprise;Date de clôture prévue\n\
               Acme renewal;Proposal;12500.50;EUR;acme.fr;2026-12-15\n\
               Acme expansion;won;8000;EUR;ACME SAS;\n\
               Unknown stage;Signed;100;EUR;;\n\
               Twin deal;Qualification;100;EUR;Twin;\n\
               No company;;500;EUR;Nobody Inc;\n\
               Default stage deal;;;;;\n";
    let done = app.import_csv(&bearer, "deals", csv.as_bytes().to_vec(), 5000).await;
    assert_eq!(
        (done["status"].as_str(), done["created_count"].as_i64(), done["error_count"].as_i64()),
        (Some("done"), Some(3), Some(3)),
        "{done}"
    );
    let id = done["import_id"].as_str().unwrap().to_string();
    let (_, rejects) = app.get_text_with_bearer(&bearer, &format!("/api/v1/imports/{id}/rejects.csv")).await;
    assert!(rejects.contains("stage_id: No stage of this name"), "{rejects}");
    assert!(rejects.contains("company_id: Several companies have this name"), "{rejects}");
    assert!(rejects.contains("company_id: No company of this name or domain"), "{rejects}");

    let mut tx = app.db.begin_org(org, kernel::db::Actor::System).await.unwrap();
    let deals: Vec<DealRow> = sqlx::query_as(
        "select d.name, s.name, d.amount::text, c.name, d.closed_at is not null, d.expected_close_date::text
           from deals d join pipeline_stages s using (org_id, stage_id) left join companies c using (org_id, company_id)
          where d.org_id = $1 order by d.name",
    )
    .bind(org)
    .fetch_all(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        deals,
        vec![
            ("Acme expansion".into(), "Won".into(), Some("8000.00".into()), Some("Acme SAS".into()), true, None),
            (
                "Acme renewal".into(),
                "Proposal".into(),
                Some("12500.50".into()),
                Some("Acme SAS".into()),
                false,
                Some("2026-12-15".into())
            ),
            ("Default stage deal".into(), "Qualification".into(), None, None, false, None),
        ]
    );

    let (status, _) = app.call_api(&bearer, Method::POST, &format!("/api/v1/imports/{id}/revert"), None).await;
    assert_eq!(status, 202);
    app.run_jobs().await;
    assert_eq!(app.select_i64_in_org(org, "select count(*) from deals where org_id = $1").await, 0);
}

/// A row that passes validation but that the database refuses (here: an owner who is not a member
/// of the organization) is rejected alone, with the reason; the other rows of its batch are kept.
#[tokio::test]
async fn a_row_the_database_refuses_is_rejected_alone() {
    let app = TestApp::spawn().await;
    let (org, owner, bearer) = app.sign_up_with_token("owner@import-fk.example.eu").await;
    let stranger = uuid::Uuid::now_v7();
    let csv = format!(
        "email,last_name,owner_id\n\
         a@exemple.fr,Alpha,{}\n\
         b@exemple.fr,Bravo,{stranger}\n\
         c@exemple.fr,Charlie,\n",
        owner.0
    );
    let done = app.import_csv(&bearer, "contacts", csv.into_bytes(), 5000).await;
    assert_eq!(
        (done["status"].as_str(), done["created_count"].as_i64(), done["error_count"].as_i64()),
        (Some("done"), Some(2), Some(1)),
        "{done}"
    );
    let id = done["import_id"].as_str().unwrap();
    let (_, rejects) = app.get_text_with_bearer(&bearer, &format!("/api/v1/imports/{id}/rejects.csv")).await;
    assert!(rejects.contains(&format!("b@exemple.fr,Bravo,{stranger},3,The database refused this row")), "{rejects}");
    let emails: Vec<String> = contacts(&app, org).await.into_iter().map(|c| c.2).collect();
    assert_eq!(emails, ["a@exemple.fr", "c@exemple.fr"]);
}

/// The files an organization's imports keep on disk (`<data dir>/imports/<org>/`), sorted.
fn import_files(app: &TestApp, org: kernel::OrgId) -> Vec<String> {
    let dir = app.state.config.data_dir.join("imports").join(org.0.to_string());
    let mut names: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned())).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// Issue #10 item 8: one invalid byte in a UTF-8 file no longer turns the whole file into
/// Windows-1252: the accents stay, the bad byte is read as U+FFFD and counted.
#[tokio::test]
async fn a_utf8_file_with_one_invalid_byte_stays_utf8_and_the_byte_is_counted() {
    let app = TestApp::spawn().await;
    let (org, _, bearer) = app.sign_up_with_token("owner@import-damaged.example.eu").await;
    let mut csv =
        "Prénom;Nom;Courriel\nZoé;Lefèvre;zoe@exemple.fr\nAndré;Gaël;andre@exemple.fr\nÉmile;".as_bytes().to_vec();
    csv.extend(b"Du\xffval;emile@exemple.fr\n");
    let done = app.import_csv(&bearer, "contacts", csv, 100).await;
    assert_eq!(
        (done["encoding"].as_str(), done["detected_encoding"].as_str(), done["invalid_utf8"].as_i64()),
        (Some("utf-8"), Some("utf-8"), Some(1)),
        "{done}"
    );
    assert_eq!(done["headers"], json!(["Prénom", "Nom", "Courriel"]));
    assert_eq!(done["created_count"], 3);
    let names: Vec<(String, String)> = contacts(&app, org).await.into_iter().map(|c| (c.0, c.1)).collect();
    assert_eq!(
        names,
        vec![
            ("André".to_string(), "Gaël".to_string()),
            ("Émile".to_string(), "Du\u{fffd}val".to_string()),
            ("Zoé".to_string(), "Lefèvre".to_string())
        ]
    );
}

/// Issue #10 item 8: the detected encoding is shown on the mapping step (API and page) and the
/// person can read the file with another one: the header row is read again and matched again.
#[tokio::test]
async fn the_detected_encoding_is_shown_and_can_be_changed_before_the_run() {
    let app = TestApp::spawn().await;
    let (org, _, bearer) = app.sign_up_with_token("owner@import-encoding.example.eu").await;
    // ISO-8859-15: 0xA4 is "€" there, "¤" in Windows-1252; 0xE9 is "é" in both.
    let csv = b"Pr\xe9nom,Nom,Courriel,Fonction\nL\xe9a,Roux,lea@exemple.fr,Tr\xe9sori\xe8re \xa4\n".to_vec();
    let (status, created) = app.upload_import(&bearer, "contacts", csv).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (created["encoding"].as_str(), created["detected_encoding"].as_str()),
        (Some("windows-1252"), Some("windows-1252"))
    );
    let id = created["import_id"].as_str().unwrap().to_string();

    let path = format!("/api/v1/imports/{id}/encoding");
    let (status, problem) = app.call_api(&bearer, Method::PUT, &path, Some(json!({ "encoding": "ebcdic" }))).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "encoding");
    let (status, changed) = app.call_api(&bearer, Method::PUT, &path, Some(json!({ "encoding": "utf-8" }))).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (changed["encoding"].as_str(), changed["detected_encoding"].as_str()),
        (Some("utf-8"), Some("windows-1252"))
    );
    assert_eq!(changed["headers"][0], "Pr\u{fffd}nom", "read as UTF-8, the accent is not one");

    let browser = app.browser_login("owner@import-encoding.example.eu", PASSWORD).await;
    let location = format!("/crm/imports/{id}");
    let page = browser.get(&location).await.text().await.unwrap();
    assert!(page.contains("Detected encoding:") && page.contains("Windows-1252"), "the page shows what was detected");
    let csrf = browser.csrf_token(&location).await;
    let response =
        browser.post_form(&format!("{location}/encoding"), &[("csrf", &csrf), ("encoding", "iso-8859-15")]).await;
    assert_eq!(response.status(), 303);
    let response =
        browser.post_form(&format!("{location}/encoding"), &[("csrf", &csrf), ("encoding", "klingon")]).await;
    assert_eq!(response.status(), 422, "an unknown encoding re-renders the page with the error");
    let (_, preview) = app.call_api(&bearer, Method::GET, &format!("/api/v1/imports/{id}/preview"), None).await;
    assert_eq!(preview["headers"][0], "Prénom", "matched again: {preview}");
    assert_eq!(preview["mapping"]["0"], "first_name");
    assert_eq!(preview["rows"][0]["cells"][3], "Trésorière €", "the whole file is read as ISO-8859-15");

    let (status, _) = app.call_api(&bearer, Method::POST, &format!("/api/v1/imports/{id}/run"), None).await;
    assert_eq!(status, 202);
    app.run_jobs().await;
    let (status, _) = app.call_api(&bearer, Method::PUT, &path, Some(json!({ "encoding": "utf-8" }))).await;
    assert_eq!(status, 409, "the encoding cannot change once the import has run");
    assert_eq!(contacts(&app, org).await[0].0, "Léa");
}

/// Issue #10 item 9: a NUL byte in a cell rejects that row with its row number and the field; the
/// other rows are imported and the import ends `done`, never `failed` with database text.
#[tokio::test]
async fn a_nul_byte_in_a_cell_rejects_that_row_and_the_others_import() {
    let app = TestApp::spawn().await;
    let (org, _, bearer) = app.sign_up_with_token("owner@import-nul.example.eu").await;
    let csv =
        b"email,first_name,last_name\na@exemple.fr,Ana,Un\nb@exemple.fr,B\0b,Deux\nc@exemple.fr,Cy,Trois\n".to_vec();
    let done = app.import_csv(&bearer, "contacts", csv, 100).await;
    assert_eq!(
        (done["status"].as_str(), done["created_count"].as_i64(), done["error_count"].as_i64()),
        (Some("done"), Some(2), Some(1)),
        "{done}"
    );
    let id = done["import_id"].as_str().unwrap();
    let (status, rejects) = app.get_text_with_bearer(&bearer, &format!("/api/v1/imports/{id}/rejects.csv")).await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = rejects.lines().collect();
    assert!(lines[1].starts_with("b@exemple.fr,Bb,Deux,3,first_name: "), "{rejects}");
    assert_eq!(app.select_i64_in_org(org, "select count(*) from contacts where org_id = $1").await, 2);
}

/// Issue #10 item 10: an unbalanced quote is a reject with its row number, and the rows after it
/// are still imported: no row is ever lost without a reject.
#[tokio::test]
async fn an_unbalanced_quote_is_a_reject_and_the_rows_after_it_import() {
    let app = TestApp::spawn().await;
    let (org, _, bearer) = app.sign_up_with_token("owner@import-quote.example.eu").await;
    let csv = "email,first_name,last_name,remarque\n\
               a@exemple.fr,Ana,\"Un\n\
               b@exemple.fr,Bob,Deux\n\
               c@exemple.fr,\"Cy\"x,Trois\n\
               d@exemple.fr,Dee,Quatre,\"sur deux\nlignes\"\n\
               e@exemple.fr,Eve,Cinq\n";
    let (status, created) = app.upload_import(&bearer, "contacts", csv.as_bytes().to_vec()).await;
    assert_eq!(status, 201, "{created}");
    let id = created["import_id"].as_str().unwrap().to_string();
    let (_, preview) = app.call_api(&bearer, Method::GET, &format!("/api/v1/imports/{id}/preview"), None).await;
    let previewed: Vec<(i64, bool)> = preview["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["row"].as_i64().unwrap(), r["error"].is_string()))
        .collect();
    assert_eq!(previewed, vec![(2, true), (3, false), (4, true), (5, false), (6, false)], "{preview}");

    let (status, _) =
        app.call_api(&bearer, Method::POST, &format!("/api/v1/imports/{id}/run?batch_rows=2"), None).await;
    assert_eq!(status, 202);
    app.run_jobs().await;
    let (_, done) = app.call_api(&bearer, Method::GET, &format!("/api/v1/imports/{id}"), None).await;
    assert_eq!(
        (done["status"].as_str(), done["created_count"].as_i64(), done["error_count"].as_i64()),
        (Some("done"), Some(3), Some(2)),
        "{done}"
    );
    let (_, rejects) = app.get_text_with_bearer(&bearer, &format!("/api/v1/imports/{id}/rejects.csv")).await;
    let rows: Vec<&str> = rejects.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{rejects}");
    assert!(rows[0].contains(",2,") && rows[0].contains("unbalanced quote"), "{rejects}");
    assert!(rows[1].contains(",4,") && rows[1].contains("unbalanced quote"), "{rejects}");
    let names: Vec<String> = contacts(&app, org).await.into_iter().map(|c| c.1).collect();
    assert_eq!(names, vec!["Deux", "Quatre", "Cinq"], "a quoted line break inside a cell is no problem");
}

/// Issue #10 item 11: a binary file (a spreadsheet) or UTF-16 text given to the CSV import is
/// refused with 422 naming `file`, on the API and the page, and leaves no file behind.
#[tokio::test]
async fn a_binary_or_utf16_file_is_refused_naming_the_file_and_leaves_nothing() {
    let app = TestApp::spawn().await;
    let (org, _, browser) = app.sign_up_and_log_in("owner@import-binary.example.eu").await;
    let bearer = app.access_token("owner@import-binary.example.eu").await;
    let xlsx =
        b"PK\x03\x04\x14\0\x06\0\x08\0\0\0!\0\xb5U0#\xf4\0\0\0L\x02\0\0\x13\0\x08\x02[Content_Types].xml".to_vec();
    let utf16: Vec<u8> =
        [0xFF, 0xFE].into_iter().chain("email\r\na@b.fr\r\n".encode_utf16().flat_map(u16::to_le_bytes)).collect();
    for bytes in [xlsx.clone(), utf16] {
        let (status, problem) = app.upload_import(&bearer, "contacts", bytes).await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(
            (problem["errors"][0]["field"].as_str(), problem["errors"][0]["code"].as_str()),
            (Some("file"), Some("not_text"))
        );
    }
    let csrf = browser.csrf_token("/crm/imports").await;
    let response = post_import_form(&app, &browser, &csrf, "contacts", &xlsx).await;
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("not a text CSV file"));
    assert_eq!(app.select_i64_in_org(org, "select count(*) from imports where org_id = $1").await, 0);
    assert!(import_files(&app, org).is_empty(), "no file left: {:?}", import_files(&app, org));
}

/// Issue #10 item 11: an upload is not cut by the total request timeout while its bytes keep
/// coming (here a 5 s budget and an upload of about 6 s).
#[tokio::test]
async fn an_upload_longer_than_the_request_timeout_completes_while_data_keeps_coming() {
    let app =
        TestApp::spawn_with(&[("RELAIS_REQUEST_TIMEOUT_SECS", "5"), ("RELAIS_UPLOAD_IDLE_TIMEOUT_SECS", "20")]).await;
    let (org, _, bearer) = app.sign_up_with_token("owner@import-slow.example.eu").await;
    let auth = format!("Bearer {bearer}");
    let mut request = testkit::http::RawRequest::start(
        app.address,
        "POST",
        "/api/v1/imports?object=contacts&filename=slow.csv",
        &[("authorization", &auth), ("content-type", "text/csv")],
    )
    .await;
    request.send(b"email,last_name\n").await.unwrap();
    for i in 0..24 {
        // A slow line: a row every 250 ms, 6 s in all.
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        request.send(format!("p{i}@exemple.fr,Lent\n").as_bytes()).await.unwrap();
    }
    request.finish().await.unwrap();
    let (status, body) = request.response().await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(app.select_i64_in_org(org, "select count(*) from imports where org_id = $1").await, 1);
    // Other routes keep their total budget.
    assert_eq!(app.state.config.request_timeout, std::time::Duration::from_secs(5));
}

/// Issue #10 item 11: an upload whose bytes stop coming is cut after the idle timeout, and its
/// partial file is removed (no orphan on disk).
#[tokio::test]
async fn a_stalled_upload_is_cut_after_the_idle_timeout_and_its_partial_file_removed() {
    let app = TestApp::spawn_with(&[("RELAIS_UPLOAD_IDLE_TIMEOUT_SECS", "1")]).await;
    let (org, _, bearer) = app.sign_up_with_token("owner@import-stall.example.eu").await;
    let auth = format!("Bearer {bearer}");
    let mut request = testkit::http::RawRequest::start(
        app.address,
        "POST",
        "/api/v1/imports?object=contacts&filename=stall.csv",
        &[("authorization", &auth), ("content-type", "text/csv")],
    )
    .await;
    request.send(&b"email,last_name\na@exemple.fr,Un\n".repeat(1000)).await.unwrap();
    // Nothing more is sent: the server gives up on its own.
    let _writer = request.take_writer();
    let (status, body) = request.response().await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("no data received"), "{body}");
    assert!(import_files(&app, org).is_empty(), "the partial file is removed: {:?}", import_files(&app, org));
    assert_eq!(app.select_i64_in_org(org, "select count(*) from imports where org_id = $1").await, 0);
}

/// Issue #10 item 11: the sweeper job, queued by every upload for the next day, removes what a
/// crash left behind (a partial upload, a stored file with no import) and keeps the imports' files.
#[tokio::test]
async fn the_sweeper_removes_leftover_import_files_a_day_later() {
    let app = TestApp::spawn().await;
    let (org, _, bearer) = app.sign_up_with_token("owner@import-sweep.example.eu").await;
    let (status, created) = app.upload_import(&bearer, "contacts", b"email\na@exemple.fr\n".to_vec()).await;
    assert_eq!(status, 201);
    let kept = format!("{}.csv", created["import_id"].as_str().unwrap());
    let dir = app.state.config.data_dir.join("imports").join(org.0.to_string());
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 24 * 3600);
    let (part, orphan) = (format!("{}.part", uuid::Uuid::now_v7()), format!("{}.csv", uuid::Uuid::now_v7()));
    for name in [&part, &orphan, &kept] {
        let path = dir.join(name);
        if !path.exists() {
            std::fs::write(&path, b"email\nx@exemple.fr\n").unwrap();
        }
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(old).unwrap();
    }
    let fresh = format!("{}.part", uuid::Uuid::now_v7());
    std::fs::write(dir.join(&fresh), b"an upload in progress").unwrap();
    app.run_jobs().await;
    assert_eq!(import_files(&app, org).len(), 4, "nothing is swept before its day");

    app.clock.advance(time::Duration::hours(25));
    app.run_jobs().await;
    let mut expected = vec![kept, fresh];
    expected.sort();
    assert_eq!(import_files(&app, org), expected);
}

/// Issue #10 item 12: the CSRF field of a multipart form is bounded before it is checked: an
/// endless `csrf` field (or an endless header block before it) is refused without being read
/// whole, on the import page and on a record's file upload page.
#[tokio::test]
async fn an_endless_csrf_field_is_refused_without_being_buffered() {
    let app = TestApp::spawn().await;
    let (_, _, browser) = app.sign_up_and_log_in("owner@import-csrf.example.eu").await;
    let bearer = app.access_token("owner@import-csrf.example.eu").await;
    let (status, contact) =
        app.call_api(&bearer, Method::POST, "/api/v1/contacts", Some(json!({ "last_name": "Csrf" }))).await;
    assert_eq!(status, 201);
    let files = format!("/crm/contacts/{}/files", contact["id"].as_str().unwrap());
    let cookie = format!("relais_session={}", browser.cookie("relais_session").unwrap());
    let boundary = "relaisboundary42";
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let value_start = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n");
    let header_start = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"; x=\"");
    for (path, start) in
        [("/crm/imports", &value_start), (files.as_str(), &value_start), ("/crm/imports", &header_start)]
    {
        let mut request = testkit::http::RawRequest::start(
            app.address,
            "POST",
            path,
            &[
                ("cookie", &cookie),
                ("origin", "null"),
                ("sec-fetch-site", "same-origin"),
                ("content-type", &content_type),
            ],
        )
        .await;
        request.send(start.as_bytes()).await.unwrap();
        let mut writer = request.take_writer();
        // An endless field: if the server read it whole, it would never answer.
        let sender = tokio::spawn(async move {
            let chunk = vec![b'a'; 64 * 1024];
            while testkit::http::send_chunk(&mut writer, &chunk).await.is_ok() {}
        });
        let answer = tokio::time::timeout(std::time::Duration::from_secs(30), request.response()).await;
        sender.abort();
        let (status, _) = answer.expect("an answer without reading the endless field");
        assert_eq!(status, 403, "{path}");
    }
}

/// Issue #11 ("import with real French data"): a choice cell may hold the option's label in French
/// or English, in any case ("Qualifié", "nouveau", "Qualified"), not only its code; anything else
/// is still a reject naming the field.
#[tokio::test]
async fn choice_cells_accept_the_labels_in_french_and_english() {
    let app = TestApp::spawn().await;
    let (org, _, bearer) = app.sign_up_with_token("owner@import-labels.example.eu").await;
    let csv = "email,last_name,status\na@exemple.fr,Un,Qualifié\nb@exemple.fr,Deux,nouveau\nc@exemple.fr,Trois,Qualified\nd@exemple.fr,Quatre,contacted\ne@exemple.fr,Cinq,Peut-être\n";
    let done = app.import_csv(&bearer, "leads", csv.as_bytes().to_vec(), 100).await;
    assert_eq!(
        (done["status"].as_str(), done["created_count"].as_i64(), done["error_count"].as_i64()),
        (Some("done"), Some(4), Some(1)),
        "{done}"
    );
    let count = |status: &str| {
        let sql = format!("select count(*) from leads where org_id = $1 and status = '{status}'");
        let app = &app;
        async move { app.select_i64_in_org(org, &sql).await }
    };
    assert_eq!((count("qualified").await, count("new").await, count("contacted").await), (2, 1, 1));
}

/// Uploads `csv`, keeps the auto-matched mapping with `mode`, runs the dry run then the import in
/// batches of `batch_rows`: (the dry run's findings, the finished import).
async fn import_with_mode(
    app: &TestApp,
    bearer: &str,
    object: &str,
    csv: &str,
    mode: &str,
    batch_rows: u32,
) -> (Value, Value) {
    let (status, created) = app.upload_import(bearer, object, csv.as_bytes().to_vec()).await;
    assert_eq!(status, 201, "{created}");
    let id = created["import_id"].as_str().unwrap().to_string();
    let body = json!({ "mapping": created["mapping"], "mode": mode });
    let (status, mapped) =
        app.call_api(bearer, Method::PUT, &format!("/api/v1/imports/{id}/mapping"), Some(body)).await;
    assert_eq!((status, mapped["mode"].as_str()), (StatusCode::OK, Some(mode)), "{mapped}");
    let (status, _) = app.call_api(bearer, Method::POST, &format!("/api/v1/imports/{id}/dry-run"), None).await;
    assert_eq!(status, 202);
    app.run_jobs().await;
    let (_, dry) = app.call_api(bearer, Method::GET, &format!("/api/v1/imports/{id}"), None).await;
    assert_eq!(dry["status"], "dry_run_done", "{dry}");
    let path = format!("/api/v1/imports/{id}/run?batch_rows={batch_rows}");
    let (status, started) = app.call_api(bearer, Method::POST, &path, None).await;
    assert_eq!(status, 202, "{started}");
    app.run_jobs().await;
    let (_, done) = app.call_api(bearer, Method::GET, &format!("/api/v1/imports/{id}"), None).await;
    assert_eq!(done["status"], "done", "{done}");
    (dry["dry_run"].clone(), done)
}

/// Issue #11: the dry run said 891 creations and the run made 890. A row shorter than the header
/// (its status cell missing) was counted as a creation by the dry run, then written with an empty
/// status the table refuses. Now the dry run and the run agree, and the short rows are created
/// with the column's default.
#[tokio::test]
async fn short_rows_are_created_and_the_dry_run_agrees_with_the_run() {
    let app = TestApp::spawn().await;
    let (org, _, bearer) = app.sign_up_with_token("owner@import-short.example.eu").await;
    let csv = "email,last_name,company_name,status\n\
               a@exemple.fr,Un,Acme,Qualifié\n\
               b@exemple.fr,Deux\n\
               c@exemple.fr,Trois,Globex,\n\
               d@exemple.fr\n";
    let (dry, done) = import_with_mode(&app, &bearer, "leads", csv, "fill_empty", 2).await;
    assert_eq!((dry["counts"]["to_create"].as_i64(), dry["counts"]["errors"].as_i64()), (Some(4), Some(0)), "{dry}");
    assert_eq!(
        (done["created_count"].as_i64(), done["error_count"].as_i64()),
        (dry["counts"]["to_create"].as_i64(), Some(0)),
        "the run makes what the dry run announced: {done}"
    );
    let statuses: Vec<(String, String)> =
        app.select_rows_in_org(org, "select email, status from leads where org_id = $1 order by email").await;
    assert_eq!(
        statuses,
        vec![
            ("a@exemple.fr".into(), "qualified".into()),
            ("b@exemple.fr".into(), "new".into()),
            ("c@exemple.fr".into(), "new".into()),
            ("d@exemple.fr".into(), "new".into()),
        ]
    );
}

/// Issue #11: overseas mobiles written the French way ("06 90…", "06 39…") are valid numbers of
/// their department; a phone no parser reads no longer refuses the row: the row is kept, the text
/// goes to a note on the record, and the report and the rejects file show a warning for it.
#[tokio::test]
async fn overseas_phones_import_and_an_unreadable_phone_is_kept_as_a_note_with_a_warning() {
    let app = TestApp::spawn().await;
    let (org, _, bearer) = app.sign_up_with_token("owner@import-phones.example.eu").await;
    let csv = "Courriel;Nom;Téléphone\n\
               gp@exemple.fr;Guadeloupe;06 90 12 34 56\n\
               yt@exemple.fr;Mayotte;06 39 01 23 45\n\
               re@exemple.fr;Réunion;0692 12 34 56\n\
               bad@exemple.fr;Illisible;06 12 ext. 4\n\
               nokey@;Refusé;0612\n";
    let (dry, done) = import_with_mode(&app, &bearer, "contacts", csv, "fill_empty", 100).await;
    assert_eq!(
        (dry["counts"]["to_create"].as_i64(), dry["counts"]["warnings"].as_i64(), dry["counts"]["errors"].as_i64()),
        (Some(4), Some(1), Some(1)),
        "{dry}"
    );
    let warning = dry["rejects"].as_array().unwrap().iter().find(|r| r["kind"] == "warning").unwrap().clone();
    assert_eq!(warning["row"], 5, "{warning}");
    assert!(warning["reason"].as_str().unwrap().starts_with("phone: "), "{warning}");
    assert_eq!(
        (done["created_count"].as_i64(), done["warning_count"].as_i64(), done["error_count"].as_i64()),
        (Some(4), Some(1), Some(1)),
        "{done}"
    );
    let phones: Vec<(String, String)> =
        app.select_rows_in_org(org, "select email, phone from contacts where org_id = $1 order by email").await;
    assert_eq!(
        phones,
        vec![
            ("bad@exemple.fr".into(), "".into()),
            ("gp@exemple.fr".into(), "+590690123456".into()),
            ("re@exemple.fr".into(), "+262692123456".into()),
            ("yt@exemple.fr".into(), "+262639012345".into()),
        ]
    );
    let notes: Vec<(String,)> = app
        .select_rows_in_org(
            org,
            "select n.body from notes n join contacts c using (org_id, contact_id) where n.org_id = $1 and c.email = 'bad@exemple.fr'",
        )
        .await;
    assert_eq!(notes.len(), 1);
    assert!(notes[0].0.contains("06 12 ext. 4") && notes[0].0.contains("clients.csv"), "{}", notes[0].0);
    let id = done["import_id"].as_str().unwrap();
    let (_, rejects) = app.get_text_with_bearer(&bearer, &format!("/api/v1/imports/{id}/rejects.csv")).await;
    assert!(
        rejects.contains(r#"bad@exemple.fr,Illisible,06 12 ext. 4,5,"phone: ""06 12 ext. 4"" is not"#),
        "{rejects}"
    );
    // The API keeps its strict rule: a phone it cannot read is refused there.
    let (status, _) = app
        .call_api(
            &bearer,
            Method::POST,
            "/api/v1/contacts",
            Some(json!({ "email": "x@exemple.fr", "phone": "06 12 ext. 4" })),
        )
        .await;
    assert_eq!(status, 422);
}

/// Issue #11: an existing email silently overwrote a lead's name and company. The mode chosen on
/// the mapping step decides: fill_empty (the default) writes only the empty fields, overwrite
/// replaces them, create_only leaves the record alone; the dry run shows the changes (old → new).
#[tokio::test]
async fn the_import_mode_decides_what_happens_to_existing_records_and_the_dry_run_shows_the_diff() {
    let app = TestApp::spawn().await;
    let (_, _, bearer) = app.sign_up_with_token("owner@import-modes.example.eu").await;
    let (status, lead) = app
        .call_api(
            &bearer,
            Method::POST,
            "/api/v1/leads",
            Some(json!({ "first_name": "Anne", "last_name": "Martin", "email": "anne@exemple.fr" })),
        )
        .await;
    assert_eq!(status, 201, "{lead}");
    let lead_path = format!("/api/v1/leads/{}", lead["id"].as_str().unwrap());
    let csv = "email,first_name,company_name\nanne@exemple.fr,Annie,Acme\nnew@exemple.fr,Nouveau,Globex\n";

    let (status, created) = app.upload_import(&bearer, "leads", csv.as_bytes().to_vec()).await;
    assert_eq!((status, created["mode"].as_str()), (StatusCode::CREATED, Some("fill_empty")), "the default");

    let (dry, done) = import_with_mode(&app, &bearer, "leads", csv, "create_only", 100).await;
    assert_eq!((dry["counts"]["skipped"].as_i64(), dry["counts"]["to_create"].as_i64()), (Some(1), Some(1)), "{dry}");
    assert_eq!((done["created_count"].as_i64(), done["updated_count"].as_i64()), (Some(1), Some(0)));
    let (_, now) = app.call_api(&bearer, Method::GET, &lead_path, None).await;
    assert_eq!((now["first_name"].as_str(), now["company_name"].as_str()), (Some("Anne"), Some("")));

    let (dry, done) = import_with_mode(&app, &bearer, "leads", csv, "fill_empty", 100).await;
    assert_eq!(
        dry["updates"],
        json!([{ "row": 2, "key": "anne@exemple.fr", "changes": [{ "field": "company_name", "old": "", "new": "Acme" }] }]),
        "only the empty field changes: {dry}"
    );
    assert_eq!(done["updated_count"], 1, "{done}");
    let (_, now) = app.call_api(&bearer, Method::GET, &lead_path, None).await;
    assert_eq!((now["first_name"].as_str(), now["company_name"].as_str()), (Some("Anne"), Some("Acme")));

    let (dry, _) = import_with_mode(&app, &bearer, "leads", csv, "overwrite", 100).await;
    assert_eq!(
        dry["updates"][0]["changes"],
        json!([{ "field": "first_name", "old": "Anne", "new": "Annie" }]),
        "{dry}"
    );
    let (_, now) = app.call_api(&bearer, Method::GET, &lead_path, None).await;
    assert_eq!(now["first_name"], "Annie");

    let (status, refused) = app
        .call_api(
            &bearer,
            Method::PUT,
            &format!("/api/v1/imports/{}/mapping", created["import_id"].as_str().unwrap()),
            Some(json!({ "mapping": {}, "mode": "merge" })),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused.to_string().contains("mode"), "{refused}");
}

/// Switches the signed-in member's language to French on the profile page.
async fn speak_french(browser: &testkit::Browser) {
    let csrf = browser.csrf_token("/settings/profile").await;
    let saved = browser
        .post_form(
            "/settings/profile",
            &[
                ("csrf", &csrf),
                ("first_name", "Ana"),
                ("last_name", "Owner"),
                ("job_title", "Fondatrice"),
                ("language", "fr"),
            ],
        )
        .await;
    assert_eq!(saved.status(), 303);
}

/// Issue #11: what the import's background work found is stored as codes, so a French member
/// reads the rejects, the warning and the duplicate in French on the import page and in the
/// rejects file, including rows stored before the codes existed; the API keeps its English text
/// and gains the stable codes.
#[tokio::test]
async fn a_french_member_reads_the_rejects_in_french_and_the_api_keeps_codes_and_english() {
    let app = TestApp::spawn().await;
    let email = "owner@import-fr.example.eu";
    let (org, _, bearer) = app.sign_up_with_token(email).await;
    let browser = app.browser_login(email, PASSWORD).await;
    speak_french(&browser).await;
    let csv = "email,last_name,phone\n\
               not-an-email,Refusé,\n\
               ok@exemple.fr,Gardé,06 12 ext. 4\n\
               ok@exemple.fr,Double,\n";
    let (dry, done) = import_with_mode(&app, &bearer, "contacts", csv, "fill_empty", 100).await;
    let rejects = dry["rejects"].as_array().unwrap();
    let codes: Vec<(i64, &str, &str)> = rejects
        .iter()
        .map(|r| (r["row"].as_i64().unwrap(), r["kind"].as_str().unwrap(), r["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        codes,
        vec![(2, "error", "invalid_email"), (3, "warning", "phone_kept_as_note"), (4, "duplicate", "duplicate_key")],
        "{dry}"
    );
    assert_eq!(rejects[0]["problems"][0]["field"], "email", "{dry}");
    assert!(rejects[0]["problems"][0]["message"].as_str().unwrap().contains("email"), "English: {dry}");
    assert!(rejects[0]["reason"].as_str().unwrap().starts_with("email: "), "the English text stays: {dry}");
    let id = done["import_id"].as_str().unwrap().to_string();

    // The dry run's report on the page, in French.
    let page = browser.get(&format!("/crm/imports/{id}")).await.text().await.unwrap();
    for french in [
        "Saisissez une adresse e-mail valide",
        "n’est pas un numéro de téléphone que l’import sait lire",
        "Une ligne plus haut dans le fichier a la même clé",
    ] {
        assert!(page.contains(french), "{french}: {page}");
    }
    for english in ["(invalid_email)", "is not a phone number", "A row earlier in the file"] {
        assert!(!page.contains(english), "{english}: {page}");
    }

    // The rejects file of the page, in French; the API's in English with the codes.
    let file = browser.get(&format!("/crm/imports/{id}/rejects.csv")).await.text().await.unwrap();
    assert!(file.contains("not-an-email;Refusé;;2;E-mail\u{a0}: Saisissez une adresse e-mail valide"), "{file}");
    assert!(file.contains("«\u{a0}06 12 ext. 4\u{a0}»") && !file.contains("is not a phone"), "{file}");
    let (_, api) = app.get_text_with_bearer(&bearer, &format!("/api/v1/imports/{id}/rejects.csv")).await;
    let lines: Vec<&str> = api.lines().collect();
    assert_eq!(lines[0], "email,last_name,phone,row,error,code");
    assert!(
        lines[1].starts_with("not-an-email,Refusé,,2,email: ") && lines[1].ends_with(",email:invalid_email"),
        "{api}"
    );
    assert!(lines[3].ends_with(",duplicate_key"), "{api}");

    // Rows stored before the codes existed (their problems unknown) still read in French.
    let mut su = app.superuser_connection().await;
    sqlx::query("update import_rejects set problems = null where org_id = $1")
        .bind(org)
        .execute(&mut su)
        .await
        .unwrap();
    let file = browser.get(&format!("/crm/imports/{id}/rejects.csv")).await.text().await.unwrap();
    assert!(
        file.contains("Saisissez une adresse e-mail valide") && file.contains("«\u{a0}06 12 ext. 4\u{a0}»"),
        "{file}"
    );
    assert!(file.contains("Une ligne plus haut dans le fichier a la même clé"), "{file}");
}

/// Issue #11: an import that failed in the background says why in the member's language (the
/// stored code), never the English sentence; the API keeps `last_error` in English with
/// `last_error_code`.
#[tokio::test]
async fn a_failed_import_says_why_in_french_and_the_api_gives_the_code() {
    let app = TestApp::spawn().await;
    let email = "owner@import-fr-failed.example.eu";
    let (org, _, bearer) = app.sign_up_with_token(email).await;
    speak_french(&app.browser_login(email, PASSWORD).await).await;
    let (_, created) = app.upload_import(&bearer, "contacts", b"email,last_name\nd@exemple.fr,Un\n".to_vec()).await;
    let id = created["import_id"].as_str().unwrap().to_string();
    let (status, _) = app.call_api(&bearer, Method::POST, &format!("/api/v1/imports/{id}/dry-run"), None).await;
    assert_eq!(status, 202);
    let path = app.state.config.data_dir.join("imports").join(org.0.to_string()).join(format!("{id}.csv"));
    std::fs::remove_file(&path).unwrap();
    for _ in 0..6 {
        app.run_jobs().await;
        app.clock.advance(time::Duration::hours(2));
    }
    let bearer = app.access_token(email).await;
    let (_, failed) = app.call_api(&bearer, Method::GET, &format!("/api/v1/imports/{id}"), None).await;
    assert_eq!((failed["status"].as_str(), failed["last_error_code"].as_str()), (Some("failed"), Some("file_missing")));
    assert!(failed["last_error"].as_str().unwrap_or_default().contains("no longer on the server"), "{failed}");
    // Hours went by: the session has lapsed; the member signs in again (still in French).
    let browser = app.browser_login(email, PASSWORD).await;
    let fragment = browser.get(&format!("/crm/imports/{id}/progress")).await.text().await.unwrap();
    assert!(fragment.contains("Le fichier envoyé n’est plus sur le serveur"), "{fragment}");
    assert!(!fragment.contains("no longer on the server"), "{fragment}");

    // A failure recorded before the codes (its text only) reads as the step's failure, in French.
    let mut su = app.superuser_connection().await;
    sqlx::query(
        "update imports set last_error_code = null, last_error = 'the background job stopped: boom' where org_id = $1",
    )
    .bind(org)
    .execute(&mut su)
    .await
    .unwrap();
    let fragment = browser.get(&format!("/crm/imports/{id}/progress")).await.text().await.unwrap();
    assert!(fragment.contains("Cette étape a échoué sur le serveur") && !fragment.contains("boom"), "{fragment}");
}
