//! Transactional mail (P1-05, P2-12): password reset and invitations, delivered through the job
//! queue to a real SMTP peer (aiosmtpd on loopback) and read back from its maildir.

use serde_json::{Value, json};
use testkit::db::find_in_database;
use testkit::mail::ReceivedMail;
use testkit::{Browser, TestApp};
use time::Duration;
use uuid::Uuid;

const NEW_PASSWORD: &str = "a brand new passphrase";

fn path_of(app: &TestApp, link: &str) -> String {
    link.strip_prefix(&app.origin()).expect("a link to this app").to_string()
}

fn token_of(path: &str) -> String {
    path.rsplit('/').next().unwrap().to_string()
}

async fn request_reset(app: &TestApp, email: &str) -> (u16, String) {
    let response = app.post_json("/api/v1/auth/password-reset", &json!({ "email": email })).await;
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The only mail `email` has received since `before` messages, and its link's path.
fn last_mail(app: &TestApp, email: &str) -> (ReceivedMail, String) {
    let mut mails = app.mailbox().messages_to(email);
    let mail = mails.pop().expect("a mail");
    let link = mail.link(&app.origin()).expect("a link in the mail");
    let path = path_of(app, &link);
    (mail, path)
}

/// Asks for a reset through the API, delivers it, and returns the link's path.
async fn reset_path(app: &TestApp, email: &str) -> String {
    assert_eq!(request_reset(app, email).await.0, 202);
    let tick = app.run_jobs().await;
    assert_eq!((tick.succeeded, tick.failed), (1, 0), "{tick:?}");
    last_mail(app, email).1
}

async fn login_status(app: &TestApp, email: &str, password: &str) -> u16 {
    Browser::new(app).post_form("/login", &[("email", email), ("password", password)]).await.status().as_u16()
}

async fn invite(inviter: &Browser, email: &str, role: &str) -> reqwest::Response {
    inviter.submit_form("/members", "/members/invite", &[("email", email), ("role", role)]).await
}

async fn accept(app: &TestApp, path: &str, first_name: &str) -> (Browser, reqwest::Response) {
    let browser = Browser::new(app);
    let policy = app.current_policy_version().await;
    let response = browser
        .post_form(
            path,
            &[
                ("first_name", first_name),
                ("last_name", "Invited"),
                ("job_title", "Account executive"),
                ("password", testkit::PASSWORD),
                ("adult", "true"),
                ("accepted_policy_version", &policy),
            ],
        )
        .await;
    (browser, response)
}

/// Invites `email` as `role`, delivers the mail, and returns the invitation link's path.
async fn invitation_path(app: &TestApp, inviter: &Browser, email: &str, role: &str) -> String {
    let response = invite(inviter, email, role).await;
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
    let tick = app.run_jobs().await;
    assert_eq!((tick.succeeded, tick.failed), (1, 0), "{tick:?}");
    last_mail(app, email).1
}

/// Invites and joins: the new member's signed-in browser.
async fn join(app: &TestApp, inviter: &Browser, email: &str, role: &str) -> Browser {
    let path = invitation_path(app, inviter, email, role).await;
    let (browser, response) = accept(app, &path, "Grace").await;
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
    browser
}

// ------------------------------------------------------------------ password reset

/// P1-05, P2-12: a password-reset mail really reaches an SMTP server: sent from `Relais <no-reply@HOST>`
/// (HOST of the public URL) to the account's address, with the catalog's subject and a link to
/// `/reset/{token}` on the public URL. Once delivered, the job no longer holds the sealed message.
#[tokio::test]
async fn p1_05_p2_12_reset_mail_is_delivered_to_the_smtp_peer() {
    let app = TestApp::spawn_with_mail().await;
    app.sign_up("ada@example.eu").await;
    assert_eq!(request_reset(&app, "ada@example.eu").await.0, 202);
    assert!(app.mailbox().messages().is_empty(), "mail sent before the job ran");

    let tick = app.run_jobs().await;
    assert_eq!((tick.claimed, tick.succeeded, tick.failed), (1, 1, 0));
    let mails = app.mailbox().messages();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = &mails[0];
    assert_eq!(mail.from, "Relais <no-reply@127.0.0.1>");
    assert_eq!(mail.to, vec!["ada@example.eu".to_string()]);
    assert_eq!(mail.envelope_to, vec!["ada@example.eu".to_string()]);
    assert_eq!(mail.envelope_from, "no-reply@127.0.0.1");
    assert_eq!(mail.subject, "Choose a new Relais password");
    assert!(mail.text.contains("Hello Ada,"), "{}", mail.text);
    assert!(mail.html.is_none());
    let link = mail.link(&app.origin()).expect("a link");
    let path = path_of(&app, &link);
    assert!(path.starts_with("/reset/"), "{link}");
    assert_eq!(token_of(&path).len(), 43, "a 256-bit base64url token");

    let payloads: Vec<Value> = {
        let mut db = app.superuser_connection().await;
        sqlx::query_scalar("select payload from jobs where kind = 'mail.send'").fetch_all(&mut db).await.unwrap()
    };
    assert_eq!(payloads, vec![json!({ "v": 1, "sent": true })]);
}

/// The whole reset: the link's form sets a new password, the old one stops working, the new one
/// works, and `auth.password_reset` is audited against the account.
#[tokio::test]
async fn password_reset_happy_path() {
    let app = TestApp::spawn_with_mail().await;
    let (_, user) = app.sign_up("ada@example.eu").await;
    let path = reset_path(&app, "ada@example.eu").await;

    let browser = Browser::new(&app);
    let form = browser.get(&path).await;
    assert_eq!(form.status(), 200);
    assert_eq!(form.headers()["cache-control"], "no-store");
    assert!(form.text().await.unwrap().contains("name=\"password\""));

    let done = browser.post_form(&path, &[("password", NEW_PASSWORD)]).await;
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("Password changed"));

    assert_eq!(login_status(&app, "ada@example.eu", testkit::PASSWORD).await, 401);
    assert_eq!(login_status(&app, "ada@example.eu", NEW_PASSWORD).await, 303);
    let audit = app.audit_log().await;
    let reset = audit.iter().find(|e| e.action == "auth.password_reset").expect("audited");
    assert_eq!(reset.target_id, Some(user.0));
}

