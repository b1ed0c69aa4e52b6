//! The outreach journey in a real browser (issue #12, "Tests that must exist"): headless Chromium
//! connects a mailbox on a real SMTP server that requires AUTH and a real Dovecot, saves a view of
//! contacts on the CRM list, builds a two-step sequence on its pages and enrolls the view; the mail
//! arrives at the SMTP server, a reply dropped into the IMAP inbox stops that person's sequence
//! (seen on their record page), another person's unsubscribe link suppresses them (seen on the
//! suppression list and the sequence's page), and two days later the follow-up goes only to whom
//! is still active. Every page is the real server's, driven through its forms.

use fantoccini::{Client, Locator};
use testkit::a11y::Report;
use testkit::chromium::{Driver, arrive, fill};
use testkit::mail::ReceivedMail;
use testkit::mail_peers::{AuthSmtpPeer, ImapPeer};
use testkit::{PASSWORD, TestApp};
use time::{Duration, Time, Weekday};

const OWNER: &str = "owner@journey-chromium.example.eu";
const SENDER: &str = "camille@sender.example";
const SECRET: &str = "Journey-s3cret-Pa55word";

/// Brings `button` to the middle of the window, as a person scrolls to it (so that the sticky top
/// bar is not over it), marks the page as the one being left, and clicks.
async fn press(client: &Client, button: &str) {
    client
        .execute(
            "document.querySelector(arguments[0]).scrollIntoView({ block: 'center' });
             document.body.dataset.stale = '1';",
            vec![serde_json::json!(button)],
        )
        .await
        .unwrap();
    client.find(Locator::Css(button)).await.unwrap().click().await.unwrap();
}

/// Waits for the page marked by [`press`] to have been replaced.
async fn next_page(client: &Client) {
    client.wait().for_element(Locator::Css("body:not([data-stale])")).await.unwrap();
}

/// Presses `button` and waits for the next page: each form here answers with a new document (a
/// redirect, or the page drawn again at the same address).
async fn submit(client: &Client, button: &str) {
    press(client, button).await;
    next_page(client).await;
}

