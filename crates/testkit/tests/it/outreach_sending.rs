//! The sending engine against a real SMTP server on loopback (aiosmtpd): what arrives (headers of
//! RFC 8058, Message-ID, threading, personalization, the plain-text part), exactly once; caps,
//! gaps, windows and rotation with the app clock moved; suppression and template refusals; and
//! what happens to a message whose sending was interrupted.

use kernel::OrgId;
use kernel::db::Actor;
use testkit::TestApp;
use testkit::outreach::{MailboxLimits, StepSpec};
use time::Duration;
use uuid::Uuid;

async fn owner(app: &TestApp, email: &str) -> (OrgId, Uuid) {
    let (org, user) = app.sign_up_directly(email).await;
    (org, user.0)
}

async fn message_headers(app: &TestApp, org: OrgId) -> Vec<(String, String, Option<String>)> {
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    let rows = sqlx::query_as(
        "select to_address, message_id_header, in_reply_to from outreach_messages where org_id = $1 order by created_at",
    )
    .bind(org)
    .fetch_all(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
    rows
}

/// P0-10, P1-09: a two-step sequence goes out from the member's own mailbox — personalized, with
/// a plain-text part, one-click unsubscribe headers and its recorded Message-ID; the follow-up
/// waits its days, answers in the same thread, and each message is on the contact's timeline.
#[tokio::test]
async fn p0_10_p1_09_a_sequence_sends_from_the_members_mailbox_and_follows_up_in_the_thread() {
    let app = TestApp::spawn_with_mail().await;
    let (org, user) = owner(&app, "owner@send.example.eu").await;
    let mailbox =
        app.outreach_mailbox(org, user, "camille@sender.example", app.smtp_port(), MailboxLimits::default()).await;
    let sequence = app
        .outreach_sequence(
            org,
            user,
            &[mailbox],
            &[
                StepSpec::Email {
                    subject: "Hello {{ first_name }}",
                    body: "Hi {{ first_name | default(\"there\") }} at {{ company | default(\"your company\") }}.\n\nUnsubscribe: {{ unsubscribe_url }}",
                    in_thread: false,
                },
                StepSpec::Wait { days: 2 },
                StepSpec::Email { subject: "", body: "Following up, {{ first_name }}.\n{{ unsubscribe_url }}", in_thread: true },
            ],
        )
        .await;
    let ada = app.outreach_contact(org, "ada@example.org", "Ada", "").await;
    let bob = app.outreach_contact(org, "bob@example.org", "Bob", "").await;
    let enrollments = app.outreach_enroll(org, sequence, &[ada, bob]).await;

    app.run_jobs().await;
    let first = app.mailbox().messages();
    assert_eq!(first.len(), 2, "one message to each person, no more");
    let to_ada = app.mailbox().messages_to("ada@example.org");
    let mail = &to_ada[0];
    assert_eq!(mail.from, "Camille Martin <camille@sender.example>");
    assert_eq!(mail.envelope_from, "camille@sender.example");
    assert_eq!(mail.subject, "Hello Ada");
    assert!(mail.text.starts_with("Hi Ada at your company."), "{}", mail.text);
    assert!(mail.html.as_deref().is_some_and(|html| html.contains("Hi Ada at your company.")));
    let unsubscribe = mail.link(&app.origin()).expect("the body's unsubscribe link");
    assert!(unsubscribe.starts_with(&format!("{}/u/", app.origin())), "{unsubscribe}");
    assert_eq!(
        mail.header("List-Unsubscribe").unwrap(),
        format!("<{unsubscribe}>, <mailto:camille@sender.example?subject=unsubscribe>")
    );
    assert_eq!(mail.header("List-Unsubscribe-Post").unwrap(), "List-Unsubscribe=One-Click");
    let recorded = message_headers(&app, org).await;
    let ada_id = &recorded.iter().find(|(to, _, _)| to == "ada@example.org").unwrap().1;
    assert_eq!(&mail.header("Message-ID").unwrap(), ada_id, "the Message-ID fixed before sending is the one sent");

    // Nothing more is due for two days; running again sends nothing.
    app.run_jobs().await;
    assert_eq!(app.mailbox().messages().len(), 2);
    app.clock.advance(Duration::days(2) + Duration::minutes(1));
    app.run_jobs().await;
    let follow_up = app.mailbox().messages_to("ada@example.org");
    assert_eq!(follow_up.len(), 2);
    assert_eq!(follow_up[1].subject, "Re: Hello Ada");
    assert_eq!(follow_up[1].header("In-Reply-To").unwrap(), *ada_id);
    assert_eq!(follow_up[1].header("References").unwrap(), *ada_id);
    assert_eq!(app.mailbox().messages().len(), 4);
    for enrollment in enrollments {
        assert_eq!(app.outreach_enrollment(org, enrollment).await, ("finished".into(), String::new()));
    }

    // P1-09: both messages on Ada's timeline.
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    let subjects: Vec<String> = sqlx::query_scalar(
        "select subject from activities where org_id = $1 and contact_id = $2 and kind = 'email' and outcome = 'sent' order by occurred_at, created_at",
    )
    .bind(org)
    .bind(ada)
    .fetch_all(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(subjects, ["Hello Ada", "Re: Hello Ada"]);
}

/// P1-09: on the timeline a sent message says so in the member's language, not as the code the
/// engine stored ("sent").
#[tokio::test]
async fn p1_09_a_sent_message_reads_in_the_members_language_on_the_timeline() {
    let app = TestApp::spawn_with_mail().await;
    let (org, user, browser) = app.sign_up_and_log_in("owner@send-words.example.eu").await;
    let mailbox =
        app.outreach_mailbox(org, user.0, "camille@sender.example", app.smtp_port(), MailboxLimits::default()).await;
    let sequence = app
        .outreach_sequence(
            org,
            user.0,
            &[mailbox],
            &[StepSpec::Email {
                subject: "Bonjour {{ first_name }}",
                body: "Bonjour.\n{{ unsubscribe_url }}",
                in_thread: false,
            }],
        )
        .await;
    let ada = app.outreach_contact(org, "ada@example.org", "Ada", "").await;
    app.outreach_enroll(org, sequence, &[ada]).await;
    app.run_jobs().await;
    assert_eq!(app.mailbox().messages().len(), 1);

    let path = format!("/crm/contacts/{ada}");
    let csrf = browser.csrf_token(&path).await;
    browser.post_form("/lang", &[("csrf", &csrf), ("lang", "fr"), ("next", &path)]).await;
    let page = browser.get(&path).await.text().await.unwrap();
    assert!(page.contains("Bonjour Ada"), "the sent message is on the timeline: {page}");
    assert!(page.contains("Envoyé par une séquence"), "its outcome reads in French: {page}");
    assert!(!page.contains("— sent"), "the engine's code is not shown: {page}");

    let csrf = browser.csrf_token(&path).await;
    browser.post_form("/lang", &[("csrf", &csrf), ("lang", "en"), ("next", &path)]).await;
    let page = browser.get(&path).await.text().await.unwrap();
    assert!(page.contains("Sent by a sequence"), "and in English to an English reader: {page}");
}

/// A mailbox never sends more than its daily cap: the rest waits for its next day, and with two
/// mailboxes the load is spread between them.
#[tokio::test]
async fn the_daily_cap_holds_per_mailbox_and_rotation_spreads_the_load() {
    let app = TestApp::spawn_with_mail().await;
    let (org, user) = owner(&app, "owner@caps.example.eu").await;
    let limits = MailboxLimits { daily_cap: 2, ..MailboxLimits::default() };
    let first = app.outreach_mailbox(org, user, "one@sender.example", app.smtp_port(), limits.clone()).await;
    let second = app.outreach_mailbox(org, user, "two@sender.example", app.smtp_port(), limits).await;
    let sequence = app
        .outreach_sequence(
            org,
            user,
            &[first, second],
            &[StepSpec::Email { subject: "Hi", body: "Hello.\n{{ unsubscribe_url }}", in_thread: false }],
        )
        .await;
    let mut contacts = Vec::new();
    for n in 0..5 {
        contacts.push(app.outreach_contact(org, &format!("person{n}@example.org"), "P", "").await);
    }
    app.outreach_enroll(org, sequence, &contacts).await;
    app.run_jobs().await;

    let sent = app.mailbox().messages();
    assert_eq!(sent.len(), 4, "two mailboxes × a cap of two");
    assert_eq!(sent.iter().filter(|m| m.envelope_from == "one@sender.example").count(), 2);
    assert_eq!(sent.iter().filter(|m| m.envelope_from == "two@sender.example").count(), 2);
    let states = app.outreach_messages(org).await;
    assert_eq!(states.iter().filter(|(_, state, _)| state == "planned").count(), 1);

    // The next day (the mailbox's time zone), the fifth goes.
    app.clock.advance(Duration::days(1));
    app.run_jobs().await;
    assert_eq!(app.mailbox().messages().len(), 5);
    assert!(app.outreach_messages(org).await.iter().all(|(_, state, _)| state == "sent"));
}

/// Outside the mailbox's window nothing leaves: the message is planned for the window's next
/// opening in the recipient's time zone, and goes when the clock gets there.
#[tokio::test]
async fn outside_the_sending_window_a_message_waits_for_the_recipients_next_opening() {
    let app = TestApp::spawn_with_mail().await;
    let (org, user) = owner(&app, "owner@window.example.eu").await;
    let zone = kernel::dates::zone("America/New_York").unwrap();
    let now_there = kernel::dates::local(app.clock.now(), zone);
    // Tomorrow there, 09:00–10:00 only.
    let tomorrow = now_there.weekday().next().number_from_monday();
    let limits = MailboxLimits {
        window_days: vec![i16::from(tomorrow)],
        window_start_minute: 540,
        window_end_minute: 600,
        ..MailboxLimits::default()
    };
    let mailbox = app.outreach_mailbox(org, user, "w@sender.example", app.smtp_port(), limits).await;
    let sequence = app
        .outreach_sequence(
            org,
            user,
            &[mailbox],
            &[StepSpec::Email { subject: "Hi", body: "Hello.\n{{ unsubscribe_url }}", in_thread: false }],
        )
        .await;
    let contact = app.outreach_contact(org, "ny@example.org", "Nia", "America/New_York").await;
    app.outreach_enroll(org, sequence, &[contact]).await;
    app.run_jobs().await;
    assert!(app.mailbox().messages().is_empty(), "nothing is sent outside the window");

    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    let at: time::OffsetDateTime = sqlx::query_scalar("select scheduled_at from outreach_messages where org_id = $1")
        .bind(org)
        .fetch_one(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let local = kernel::dates::local(at, zone);
    assert_eq!((local.weekday().number_from_monday(), local.hour(), local.minute()), (tomorrow, 9, 0));

    app.clock.advance(at - app.clock.now());
    app.run_jobs().await;
    assert_eq!(app.mailbox().messages_to("ny@example.org").len(), 1);
}

/// A suppressed address is never written to, and the enrollment says why; a template that needs
/// a value the recipient does not have stops that recipient only, naming the field.
#[tokio::test]
async fn suppressed_addresses_and_missing_values_stop_only_their_enrollment() {
    let app = TestApp::spawn_with_mail().await;
    let (org, user) = owner(&app, "owner@stops.example.eu").await;
    let mailbox = app.outreach_mailbox(org, user, "s@sender.example", app.smtp_port(), MailboxLimits::default()).await;
    let sequence = app
        .outreach_sequence(
            org,
            user,
            &[mailbox],
            &[StepSpec::Email {
                subject: "Hi {{ first_name }}",
                body: "Hello.\n{{ unsubscribe_url }}",
                in_thread: false,
            }],
        )
        .await;
    let suppressed = app.outreach_contact(org, "gone@example.org", "Gone", "").await;
    let nameless = app.outreach_contact(org, "nameless@example.org", "", "").await;
    let fine = app.outreach_contact(org, "fine@example.org", "Fine", "").await;
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    outreach::suppression::store::insert(
        &mut tx,
        app.clock.now(),
        "gone@example.org",
        outreach::suppression::Reason::Unsubscribed,
        "",
        None,
        None,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let enrollments = app.outreach_enroll(org, sequence, &[suppressed, nameless, fine]).await;
    app.run_jobs().await;

    let sent = app.mailbox().messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, ["fine@example.org"]);
    assert_eq!(app.outreach_enrollment(org, enrollments[0]).await, ("stopped".into(), "suppressed".into()));
    assert_eq!(
        app.outreach_enrollment(org, enrollments[1]).await,
        ("stopped".into(), "template_missing_value:first_name".into())
    );
    assert_eq!(app.outreach_enrollment(org, enrollments[2]).await, ("finished".into(), String::new()));
}

/// A worker that dies after claiming messages (state `sending`, lease taken) leaves them neither
/// sent nor planned: once the lease has run out they await review, and nothing sends them again.
#[tokio::test]
async fn a_message_whose_sender_died_goes_to_review_and_is_never_sent_again() {
    let app = TestApp::spawn_with_mail().await;
    let (org, user) = owner(&app, "owner@crash.example.eu").await;
    // Planned for tomorrow's window, so that this test plays the worker itself.
    let tomorrow = kernel::dates::local(app.clock.now(), kernel::dates::DEFAULT_ZONE).weekday().next();
    let limits =
        MailboxLimits { window_days: vec![i16::from(tomorrow.number_from_monday())], ..MailboxLimits::default() };
    let mailbox = app.outreach_mailbox(org, user, "c@sender.example", app.smtp_port(), limits).await;
    let sequence = app
        .outreach_sequence(
            org,
            user,
            &[mailbox],
            &[StepSpec::Email { subject: "Hi", body: "Hello.\n{{ unsubscribe_url }}", in_thread: false }],
        )
        .await;
    let contact = app.outreach_contact(org, "crash@example.org", "C", "").await;
    app.outreach_enroll(org, sequence, &[contact]).await;
    app.run_jobs().await;
    assert_eq!(app.outreach_messages(org).await[0].1, "planned");

    // Tomorrow, a worker claims it (exactly as the engine does, committed) and dies before SMTP answers.
    app.clock.advance(Duration::days(2));
    let now = app.clock.now();
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    let claimed = outreach::sending::store::claim(&mut tx, mailbox, now, now + Duration::minutes(5), 10).await.unwrap();
    outreach::sending::service::wake(&mut tx, now).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(claimed.len(), 1);

    // Within the lease, another run leaves it alone.
    app.run_jobs().await;
    assert_eq!(app.outreach_messages(org).await[0].1, "sending");
    // After it, the message awaits review; nothing was sent, before or after.
    app.clock.advance(Duration::minutes(6));
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    outreach::sending::service::wake(&mut tx, app.clock.now()).await.unwrap();
    tx.commit().await.unwrap();
    app.run_jobs().await;
    assert_eq!(
        app.outreach_messages(org).await,
        [("crash@example.org".into(), "review".into(), "fate_unknown".into())]
    );
    app.clock.advance(Duration::days(1));
    app.run_jobs().await;
    assert!(app.mailbox().messages().is_empty());
}

/// One sending session per mailbox: while one worker's batch is out (claimed, not yet recorded),
/// no other claim takes anything from that mailbox — not even its other due messages — so a
/// mailbox never sends from two workers at once. Once the dead worker's lease runs out, its
/// batch goes to review and the rest is sent.
#[tokio::test]
async fn a_mailbox_sends_one_batch_at_a_time_and_a_dead_batch_frees_it_after_its_lease() {
    let app = TestApp::spawn_with_mail().await;
    let (org, user) = owner(&app, "owner@batch.example.eu").await;
    let tomorrow = kernel::dates::local(app.clock.now(), kernel::dates::DEFAULT_ZONE).weekday().next();
    let limits =
        MailboxLimits { window_days: vec![i16::from(tomorrow.number_from_monday())], ..MailboxLimits::default() };
    let mailbox = app.outreach_mailbox(org, user, "b@sender.example", app.smtp_port(), limits).await;
    let sequence = app
        .outreach_sequence(
            org,
            user,
            &[mailbox],
            &[StepSpec::Email { subject: "Hi", body: "Hello.\n{{ unsubscribe_url }}", in_thread: false }],
        )
        .await;
    let first = app.outreach_contact(org, "first@example.org", "F", "").await;
    let second = app.outreach_contact(org, "second@example.org", "S", "").await;
    app.outreach_enroll(org, sequence, &[first, second]).await;
    app.run_jobs().await;
    assert_eq!(app.outreach_messages(org).await.len(), 2);

    app.clock.advance(Duration::days(2));
    let now = app.clock.now();
    let lease = now + Duration::minutes(5);
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    let claimed = outreach::sending::store::claim(&mut tx, mailbox, now, lease, 1).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(claimed.len(), 1);
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    let again = outreach::sending::store::claim(&mut tx, mailbox, now, lease, 10).await.unwrap();
    tx.commit().await.unwrap();
    assert!(again.is_empty(), "a second claim took {} message(s) while the first batch was out", again.len());
    app.run_jobs().await;
    assert!(app.mailbox().messages().is_empty());

    app.clock.advance(Duration::minutes(6));
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    outreach::sending::service::wake(&mut tx, app.clock.now()).await.unwrap();
    tx.commit().await.unwrap();
    app.run_jobs().await;
    let mut states: Vec<String> = app.outreach_messages(org).await.into_iter().map(|(_, state, _)| state).collect();
    states.sort();
    assert_eq!(states, ["review", "sent"]);
    assert_eq!(app.mailbox().messages().len(), 1);
}

/// A mailbox whose SMTP server's name resolves to a loopback or private address at sending time
/// (it passed the connection test with a public one: DNS rebinding) sends nothing there: the
/// message waits, and the mailbox pauses itself with a reason its owner sees.
#[tokio::test]
async fn a_mailbox_whose_server_turned_private_sends_nothing_and_pauses() {
    let app = TestApp::spawn_with_mail_and(&[("RELAIS_OUTREACH_ALLOW_PRIVATE", "false")]).await;
    let (org, user) = owner(&app, "owner@rebinding.example.eu").await;
    let mailbox =
        app.outreach_mailbox(org, user, "camille@sender.example", app.smtp_port(), MailboxLimits::default()).await;
    let sequence = app
        .outreach_sequence(
            org,
            user,
            &[mailbox],
            &[StepSpec::Email { subject: "Hello", body: "Hi.\n{{ unsubscribe_url }}", in_thread: false }],
        )
        .await;
    let ada = app.outreach_contact(org, "ada@example.org", "Ada", "").await;
    app.outreach_enroll(org, sequence, &[ada]).await;
    app.run_jobs().await;
    assert!(app.mailbox().messages().is_empty(), "nothing reached the loopback server");
    assert_eq!(
        app.outreach_messages(org).await,
        [("ada@example.org".into(), "planned".into(), "private_address".into())]
    );
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    let (status, reason): (String, String) =
        sqlx::query_as("select status, pause_reason from outreach_mailboxes where org_id = $1 and mailbox_id = $2")
            .bind(org)
            .bind(mailbox)
            .fetch_one(tx.conn())
            .await
            .unwrap();
    tx.commit().await.unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("paused", "private_address"));
}