/// A weak new password is refused with the field's message and spends nothing.
#[tokio::test]
async fn reset_refuses_a_bad_password_and_keeps_the_link() {
    let app = TestApp::spawn_with_mail().await;
    app.sign_up("ada@example.eu").await;
    let path = reset_path(&app, "ada@example.eu").await;
    let browser = Browser::new(&app);
    let refused = browser.post_form(&path, &[("password", "short")]).await;
    assert_eq!(refused.status(), 422);
    assert!(refused.text().await.unwrap().contains("Use at least 12 characters."));
    assert_eq!(browser.post_form(&path, &[("password", NEW_PASSWORD)]).await.status(), 200);
}

/// Following the link (GET, as a mail scanner would) spends nothing; the POST spends it, and the
/// link then answers "no longer valid" (410) to GET and POST alike.
#[tokio::test]
async fn reset_link_is_single_use_and_get_does_not_spend_it() {
    let app = TestApp::spawn_with_mail().await;
    app.sign_up("ada@example.eu").await;
    let path = reset_path(&app, "ada@example.eu").await;
    let browser = Browser::new(&app);
    for _ in 0..3 {
        assert_eq!(browser.get(&path).await.status(), 200);
    }
    assert_eq!(browser.post_form(&path, &[("password", NEW_PASSWORD)]).await.status(), 200);

    let reused = browser.post_form(&path, &[("password", "yet another passphrase")]).await;
    assert_eq!(reused.status(), 410);
    assert!(reused.text().await.unwrap().contains("This link is no longer valid"));
    assert_eq!(browser.get(&path).await.status(), 410);
    assert_eq!(login_status(&app, "ada@example.eu", NEW_PASSWORD).await, 303, "the reuse changed the password");
    // A token that was never issued gets the same answer.
    assert_eq!(browser.get(&format!("/reset/{}", "A".repeat(43))).await.status(), 410);
}

