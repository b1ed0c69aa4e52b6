//! Unsubscribe and the suppression list: the RFC 8058 one-click link of a real message received
//! by a real SMTP server, the confirmation page, the list's API and page, and that a suppressed
//! address is never written to again by any sequence, whichever path put it there.

use kernel::OrgId;
use kernel::authz::Role;
use kernel::db::Actor;
use serde_json::json;
use testkit::outreach::{MailboxLimits, StepSpec};
use testkit::reqwest::{Method, StatusCode};
use testkit::{PASSWORD, TestApp};
use time::Duration;
use uuid::Uuid;

/// A member with a mailbox and two sequences (a first email, then a follow-up two days later)
/// writing to the same person.
struct Campaign {
    org: OrgId,
    sequences: [Uuid; 2],
}

async fn campaign(app: &TestApp, email: &str) -> Campaign {
    let (org, owner) = app.sign_up(email).await;
    let owner = owner.0;
    let mailbox =
        app.outreach_mailbox(org, owner, "camille@sender.example", app.smtp_port(), MailboxLimits::default()).await;
    let steps = [
        StepSpec::Email {
            subject: "Hello {{ first_name }}",
            body: "Hi.\n\nUnsubscribe: {{ unsubscribe_url }}",
            in_thread: false,
        },
        StepSpec::Wait { days: 2 },
        StepSpec::Email { subject: "", body: "Following up.\n{{ unsubscribe_url }}", in_thread: true },
    ];
    let first = app.outreach_sequence(org, owner, &[mailbox], &steps).await;
    let second = app.outreach_sequence(org, owner, &[mailbox], &steps[2..]).await;
    Campaign { org, sequences: [first, second] }
}

async fn suppression(app: &TestApp, org: OrgId, email: &str) -> Option<(String, Option<Uuid>)> {
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    let row = sqlx::query_as("select reason, message_id from outreach_suppressions where org_id = $1 and email = $2")
        .bind(org)
        .bind(email)
        .fetch_optional(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    row
}

/// The link in a real email: GET only asks (a mail scanner opening it unsubscribes nobody); the
/// one-click POST a mail client sends — no session, from another site, RFC 8058's body — answers
/// 200 with no redirect, and from then on no sequence writes to the address: the follow-up of
/// the first sequence and the whole second one are cancelled.
#[tokio::test]
async fn a_one_click_unsubscribe_stops_every_sequence_writing_to_the_address_at_once() {
    let app = TestApp::spawn_with_mail().await;
    let c = campaign(&app, "owner@unsub.example.eu").await;
    let ada = app.outreach_contact(c.org, "ada@example.org", "Ada", "").await;
    let first = app.outreach_enroll(c.org, c.sequences[0], &[ada]).await[0];
    app.run_jobs().await;
    let mail = app.mailbox().messages_to("ada@example.org");
    assert_eq!(mail.len(), 1);
    let link = mail[0].link(&app.origin()).expect("the unsubscribe link");
    let path = link.strip_prefix(&app.origin()).unwrap().to_owned();
    assert_eq!(mail[0].header("List-Unsubscribe-Post").unwrap(), "List-Unsubscribe=One-Click");

    // A scanner follows the link: a question, nothing more.
    let page = app.http.get(&link).header("accept-language", "fr-FR,fr;q=0.9").send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Me désinscrire"), "{html}");
    assert!(html.contains("a•••@example.org") && !html.contains("ada@example.org"), "the address is partly hidden");
    assert_eq!(suppression(&app, c.org, "ada@example.org").await, None);

    // Meanwhile Ada is enrolled in a second sequence, due later.
    let second = app.outreach_enroll(c.org, c.sequences[1], &[ada]).await[0];

    // The mail client's one-click POST.
    let response = app
        .http
        .post(&link)
        .header("origin", "https://mail.provider.example")
        .header("sec-fetch-site", "cross-site")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "no login, no redirect");
    assert!(response.text().await.unwrap().contains("id=\"unsubscribed\""));
    let message: Uuid = {
        let mut tx = app.db.begin_org(c.org, Actor::System).await.unwrap();
        let id = sqlx::query_scalar("select message_id from outreach_messages where org_id = $1 and state = 'sent'")
            .bind(c.org)
            .fetch_one(tx.conn())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        id
    };
    assert_eq!(suppression(&app, c.org, "ada@example.org").await, Some(("unsubscribed".into(), Some(message))));
    assert_eq!(app.outreach_enrollment(c.org, first).await, ("unsubscribed".into(), "suppressed:unsubscribed".into()));
    assert_eq!(app.outreach_enrollment(c.org, second).await, ("unsubscribed".into(), "suppressed:unsubscribed".into()));

    // Twice is harmless, and the page then says it is done; nothing more is ever sent.
    assert_eq!(app.http.post(&link).body("List-Unsubscribe=One-Click").send().await.unwrap().status(), 200);
    assert!(app.http.get(&link).send().await.unwrap().text().await.unwrap().contains("id=\"unsubscribed\""));
    app.run_jobs().await;
    app.clock.advance(Duration::days(3));
    app.run_jobs().await;
    assert_eq!(app.mailbox().messages_to("ada@example.org").len(), 1);
    assert_eq!(app.count_audit_events(c.org, "outreach.suppression.unsubscribed").await, 1);

    // A token changed by one character, or made up, is unknown.
    let mut forged = path.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    for bad in [forged.as_str(), "/u/not-a-token", "/u/"] {
        let status = app.http.post(app.url(bad)).body("List-Unsubscribe=One-Click").send().await.unwrap().status();
        assert_eq!(status, 404, "{bad}");
    }
}

