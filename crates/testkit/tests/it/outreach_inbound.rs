//! Replies, auto-replies and bounces read over IMAP (issue #12 item 4) from a real Dovecot on
//! loopback, into which each test drops messages with APPEND as mail arriving would; the
//! sequence's mail goes out through the aiosmtpd peer. What stops a sequence (a reply), what does
//! not (an auto-reply, mail from before the mailbox was read), what suppresses an address (a hard
//! bounce, the `mailto:` unsubscribe), soft bounces retried then given up, a malformed report, a
//! 20 MB reply, a refused IMAP password. And IMAP IDLE: a reply makes the inbox's reading due at
//! once; IDLE is renewed, and a changed mailbox connected to again; `RELAIS_OUTREACH_IDLE_MAX=0`
//! opens no connection; a server without IDLE, or refusing the password, is left to polling; the
//! door listing what to watch gives ids only.

use kernel::OrgId;
use kernel::db::Actor;
use kernel::watchers::Shutdown;
use outreach::inbound::idle::{self, Status};
use sqlx::{Column, Connection, Row};
use testkit::TestApp;
use testkit::mail_peers::ImapPeer;
use testkit::outreach::{MailboxLimits, StepSpec};
use time::Duration;
use uuid::Uuid;

const USER: &str = "camille@sender.example";
const SECRET: &str = "Imap-s3cret-Pa55word";

struct Setup {
    app: TestApp,
    imap: ImapPeer,
    org: OrgId,
    sequence: Uuid,
}

/// An org whose member sends a two-step sequence (an email, two days, a follow-up in the thread)
/// from a mailbox whose inbox is the IMAP peer's.
async fn setup() -> Setup {
    setup_with(&[], ImapPeer::start(USER, SECRET).await.expect("IMAP peer")).await
}

/// [`setup`] with more configuration, and this IMAP peer.
async fn setup_with(env: &[(&str, &str)], imap: ImapPeer) -> Setup {
    // The IMAP peer is on loopback, which only a local test instance may reach.
    let vars: Vec<(&str, &str)> =
        [("RELAIS_OUTREACH_ALLOW_PRIVATE", "true")].into_iter().chain(env.iter().copied()).collect();
    let app = TestApp::spawn_with_mail_and(&vars).await;
    let (org, user) = app.sign_up_directly("owner@inbound.example.eu").await;
    let mailbox = app.outreach_mailbox(org, user.0, USER, app.smtp_port(), MailboxLimits::default()).await;
    app.outreach_mailbox_inbox(org, mailbox, imap.port(), USER, SECRET).await;
    let sequence = app
        .outreach_sequence(
            org,
            user.0,
            &[mailbox],
            &[
                StepSpec::Email {
                    subject: "Hello {{ first_name }}",
                    body: "Hi.\n{{ unsubscribe_url }}",
                    in_thread: false,
                },
                StepSpec::Wait { days: 2 },
                StepSpec::Email { subject: "", body: "Following up.\n{{ unsubscribe_url }}", in_thread: true },
            ],
        )
        .await;
    Setup { app, imap, org, sequence }
}

impl Setup {
    async fn enroll(&self, people: &[(&str, &str)]) -> Vec<Uuid> {
        let mut contacts = Vec::new();
        for (email, name) in people {
            contacts.push(self.app.outreach_contact(self.org, email, name, "").await);
        }
        self.app.outreach_enroll(self.org, self.sequence, &contacts).await
    }

    async fn deliver(&self, raw: &str) {
        self.imap.deliver(USER, SECRET, raw.as_bytes()).await.unwrap_or_else(|e| panic!("{e}\n{}", self.imap.log()));
    }

    /// The next regular reading of the inbox (and anything else due by then).
    async fn read_inbox(&self) {
        self.app.clock.advance(outreach::inbound::POLL_EVERY + Duration::seconds(1));
        self.app.run_jobs().await;
    }

