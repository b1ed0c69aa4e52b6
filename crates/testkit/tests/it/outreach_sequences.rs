//! Sequences, their steps and enrollment, over the API and the pages: validation naming the
//! field (`steps[1].body`), the unsubscribe link required in every email, campaigns of one email,
//! who sees and changes which sequence (another member's is 404, another organization's too),
//! enrolling contacts and a saved view into a sequence whose mail then arrives at a real SMTP
//! server (aiosmtpd), skipped targets with their reason, no double enrollment, a preview per
//! recipient and a test send to oneself.

use kernel::OrgId;
use kernel::authz::Role;
use kernel::db::Actor;
use reqwest::Method;
use serde_json::{Value, json};
use testkit::outreach::MailboxLimits;
use testkit::{PASSWORD, TestApp};
use uuid::Uuid;

const UNSUBSCRIBE: &str = "{{ unsubscribe_url }}";

fn email(subject: &str, body: &str) -> Value {
    json!({ "kind": "email", "subject": subject, "body": body })
}

/// The first field error of a problem+json answer: (field, code, message).
fn first_error(problem: &Value) -> (String, String, String) {
    let e = &problem["errors"][0];
    let text = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
    (text("field"), text("code"), text("message"))
}

fn field_codes(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    (
                        e["field"].as_str().unwrap_or_default().to_owned(),
                        e["code"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn suppress(app: &TestApp, org: OrgId, address: &str) {
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    outreach::suppression::store::insert(
        &mut tx,
        app.clock.now(),
        address,
        outreach::suppression::Reason::Unsubscribed,
        "",
        None,
        None,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// The API refuses what cannot be sent, naming the field: an email without its unsubscribe link,
/// a variable that is no field and has no fallback, a first email "in the thread", a wait of 0
/// days, a campaign of two steps, tracking (not available), another member's mailbox. Users see
/// only their own sequences (another's is 404), managers see everyone's but do not change them,
/// and another organization sees nothing.
#[tokio::test]
async fn sequences_are_validated_field_by_field_and_seen_only_by_whom_they_should() {
    let app = TestApp::spawn().await;
    let (org, owner) = app.sign_up_directly("owner@seq-api.example.eu").await;
    let bearer = app.access_token("owner@seq-api.example.eu").await;
    let mine = app.outreach_mailbox(org, owner.0, "me@sender.example", 2525, MailboxLimits::default()).await;
    let colleague = app.add_member(org, "user@seq-api.example.eu", Role::User).await;
    let theirs = app.outreach_mailbox(org, colleague, "them@sender.example", 2525, MailboxLimits::default()).await;

    // Create: a draft, owned by its creator.
    let (status, created) = app
        .call_api(&bearer, Method::POST, "/api/v1/sequences", Some(json!({ "name": "Welcome", "mailbox_ids": [mine] })))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "draft");
    assert_eq!(created["tracking"], false);
    assert_eq!(created["owner_id"], json!(owner.0));
    let id = created["sequence_id"].as_str().unwrap().to_owned();

    // Tracking is the owner's choice, off unless asked for.
    let (status, tracked) =
        app.call_api(&bearer, Method::POST, "/api/v1/sequences", Some(json!({ "name": "T", "tracking": true }))).await;
    assert_eq!(status, 201, "{tracked}");
    assert_eq!(tracked["tracking"], true);

    // Settings refused by field.
    for foreign in [json!(theirs), json!(Uuid::now_v7())] {
        let (status, problem) = app
            .call_api(
                &bearer,
                Method::POST,
                "/api/v1/sequences",
                Some(json!({ "name": "M", "mailbox_ids": [foreign] })),
            )
            .await;
        assert_eq!(status, 422);
        assert_eq!(first_error(&problem).0, "mailbox_ids");
    }
    let (status, problem) =
        app.call_api(&bearer, Method::POST, "/api/v1/sequences", Some(json!({ "name": "", "colour": "red" }))).await;
    assert_eq!(status, 422, "unknown fields are refused: {problem}");
    let (status, problem) = app
        .call_api(
            &bearer,
            Method::POST,
            "/api/v1/sequences",
            Some(json!({ "name": "Promo", "kind": "campaign", "steps": [
                email("One", &format!("First {UNSUBSCRIBE}")),
                email("Two", &format!("Second {UNSUBSCRIBE}")),
            ] })),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(field_codes(&problem), [("steps".to_owned(), "campaign_single_email".to_owned())]);

    // Steps refused by field.
    let steps_path = format!("/api/v1/sequences/{id}/steps");
    let (status, problem) =
        app.call_api(&bearer, Method::PUT, &steps_path, Some(json!({ "steps": [email("Hi", "No way out.")] }))).await;
    assert_eq!(status, 422);
    assert_eq!(field_codes(&problem), [("steps[0].body".to_owned(), "unsubscribe_link_missing".to_owned())]);
    let (status, problem) = app
        .call_api(
            &bearer,
            Method::PUT,
            &steps_path,
            Some(json!({ "steps": [
                email("Hi {{ first_name | default(\"there\") }}", &format!("Hello. {UNSUBSCRIBE}")),
                email("Again", &format!("Hello {{{{ nickname }}}}. {UNSUBSCRIBE}")),
            ] })),
        )
        .await;
    assert_eq!(status, 422);
    let (field, code, message) = first_error(&problem);
    assert_eq!((field.as_str(), code.as_str()), ("steps[1].body", "template_unknown_field"));
    assert!(message.contains("nickname"), "{message}");
    let (status, problem) = app
        .call_api(
            &bearer,
            Method::PUT,
            &steps_path,
            Some(json!({ "steps": [
                { "kind": "email", "subject": "", "body": format!("Hi. {UNSUBSCRIBE}"), "in_thread": true },
                { "kind": "wait", "wait_days": 0 },
                { "kind": "task", "task_title": " " },
                { "kind": "call" },
            ] })),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        field_codes(&problem),
        [
            ("steps[0].in_thread".to_owned(), "first_email_in_thread".to_owned()),
            ("steps[1].wait_days".to_owned(), "out_of_range".to_owned()),
            ("steps[2].task_title".to_owned(), "required".to_owned()),
            ("steps[3].kind".to_owned(), "invalid_choice".to_owned()),
        ]
    );

    // Valid steps, a new name.
    let (status, saved) = app
        .call_api(
            &bearer,
            Method::PUT,
            &steps_path,
            Some(json!({ "steps": [
                email("Hi {{ first_name | default(\"there\") }}", &format!("Hello {{{{ nickname | default(\"you\") }}}}. {UNSUBSCRIBE}")),
                { "kind": "wait", "wait_days": 3 },
                { "kind": "email", "subject": "", "body": format!("Following up. {UNSUBSCRIBE}"), "in_thread": true },
            ] })),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["steps"].as_array().unwrap().len(), 3);
    let (status, renamed) = app
        .call_api(&bearer, Method::PATCH, &format!("/api/v1/sequences/{id}"), Some(json!({ "name": "Hello" })))
        .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["name"], "Hello");
    // A campaign is one email: this sequence cannot become one.
    let (status, problem) = app
        .call_api(&bearer, Method::PATCH, &format!("/api/v1/sequences/{id}"), Some(json!({ "kind": "campaign" })))
        .await;
    assert_eq!(status, 422);
    assert_eq!(first_error(&problem).0, "kind");

    // Another user does not see it; a manager sees it but does not change it.
    let user = app.access_token("user@seq-api.example.eu").await;
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/sequences/{id}"), None),
        (Method::PATCH, format!("/api/v1/sequences/{id}"), Some(json!({ "name": "Mine now" }))),
        (Method::POST, format!("/api/v1/sequences/{id}/activate"), None),
        (Method::GET, format!("/api/v1/sequences/{id}/enrollments"), None),
    ] {
        let (status, _) = app.call_api(&user, method.clone(), &path, body).await;
        assert_eq!(status, 404, "{method} {path} by another user");
    }
    let (_, listed) = app.call_api(&user, Method::GET, "/api/v1/sequences", None).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 0);
    app.add_member(org, "manager@seq-api.example.eu", Role::Manager).await;
    let manager = app.access_token("manager@seq-api.example.eu").await;
    let (status, _) = app.call_api(&manager, Method::GET, &format!("/api/v1/sequences/{id}"), None).await;
    assert_eq!(status, 200);
    let (status, _) =
        app.call_api(&manager, Method::PATCH, &format!("/api/v1/sequences/{id}"), Some(json!({ "name": "X" }))).await;
    assert_eq!(status, 403);

    // Another organization sees nothing.
    app.sign_up_directly("owner@seq-other.example.eu").await;
    let stranger = app.access_token("owner@seq-other.example.eu").await;
    let (status, _) = app.call_api(&stranger, Method::GET, &format!("/api/v1/sequences/{id}"), None).await;
    assert_eq!(status, 404);

    // Activation needs a mailbox; then the owner activates, the manager pauses and resumes.
    let (_, bare) = app
        .call_api(
            &bearer,
            Method::POST,
            "/api/v1/sequences",
            Some(json!({ "name": "No mailbox", "steps": [email("Hi", &format!("Hello. {UNSUBSCRIBE}"))] })),
        )
        .await;
    let bare = bare["sequence_id"].as_str().unwrap();
    let (status, problem) =
        app.call_api(&bearer, Method::POST, &format!("/api/v1/sequences/{bare}/activate"), None).await;
    assert_eq!(status, 422);
    assert_eq!(first_error(&problem).0, "mailbox_ids");
    let (status, _) = app.call_api(&manager, Method::POST, &format!("/api/v1/sequences/{id}/pause"), None).await;
    assert_eq!(status, 422, "a draft cannot be paused");
    let (status, active) = app.call_api(&bearer, Method::POST, &format!("/api/v1/sequences/{id}/activate"), None).await;
    assert_eq!((status, active["status"].as_str()), (reqwest::StatusCode::OK, Some("active")));
    let (status, paused) = app.call_api(&manager, Method::POST, &format!("/api/v1/sequences/{id}/pause"), None).await;
    assert_eq!((status, paused["status"].as_str()), (reqwest::StatusCode::OK, Some("paused")));
    let (status, resumed) =
        app.call_api(&manager, Method::POST, &format!("/api/v1/sequences/{id}/activate"), None).await;
    assert_eq!((status, resumed["status"].as_str()), (reqwest::StatusCode::OK, Some("active")));

    assert_eq!(app.count_audit_events(org, "outreach.sequence.created").await, 3, "including the tracked one");
    assert!(app.count_audit_events(org, "outreach.sequence.updated").await >= 2);
    assert_eq!(app.count_audit_events(org, "outreach.sequence.activated").await, 2);
    assert_eq!(app.count_audit_events(org, "outreach.sequence.paused").await, 1);
}

/// P0-10: contacts enrolled by id and through a saved view get the sequence's email at the SMTP
/// server; a contact without an address and a suppressed one are skipped with their reason, shown
/// on the record; enrolling someone twice does not double them; the preview shows the rendered
/// text or names the missing value; a test send reaches the member; archiving stops everyone.
#[tokio::test]
async fn p0_10_enrolled_contacts_and_a_saved_view_get_the_sequences_mail() {
    let app = TestApp::spawn_with_mail().await;
    let (org, owner) = app.sign_up_directly("owner@seq-mail.example.eu").await;
    let bearer = app.access_token("owner@seq-mail.example.eu").await;
    let mailbox =
        app.outreach_mailbox(org, owner.0, "camille@sender.example", app.smtp_port(), MailboxLimits::default()).await;
    let (status, created) = app
        .call_api(
            &bearer,
            Method::POST,
            "/api/v1/sequences",
            Some(json!({ "name": "Intro", "mailbox_ids": [mailbox], "steps": [
                email("Hello {{ first_name | default(\"there\") }}", &format!("Hi {{{{ first_name | default(\"there\") }}}}, a word.\n\nUnsubscribe: {UNSUBSCRIBE}")),
                { "kind": "wait", "wait_days": 3 },
                { "kind": "email", "subject": "", "body": format!("About your role as {{{{ title }}}}.\n{UNSUBSCRIBE}"), "in_thread": true },
            ] })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["sequence_id"].as_str().unwrap().to_owned();
    let first_step = created["steps"][0]["step_id"].as_str().unwrap().to_owned();
    let third_step = created["steps"][2]["step_id"].as_str().unwrap().to_owned();

    let ada = app.outreach_contact(org, "ada@example.org", "Ada", "").await;
    let nomail = app.outreach_contact(org, "", "Nomail", "").await;
    let gone = app.outreach_contact(org, "gone@example.org", "Gone", "").await;
    suppress(&app, org, "gone@example.org").await;

    // Enrolled into the draft: waiting for activation, nothing sent.
    let enroll_path = format!("/api/v1/sequences/{id}/enrollments");
    let (status, done) =
        app.call_api(&bearer, Method::POST, &enroll_path, Some(json!({ "contact_ids": [ada, nomail, gone] }))).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done, json!({ "enrolled": 1, "skipped": 2, "already": 0, "not_found": 0 }));
    let (_, again) = app.call_api(&bearer, Method::POST, &enroll_path, Some(json!({ "contact_ids": [ada] }))).await;
    assert_eq!(again, json!({ "enrolled": 0, "skipped": 0, "already": 1, "not_found": 0 }), "never enrolled twice");
    app.run_jobs().await;
    assert!(app.mailbox().messages().is_empty(), "a draft sends nothing");

    let (status, _) = app.call_api(&bearer, Method::POST, &format!("/api/v1/sequences/{id}/activate"), None).await;
    assert_eq!(status, 200);
    app.run_jobs().await;
    let to_ada = app.mailbox().messages_to("ada@example.org");
    assert_eq!(to_ada.len(), 1);
    assert_eq!(to_ada[0].subject, "Hello Ada");
    assert!(to_ada[0].text.starts_with("Hi Ada, a word."), "{}", to_ada[0].text);
    assert_eq!(app.mailbox().messages().len(), 1, "the skipped are not written to");

    // A saved view of contacts: everyone in it is enrolled and written to.
    let v1 = app.outreach_contact(org, "v1@view.example", "Vera", "").await;
    app.outreach_contact(org, "v2@view.example", "", "").await;
    let (status, view) = app
        .call_api(
            &bearer,
            Method::POST,
            "/api/v1/views",
            Some(json!({ "object_type": "contact", "name": "View people", "filters": [{ "field": "email", "op": "contains", "value": "@view.example" }] })),
        )
        .await;
    assert_eq!(status, 201, "{view}");
    let (_, done) =
        app.call_api(&bearer, Method::POST, &enroll_path, Some(json!({ "view_id": view["view_id"] }))).await;
    assert_eq!(done, json!({ "enrolled": 2, "skipped": 0, "already": 0, "not_found": 0 }));
    app.run_jobs().await;
    assert_eq!(app.mailbox().messages_to("v1@view.example")[0].subject, "Hello Vera");
    assert_eq!(app.mailbox().messages_to("v2@view.example")[0].subject, "Hello there");

    // The sequence's enrollments, and the record's own.
    let (_, skipped) = app.call_api(&bearer, Method::GET, &format!("{enroll_path}?state=skipped"), None).await;
    let mut reasons: Vec<&str> =
        skipped["data"].as_array().unwrap().iter().map(|e| e["state_reason"].as_str().unwrap()).collect();
    reasons.sort();
    assert_eq!(reasons, ["no_email", "suppressed"]);
    let (_, all) = app.call_api(&bearer, Method::GET, &enroll_path, None).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 5);
    let (status, on_record) =
        app.call_api(&bearer, Method::GET, &format!("/api/v1/outreach/enrollments?contact_id={gone}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(on_record["data"][0]["state"], "skipped");
    assert_eq!(on_record["data"][0]["state_reason"], "suppressed");
    assert_eq!(on_record["data"][0]["sequence_name"], "Intro");

    // Preview: the rendered text for a visible record, or the template error naming the field.
    let preview_path = format!("/api/v1/sequences/{id}/preview");
    let (status, shown) = app.call_api(&bearer, Method::POST, &preview_path, Some(json!({ "contact_id": ada }))).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["subject"], "Hello Ada");
    assert_eq!(shown["to"], "ada@example.org");
    assert!(shown["body"].as_str().unwrap().starts_with("Hi Ada, a word."));
    let (status, problem) = app
        .call_api(&bearer, Method::POST, &preview_path, Some(json!({ "contact_id": ada, "step_id": third_step })))
        .await;
    assert_eq!(status, 422);
    let (field, code, message) = first_error(&problem);
    assert_eq!((field.as_str(), code.as_str()), ("steps[2].body", "template_missing_value"));
    assert!(message.contains("title"), "{message}");

    // A test send reaches the member, rendered with their own fields.
    let (status, queued) = app
        .call_api(
            &bearer,
            Method::POST,
            &format!("/api/v1/sequences/{id}/test"),
            Some(json!({ "step_id": first_step, "mailbox_id": mailbox })),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    app.run_jobs().await;
    let tests = app.mailbox().messages_to("owner@seq-mail.example.eu");
    assert_eq!(tests.len(), 1);
    assert_eq!(tests[0].subject, "[TEST] Hello Ada");

    // One enrollment stopped by hand; archiving stops the rest.
    let v1_enrollment = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["contact_id"] == json!(v1))
        .map(|e| e["enrollment_id"].as_str().unwrap().to_owned())
        .unwrap();
    let (status, _) =
        app.call_api(&bearer, Method::POST, &format!("/api/v1/outreach/enrollments/{v1_enrollment}/pause"), None).await;
    assert_eq!(status, 204);
    let (status, _) =
        app.call_api(&bearer, Method::POST, &format!("/api/v1/outreach/enrollments/{v1_enrollment}/stop"), None).await;
    assert_eq!(status, 204);
    let (status, archived) = app.call_api(&bearer, Method::DELETE, &format!("/api/v1/sequences/{id}"), None).await;
    assert_eq!((status, archived["status"].as_str()), (reqwest::StatusCode::OK, Some("archived")));
    let (_, after) = app.call_api(&bearer, Method::GET, &enroll_path, None).await;
    let states: Vec<(String, String)> = after["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["state"] != "skipped")
        .map(|e| (e["state"].as_str().unwrap().to_owned(), e["state_reason"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(states.len(), 3);
    assert!(states.contains(&("stopped".to_owned(), "stopped_by_member".to_owned())), "{states:?}");
    assert_eq!(states.iter().filter(|(_, reason)| reason == "sequence_archived").count(), 2, "{states:?}");
    app.clock.advance(time::Duration::days(4));
    app.run_jobs().await;
    assert_eq!(app.mailbox().messages().len(), 4, "nothing more after the archive");
    assert_eq!(app.count_audit_events(org, "outreach.sequence.enrolled").await, 3);
    assert_eq!(app.count_audit_events(org, "outreach.sequence.archived").await, 1);
}

/// The pages: create a sequence through the form (a refused one comes back with the message at
/// its field and what was typed), add steps with the editor's buttons without any script, get
/// the unsubscribe-link error at the body, save, and find it in the list; another user gets 404.
#[tokio::test]
async fn sequence_pages_create_edit_steps_and_show_errors_at_their_field() {
    let app = TestApp::spawn().await;
    let (org, owner) = app.sign_up_directly("owner@seq-pages.example.eu").await;
    let mailbox = app.outreach_mailbox(org, owner.0, "pages@sender.example", 2525, MailboxLimits::default()).await;
    let browser = app.browser_login("owner@seq-pages.example.eu", PASSWORD).await;

    let list = browser.get("/outreach/sequences").await;
    assert_eq!(list.status(), 200);
    assert!(list.text().await.unwrap().contains("href=\"/outreach/sequences/new\""));

    let refused = browser
        .submit_form("/outreach/sequences/new", "/outreach/sequences", &[("name", " "), ("kind", "sequence")])
        .await;
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.unwrap();
    assert!(html.contains("Give a name of 1 to 200 characters."), "{html}");
    assert!(html.contains("aria-invalid=\"true\""));
    assert!(!html.contains("invalid_length"), "never a raw code");

    let mailbox_id = mailbox.to_string();
    let created = browser
        .submit_form(
            "/outreach/sequences/new",
            "/outreach/sequences",
            &[("name", "Spring intro"), ("kind", "sequence"), ("mailbox_ids", &mailbox_id)],
        )
        .await;
    assert_eq!(created.status(), 303);
    let page = created.headers()["location"].to_str().unwrap().to_owned();
    assert!(page.starts_with("/outreach/sequences/"), "{page}");
    let id = page.trim_start_matches("/outreach/sequences/").to_owned();
    let steps_action = format!("{page}/steps");

    // "Add an email" draws the form again with a blank email step; nothing is saved yet.
    let added = browser.submit_form(&page, &steps_action, &[("add", "email")]).await;
    assert_eq!(added.status(), 200);
    let html = added.text().await.unwrap();
    assert!(html.contains("name=\"steps[0].subject\""), "{html}");
    assert!(html.contains("name=\"steps[0].body\""));

    // Saving an email without its unsubscribe link: the message at the body, the text kept.
    let step =
        [("steps[0].kind", "email"), ("steps[0].subject", "Hi {{ first_name }}"), ("steps[0].body", "Hello there.")];
    let mut save = step.to_vec();
    save.push(("save", "1"));
    let refused = browser.submit_form(&page, &steps_action, &save).await;
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.unwrap();
    assert!(html.contains("id=\"step-0-body-error\""), "{html}");
    assert!(html.contains("unsubscribe link"), "{html}");
    assert!(html.contains("Hello there.</textarea>"));

    // Adding a wait keeps what was typed.
    let mut add_wait = step.to_vec();
    add_wait.push(("add", "wait"));
    let html = browser.submit_form(&page, &steps_action, &add_wait).await.text().await.unwrap();
    assert!(html.contains("name=\"steps[1].wait_days\""));
    assert!(html.contains("Hello there.</textarea>"));

    let saved = browser
        .submit_form(
            &page,
            &steps_action,
            &[
                ("steps[0].kind", "email"),
                ("steps[0].subject", "Hi {{ first_name | default(\"there\") }}"),
                ("steps[0].body", "Hello.\n\n{{ unsubscribe_url }}"),
                ("steps[1].kind", "wait"),
                ("steps[1].wait_days", "2"),
                ("save", "1"),
            ],
        )
        .await;
    assert_eq!(saved.status(), 303);
    let html = browser.get(&page).await.text().await.unwrap();
    assert!(html.contains("Hello.\n\n{{ unsubscribe_url }}</textarea>"), "{html}");
    assert!(html.contains("name=\"steps[1].wait_days\" value=\"2\""));

    // Activate from the page.
    let activated = browser.submit_form(&page, &format!("{page}/status"), &[("action", "activate")]).await;
    assert_eq!(activated.status(), 303);
    let list = browser.get("/outreach/sequences").await.text().await.unwrap();
    assert!(list.contains("Spring intro"));
    assert!(list.contains("badge success"));

    // Enroll a saved view from the page, preview an enrolled person, send oneself a test.
    let bearer = app.access_token("owner@seq-pages.example.eu").await;
    let pia = app.outreach_contact(org, "pia@pages-view.example", "Pia", "").await;
    let view = json!({ "object_type": "contact", "name": "Pages people", "filters": [{ "field": "email", "op": "contains", "value": "@pages-view.example" }] });
    let (status, view) = app.call_api(&bearer, Method::POST, "/api/v1/views", Some(view)).await;
    assert_eq!(status, 201, "{view}");
    let view_id = view["view_id"].as_str().unwrap().to_owned();
    let enrolled = browser.submit_form(&page, &format!("{page}/enroll"), &[("view_id", &view_id)]).await;
    assert_eq!(enrolled.status(), 200);
    let html = enrolled.text().await.unwrap();
    assert!(html.contains("Enrolled: 1. Skipped: 0. Already in the sequence: 0."), "{html}");
    assert!(html.contains("pia@pages-view.example"));
    let (_, sequence) = app.call_api(&bearer, Method::GET, &format!("/api/v1/sequences/{id}"), None).await;
    let step = sequence["steps"][0]["step_id"].as_str().unwrap().to_owned();
    let html = browser.get(&format!("{page}?preview=contact:{pia}&step={step}")).await.text().await.unwrap();
    assert!(html.contains("<dd>Hi Pia</dd>"), "{html}");
    let tested =
        browser.submit_form(&page, &format!("{page}/test"), &[("step_id", &step), ("mailbox_id", &mailbox_id)]).await;
    assert_eq!(tested.status(), 303);
    assert_eq!(app.count_audit_events(org, "outreach.sequence.test_sent").await, 1);

    app.add_member(org, "user@seq-pages.example.eu", Role::User).await;
    let other = app.browser_login("user@seq-pages.example.eu", PASSWORD).await;
    assert_eq!(other.get(&format!("/outreach/sequences/{id}")).await.status(), 404);
    assert!(!other.get("/outreach/sequences").await.text().await.unwrap().contains("Spring intro"));
}