/// An address suppressed after its message was planned — by a path that does not cancel it, as
/// an unsubscribe committing while the planner runs — is still never sent to: the claim refuses
/// it, the message is cancelled and the enrollment stopped.
#[tokio::test]
async fn a_message_planned_before_the_address_was_suppressed_is_not_sent() {
    let app = TestApp::spawn_with_mail().await;
    let (org, owner) = app.sign_up("owner@race.example.eu").await;
    // Only tomorrow's window: the message is planned now, sent tomorrow.
    let tomorrow = kernel::dates::local(app.clock.now(), kernel::dates::DEFAULT_ZONE).weekday().next();
    let limits =
        MailboxLimits { window_days: vec![i16::from(tomorrow.number_from_monday())], ..MailboxLimits::default() };
    let mailbox = app.outreach_mailbox(org, owner.0, "r@sender.example", app.smtp_port(), limits).await;
    let sequence = app
        .outreach_sequence(
            org,
            owner.0,
            &[mailbox],
            &[StepSpec::Email { subject: "Hi", body: "Hello.\n{{ unsubscribe_url }}", in_thread: false }],
        )
        .await;
    let ada = app.outreach_contact(org, "ada@example.org", "Ada", "").await;
    let enrollment = app.outreach_enroll(org, sequence, &[ada]).await[0];
    app.run_jobs().await;
    assert_eq!(app.outreach_messages(org).await[0].1, "planned");

    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    outreach::suppression::store::insert(
        &mut tx,
        app.clock.now(),
        "ada@example.org",
        outreach::suppression::Reason::Unsubscribed,
        "",
        None,
        None,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    app.clock.advance(Duration::days(2));
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    outreach::sending::service::wake(&mut tx, app.clock.now()).await.unwrap();
    tx.commit().await.unwrap();
    app.run_jobs().await;
    assert!(app.mailbox().messages().is_empty());
    assert_eq!(app.outreach_messages(org).await, [("ada@example.org".into(), "cancelled".into(), "suppressed".into())]);
    assert_eq!(app.outreach_enrollment(org, enrollment).await, ("stopped".into(), "suppressed".into()));
}

/// The list over the API: any member adds (stopping sequences), imports all-or-nothing naming the
/// bad item, reads and searches it page by page; only owners remove. Bad input names its field
/// and changes nothing. Another organization sees none of it.
#[tokio::test]
async fn the_suppression_list_api_adds_imports_reads_and_only_owners_remove() {
    let app = TestApp::spawn_with_mail().await;
    let c = campaign(&app, "owner@list.example.eu").await;
    let owner_token = app.access_token("owner@list.example.eu").await;
    app.add_member(c.org, "user@list.example.eu", Role::User).await;
    let user_token = app.access_token("user@list.example.eu").await;
    let bob = app.outreach_contact(c.org, "bob@example.org", "Bob", "").await;
    let enrollment = app.outreach_enroll(c.org, c.sequences[0], &[bob]).await[0];
    app.run_jobs().await;

    let (status, body) = app
        .call_api(
            &user_token,
            Method::POST,
            "/api/v1/outreach/suppressions",
            Some(json!({ "email": " Bob@Example.org ", "note": "asked by phone" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body, json!({ "added": 1, "stopped": 1 }));
    assert_eq!(app.outreach_enrollment(c.org, enrollment).await, ("stopped".into(), "suppressed:manual".into()));
    let (status, body) = app
        .call_api(
            &user_token,
            Method::POST,
            "/api/v1/outreach/suppressions",
            Some(json!({ "email": "bob@example.org" })),
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "added": 0, "stopped": 0 })));

    for (input, field) in [
        (json!({ "email": "not an address" }), "email"),
        (json!({ "email": "x@example.org", "note": "n".repeat(501) }), "note"),
    ] {
        let (status, body) =
            app.call_api(&user_token, Method::POST, "/api/v1/outreach/suppressions", Some(input)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body["errors"].as_array().unwrap().iter().any(|e| e["field"] == field), "{body}");
    }
    let (status, body) = app
        .call_api(
            &user_token,
            Method::POST,
            "/api/v1/outreach/suppressions/import",
            Some(json!({ "emails": ["a@example.org", "b@example.org", "oops"] })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.to_string().contains("Line 3"), "{body}");
    assert_eq!(suppression(&app, c.org, "a@example.org").await, None, "nothing half-imported");
    let (status, body) = app
        .call_api(
            &user_token,
            Method::POST,
            "/api/v1/outreach/suppressions/import",
            Some(json!({ "emails": ["a@example.org", "B@example.org", "a@example.org"], "note": "old list" })),
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "added": 2, "stopped": 0 })));

    let (status, page) = app.call_api(&user_token, Method::GET, "/api/v1/outreach/suppressions?limit=2", None).await;
    assert_eq!(status, StatusCode::OK);
    let emails: Vec<&str> = page["data"].as_array().unwrap().iter().map(|r| r["email"].as_str().unwrap()).collect();
    assert_eq!(emails, ["a@example.org", "b@example.org"]);
    assert_eq!(page["data"][0]["reason"], "imported");
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = app
        .call_api(&user_token, Method::GET, &format!("/api/v1/outreach/suppressions?limit=2&after={cursor}"), None)
        .await;
    assert_eq!(rest["data"][0]["email"], "bob@example.org");
    assert_eq!(rest["data"][0]["note"], "asked by phone");
    assert!(rest["next_cursor"].is_null());
    let (_, found) = app.call_api(&user_token, Method::GET, "/api/v1/outreach/suppressions?q=BOB", None).await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
    let (_, none) = app.call_api(&user_token, Method::GET, "/api/v1/outreach/suppressions?q=%25", None).await;
    assert!(none["data"].as_array().unwrap().is_empty(), "% is a character, not a pattern");

    let (status, _) =
        app.call_api(&user_token, Method::DELETE, "/api/v1/outreach/suppressions/a@example.org", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) =
        app.call_api(&owner_token, Method::DELETE, "/api/v1/outreach/suppressions/a@example.org", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) =
        app.call_api(&owner_token, Method::DELETE, "/api/v1/outreach/suppressions/a@example.org", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.outreach_enrollment(c.org, enrollment).await.0, "stopped", "removal restarts nothing");
    assert_eq!(app.count_audit_events(c.org, "outreach.suppression.added").await, 2);
    assert_eq!(app.count_audit_events(c.org, "outreach.suppression.imported").await, 1);
    assert_eq!(app.count_audit_events(c.org, "outreach.suppression.removed").await, 1);
    let entries = app.org_audit_log(c.org).await;
    assert!(!entries.iter().any(|e| e.payload.to_string().contains("example.org")), "no address in the audit trail");

    // Another organization: its own, empty list; it cannot remove ours.
    let (_, _, stranger) = app.sign_up_with_token("owner@other.example.eu").await;
    let (_, theirs) = app.call_api(&stranger, Method::GET, "/api/v1/outreach/suppressions", None).await;
    assert!(theirs["data"].as_array().unwrap().is_empty());
    let (status, _) =
        app.call_api(&stranger, Method::DELETE, "/api/v1/outreach/suppressions/bob@example.org", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(suppression(&app, c.org, "bob@example.org").await.is_some());
}