    /// The Message-ID (with brackets) of the first message sent to `to`.
    async fn message_id_to(&self, to: &str) -> String {
        let mut tx = self.app.db.begin_org(self.org, Actor::System).await.unwrap();
        let id: String = sqlx::query_scalar(
            "select message_id_header from outreach_messages where org_id = $1 and to_address = $2 order by created_at limit 1",
        )
        .bind(self.org)
        .bind(to)
        .fetch_one(tx.conn())
        .await
        .unwrap();
        tx.commit().await.unwrap();
        id
    }

    /// What was recorded from the inbox: (kind, bounce kind, sender, status), by arrival.
    async fn inbound(&self) -> Vec<(String, String, String, String)> {
        let mut tx = self.app.db.begin_org(self.org, Actor::System).await.unwrap();
        let rows = sqlx::query_as(
            "select kind, bounce_kind, from_address, status_code from outreach_inbound where org_id = $1 order by created_at, inbound_id",
        )
        .bind(self.org)
        .fetch_all(tx.conn())
        .await
        .unwrap();
        tx.commit().await.unwrap();
        rows
    }

    async fn suppressed(&self) -> Vec<(String, String)> {
        let mut tx = self.app.db.begin_org(self.org, Actor::System).await.unwrap();
        let rows = sqlx::query_as("select email, reason from outreach_suppressions where org_id = $1 order by email")
            .bind(self.org)
            .fetch_all(tx.conn())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        rows
    }

    /// The org's (first) mailbox.
    async fn mailbox(&self) -> Uuid {
        let mut tx = self.app.db.begin_org(self.org, Actor::System).await.unwrap();
        let id = sqlx::query_scalar(
            "select mailbox_id from outreach_mailboxes where org_id = $1 order by created_at limit 1",
        )
        .bind(self.org)
        .fetch_one(tx.conn())
        .await
        .unwrap();
        tx.commit().await.unwrap();
        id
    }

    /// Whether a reading of `mailbox`'s inbox is queued and due now (on the app's clock).
    async fn reading_due_now(&self, mailbox: Uuid) -> bool {
        let mut tx = self.app.db.begin_org(self.org, Actor::System).await.unwrap();
        let due: bool = sqlx::query_scalar(
            "select exists(select 1 from jobs where org_id = $1 and kind = 'outreach.inbound' and status = 'queued'
                            and payload ->> 'mailbox_id' = $2::text and run_at <= $3)",
        )
        .bind(self.org)
        .bind(mailbox)
        .bind(self.app.clock.now())
        .fetch_one(tx.conn())
        .await
        .unwrap();
        tx.commit().await.unwrap();
        due
    }

    async fn scalar(&self, sql: &'static str) -> i64 {
        let mut tx = self.app.db.begin_org(self.org, Actor::System).await.unwrap();
        let n: i64 = sqlx::query_scalar(sql).bind(self.org).fetch_one(tx.conn()).await.unwrap();
        tx.commit().await.unwrap();
        n
    }
}

fn reply(from: &str, in_reply_to: &str, subject: &str, extra_headers: &str, text: &str) -> String {
    format!(
        "From: {from}\r\nTo: {USER}\r\nSubject: {subject}\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n\
         Message-ID: <{}@example.org>\r\nIn-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n{extra_headers}\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n",
        Uuid::now_v7().simple()
    )
}

fn dsn(recipient: &str, message_id: &str, status: &str) -> String {
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\nTo: {USER}\r\n\
         Subject: Undelivered Mail Returned to Sender\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\
         --b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n\
         Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\n\
         Diagnostic-Code: smtp; {status} mailbox problem\r\n\r\n\
         --b1\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: {USER}\r\nTo: {recipient}\r\nMessage-ID: {message_id}\r\n\
         Subject: Hello\r\n\r\n--b1--\r\n"
    )
}

