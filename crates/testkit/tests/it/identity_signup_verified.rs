//! Verified sign-up without email enumeration (OWASP ASVS 5.0 L2 V6.3; identity/src/signup/):
//! a valid request answers the same for a new and an existing address, only the mailbox learns
//! which; the mailed link creates the organization once, within 24 hours, and only by POST.

use serde_json::{Value, json};
use testkit::db::{DatabaseScan, find_in_database};
use testkit::signup::signup_form_fields;
use testkit::{Browser, PASSWORD, TestApp};

/// ASVS V6.3.7: the API answer (status, content type, body) and the page HTML are byte-identical
/// for a new address and one that already has an account; the existing owner gets a notice (log
/// in or reset the password), nothing else is created for them, and the new address gets the link.
#[tokio::test]
async fn signup_answers_the_same_for_new_and_existing_addresses() {
    let app = TestApp::spawn().await;
    let (first_org, _) = app.sign_up("grace@example.eu").await;
    let before = app.signup_table_row_counts().await;

    let mut existing = app.signup_body("  GRACE@Example.EU ").await;
    existing["organization_name"] = json!("Second Org");
    let new = app.signup_body("hopper@example.eu").await;
    let for_existing = app.post_signup(&existing).await;
    let for_new = app.post_signup(&new).await;
    assert_eq!(for_existing, for_new);
    assert_eq!(for_new.0, 202);
    assert_eq!(serde_json::from_str::<Value>(&for_new.2).unwrap(), json!({ "status": "verification_sent" }));

    // The pages, in both languages.
    let policy = app.current_policy_version().await;
    for lang in ["en", "fr"] {
        let browser = Browser::new(&app);
        let _ = browser.post_form("/lang", &[("lang", lang)]).await;
        let a = browser
            .post_form("/signup", &signup_form_fields("grace@example.eu", PASSWORD, "NASA Langley", &policy))
            .await;
        let (a_status, a_html) = (a.status(), a.text().await.unwrap());
        let b = browser
            .post_form(
                "/signup",
                &signup_form_fields(&format!("new-{lang}@example.eu"), PASSWORD, "NASA Langley", &policy),
            )
            .await;
        let (b_status, b_html) = (b.status(), b.text().await.unwrap());
        assert_eq!((a_status.as_u16(), &a_html), (b_status.as_u16(), &b_html), "{lang}");
        assert_eq!(a_status, 200);
        let expected = if lang == "en" { "Check your inbox" } else { "Consultez votre messagerie" };
        assert!(a_html.contains(expected), "{lang}: {a_html}");
    }

    // Nothing was created for the existing address: same rows as before, one user, one org of theirs.
    let after = app.signup_table_row_counts().await;
    assert_eq!(before, after);
    assert_eq!(app.select_i64("select count(*) from users where email = 'grace@example.eu'").await, 1);
    assert_eq!(app.select_i64("select count(*) from pending_signups where email = 'grace@example.eu'").await, 0);

    // Its mailbox learns what happened; the notice links to login and reset, and names no org.
    let mails = app.mail_to("grace@example.eu");
    let notices: Vec<_> = mails.iter().filter(|m| m.subject.contains("Sign-up attempt")).collect();
    assert_eq!(notices.len(), 2, "one per request (API, English page): {:?}", mails.len());
    let notice = notices[0];
    assert!(notice.text.contains(&app.url("/login")) && notice.text.contains(&app.url("/password-reset")));
    assert!(!notice.text.contains("/signup/confirm"), "{}", notice.text);
    assert!(!notice.text.contains(&first_org.to_string()) && !notice.text.contains("Second Org"));
    // The French request got the French notice.
    assert!(mails.iter().any(|m| m.subject.contains("Tentative d’inscription")));
    // The new address got its link and nothing exists for it yet.
    assert!(app.signup_token("hopper@example.eu").is_some());
    assert_eq!(app.select_i64("select count(*) from users where email = 'hopper@example.eu'").await, 0);
}

/// The link works once: the second use (API or page) is refused with the one generic error on
/// `token`, and creates nothing more. An unknown token gets the same error.
#[tokio::test]
async fn confirmation_link_works_once() {
    let app = TestApp::spawn().await;
    assert_eq!(app.post_json("/api/v1/signup", &app.signup_body("once@example.eu").await).await.status(), 202);
    let (status, answer) = app.post_signup_confirmation("once@example.eu").await;
    assert_eq!(status, 201, "{answer}");
    let after_first = app.signup_table_row_counts().await;

    let (status, problem) = app.post_signup_confirmation("once@example.eu").await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        problem["errors"],
        json!([{ "field": "token", "code": "signup_link_invalid", "message": problem["errors"][0]["message"] }])
    );
    let unknown = app.post_json("/api/v1/signup/confirm", &json!({ "token": "x".repeat(43) })).await;
    assert_eq!(unknown.status(), 422);
    let unknown: Value = unknown.json().await.unwrap();
    assert_eq!(unknown["errors"], problem["errors"], "unknown and spent tokens answer alike");

    // The page's button with the spent token: the "no longer valid" page, no session.
    let token = app.signup_token("once@example.eu").unwrap();
    let browser = Browser::new(&app);
    let page = browser.post_form("/signup/confirm", &[("token", &token)]).await;
    assert_eq!(page.status(), 410);
    assert!(page.text().await.unwrap().contains("This link is no longer valid"));
    assert!(browser.cookie("relais_session").is_none());
    assert_eq!(app.signup_table_row_counts().await, after_first);
}