/// The page: add with an error shown at the field and the input kept, paste a list, see it
/// searched, and the owner's remove button (a user has none).
#[tokio::test]
async fn the_suppression_page_adds_pastes_refuses_in_place_and_removes_for_owners() {
    let app = TestApp::spawn().await;
    let (org, _, owner) = app.sign_up_and_log_in("owner@page.example.eu").await;
    app.add_member(org, "user@page.example.eu", Role::User).await;
    let user = app.browser_login("user@page.example.eu", PASSWORD).await;

    let refused = user
        .submit_form("/outreach/suppressions", "/outreach/suppressions", &[("email", "lea@"), ("note", "typo")])
        .await;
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("id=\"suppress-email-error\"")
            && html.contains("value=\"lea@\"")
            && html.contains("value=\"typo\""),
        "{html}"
    );
    let added =
        user.submit_form("/outreach/suppressions", "/outreach/suppressions", &[("email", "lea@example.org")]).await;
    assert_eq!(added.status(), 303);

    let pasted = "email\nann@example.org; max@example.org\nnope\n";
    let refused =
        user.submit_form("/outreach/suppressions", "/outreach/suppressions/import", &[("emails", pasted)]).await;
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.unwrap();
    assert!(html.contains("Line 3: “nope” is not an email address."), "{html}");
    assert!(html.contains("ann@example.org; max@example.org\nnope"), "the pasted text is kept: {html}");
    let pasted = "email\nann@example.org; max@example.org\n";
    assert_eq!(
        user.submit_form("/outreach/suppressions", "/outreach/suppressions/import", &[("emails", pasted)])
            .await
            .status(),
        303
    );

    let html = user.get("/outreach/suppressions?q=ann").await.text().await.unwrap();
    assert!(html.contains("ann@example.org") && !html.contains("max@example.org"));
    assert!(!html.contains("/outreach/suppressions/remove"), "users have no remove button");
    let refused = user
        .submit_form("/outreach/suppressions", "/outreach/suppressions/remove", &[("email", "ann@example.org")])
        .await;
    assert_eq!(refused.status(), 403);

    let html = owner.get("/outreach/suppressions").await.text().await.unwrap();
    assert!(html.contains("/outreach/suppressions/remove"));
    let removed = owner
        .submit_form("/outreach/suppressions", "/outreach/suppressions/remove", &[("email", "ann@example.org")])
        .await;
    assert_eq!(removed.status(), 303);
    assert_eq!(suppression(&app, org, "ann@example.org").await, None);
    assert!(suppression(&app, org, "max@example.org").await.is_some());
}