/// P0-10, P1-09: a reply stops that person's sequence (no follow-up), is on their timeline and
/// in the figures; an auto-reply stops nothing; mail that was in the inbox before it was first
/// read is never taken for a reply; reading again acts on nothing twice; nothing is marked read.
#[tokio::test]
async fn p0_10_p1_09_a_reply_stops_the_sequence_and_an_auto_reply_or_older_mail_does_not() {
    let s = setup().await;
    // Already in the inbox before anything was sent: Ada wrote earlier about something else.
    s.deliver(&reply("Ada <ada@example.org>", "<old@example.org>", "Our lunch", "", "See you!")).await;
    let [ada, bob, eve] =
        s.enroll(&[("ada@example.org", "Ada"), ("bob@example.org", "Bob"), ("eve@example.org", "Eve")]).await[..]
    else {
        panic!("three enrollments")
    };
    s.app.run_jobs().await;
    assert_eq!(s.app.mailbox().messages().len(), 3);
    assert_eq!(
        s.scalar("select count(*) from outreach_mailboxes where org_id = $1 and imap_uid_validity is not null").await,
        1,
        "the inbox's position was noted right after sending"
    );

    let to_ada = s.message_id_to("ada@example.org").await;
    let to_bob = s.message_id_to("bob@example.org").await;
    s.deliver(&reply(
        "Ada Lovelace <Ada@Example.org>",
        &to_ada,
        "Re: Hello Ada",
        "",
        "Yes, Thursday works.\r\n\r\nOn Mon, Camille wrote:\r\n> Hi.",
    ))
    .await;
    s.deliver(&reply(
        "Bob <bob@example.org>",
        &to_bob,
        "Automatic reply: Hello Bob",
        "Auto-Submitted: auto-replied\r\n",
        "I am away until Monday.",
    ))
    .await;
    // Eve answers from her phone without threading headers: matched by her address.
    s.deliver(&format!("From: eve@example.org\r\nTo: {USER}\r\nSubject: hello back\r\n\r\nCall me.\r\n")).await;
    s.read_inbox().await;

    assert_eq!(s.app.outreach_enrollment(s.org, ada).await, ("replied".into(), "reply".into()));
    assert_eq!(
        s.app.outreach_enrollment(s.org, bob).await,
        ("active".into(), String::new()),
        "an auto-reply is not a reply"
    );
    assert_eq!(s.app.outreach_enrollment(s.org, eve).await.0, "replied");
    let kinds: Vec<(String, String)> = s.inbound().await.into_iter().map(|(kind, _, from, _)| (kind, from)).collect();
    assert_eq!(
        kinds,
        [
            ("reply".into(), "ada@example.org".into()),
            ("auto_reply".into(), "bob@example.org".into()),
            ("reply".into(), "eve@example.org".into())
        ]
    );
    // P1-09: the reply is on Ada's timeline, with its text and not the quoted history.
    let body: String = {
        let mut tx = s.app.db.begin_org(s.org, Actor::System).await.unwrap();
        let body = sqlx::query_scalar(
            "select a.body from activities a join contacts c on c.org_id = a.org_id and c.contact_id = a.contact_id
              where a.org_id = $1 and a.outcome = 'replied' and c.email = 'ada@example.org'",
        )
        .bind(s.org)
        .fetch_one(tx.conn())
        .await
        .unwrap();
        tx.commit().await.unwrap();
        body
    };
    assert_eq!(body, "Yes, Thursday works.");
    assert_eq!(
        s.scalar("select count(*) from outreach_messages where org_id = $1 and replied_at is not null").await,
        2
    );

    // Reading again finds nothing new and records nothing twice.
    s.read_inbox().await;
    assert_eq!(s.inbound().await.len(), 3);

    // Two days later only Bob gets the follow-up.
    s.app.clock.advance(Duration::days(2));
    s.app.run_jobs().await;
    assert_eq!(s.app.mailbox().messages_to("bob@example.org").len(), 2);
    assert_eq!(s.app.mailbox().messages_to("ada@example.org").len(), 1, "no follow-up after a reply");
    assert_eq!(s.app.mailbox().messages_to("eve@example.org").len(), 1);
}