/// A link works for 15 minutes: at 14 it still shows the form; 16 minutes after it was sent it is
/// refused, and the password is unchanged.
#[tokio::test]
async fn reset_link_expires_after_15_minutes() {
    let app = TestApp::spawn_with_mail().await;
    app.sign_up("ada@example.eu").await;
    let browser = Browser::new(&app);

    let path = reset_path(&app, "ada@example.eu").await;
    app.clock.advance(Duration::minutes(14));
    assert_eq!(browser.get(&path).await.status(), 200);
    app.clock.advance(Duration::minutes(2));
    assert_eq!(browser.get(&path).await.status(), 410);
    assert_eq!(browser.post_form(&path, &[("password", NEW_PASSWORD)]).await.status(), 410);
    assert_eq!(login_status(&app, "ada@example.eu", testkit::PASSWORD).await, 303);
    assert_eq!(login_status(&app, "ada@example.eu", NEW_PASSWORD).await, 401);
}

/// No enumeration: an unknown address gets byte-for-byte the same answer as a known one, on the
/// API and on the page, and no mail (nor job) is produced for it.
#[tokio::test]
async fn unknown_email_gets_the_identical_response_and_no_mail() {
    let app = TestApp::spawn_with_mail().await;
    app.sign_up("known@example.eu").await;

    let known = request_reset(&app, "known@example.eu").await;
    let unknown = request_reset(&app, "nobody@example.eu").await;
    assert_eq!(known, unknown);
    assert_eq!(known.0, 202);

    let browser = Browser::new(&app);
    let known_page = browser.post_form("/password-reset", &[("email", "known@example.eu")]).await;
    let unknown_page = browser.post_form("/password-reset", &[("email", "nobody@example.eu")]).await;
    assert_eq!(known_page.status(), unknown_page.status());
    assert_eq!(known_page.text().await.unwrap(), unknown_page.text().await.unwrap());

    assert_eq!(app.select_i64("select count(*) from jobs").await, 1, "one job, for the known account only");
    app.run_jobs().await;
    let mails = app.mailbox().messages();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, vec!["known@example.eu".to_string()]);
    // A malformed address is refused as such (it says nothing about accounts).
    assert_eq!(request_reset(&app, "not-an-address").await.0, 422);
}

/// At most one reset mail per account per minute, however many requests; after the minute a new
/// link is sent and replaces the previous one.
#[tokio::test]
async fn at_most_one_reset_mail_per_account_per_minute() {
    let app = TestApp::spawn_with_mail().await;
    app.sign_up("ada@example.eu").await;
    for _ in 0..3 {
        assert_eq!(request_reset(&app, "ada@example.eu").await.0, 202);
    }
    app.clock.advance(Duration::seconds(59));
    assert_eq!(request_reset(&app, "ada@example.eu").await.0, 202);
    app.run_jobs().await;
    assert_eq!(app.mailbox().messages().len(), 1);
    let (_, first) = last_mail(&app, "ada@example.eu");

    app.clock.advance(Duration::seconds(2));
    let second = reset_path(&app, "ada@example.eu").await;
    assert_eq!(app.mailbox().messages().len(), 2);
    assert_ne!(first, second);
    let browser = Browser::new(&app);
    assert_eq!(browser.get(&first).await.status(), 410, "the older link still works");
    assert_eq!(browser.get(&second).await.status(), 200);
}