/// A contact's page shows its sequences with each enrollment's state in words, and a "Do not
/// contact" button that suppresses its address — stopping the sequence there and then — after
/// which the page says so. A record another organization owns is not found.
#[tokio::test]
async fn a_records_page_shows_its_sequences_and_marks_it_do_not_contact() {
    let app = TestApp::spawn_with_mail().await;
    let c = campaign(&app, "owner@record.example.eu").await;
    let owner = app.browser_login("owner@record.example.eu", PASSWORD).await;
    let ada = app.outreach_contact(c.org, "ada@example.org", "Ada", "").await;
    let enrollment = app.outreach_enroll(c.org, c.sequences[0], &[ada]).await[0];
    app.run_jobs().await;

    let page = format!("/crm/contacts/{ada}");
    let html = owner.get(&page).await.text().await.unwrap();
    assert!(html.contains("id=\"outreach\"") && html.contains("Test sequence"), "{html}");
    assert!(html.contains(">Active<"), "the state in words");
    let marked = owner.submit_form(&page, &format!("/outreach/do-not-contact/contacts/{ada}"), &[]).await;
    assert_eq!(marked.status(), 303);
    assert_eq!(suppression(&app, c.org, "ada@example.org").await.map(|(reason, _)| reason), Some("manual".into()));
    assert_eq!(app.outreach_enrollment(c.org, enrollment).await, ("stopped".into(), "suppressed:manual".into()));
    let html = owner.get(&page).await.text().await.unwrap();
    assert!(html.contains("id=\"do-not-contact\""));
    assert!(html.contains("the address is on the do-not-contact list"), "the reason in words, never a code");
    assert!(!html.contains("suppressed:manual"));

    let (_, _, stranger) = app.sign_up_and_log_in("owner@elsewhere.example.eu").await;
    let refused =
        stranger.submit_form("/outreach/suppressions", &format!("/outreach/do-not-contact/contacts/{ada}"), &[]).await;
    assert_eq!(refused.status(), 404);
}