/// P0-09: a hard bounce (DSN 5.1.1) marks the message bounced, stops the sequence and suppresses
/// the address for the whole organization; a soft one (4.2.2) sends again later, twice at most,
/// then stops without suppressing; a malformed report changes nothing and reading goes on.
#[tokio::test]
async fn p0_09_a_hard_bounce_suppresses_and_soft_bounces_retry_then_give_up() {
    let s = setup().await;
    let [gone, full] = s.enroll(&[("gone@example.org", "Gone"), ("full@example.org", "Full")]).await[..] else {
        panic!("two enrollments")
    };
    s.app.run_jobs().await;
    let to_gone = s.message_id_to("gone@example.org").await;
    s.deliver(&dsn("gone@example.org", &to_gone, "5.1.1")).await;
    // Broken beyond reading: a report with no status part, and bytes that are not a message.
    s.deliver("From: MAILER-DAEMON@mx.example.org\r\nSubject: Undelivered\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"x\"\r\n\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\nStatus: 9.9\r\n").await;
    s.deliver("\u{1}\u{2}not a message at all").await;
    s.read_inbox().await;

    assert_eq!(s.app.outreach_enrollment(s.org, gone).await, ("bounced".into(), "hard_bounce".into()));
    assert_eq!(s.suppressed().await, [("gone@example.org".to_string(), "hard_bounce".to_string())]);
    assert_eq!(
        s.inbound().await,
        [("bounce".to_string(), "hard".to_string(), "mailer-daemon@mx.example.org".to_string(), "5.1.1".to_string())]
    );
    assert_eq!(
        s.scalar("select count(*) from outreach_messages where org_id = $1 and bounced_at is not null").await,
        1
    );
    assert_eq!(
        s.scalar("select count(*) from audit_events where org_id = $1 and action = 'outreach.suppression.bounced'")
            .await,
        1
    );

    // Soft bounces: sent again 4 hours later, then 8 hours after the second, then given up.
    for retry in 1..=2 {
        let latest: String = {
            let mut tx = s.app.db.begin_org(s.org, Actor::System).await.unwrap();
            let id = sqlx::query_scalar(
                "select message_id_header from outreach_messages where org_id = $1 and to_address = 'full@example.org' order by created_at desc limit 1",
            )
            .bind(s.org)
            .fetch_one(tx.conn())
            .await
            .unwrap();
            tx.commit().await.unwrap();
            id
        };
        s.deliver(&dsn("full@example.org", &latest, "4.2.2")).await;
        s.read_inbox().await;
        assert_eq!(s.app.outreach_enrollment(s.org, full).await.0, "active");
        s.app.clock.advance(Duration::hours(4 * retry));
        s.app.run_jobs().await;
        let sent = s.app.mailbox().messages_to("full@example.org");
        assert_eq!(sent.len(), 1 + retry as usize, "retry {retry} sent");
        assert_ne!(sent[0].header("Message-ID"), sent[retry as usize].header("Message-ID"), "a retry is a new message");
    }
    let latest = s.app.mailbox().messages_to("full@example.org").last().unwrap().header("Message-ID").unwrap();
    s.deliver(&dsn("full@example.org", &latest, "4.2.2")).await;
    s.read_inbox().await;
    assert_eq!(s.app.outreach_enrollment(s.org, full).await, ("bounced".into(), "soft_bounce_limit".into()));
    assert_eq!(s.suppressed().await.len(), 1, "soft bounces never suppress");
}

/// P0-09: the `mailto:` of `List-Unsubscribe` works: a mail with the subject "unsubscribe" from
/// the recipient suppresses them; the same subject from anyone else does nothing.
#[tokio::test]
async fn p0_09_an_unsubscribe_mail_to_the_mailto_suppresses_its_sender() {
    let s = setup().await;
    let [ada, bob] = s.enroll(&[("ada@example.org", "Ada"), ("bob@example.org", "Bob")]).await[..] else {
        panic!("two enrollments")
    };
    s.app.run_jobs().await;
    let mailto = s.app.mailbox().messages_to("ada@example.org")[0].header("List-Unsubscribe").unwrap();
    assert!(mailto.contains(&format!("<mailto:{USER}?subject=unsubscribe>")), "{mailto}");
    s.deliver(&format!("From: ada@example.org\r\nTo: {USER}\r\nSubject: unsubscribe\r\n\r\n")).await;
    s.deliver(&format!("From: stranger@example.net\r\nTo: {USER}\r\nSubject: unsubscribe\r\n\r\n")).await;
    s.read_inbox().await;
    assert_eq!(s.app.outreach_enrollment(s.org, ada).await, ("unsubscribed".into(), "suppressed:unsubscribed".into()));
    assert_eq!(s.app.outreach_enrollment(s.org, bob).await.0, "active");
    assert_eq!(s.suppressed().await, [("ada@example.org".to_string(), "unsubscribed".to_string())]);
    assert!(s.inbound().await.is_empty(), "an unsubscribe request is not kept as a reply");
}