/// A reset ends every session of the account (two browsers here), not other accounts' sessions.
#[tokio::test]
async fn reset_ends_every_session_of_the_account() {
    let app = TestApp::spawn_with_mail().await;
    app.sign_up("ada@example.eu").await;
    app.sign_up("other@example.eu").await;
    let laptop = app.browser_login("ada@example.eu", testkit::PASSWORD).await;
    let phone = app.browser_login("ada@example.eu", testkit::PASSWORD).await;
    let other = app.browser_login("other@example.eu", testkit::PASSWORD).await;
    assert_eq!(laptop.get("/dashboard").await.status(), 200);
    assert_eq!(phone.get("/dashboard").await.status(), 200);

    let path = reset_path(&app, "ada@example.eu").await;
    assert_eq!(Browser::new(&app).post_form(&path, &[("password", NEW_PASSWORD)]).await.status(), 200);

    assert_eq!(laptop.get("/dashboard").await.status(), 303);
    assert_eq!(phone.get("/dashboard").await.status(), 303);
    assert_eq!(other.get("/dashboard").await.status(), 200);
    assert_eq!(app.select_i64("select count(*) from sessions").await, 1);
    let audit = app.audit_log().await;
    let reset = audit.iter().find(|e| e.action == "auth.password_reset").unwrap();
    assert_eq!(reset.payload, json!({ "sessions_ended": 2 }));
}

/// The reset mail speaks the member's language (here French, chosen at sign-up), and so does the
/// reset page for a French browser.
#[tokio::test]
async fn reset_mail_and_page_are_in_the_members_language() {
    let app = TestApp::spawn_with_mail().await;
    let body = app.signup_body("zoe@example.eu").await;
    let response =
        app.http.post(app.url("/api/v1/signup")).header("accept-language", "fr").json(&body).send().await.unwrap();
    assert_eq!(response.status(), 202);
    app.confirm_signup("zoe@example.eu").await;
    let path = reset_path(&app, "zoe@example.eu").await;
    let (mail, _) = last_mail(&app, "zoe@example.eu");
    assert_eq!(mail.subject, "Choisissez un nouveau mot de passe Relais");
    assert!(mail.text.starts_with("Bonjour Ada,"), "{}", mail.text);
    let page = app.http.get(app.url(&path)).header("accept-language", "fr").send().await.unwrap();
    assert!(page.text().await.unwrap().contains("Choisissez un nouveau mot de passe"));
}

/// Without `RELAIS_SMTP_URL` (and no outbox) the mail job fails, and its recorded error names the
/// variable.
#[tokio::test]
async fn without_smtp_url_mail_jobs_fail_naming_the_variable() {
    let app = TestApp::spawn_with(&[("RELAIS_MAIL_OUTBOX", "")]).await;
    app.sign_up_directly("ada@example.eu").await;
    assert_eq!(request_reset(&app, "ada@example.eu").await.0, 202);
    let tick = app.run_jobs().await;
    assert_eq!((tick.claimed, tick.failed), (1, 1));
    let mut db = app.superuser_connection().await;
    let (status, error): (String, String) =
        sqlx::query_as("select status, last_error from jobs").fetch_one(&mut db).await.unwrap();
    assert_eq!(status, "queued", "retried later");
    assert!(error.contains("RELAIS_SMTP_URL"), "{error}");
}

// ------------------------------------------------------------------ invitations