/// The link expires after 24 hours (moved clock): refused, nothing created, and the expired row is
/// gone. Just before, the landing page still shows its button.
#[tokio::test]
async fn confirmation_link_expires_after_24_hours() {
    let app = TestApp::spawn().await;
    assert_eq!(app.post_json("/api/v1/signup", &app.signup_body("late@example.eu").await).await.status(), 202);
    let token = app.signup_token("late@example.eu").unwrap();
    app.clock.advance(time::Duration::hours(24) - time::Duration::seconds(1));
    assert_eq!(Browser::new(&app).get(&format!("/signup/confirm?token={token}")).await.status(), 200);
    app.clock.advance(time::Duration::seconds(1));
    assert_eq!(Browser::new(&app).get(&format!("/signup/confirm?token={token}")).await.status(), 410);
    let (status, problem) = app.post_signup_confirmation("late@example.eu").await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "token");
    assert_eq!(app.select_i64("select count(*) from organizations").await, 0);
    assert_eq!(app.select_i64("select count(*) from pending_signups").await, 0, "the expired row is purged");
}

/// GET on the landing page (what a mail scanner does) spends nothing and creates nothing; the
/// link still works afterwards.
#[tokio::test]
async fn opening_the_link_creates_nothing() {
    let app = TestApp::spawn().await;
    assert_eq!(app.post_json("/api/v1/signup", &app.signup_body("scan@example.eu").await).await.status(), 202);
    let token = app.signup_token("scan@example.eu").unwrap();
    for _ in 0..3 {
        let page = Browser::new(&app).get(&format!("/signup/confirm?token={token}")).await;
        assert_eq!(page.status(), 200);
        assert_eq!(page.headers()["cache-control"], "no-store");
    }
    assert_eq!(app.select_i64("select count(*) from organizations").await, 0);
    assert_eq!(app.select_i64("select count(*) from pending_signups").await, 1);
    let (status, _) = app.post_signup_confirmation("scan@example.eu").await;
    assert_eq!(status, 201);
}

/// An address that got an account between the request and the confirmation: the link is refused
/// with the generic error, and no second organization or user is created.
#[tokio::test]
async fn confirmation_is_refused_if_the_address_got_an_account_meanwhile() {
    let app = TestApp::spawn().await;
    assert_eq!(app.post_json("/api/v1/signup", &app.signup_body("race@example.eu").await).await.status(), 202);
    let pending_token = app.signup_token("race@example.eu").unwrap();
    // Meanwhile the address joins an organization another way.
    app.sign_up_directly("race@example.eu").await;
    let before = app.signup_table_row_counts().await;
    let response = app.post_json("/api/v1/signup/confirm", &json!({ "token": pending_token })).await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["errors"][0]["code"], "signup_link_invalid");
    assert_eq!(app.signup_table_row_counts().await, before);
    assert_eq!(app.select_i64("select count(*) from users where email = 'race@example.eu'").await, 1);
}

/// The pending sign-up holds neither the link's token nor the password in clear (a scan of every
/// column of the database), only the token's SHA-256 and a bcrypt hash; the request role cannot
/// read the table at all.
#[tokio::test]
async fn pending_signups_hold_no_secret_in_clear() {
    let app = TestApp::spawn().await;
    let password = "Pending-Plaintext-Quokka-9";
    let mut body = app.signup_body("secret@example.eu").await;
    body["password"] = json!(password);
    assert_eq!(app.post_json("/api/v1/signup", &body).await.status(), 202);
    let token = app.signup_token("secret@example.eu").unwrap();

    let mut db = app.superuser_connection().await;
    for needle in [token.as_str(), password] {
        let DatabaseScan { found, scanned } = find_in_database(&mut db, needle).await;
        assert!(found.is_empty(), "a secret is stored in clear in {found:?}");
        assert!(scanned.len() > 15);
    }
    let (hash, password_hash): (Vec<u8>, String) =
        sqlx::query_as("select token_hash, password_hash from pending_signups").fetch_one(&mut db).await.unwrap();
    use sha2::Digest;
    assert_eq!(hash, sha2::Sha256::digest(token.as_bytes()).to_vec());
    assert!(password_hash.starts_with("$2b$12$"));
    // Control: the scan finds what is there.
    let found = find_in_database(&mut db, "secret@example.eu").await.found;
    assert_eq!(found, ["public.pending_signups.email", "public.pending_signups.organization_name"]);

    let mut app_role = app.app_role_connection().await;
    let denied = sqlx::query("select * from pending_signups").fetch_all(&mut app_role).await;
    assert!(denied.is_err(), "relais_app read pending sign-ups");
}