/// Bad input: a 20 MB reply is read from its start (the reply is recognized, nothing more is
/// fetched or kept) and the inbox reading goes on with the next message.
#[tokio::test]
async fn a_20_mb_reply_is_read_from_its_start_and_reading_goes_on() {
    let s = setup().await;
    let [ada, bob] = s.enroll(&[("ada@example.org", "Ada"), ("bob@example.org", "Bob")]).await[..] else {
        panic!("two enrollments")
    };
    s.app.run_jobs().await;
    let to_ada = s.message_id_to("ada@example.org").await;
    let to_bob = s.message_id_to("bob@example.org").await;
    let attachment = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n".repeat(20 * 1024 * 1024 / 38);
    let huge = format!(
        "From: ada@example.org\r\nTo: {USER}\r\nSubject: Re: Hello Ada\r\nIn-Reply-To: {to_ada}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"big\"\r\n\r\n--big\r\nContent-Type: text/plain\r\n\r\nHere is the file.\r\n\
         --big\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n{attachment}--big--\r\n"
    );
    assert!(huge.len() > 20_000_000);
    s.deliver(&huge).await;
    s.deliver(&reply("bob@example.org", &to_bob, "Re: Hello Bob", "", "Interested.")).await;
    s.read_inbox().await;
    assert_eq!(s.app.outreach_enrollment(s.org, ada).await.0, "replied");
    assert_eq!(s.app.outreach_enrollment(s.org, bob).await.0, "replied");
    assert_eq!(s.scalar("select max(length(excerpt))::int8 from outreach_inbound where org_id = $1").await, 17);
}

/// A mailbox whose IMAP server refuses its password pauses itself (`imap_auth`, shown to its
/// owner on its page and counted in the sidebar) and is not read again until it is fixed.
#[tokio::test]
async fn a_refused_imap_password_pauses_the_mailbox() {
    let s = setup().await;
    let mailbox: Uuid = {
        let mut tx = s.app.db.begin_org(s.org, Actor::System).await.unwrap();
        let id = sqlx::query_scalar("select mailbox_id from outreach_mailboxes where org_id = $1")
            .bind(s.org)
            .fetch_one(tx.conn())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        id
    };
    s.app.outreach_mailbox_inbox(s.org, mailbox, s.imap.port(), USER, "a-wrong-password").await;
    s.enroll(&[("ada@example.org", "Ada")]).await;
    s.app.run_jobs().await;
    assert_eq!(s.app.mailbox().messages().len(), 1);
    assert_eq!(
        s.scalar("select count(*) from outreach_mailboxes where org_id = $1 and status = 'paused' and pause_reason = 'imap_auth'").await,
        1
    );
    assert_eq!(
        s.scalar("select count(*) from jobs where org_id = $1 and kind = 'outreach.inbound' and status = 'queued'")
            .await,
        0,
        "a paused mailbox is not read"
    );
    // Its owner is told on every page: a number next to Mailboxes in the sidebar.
    let browser = s.app.browser_login("owner@inbound.example.eu", testkit::PASSWORD).await;
    let counts = browser.get("/nav/counts").await.text().await.unwrap();
    assert!(counts.contains("1 paused, needing your attention"), "{counts}");
}

/// Waits until the IDLE supervisor's status satisfies `condition`, for at most 40 s (Dovecot
/// tells of new mail at once, through inotify, or within its 30 s check otherwise).
async fn until(
    status: &mut tokio::sync::watch::Receiver<Status>,
    what: &str,
    condition: impl Fn(&Status) -> bool,
) -> Status {
    let waited = tokio::time::timeout(std::time::Duration::from_secs(40), status.wait_for(|s| condition(s)))
        .await
        .map(|r| r.map(|s| *s));
    match waited {
        Ok(Ok(status)) => status,
        Ok(Err(_)) => panic!("the IDLE supervisor is gone, waiting for: {what}"),
        Err(_) => panic!("waited 40 s for: {what}; status {:?}", *status.borrow()),
    }
}