/// P1-05, P2-12: an owner invites a manager; the invitation mail reaches the SMTP peer (from, to,
/// subject naming inviter and org, link to `/invitations/{token}`); the invitee's form creates the
/// member with that role in that org and signs them in; they appear on `/members`, log in later
/// with their password, and `member.invited` and `member.joined` are audited.
#[tokio::test]
async fn p1_05_p2_12_invitation_mail_is_delivered_and_the_invitee_joins() {
    let app = TestApp::spawn_with_mail().await;
    let (org, _, owner) = app.sign_up_and_log_in("owner@example.eu").await;

    let path = invitation_path(&app, &owner, "grace@example.eu", "manager").await;
    let (mail, _) = last_mail(&app, "grace@example.eu");
    assert_eq!(mail.from, "Relais <no-reply@127.0.0.1>");
    assert_eq!(mail.to, vec!["grace@example.eu".to_string()]);
    assert_eq!(mail.envelope_to, vec!["grace@example.eu".to_string()]);
    assert_eq!(mail.subject, "Ada Lovelace invites you to join Org of owner@example.eu on Relais");
    assert!(mail.text.contains("as manager"), "{}", mail.text);
    assert!(path.starts_with("/invitations/") && token_of(&path).len() == 43, "{path}");

    // Pending on the members page until accepted.
    let members = owner.get("/members").await.text().await.unwrap();
    assert!(members.contains("grace@example.eu"));

    let form = Browser::new(&app).get(&path).await;
    assert_eq!(form.status(), 200);
    let html = form.text().await.unwrap();
    assert!(html.contains("grace@example.eu") && html.contains("Join Org of owner@example.eu"));

    let (grace, joined) = accept(&app, &path, "Grace").await;
    assert_eq!(joined.status(), 303);
    assert_eq!(joined.headers()["location"], "/dashboard");
    assert_eq!(grace.get("/dashboard").await.status(), 200);
    let members = grace.get("/members").await.text().await.unwrap();
    assert!(members.contains("Grace Invited") && members.contains("<td data-role=\"manager\">Manager</td>"));
    assert!(members.contains("No pending invitations."));

    let mut db = app.superuser_connection().await;
    let (member_org, role): (Uuid, String) =
        sqlx::query_as("select org_id, org_role from users where email = 'grace@example.eu'")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!((member_org, role.as_str()), (org.0, "manager"));
    assert_eq!(login_status(&app, "grace@example.eu", testkit::PASSWORD).await, 303);

    let actions = app.audit_actions().await;
    assert!(actions.contains(&"member.invited".to_string()), "{actions:?}");
    assert!(actions.contains(&"member.joined".to_string()), "{actions:?}");
}

/// A `user` may not invite (403, and no form on `/members`); a manager may invite users but not
/// managers (403). Refused invitations leave no row and send no mail.
#[tokio::test]
async fn a_user_cannot_invite_and_a_manager_cannot_invite_a_manager() {
    let app = TestApp::spawn_with_mail().await;
    let (_, _, owner) = app.sign_up_and_log_in("owner@example.eu").await;
    let manager = join(&app, &owner, "manager@example.eu", "manager").await;
    let user = join(&app, &owner, "user@example.eu", "user").await;

    let page = user.get("/members").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("manager@example.eu") && !html.contains("action=\"/members/invite\""));
    assert_eq!(invite(&user, "x@example.eu", "user").await.status(), 403);

    let manager_page = manager.get("/members").await.text().await.unwrap();
    assert!(manager_page.contains("action=\"/members/invite\"") && !manager_page.contains("value=\"manager\""));
    assert_eq!(invite(&manager, "y@example.eu", "manager").await.status(), 403);
    assert_eq!(
        app.select_i64("select count(*) from invitations where email in ('x@example.eu', 'y@example.eu')").await,
        0
    );
    assert_eq!(invite(&manager, "z@example.eu", "user").await.status(), 303);
    // Nobody invites an owner.
    assert_eq!(invite(&owner, "o@example.eu", "owner").await.status(), 422);

    app.run_jobs().await;
    let recipients: Vec<String> = app.mailbox().messages().into_iter().flat_map(|m| m.to).collect();
    assert_eq!(recipients, vec!["manager@example.eu", "user@example.eu", "z@example.eu"]);
}