/// P1-16: sign-up requests are limited per email address (whoever sends them) and per client
/// address: 429 with Retry-After.
#[tokio::test]
async fn p1_16_signup_requests_are_rate_limited_per_email_and_per_ip() {
    let app = TestApp::spawn().await;
    let body = app.signup_body("flood@example.eu").await;
    for i in 0..5 {
        assert_eq!(app.post_json("/api/v1/signup", &body).await.status(), 202, "request {i}");
    }
    let refused = app.post_json("/api/v1/signup", &body).await;
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 3600, "{retry}");
    // A re-submission replaced the pending row each time: one row, one live link (the newest).
    assert_eq!(app.select_i64("select count(*) from pending_signups").await, 1);

    // Per client address: 10 an hour, whatever the emails (6 counted above, the refused one too).
    for i in 0..4 {
        let other = app.signup_body(&format!("other{i}@example.eu")).await;
        assert_eq!(app.post_json("/api/v1/signup", &other).await.status(), 202, "other {i}");
    }
    let refused = app.post_json("/api/v1/signup", &app.signup_body("fresh@example.eu").await).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
}

/// The whole flow over a real SMTP peer: the verification mail reaches it (From, To, subject, the
/// link), the link creates the organization, and the owner can log in with the password given at
/// sign-up. Nothing goes through the job queue: no org existed to own a job.
#[tokio::test]
async fn verified_signup_over_real_smtp() {
    let app = TestApp::spawn_with_mail().await;
    assert!(app.state.config.mail_outbox.is_none());
    let response = app.post_json("/api/v1/signup", &app.signup_body("smtp@example.eu").await).await;
    assert_eq!(response.status(), 202);
    let mails = app.mailbox().messages_to("smtp@example.eu");
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].subject, "Confirm your Relais sign-up");
    assert!(mails[0].from.contains("no-reply@127.0.0.1") || mails[0].from.contains("Relais"), "{}", mails[0].from);
    assert!(mails[0].text.starts_with("Hello Ada,"), "{}", mails[0].text);
    assert!(mails[0].link(&app.origin()).unwrap().contains("/signup/confirm?token="));
    let (org, _) = app.confirm_signup("smtp@example.eu").await;
    assert_eq!(app.select_i64("select count(*) from jobs").await, 0);
    assert_eq!(app.select_i64(&format!("select count(*) from organizations where org_id = '{org}'")).await, 1);
    let browser = app.browser_login("smtp@example.eu", testkit::PASSWORD).await;
    assert_eq!(browser.get("/dashboard").await.status(), 200);
}

/// The outbox page lists the mails newest first and shows one with its links; without an outbox
/// the page does not exist.
#[tokio::test]
async fn dev_outbox_page_exists_only_with_an_outbox() {
    let app = TestApp::spawn().await;
    assert_eq!(app.post_json("/api/v1/signup", &app.signup_body("first@example.eu").await).await.status(), 202);
    assert_eq!(app.post_json("/api/v1/signup", &app.signup_body("second@example.eu").await).await.status(), 202);
    let browser = Browser::new(&app);
    let list = browser.get("/dev/outbox").await;
    assert_eq!(list.status(), 200);
    let html = list.text().await.unwrap();
    let (first, second) = (html.find("first@example.eu").unwrap(), html.find("second@example.eu").unwrap());
    assert!(second < first, "newest first");
    // Issue #11: when each was written, as pages show moments (the visitor's language, the
    // default time zone), not a UTC timestamp.
    let outbox = app.state.config.mail_outbox.clone().unwrap();
    let written = kernel::outbox::list(&outbox).unwrap()[0].written_at.unwrap();
    let french = app
        .http
        .get(app.url("/dev/outbox"))
        .header("accept-language", "fr")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let shown = |lang| kernel::dates::date_time(written, kernel::dates::DEFAULT_ZONE, lang);
    assert!(french.contains(&shown(kernel::i18n::Lang::Fr)), "{french}");
    assert!(html.contains(&shown(kernel::i18n::Lang::En)), "{html}");
    assert!(!html.contains(" UTC"), "{html}");
    let href_start = html.find("href=\"/dev/outbox/").unwrap() + "href=\"".len();
    let href = &html[href_start..href_start + html[href_start..].find('"').unwrap()];
    let mail = browser.get(href).await;
    assert_eq!(mail.status(), 200);
    let token = app.signup_token("second@example.eu").unwrap();
    assert!(
        mail.text()
            .await
            .unwrap()
            .contains(&format!("<a href=\"{}\"", app.url(&format!("/signup/confirm?token={token}"))))
    );
    assert_eq!(browser.get("/dev/outbox/..%2F..%2Fetc%2Fpasswd").await.status(), 404);

    let without = TestApp::spawn_with_mail().await;
    assert_eq!(Browser::new(&without).get("/dev/outbox").await.status(), 404);
}