/// A running IDLE supervisor of the test's app, stopped (and awaited) by [`Running::stop`].
struct Running {
    status: tokio::sync::watch::Receiver<Status>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

fn start(supervisor: idle::Supervisor) -> Running {
    let status = supervisor.status();
    let (stop, shutdown) = Shutdown::channel();
    let task = tokio::spawn(supervisor.run(shutdown));
    Running { status, stop, task }
}

impl Running {
    /// Stops the supervisor as `relais worker` does at shutdown; its connections end with it.
    async fn stop(mut self) -> Status {
        self.stop.send(true).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(30), self.task)
            .await
            .expect("the IDLE supervisor stops within 30 s of shutdown")
            .unwrap();
        *self.status.borrow_and_update()
    }
}

/// IMAP IDLE: with the supervisor watching the mailbox, a reply dropped into its inbox makes the
/// mailbox's reading due now — not at the next regular reading, two minutes later (the app's
/// clock never moves here) — and that reading stops the sequence. Shutdown ends the connection.
#[tokio::test]
async fn idle_makes_the_reading_due_as_soon_as_a_reply_arrives() {
    let s = setup().await;
    let [ada] = s.enroll(&[("ada@example.org", "Ada")]).await[..] else { panic!("one enrollment") };
    // Sends, then the first reading notes where the inbox stands and plans the next one.
    s.app.run_jobs().await;
    let mailbox = s.mailbox().await;
    assert!(!s.reading_due_now(mailbox).await, "the next reading is the regular one, two minutes away");

    let mut running = start(s.app.idle_supervisor());
    let idling = until(&mut running.status, "the mailbox's connection in IDLE", |st| st.idling == 1).await;
    assert_eq!((idling.watched, idling.woken), (1, 0), "{idling:?}");
    assert!(!s.reading_due_now(mailbox).await, "nothing arrived yet: {idling:?}");

    let to_ada = s.message_id_to("ada@example.org").await;
    s.deliver(&reply("Ada <ada@example.org>", &to_ada, "Re: Hello Ada", "", "Yes, let's talk.")).await;
    until(&mut running.status, "the server's report of the new message", |st| st.woken >= 1).await;
    assert!(s.reading_due_now(mailbox).await, "IDLE made the reading due now\n{}", s.imap.log());
    assert_eq!(s.app.outreach_enrollment(s.org, ada).await.0, "active", "IDLE itself reads nothing");

    // The worker runs what is due — the clock has not moved, so only that reading.
    s.app.run_jobs().await;
    assert_eq!(s.app.outreach_enrollment(s.org, ada).await, ("replied".into(), "reply".into()));

    let stopped = running.stop().await;
    assert_eq!((stopped.idling, stopped.woken), (0, 1), "{stopped:?}");
}

/// IDLE is renewed on its connection (DONE, then IDLE again) while the mailbox stays as it was;
/// once its owner saves its password again (sealed anew), the next renewal logs in again, so a
/// changed server or password is watched as it now is.
#[tokio::test]
async fn idle_is_renewed_on_its_connection_until_the_mailbox_changes() {
    let s = setup().await;
    let mailbox = s.mailbox().await;
    let mut running = start(s.app.idle_supervisor().renew_every(std::time::Duration::from_millis(200)));
    let status = until(&mut running.status, "two renewals", |st| st.renewed >= 2).await;
    assert_eq!((status.connected, status.ended), (1, 0), "renewed on the same connection: {status:?}");
    let logins = s.imap.logins();
    s.app.outreach_mailbox_inbox(s.org, mailbox, s.imap.port(), USER, SECRET).await;
    let status = until(&mut running.status, "a second connection", |st| st.connected >= 2).await;
    assert_eq!((status.watched, status.ended), (1, 0), "the same task connected again: {status:?}");
    running.stop().await;
    assert_eq!(s.imap.logins(), logins + 1, "{}", s.imap.log());
}