/// Expired (7 days), reused and withdrawn invitations are refused (410) and create no member.
#[tokio::test]
async fn expired_reused_and_revoked_invitations_are_refused() {
    let app = TestApp::spawn_with_mail().await;
    let (_, _, owner) = app.sign_up_and_log_in("owner@example.eu").await;

    // Reused.
    let used = invitation_path(&app, &owner, "used@example.eu", "user").await;
    assert_eq!(accept(&app, &used, "First").await.1.status(), 303);
    assert_eq!(accept(&app, &used, "Second").await.1.status(), 410);
    assert_eq!(Browser::new(&app).get(&used).await.status(), 410);

    // Withdrawn by the owner.
    let revoked = invitation_path(&app, &owner, "revoked@example.eu", "user").await;
    let id: Uuid = {
        let mut db = app.superuser_connection().await;
        sqlx::query_scalar("select invitation_id from invitations where email = 'revoked@example.eu'")
            .fetch_one(&mut db)
            .await
            .unwrap()
    };
    let csrf = owner.csrf_token("/members").await;
    let response = owner.post_form(&format!("/members/invitations/{id}/revoke"), &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(Browser::new(&app).get(&revoked).await.status(), 410);
    assert_eq!(accept(&app, &revoked, "Revoked").await.1.status(), 410);

    // Expired: still good at 6 days 23 hours, refused after 7 days.
    let expiring = invitation_path(&app, &owner, "late@example.eu", "user").await;
    app.clock.advance(Duration::days(7) - Duration::hours(1));
    assert_eq!(Browser::new(&app).get(&expiring).await.status(), 200);
    app.clock.advance(Duration::hours(2));
    assert_eq!(Browser::new(&app).get(&expiring).await.status(), 410);
    assert_eq!(accept(&app, &expiring, "Late").await.1.status(), 410);

    let members: Vec<String> = {
        let mut db = app.superuser_connection().await;
        sqlx::query_scalar("select email from users order by created_at").fetch_all(&mut db).await.unwrap()
    };
    assert_eq!(members, vec!["owner@example.eu", "used@example.eu"]);
    let actions = app.audit_actions().await;
    assert!(actions.contains(&"member.invitation_revoked".to_string()));
}

/// Inviting an address that already has an account in the organization is a clear error on the
/// form (422, the field's message), and nothing is sent.
#[tokio::test]
async fn inviting_an_existing_member_is_a_clear_error() {
    let app = TestApp::spawn_with_mail().await;
    let (_, _, owner) = app.sign_up_and_log_in("owner@example.eu").await;
    let response = invite(&owner, "Owner@Example.eu", "user").await;
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("This person is already a member of your organization."));
    assert_eq!(app.select_i64("select count(*) from invitations").await, 0);
    assert_eq!(app.run_jobs().await.claimed, 0);
}

/// Reset and invitation tokens are nowhere in the database in clear — not in their tables, not in
/// the queued mail job (sealed), not after delivery — while the scan does find what is there.
#[tokio::test]
async fn no_token_is_stored_in_clear() {
    let app = TestApp::spawn_with_mail().await;
    let (_, _, owner) = app.sign_up_and_log_in("owner@example.eu").await;
    assert_eq!(request_reset(&app, "owner@example.eu").await.0, 202);
    let response = invite(&owner, "guest@example.eu", "user").await;
    assert_eq!(response.status(), 303);

    // Before delivery: the jobs hold sealed envelopes only.
    let mut db = app.superuser_connection().await;
    let payloads: Vec<Value> =
        sqlx::query_scalar("select payload from jobs order by created_at").fetch_all(&mut db).await.unwrap();
    assert_eq!(payloads.len(), 2);
    assert!(payloads.iter().all(|p| p["envelope"].is_string()), "{payloads:?}");
    assert!(!payloads.iter().any(|p| p.to_string().contains("guest@example.eu")), "the address is sealed too");

    app.run_jobs().await;
    let (_, reset) = last_mail(&app, "owner@example.eu");
    let (_, invitation) = last_mail(&app, "guest@example.eu");
    for path in [&reset, &invitation] {
        let token = token_of(path);
        assert!(find_in_database(&mut db, &token).await.found.is_empty(), "{path} stored in clear");
        assert!(find_in_database(&mut db, &token[..16]).await.found.is_empty(), "part of {path} stored");
    }
    assert_eq!(
        find_in_database(&mut db, "guest@example.eu").await.tables(),
        vec!["public.invitations"],
        "the scan finds nothing"
    );
}