/// Replaces what the field `selector` holds with `value`.
async fn set(client: &Client, selector: &str, value: &str) {
    let field = client.find(Locator::Css(selector)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

async fn choose(client: &Client, select: &str, value: &str) {
    client.find(Locator::Css(select)).await.unwrap().select_by_value(value).await.unwrap();
}

async fn text(client: &Client, selector: &str) -> String {
    client.find(Locator::Css(selector)).await.unwrap().text().await.unwrap()
}

fn path_of(url: &testkit::reqwest::Url) -> String {
    url.path().to_owned()
}

/// The one message the SMTP server received for `to`, failing unless there is exactly one.
fn only_mail(mail: &[ReceivedMail], to: &str) -> ReceivedMail {
    let theirs: Vec<&ReceivedMail> = mail.iter().filter(|m| m.to.iter().any(|t| t == to)).collect();
    assert_eq!(
        theirs.len(),
        1,
        "{to} got {} messages: {:?}",
        theirs.len(),
        theirs.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    theirs[0].clone()
}

/// P0-10, P0-09: connect an SMTP mailbox → build a 2-step sequence → enroll a saved view → mail
/// arrives at the peer → reply → stopped → unsubscribe link → suppressed, all in Chromium; then
/// the member revokes the mailbox they connected.
#[tokio::test]
async fn p0_10_p0_09_outreach_journey_connect_sequence_enroll_reply_unsubscribe_with_chromium() {
    let app = TestApp::spawn_with(&[("RELAIS_OUTREACH_ALLOW_PRIVATE", "true")]).await;
    // A connected mailbox sends on weekdays from 08:00 to 18:00 (Europe/Paris) by default: start
    // on the next Tuesday at 09:00 UTC, so the first email and the follow-up two days later (a
    // Thursday) are both inside the window, whatever day the test runs.
    let now = app.clock.now();
    let ahead = (7 + i64::from(Weekday::Tuesday.number_days_from_monday())
        - i64::from(now.weekday().number_days_from_monday()))
        % 7;
    let tuesday = (now.date() + Duration::days(if ahead == 0 { 7 } else { ahead }))
        .with_time(Time::from_hms(9, 0, 0).unwrap())
        .assume_utc();
    app.clock.advance(tuesday - now);

    let smtp = AuthSmtpPeer::start(SENDER, SECRET).await.expect("SMTP peer");
    let imap = ImapPeer::start(SENDER, SECRET).await.expect("IMAP peer");
    let (org, _, _) = app.sign_up_with_token(OWNER).await;
    let driver = Driver::start().await;
    let profile = std::env::temp_dir().join(format!("relais-chromium-{}", uuid::Uuid::new_v4().simple()));
    let client = driver.browser(&profile).await;
    let mut a11y = Report::default();

    client.goto(&app.url("/login")).await.unwrap();
    fill(&client, "email", OWNER).await;
    fill(&client, "password", PASSWORD).await;
    client.find(Locator::Css("main button.primary")).await.unwrap().click().await.unwrap();
    arrive(&client, &app, "/dashboard").await;

    // 1. Connect the mailbox: the connection test logs in to both servers before anything is saved.
    client.goto(&app.url("/outreach/mailboxes/new")).await.unwrap();
    a11y.check_axe(&client, "/outreach/mailboxes/new").await;
    set(&client, "#from_name", "Camille Martin").await;
    set(&client, "#from_address", SENDER).await;
    set(&client, "#smtp_host", "127.0.0.1").await;
    choose(&client, "#smtp_security", "none").await;
    set(&client, "#smtp_port", &smtp.port().to_string()).await;
    set(&client, "#smtp_username", SENDER).await;
    set(&client, "#imap_host", "127.0.0.1").await;
    choose(&client, "#imap_security", "none").await;
    set(&client, "#imap_port", &imap.port().to_string()).await;
    set(&client, "#password", SECRET).await;
    submit(&client, "form[action='/outreach/mailboxes/new'] button.primary").await;
    let heading = client.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
    assert_eq!(heading, SENDER, "the connected mailbox's page\n{}", imap.log());
    let mailbox_page = path_of(&client.current_url().await.unwrap());
    assert!(mailbox_page.starts_with("/outreach/mailboxes/") && !mailbox_page.ends_with("/new"), "{mailbox_page}");
    // The toast hides itself after a few seconds but stays in the page for screen readers.
    let toast = client.wait().for_element(Locator::Css(".toast-region .toast")).await.unwrap();
    let toast = toast.prop("textContent").await.unwrap().unwrap_or_default();
    assert!(toast.contains("The mailbox is connected"), "{toast}");
    assert_eq!(text(&client, "main .card table .badge").await, "Active");
    a11y.check_axe(&client, "/outreach/mailboxes/{id}").await;
    // No gap between two sends, so the three first emails leave in one run of the worker.
    set(&client, "#min_gap_seconds", "0").await;
    set(&client, "#jitter_seconds", "0").await;
    submit(&client, &format!("form[action='{mailbox_page}'] button.primary")).await;
    assert_eq!(path_of(&client.current_url().await.unwrap()), mailbox_page);
    assert_eq!(
        client.find(Locator::Css("#min_gap_seconds")).await.unwrap().prop("value").await.unwrap().as_deref(),
        Some("0")
    );
    assert_eq!(
        client.find(Locator::Css("#jitter_seconds")).await.unwrap().prop("value").await.unwrap().as_deref(),
        Some("0")
    );
    client.goto(&app.url("/outreach/mailboxes")).await.unwrap();
    let mailbox_id = mailbox_page.trim_start_matches("/outreach/mailboxes/").to_owned();
    let row = text(&client, &format!("#mailbox-{mailbox_id}")).await;
    assert!(row.contains(SENDER) && row.contains("Active"), "{row}");

    // 2. Three people to write to, and one the saved view leaves out.
    let ada = app.outreach_contact(org, "ada@journey.example", "Ada", "").await;
    app.outreach_contact(org, "bob@journey.example", "Bob", "").await;
    app.outreach_contact(org, "cleo@journey.example", "Cleo", "").await;
    app.outreach_contact(org, "zoe@elsewhere.example", "Zoé", "").await;

    // A saved view from the contacts list: filter on the address, then "Save as view".
    client.goto(&app.url("/crm/contacts")).await.unwrap();
    client.find(Locator::Css("details.add-filter > summary")).await.unwrap().click().await.unwrap();
    choose(&client, "#list-filters select[name=field]", "email").await;
    choose(&client, "#list-filters select[name=op]", "contains").await;
    set(&client, "#list-filters input[name=value]", "@journey.example").await;
    submit(&client, "#list-filters .add-filter button[type=submit]").await;
    let rows = text(&client, "#records tbody").await;
    assert!(rows.contains("ada@journey.example") && !rows.contains("zoe@elsewhere.example"), "{rows}");
    client.find(Locator::Css("details.save-view > summary")).await.unwrap().click().await.unwrap();
    set(&client, "#save-view input[name=name]", "Journey people").await;
    submit(&client, "#save-view button[type=submit]").await;
    assert_eq!(text(&client, "#view-tabs a[aria-current=page]").await, "Journey people");
    let view_id = client
        .current_url()
        .await
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "view")
        .map(|(_, v)| v.into_owned())
        .expect("the saved view's address");

    // 3. The sequence: create it with the mailbox, then its steps with the editor's buttons.
    client.goto(&app.url("/outreach/sequences/new")).await.unwrap();
    a11y.check_axe(&client, "/outreach/sequences/new").await;
    set(&client, "#seq-name", "Journey intro").await;
    // The member's only mailbox is already chosen.
    let mailbox_choice =
        client.find(Locator::Css(&format!("input[name=mailbox_ids][value='{mailbox_id}']"))).await.unwrap();
    assert!(mailbox_choice.is_selected().await.unwrap(), "the only mailbox is chosen");
    submit(&client, "form[action='/outreach/sequences'] button.primary").await;
    let sequence_page = path_of(&client.current_url().await.unwrap());
    assert!(sequence_page.starts_with("/outreach/sequences/"), "{sequence_page}");
    assert!(text(&client, "h1").await.starts_with("Journey intro"));
    submit(&client, "#steps button[name=add][value=email]").await;
    set(&client, "input[name='steps[0].subject']", "Hello {{ first_name }}").await;
    set(
        &client,
        "textarea[name='steps[0].body']",
        "Hi {{ first_name }},\nshall we talk on Thursday?\n\nUnsubscribe: {{ unsubscribe_url }}",
    )
    .await;
    submit(&client, "#steps button[name=add][value=wait]").await;
    set(&client, "input[name='steps[1].wait_days']", "2").await;
    submit(&client, "#steps button[name=add][value=email]").await;
    set(
        &client,
        "textarea[name='steps[2].body']",
        "Just following up, {{ first_name }}.\n\nUnsubscribe: {{ unsubscribe_url }}",
    )
    .await;
    client.find(Locator::Css("input[name='steps[2].in_thread']")).await.unwrap().click().await.unwrap();
    // What was typed before each "add" was kept.
    let first_subject =
        client.find(Locator::Css("input[name='steps[0].subject']")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(first_subject.as_deref(), Some("Hello {{ first_name }}"));
    submit(&client, "#steps button[name=save]").await;
    assert_eq!(path_of(&client.current_url().await.unwrap()), sequence_page, "the steps were saved");
    assert!(
        client.find_all(Locator::Css("#steps .field-error")).await.unwrap().is_empty(),
        "{}",
        text(&client, "#steps").await
    );
    let thread = client.find(Locator::Css("input[name='steps[2].in_thread']")).await.unwrap();
    assert!(thread.is_selected().await.unwrap(), "the follow-up replies in the thread");
    submit(&client, "button[name=action][value=activate]").await;
    assert_eq!(text(&client, "h1 .badge").await, "Active", "{}", text(&client, "main").await);

    // 4. Enroll the saved view from the sequence's page; the worker sends the first email.
    choose(&client, "#enroll-view", &view_id).await;
    submit(&client, "form[action$='/enroll'] button").await;
    let notice = text(&client, "p.alert[role=status]").await;
    assert_eq!(notice, "Enrolled: 3. Skipped: 0. Already in the sequence: 0.");
    a11y.check_axe(&client, "/outreach/sequences/{id}").await;
    app.run_jobs().await;

    let first = smtp.mailbox().messages();
    assert_eq!(first.len(), 3, "one email for each person in the view, none for the others");
    let mut links = Vec::new();
    for (address, name) in
        [("ada@journey.example", "Ada"), ("bob@journey.example", "Bob"), ("cleo@journey.example", "Cleo")]
    {
        let mail = only_mail(&first, address);
        assert_eq!(mail.subject, format!("Hello {name}"));
        assert!(mail.text.contains(&format!("Hi {name},")), "{}", mail.text);
        assert_eq!(mail.envelope_from, SENDER);
        assert!(mail.from.contains(SENDER), "{}", mail.from);
        let link = mail.link(&app.origin()).expect("the unsubscribe link in the text");
        assert!(link.contains("/u/"), "{link}");
        let list_unsubscribe = mail.header("List-Unsubscribe").expect("List-Unsubscribe");
        assert!(list_unsubscribe.contains(&format!("<{link}>")), "{list_unsubscribe}");
        assert!(list_unsubscribe.contains(&format!("<mailto:{SENDER}")), "{list_unsubscribe}");
        assert_eq!(mail.header("List-Unsubscribe-Post").as_deref(), Some("List-Unsubscribe=One-Click"));
        assert!(mail.header("Message-ID").is_some_and(|id| id.starts_with('<') && id.ends_with("@sender.example>")));
        links.push((mail, link));
    }

    // 5. Ada answers in the thread; the next reading of the inbox stops her sequence.
    let (to_ada, _) = &links[0];
    let ada_id = to_ada.header("Message-ID").unwrap();
    let reply = format!(
        "From: Ada Tester <ada@journey.example>\r\nTo: Camille Martin <{SENDER}>\r\nSubject: Re: {}\r\n\
         Date: Tue, 8 Dec 2026 10:00:00 +0000\r\nMessage-ID: <reply-{}@journey.example>\r\n\
         In-Reply-To: {ada_id}\r\nReferences: {ada_id}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nThursday at ten suits me.\r\n\r\n> Hi Ada,\r\n",
        to_ada.subject,
        uuid::Uuid::new_v4().simple()
    );
    imap.deliver(SENDER, SECRET, reply.as_bytes()).await.unwrap_or_else(|e| panic!("{e}\n{}", imap.log()));
    app.clock.advance(outreach::inbound::POLL_EVERY + Duration::seconds(1));
    app.run_jobs().await;
    client.goto(&app.url(&format!("/crm/contacts/{ada}"))).await.unwrap();
    let panel = client.wait().for_element(Locator::Css("#outreach")).await.unwrap();
    let state = panel.find(Locator::Css(".outreach-enrollments li .badge")).await.unwrap().text().await.unwrap();
    assert_eq!(state, "Replied", "{}", panel.text().await.unwrap());
    let timeline = text(&client, "#timeline ol.timeline").await;
    assert!(timeline.contains("Thursday at ten suits me."), "the reply on the timeline: {timeline}");
    assert!(!timeline.contains("> Hi Ada"), "not the quoted history: {timeline}");
    a11y.check_axe(&client, "/crm/contacts/{id} (outreach panel)").await;

    // 6. Bob follows the link in his email: the page asks, the button unsubscribes him.
    let (_, bob_link) = &links[1];
    client.goto(bob_link).await.unwrap();
    a11y.check_axe(&client, "/u/{token}").await;
    let question = text(&client, "main").await;
    assert!(question.contains("b•••@journey.example") && !question.contains("bob@journey.example"), "{question}");
    assert!(client.find_all(Locator::Css("#unsubscribed")).await.unwrap().is_empty(), "opening the link only asks");
    submit(&client, "main form button.primary").await;
    let done = client.wait().for_element(Locator::Css("#unsubscribed")).await.unwrap().text().await.unwrap();
    assert!(done.contains("You are unsubscribed"), "{done}");

    client.goto(&app.url("/outreach/suppressions")).await.unwrap();
    let list = text(&client, "main").await;
    assert!(list.contains("bob@journey.example") && list.contains("Unsubscribed"), "{list}");
    assert!(!list.contains("ada@journey.example"), "a reply suppresses nobody: {list}");
    a11y.check_axe(&client, "/outreach/suppressions").await;

    client.goto(&app.url(&sequence_page)).await.unwrap();
    let states = text(&client, "#enrollments tbody").await;
    let state_of = |address: &str| {
        states.lines().find(|line| line.contains(address)).unwrap_or_else(|| panic!("{address} in {states}")).to_owned()
    };
    assert!(state_of("ada@journey.example").contains("Replied"), "{states}");
    assert!(state_of("bob@journey.example").contains("Unsubscribed"), "{states}");
    assert!(state_of("cleo@journey.example").contains("Active"), "{states}");

    // 7. Two days later the follow-up goes, in the thread, only to whom is still active.
    app.clock.advance(Duration::days(2));
    app.run_jobs().await;
    let all = smtp.mailbox().messages();
    assert_eq!(all.len(), 4, "{:?}", all.iter().map(|m| (&m.to, &m.subject)).collect::<Vec<_>>());
    let to_cleo: Vec<&ReceivedMail> = all.iter().filter(|m| m.to.iter().any(|t| t == "cleo@journey.example")).collect();
    assert_eq!(to_cleo.len(), 2);
    let (first_to_cleo, _) = &links[2];
    let cleo_id = first_to_cleo.header("Message-ID").unwrap();
    let follow_up = to_cleo.iter().find(|m| m.header("Message-ID").as_deref() != Some(cleo_id.as_str())).unwrap();
    assert_eq!(follow_up.subject, "Re: Hello Cleo");
    assert!(follow_up.text.contains("Just following up, Cleo."), "{}", follow_up.text);
    assert_eq!(follow_up.header("In-Reply-To").as_deref(), Some(cleo_id.as_str()));
    assert!(follow_up.header("References").is_some_and(|r| r.contains(&cleo_id)));
    for address in ["ada@journey.example", "bob@journey.example"] {
        only_mail(&all, address);
    }

    // 8. P0-09: the member takes back the credentials they gave, from the mailbox's page (the
    // session of two days ago has ended: they log in again). The row and its sealed password
    // are gone, not flagged.
    client.goto(&app.url("/login")).await.unwrap();
    fill(&client, "email", OWNER).await;
    fill(&client, "password", PASSWORD).await;
    client.find(Locator::Css("main button.primary")).await.unwrap().click().await.unwrap();
    arrive(&client, &app, "/dashboard").await;
    client.goto(&app.url(&mailbox_page)).await.unwrap();
    let revoke = format!("form[action='{mailbox_page}/revoke'] button");
    press(&client, &revoke).await;
    let question = client.get_alert_text().await.expect("revoking asks first");
    assert!(!question.is_empty());
    client.accept_alert().await.unwrap();
    next_page(&client).await;
    assert_eq!(path_of(&client.current_url().await.unwrap()), "/outreach/mailboxes");
    let list = text(&client, "main").await;
    assert!(list.contains("No mailbox connected yet") && !list.contains(SENDER), "{list}");
    let mut tx = app.db.begin_org(org, kernel::db::Actor::System).await.unwrap();
    let left: i64 = sqlx::query_scalar("select count(*) from outreach_mailboxes where org_id = $1")
        .bind(org)
        .fetch_one(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(left, 0, "the mailbox row and its sealed password are deleted");

    a11y.assert_clean();
    client.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&profile);
}