/// `RELAIS_OUTREACH_IDLE_MAX=0` turns IDLE off: the supervisor runs (it is among the watchers
/// `relais worker` starts) but, with an active mailbox on an IDLE server listed by the door, it
/// watches nothing and opens no connection; the same app with the default watches it.
#[tokio::test]
async fn idle_max_0_opens_no_idle_connection() {
    let s =
        setup_with(&[("RELAIS_OUTREACH_IDLE_MAX", "0")], ImapPeer::start(USER, SECRET).await.expect("IMAP peer")).await;
    let mailbox = s.mailbox().await;
    assert_eq!(idle::watchable(&s.app.db).await.unwrap(), [(s.org, mailbox)], "the door lists the mailbox");
    let names: Vec<&str> = s.app.watchers().iter().map(|w| w.name).collect();
    assert_eq!(names, [idle::WATCHER]);

    let mut running = start(s.app.idle_supervisor().reconcile_every(std::time::Duration::from_millis(50)));
    let status = until(&mut running.status, "three reconciliations", |st| st.passes >= 3).await;
    assert_eq!((status.watched, status.idling), (0, 0), "{status:?}");
    running.stop().await;
    assert_eq!(s.imap.logins(), 0, "no connection was opened:\n{}", s.imap.log());

    // The control: with the default maximum, the same mailbox is watched at the first pass.
    let default = TestApp::spawn_with(&[("RELAIS_OUTREACH_ALLOW_PRIVATE", "true")]).await;
    let (org, user) = default.sign_up_directly("owner@idle-default.example.eu").await;
    let other = default.outreach_mailbox(org, user.0, USER, 1, MailboxLimits::default()).await;
    default.outreach_mailbox_inbox(org, other, s.imap.port(), USER, SECRET).await;
    let mut running = start(default.idle_supervisor());
    let status = until(&mut running.status, "the mailbox's connection in IDLE", |st| st.idling == 1).await;
    assert_eq!(status.watched, 1);
    running.stop().await;
    assert_eq!(s.imap.logins(), 1, "{}", s.imap.log());
}

/// A server that does not offer IDLE: the mailbox's task logs in, sees no IDLE in CAPABILITY and
/// ends; the mailbox is not tried again at the next reconciliations (it is left to polling, for
/// an hour), and its regular reading still reads replies.
#[tokio::test]
async fn a_server_without_idle_is_left_to_polling() {
    let s = setup_with(&[], ImapPeer::start_without_idle(USER, SECRET).await.expect("IMAP peer")).await;
    let [ada] = s.enroll(&[("ada@example.org", "Ada")]).await[..] else { panic!("one enrollment") };
    s.app.run_jobs().await;
    let logins = s.imap.logins();

    let mut running = start(s.app.idle_supervisor().reconcile_every(std::time::Duration::from_millis(50)));
    let ended = until(&mut running.status, "the task's end", |st| st.ended == 1).await;
    assert_eq!(ended.idling, 0);
    let after = ended.passes;
    let status = until(&mut running.status, "five more reconciliations", |st| st.passes >= after + 5).await;
    assert_eq!((status.watched, status.idling, status.ended), (0, 0, 1), "not tried again: {status:?}");
    running.stop().await;
    assert_eq!(s.imap.logins(), logins + 1, "one login, to read CAPABILITY:\n{}", s.imap.log());

    let to_ada = s.message_id_to("ada@example.org").await;
    s.deliver(&reply("ada@example.org", &to_ada, "Re: Hello Ada", "", "Polling found me.")).await;
    s.read_inbox().await;
    assert_eq!(s.app.outreach_enrollment(s.org, ada).await.0, "replied");
}

/// A password the IMAP server refuses: the IDLE task ends and makes the reading due now, whose
/// refusal pauses the mailbox (as the reader always does); a paused mailbox leaves the door's list.
#[tokio::test]
async fn a_refused_password_ends_idle_and_the_reading_pauses_the_mailbox() {
    let s = setup().await;
    let mailbox = s.mailbox().await;
    s.app.outreach_mailbox_inbox(s.org, mailbox, s.imap.port(), USER, "a-wrong-password").await;
    assert!(!s.reading_due_now(mailbox).await);

    let mut running = start(s.app.idle_supervisor());
    let ended = until(&mut running.status, "the task's end", |st| st.ended == 1).await;
    assert_eq!(ended.idling, 0);
    running.stop().await;
    assert!(s.reading_due_now(mailbox).await, "the refusal made the reading due now");

    s.app.run_jobs().await;
    assert_eq!(
        s.scalar("select count(*) from outreach_mailboxes where org_id = $1 and status = 'paused' and pause_reason = 'imap_auth'").await,
        1
    );
    assert!(idle::watchable(&s.app.db).await.unwrap().is_empty(), "a paused mailbox is not watched");
}

/// The IDLE supervisor's door (`app.outreach_idle_mailboxes`), called as the worker does — the
/// request role with no organization set, which sees no mailbox row itself — lists the active
/// mailboxes that have an IMAP server, of every active organization, and nothing else: two
/// columns, the ids. Paused and disabled mailboxes, one without IMAP and one of a closed
/// organization are absent; organizations take turns.
#[tokio::test]
async fn the_idle_door_lists_only_active_mailboxes_with_imap_and_only_their_ids() {
    let s = setup().await;
    let app = &s.app;
    let first = s.mailbox().await;
    let user = |org: OrgId| async move {
        let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
        let id: Uuid = sqlx::query_scalar("select user_id from users where org_id = $1 limit 1")
            .bind(org)
            .fetch_one(tx.conn())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        id
    };
    let owner = user(s.org).await;
    let mailbox = |org: OrgId, owner: Uuid, address: &'static str, change: &'static str| async move {
        let id = app.outreach_mailbox(org, owner, address, 1, MailboxLimits::default()).await;
        let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "update outreach_mailboxes set {change} where org_id = $1 and mailbox_id = $2"
        )))
        .bind(org)
        .bind(id)
        .execute(tx.conn())
        .await
        .unwrap();
        tx.commit().await.unwrap();
        id
    };
    let second = mailbox(s.org, owner, "second@sender.example", "status = 'active'").await;
    mailbox(s.org, owner, "paused@sender.example", "status = 'paused', pause_reason = 'imap_auth'").await;
    mailbox(s.org, owner, "disabled@sender.example", "status = 'disabled'").await;
    mailbox(s.org, owner, "no-imap@sender.example", "imap_host = ''").await;
    let (other_org, other_user) = app.sign_up_directly("owner@other-idle.example.eu").await;
    let other = mailbox(other_org, other_user.0, "other@sender.example", "status = 'active'").await;
    let (closed_org, closed_user) = app.sign_up_directly("owner@closed-idle.example.eu").await;
    mailbox(closed_org, closed_user.0, "closed@sender.example", "status = 'active'").await;
    let mut superuser = app.superuser_connection().await;
    sqlx::query("update organizations set status = 'closed', closed_at = now() where org_id = $1")
        .bind(closed_org)
        .execute(&mut superuser)
        .await
        .unwrap();

    let listed = idle::watchable(&app.db).await.unwrap();
    let (early, late) = if first < second { (first, second) } else { (second, first) };
    let mut first_turn = [(s.org, early), (other_org, other)];
    first_turn.sort();
    assert_eq!(listed, [first_turn[0], first_turn[1], (s.org, late)], "each org's first mailbox, then the rest");

    // Called as the worker calls it: the request role, no organization set.
    let mut worker = app.app_role_connection().await;
    let rows = sqlx::query("select * from app.outreach_idle_mailboxes()").fetch_all(&mut worker).await.unwrap();
    assert_eq!(rows.len(), 3);
    let columns: Vec<&str> = rows[0].columns().iter().map(|c| c.name()).collect();
    assert_eq!(columns, ["org_id", "mailbox_id"], "ids only: no address, server or secret");
    let visible: i64 =
        sqlx::query_scalar("select count(*) from outreach_mailboxes").fetch_one(&mut worker).await.unwrap();
    assert_eq!(visible, 0, "without the door, the worker's role sees no mailbox");
    worker.close().await.unwrap();
}
