//! Gmail and Microsoft 365 mailboxes by OAuth2 (issue #12 item 1) against real peers on loopback:
//! npm's oauth2-mock-server as the provider (`peers/oauth/provider.mjs`: client secret, PKCE,
//! single-use codes, revocable grants, real introspection), aiosmtpd accepting XOAUTH2 only for a
//! token that provider issued and holds active (`peers/smtp_auth.py --xoauth2`), and Dovecot's
//! `oauth2` passdb doing the same for IMAP. The test plays the browser: it follows the app's
//! redirect to the provider's `/authorize`, which sends it straight back with a code.
//!
//! Connect through the callback, what is stored (sealed) and shown (nothing secret); a state that
//! is wrong, reused, expired, another session's, member's or organization's; consent refused; the
//! access token refreshed before it runs out (app clock moved); a refused refresh pausing the
//! mailbox until it is connected again; mail actually sent by XOAUTH2; revoke (P0-17).

use std::collections::HashMap;

use kernel::OrgId;
use kernel::authz::Role;
use kernel::db::Actor;
use reqwest::Method;
use serde_json::{Value, json};
use testkit::http::header;
use testkit::mail_peers::{AuthSmtpPeer, ImapPeer, OAuthPeer};
use testkit::outreach::StepSpec;
use testkit::{Browser, PASSWORD, TestApp};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// The account that consents at the provider, and the mail peers' only account.
const ADDRESS: &str = "camille@gmail.test";
const CALLBACK: &str = "/outreach/oauth/callback";

struct Peers {
    oauth: OAuthPeer,
    smtp: AuthSmtpPeer,
    imap: ImapPeer,
}

async fn peers() -> Peers {
    let oauth = OAuthPeer::start().await.expect("the OAuth2 peer");
    oauth.sign_in_as(ADDRESS).await;
    let smtp = AuthSmtpPeer::start_xoauth2(ADDRESS, &oauth).await.expect("the XOAUTH2 SMTP peer");
    let imap = ImapPeer::start_xoauth2(&oauth).await.expect("the XOAUTH2 IMAP peer");
    Peers { oauth, smtp, imap }
}

/// An app registered with the OAuth2 peer as `provider` (`GOOGLE`, `MICROSOFT`), the provider's
/// mail servers being the loopback peers. No RELAIS_OUTREACH_ALLOW_PRIVATE: the provider's
/// servers are the operator's configuration, which that rule (for members' input) does not cover.
async fn app_for(peers: &Peers, provider: &str) -> TestApp {
    let env = peers.oauth.env(provider, peers.smtp.port(), peers.imap.port());
    let env: Vec<(&str, &str)> = env.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
    TestApp::spawn_with(&env).await
}

/// Plays the browser through a consent started at `start`: the app sends it to the provider's
/// `/authorize`, which sends it back at once. Returns the callback's path (with code and state),
/// not yet followed.
async fn consent(app: &TestApp, browser: &Browser, start: &str) -> String {
    let started = browser.get(start).await;
    assert_eq!(started.status(), 303, "{start}");
    let authorize = header(&started, "location");
    let answered = app.http.get(&authorize).send().await.unwrap();
    assert_eq!(answered.status(), 302, "{authorize}: {}", answered.text().await.unwrap_or_default());
    let back = header(&answered, "location");
    back.strip_prefix(&app.origin()).unwrap_or_else(|| panic!("the provider sent the browser elsewhere: {back}")).into()
}

/// Completes a consent and returns the connected mailbox's id.
async fn connect(app: &TestApp, browser: &Browser, start: &str, peers: &Peers) -> Uuid {
    let callback = consent(app, browser, start).await;
    let done = browser.get(&callback).await;
    let status = done.status();
    let location = header(&done, "location");
    assert_eq!(
        status,
        303,
        "{}\n{}\n{}",
        done.text().await.unwrap_or_default(),
        peers.imap.log(),
        peers.oauth.stderr()
    );
    location.strip_prefix("/outreach/mailboxes/").expect("to the mailbox's page").parse().unwrap()
}

/// Every mailbox of the org: (id, owner, provider, address, status, pause reason).
async fn mailboxes(app: &TestApp, org: OrgId) -> Vec<(Uuid, Uuid, String, String, String, String)> {
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    let rows = sqlx::query_as(
        "select mailbox_id, owner_id, provider, from_address, status, pause_reason from outreach_mailboxes
          where org_id = $1 order by created_at",
    )
    .bind(org)
    .fetch_all(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
    rows
}

/// A mailbox's sealed refresh token, sealed access token and the access token's expiry.
async fn sealed(app: &TestApp, org: OrgId, id: Uuid) -> (Vec<u8>, Vec<u8>, OffsetDateTime) {
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    let row = sqlx::query_as(
        "select secret_sealed, access_token_sealed, access_token_expires_at from outreach_mailboxes
          where org_id = $1 and mailbox_id = $2",
    )
    .bind(org)
    .bind(id)
    .fetch_one(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
    row
}

/// The (refresh, access) tokens a mailbox holds, opened with the vault as the app would.
async fn tokens(app: &TestApp, org: OrgId, id: Uuid) -> (String, String) {
    use secrecy::ExposeSecret;
    let (secret, access, _) = sealed(app, org, id).await;
    let vault = &app.state.vault;
    let refresh = vault.open(&outreach::mailboxes::secret_context(org, id), &secret).unwrap();
    let access = vault.open(&outreach::mailboxes::access_token_context(org, id), &access).unwrap();
    (refresh.expose_secret().to_owned(), access.expose_secret().to_owned())
}

/// The `jti` of a JWT access token.
fn jti(token: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["jti"].as_str().unwrap().to_owned()
}

async fn state_rows(app: &TestApp, org: OrgId) -> i64 {
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    let n = sqlx::query_scalar("select count(*) from outreach_oauth_states where org_id = $1")
        .bind(org)
        .fetch_one(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    n
}

/// A mailbox that sends at any hour without a gap, so a test's message goes out at once.
async fn open_all_hours(app: &TestApp, org: OrgId, id: Uuid) {
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    sqlx::query(
        "update outreach_mailboxes set window_days = '{1,2,3,4,5,6,7}', window_start_minute = 0,
                window_end_minute = 1440, min_gap_seconds = 0, jitter_seconds = 0
          where org_id = $1 and mailbox_id = $2",
    )
    .bind(org)
    .bind(id)
    .execute(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// A one-email campaign from `mailbox` to `to`, enrolled and due now.
async fn campaign(app: &TestApp, org: OrgId, owner: Uuid, mailbox: Uuid, to: &str) {
    let body = "Hello {{ first_name }}.\n\nUnsubscribe: {{ unsubscribe_url }}";
    let step = StepSpec::Email { subject: "Hello {{ first_name }}", body, in_thread: false };
    let sequence = app.outreach_sequence(org, owner, &[mailbox], &[step]).await;
    let contact = app.outreach_contact(org, to, "Ada", "").await;
    app.outreach_enroll(org, sequence, &[contact]).await;
}

fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url).unwrap().query_pairs().into_owned().collect()
}

/// Whether `haystack` holds `needle`'s bytes anywhere.
fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// P0-05 (mailbox part): a Gmail mailbox connects through Google's consent — the authorization code
/// with PKCE S256, the state bound to the session — after a connection test by XOAUTH2 on both
/// servers; its tokens are sealed, never shown; the state works once; and a message goes out by
/// XOAUTH2 and arrives at the SMTP server.
#[tokio::test]
async fn p0_05_a_gmail_mailbox_connects_through_googles_consent_and_sends_by_xoauth2() {
    let peers = peers().await;
    let app = app_for(&peers, "GOOGLE").await;
    let (org, user, browser) = app.sign_up_and_log_in("owner@oauth.example.eu").await;

    // Gmail is offered; Microsoft 365, not registered here, is not — and the page says why.
    let html = browser.get("/outreach/mailboxes/new").await.text().await.unwrap();
    assert!(html.contains("href=\"/outreach/mailboxes/connect/google\"") && html.contains("Connect Gmail"), "{html}");
    assert!(!html.contains("/outreach/mailboxes/connect/microsoft"));
    assert!(html.contains("Connecting Microsoft 365 by signing in at Microsoft is not set up on this instance"));
    assert!(html.contains("name=\"smtp_host\""), "the password form is still there");
    assert_eq!(browser.get("/outreach/mailboxes/connect/microsoft").await.status(), 404);
    assert_eq!(browser.get("/outreach/mailboxes/connect/yahoo").await.status(), 404);

    // The way to Google: a code with PKCE S256, a refresh token asked for, the state kept hashed.
    let started = browser.get("/outreach/mailboxes/connect/google").await;
    assert_eq!(started.status(), 303);
    let authorize = header(&started, "location");
    assert!(authorize.starts_with(&peers.oauth.url("/authorize?")), "{authorize}");
    let query = query_of(&authorize);
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], OAuthPeer::CLIENT_ID);
    assert_eq!(query["redirect_uri"], app.url(CALLBACK));
    assert_eq!(query["scope"], "https://mail.google.com/ openid email");
    assert_eq!((query["access_type"].as_str(), query["prompt"].as_str()), ("offline", "consent"));
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["code_challenge"].len(), 43);
    let state = &query["state"];
    assert!(state.len() >= 43, "{state}");
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    let (hashed, whole): (i64, String) = sqlx::query_as(
        "select count(*) filter (where state_hash = sha256(convert_to($2, 'UTF8'))), coalesce(string_agg(s::text, ''), '')
           from outreach_oauth_states s where org_id = $1",
    )
    .bind(org)
    .bind(state)
    .fetch_one(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(hashed, 1, "one flow under way, its state kept as a SHA-256");
    assert!(!whole.contains(state.as_str()), "the state itself is not stored");

    let answered = app.http.get(&authorize).send().await.unwrap();
    assert_eq!(answered.status(), 302);
    let callback = header(&answered, "location").strip_prefix(&app.origin()).unwrap().to_string();
    assert!(callback.starts_with(&format!("{CALLBACK}?code=")), "{callback}");
    let done = browser.get(&callback).await;
    assert_eq!(done.status(), 303, "{}", peers.imap.log());
    let location = header(&done, "location");
    let id: Uuid = location.strip_prefix("/outreach/mailboxes/").unwrap().parse().unwrap();
    assert_eq!(
        mailboxes(&app, org).await,
        [(id, user.0, "google".into(), ADDRESS.into(), "active".into(), String::new())]
    );
    assert_eq!(state_rows(&app, org).await, 0, "the state is used up");

    // Sealed: the refresh token as the mailbox's secret, the access token beside it, for an hour.
    let (secret, access_sealed, expires_at) = sealed(&app, org, id).await;
    let (refresh, access) = tokens(&app, org, id).await;
    assert!(peers.oauth.is_active(&access).await, "the access token is one the provider issued");
    assert!(!holds(&secret, refresh.as_bytes()) && !holds(&access_sealed, access.as_bytes()));
    let left = expires_at - app.clock.now();
    assert!(left > Duration::minutes(59) && left <= Duration::hours(1), "{left}");
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    let (row, smtp_username, imap_username): (String, String, String) = sqlx::query_as(
        "select m::text, smtp_username, imap_username from outreach_mailboxes m where org_id = $1 and mailbox_id = $2",
    )
    .bind(org)
    .bind(id)
    .fetch_one(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(!row.contains(&refresh) && !row.contains(&access), "a token in clear in the row");
    assert_eq!((smtp_username.as_str(), imap_username.as_str()), (ADDRESS, ADDRESS));

    // The connection test logged in to both servers with that token.
    assert_eq!(peers.smtp.xoauth2_logins(), [jti(&access)]);
    assert!(peers.imap.log().contains("method=XOAUTH2"), "{}", peers.imap.log());

    // Audited like a password connection, without a token.
    assert_eq!(app.count_audit_events(org, "outreach.mailbox.connected").await, 1);
    let log = app.org_audit_log(org).await;
    let connected = log.iter().find(|e| e.action == "outreach.mailbox.connected").unwrap();
    assert_eq!(connected.payload["provider"], "google");
    assert_eq!(connected.payload["from_address"], ADDRESS);
    assert!(log.iter().all(|e| !e.payload.to_string().contains(&refresh) && !e.payload.to_string().contains(&access)));

    // The page and the API show it — its provider, never a token or a password field.
    let page = browser.get(&location).await.text().await.unwrap();
    assert!(page.contains(ADDRESS) && page.contains("Google (Gmail)"), "{page}");
    assert!(!page.contains("name=\"password\""), "an OAuth2 mailbox has no password to change");
    assert!(!page.contains(&refresh) && !page.contains(&access));
    let bearer = app.access_token("owner@oauth.example.eu").await;
    let (status, text) = app.get_text_with_bearer(&bearer, "/api/v1/outreach/mailboxes").await;
    assert_eq!(status, 200);
    let listed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(listed["data"][0]["provider"], "google");
    assert_eq!(listed["data"][0]["smtp"]["username"], ADDRESS);
    assert!(!text.contains(&refresh) && !text.contains(&access) && !text.contains("secret") && !text.contains("token"));
    let (status, refused) = app
        .call_api(&bearer, Method::PATCH, &format!("/api/v1/outreach/mailboxes/{id}"), Some(json!({ "password": "x" })))
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["errors"][0]["code"], "oauth_mailbox");

    // The same callback again: the state is spent; nothing changes.
    let again = browser.get(&callback).await;
    assert_eq!(again.status(), 400);
    assert!(again.text().await.unwrap().contains("This sign-in link is no longer valid"));
    assert_eq!(mailboxes(&app, org).await.len(), 1);
    assert_eq!(app.count_audit_events(org, "outreach.mailbox.connected").await, 1);

    // A message goes out by XOAUTH2, with the access token still valid (no refresh).
    open_all_hours(&app, org, id).await;
    campaign(&app, org, user.0, id, "ada@example.org").await;
    app.run_jobs().await;
    let received = peers.smtp.mailbox().messages_to("ada@example.org");
    assert_eq!(received.len(), 1, "{:?}", app.outreach_messages(org).await);
    assert_eq!(received[0].envelope_from, ADDRESS);
    assert_eq!(received[0].subject, "Hello Ada");
    assert_eq!(peers.smtp.xoauth2_logins(), [jti(&access), jti(&access)]);
    let grants: Vec<Value> = peers.oauth.log().await["tokenRequests"].as_array().unwrap().clone();
    assert_eq!(grants, [json!({ "grant_type": "authorization_code", "status": 200 })]);
}

/// A consent that does not come back to its own flow, or comes back without a grant, stores
/// nothing and says what happened: no state, a wrong one, consent refused at the provider, an
/// expired state, a code the provider refuses, an account whose mail servers refuse the token.
#[tokio::test]
async fn p0_05_a_consent_that_does_not_complete_its_own_flow_stores_nothing_and_says_why() {
    let peers = peers().await;
    let app = app_for(&peers, "GOOGLE").await;
    let (org, _, browser) = app.sign_up_and_log_in("owner@refusals.example.eu").await;
    let start = "/outreach/mailboxes/connect/google";

    let refused = |path: String, status: u16, text: &'static str| {
        let (browser, app) = (&browser, &app);
        async move {
            let response = browser.get(&path).await;
            assert_eq!(response.status(), status, "{path}");
            let html = response.text().await.unwrap();
            assert!(html.contains(text), "{path}: {html}");
            assert!(html.contains("Nothing was saved."));
            assert_eq!(mailboxes(app, org).await.len(), 0, "{path}");
        }
    };

    refused(format!("{CALLBACK}?code=abc"), 400, "This sign-in link is no longer valid").await;

    // A state that is not the one this flow sent: refused, and the real flow is left alone.
    let callback = consent(&app, &browser, start).await;
    let query = query_of(&app.url(&callback));
    let forged = format!("{CALLBACK}?code={}&state=forged-{}", query["code"], &query["state"][..10]);
    refused(forged, 400, "This sign-in link is no longer valid").await;
    assert_eq!(state_rows(&app, org).await, 1);

    // The person declines at the provider.
    peers.oauth.deny_next().await;
    let declined = consent(&app, &browser, start).await;
    assert!(declined.contains("error=access_denied") && !declined.contains("code="), "{declined}");
    refused(declined, 400, "You did not allow Relais to use this mailbox").await;

    // Ten minutes are the flow's life.
    let late = consent(&app, &browser, start).await;
    app.clock.advance(Duration::minutes(11));
    refused(late, 400, "This sign-in link is no longer valid").await;

    // A code the provider does not know (the state is fine).
    let callback = consent(&app, &browser, start).await;
    let query = query_of(&app.url(&callback));
    let bogus = format!("{CALLBACK}?code=not-a-code&state={}", query["state"]);
    refused(bogus, 400, "The provider refused to give Relais access to this mailbox.").await;

    // Another account consents, whose mail servers do not take the token: the test fails.
    peers.oauth.sign_in_as("someone.else@gmail.test").await;
    let other = consent(&app, &browser, start).await;
    refused(other, 422, "The SMTP server refused the user name or password.").await;

    assert_eq!(app.count_audit_events(org, "outreach.mailbox.connected").await, 0);
    // Only the other account's consent got tokens; no refused state ever reached the token endpoint.
    let log = peers.oauth.log().await;
    assert_eq!(log["tokenRequests"], json!([{ "grant_type": "authorization_code", "status": 200 }]), "{log}");
}

/// P0-05: an access token that runs out within five minutes is refreshed before the engine sends
/// (the app clock moved 56 minutes); the new one — and the rotated refresh token Microsoft sends —
/// are sealed in place, and the message goes out with the new token.
#[tokio::test]
async fn p0_05_an_access_token_about_to_run_out_is_refreshed_before_sending() {
    let peers = peers().await;
    peers.oauth.configure(3600, true).await;
    let app = app_for(&peers, "MICROSOFT").await;
    let (org, user, browser) = app.sign_up_and_log_in("owner@refresh.example.eu").await;

    let started = browser.get("/outreach/mailboxes/connect/microsoft").await;
    let query = query_of(&header(&started, "location"));
    assert_eq!(
        query["scope"],
        "offline_access openid email https://outlook.office.com/SMTP.Send https://outlook.office.com/IMAP.AccessAsUser.All"
    );
    assert!(!query.contains_key("access_type"), "Google's parameter only");
    let id = connect(&app, &browser, "/outreach/mailboxes/connect/microsoft", &peers).await;
    open_all_hours(&app, org, id).await;
    let (first_secret, _, first_expiry) = sealed(&app, org, id).await;
    let (first_refresh, first_access) = tokens(&app, org, id).await;

    app.clock.advance(Duration::minutes(56));
    campaign(&app, org, user.0, id, "ada@example.org").await;
    app.run_jobs().await;

    let grants: Vec<String> = peers.oauth.log().await["tokenRequests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r["grant_type"].as_str().unwrap(), r["status"]))
        .collect();
    assert_eq!(grants, ["authorization_code 200", "refresh_token 200"]);
    let (secret, _, expiry) = sealed(&app, org, id).await;
    let (refresh, access) = tokens(&app, org, id).await;
    assert_ne!(access, first_access, "a new access token");
    assert_ne!(refresh, first_refresh, "the rotated refresh token kept");
    assert_ne!(secret, first_secret);
    assert_eq!(expiry - first_expiry, Duration::minutes(56), "an hour from the refresh, on the app's clock");
    assert_eq!(peers.smtp.mailbox().messages_to("ada@example.org").len(), 1);
    assert_eq!(peers.smtp.xoauth2_logins().last(), Some(&jti(&access)), "sent with the new token");

    // The member's connection test uses the fresh token as it is: no new refresh.
    let bearer = app.access_token("owner@refresh.example.eu").await;
    let (status, tested) =
        app.call_api(&bearer, Method::POST, &format!("/api/v1/outreach/mailboxes/{id}/test"), None).await;
    assert_eq!((status.as_u16(), &tested["ok"]), (200, &json!(true)), "{tested}");
    assert_eq!(peers.oauth.log().await["tokenRequests"].as_array().unwrap().len(), 2);
}

/// P0-05: when the provider refuses the refresh (the person removed the app from their account),
/// the mailbox pauses itself with `oauth_expired` — shown translated with a "connect again" link
/// — and its message waits; connecting again through that link re-activates the same mailbox and
/// the message goes out.
#[tokio::test]
async fn p0_05_a_refused_refresh_pauses_the_mailbox_until_it_is_connected_again() {
    let peers = peers().await;
    let app = app_for(&peers, "GOOGLE").await;
    let (org, user, browser) = app.sign_up_and_log_in("owner@expired.example.eu").await;
    let id = connect(&app, &browser, "/outreach/mailboxes/connect/google", &peers).await;
    open_all_hours(&app, org, id).await;

    peers.oauth.revoke_grants().await;
    app.clock.advance(Duration::minutes(56));
    campaign(&app, org, user.0, id, "ada@example.org").await;
    app.run_jobs().await;

    let rows = mailboxes(&app, org).await;
    assert_eq!((rows[0].4.as_str(), rows[0].5.as_str()), ("paused", "oauth_expired"));
    assert_eq!(
        app.outreach_messages(org).await,
        [("ada@example.org".into(), "planned".into(), "oauth_expired".into())]
    );
    assert!(peers.smtp.mailbox().messages().is_empty());
    let bearer = app.access_token("owner@expired.example.eu").await;
    let (_, shown) = app.call_api(&bearer, Method::GET, &format!("/api/v1/outreach/mailboxes/{id}"), None).await;
    assert_eq!((&shown["status"], &shown["pause_reason"]), (&json!("paused"), &json!("oauth_expired")));
    // The member's own test says the same, and leaves it paused.
    let (_, tested) = app.call_api(&bearer, Method::POST, &format!("/api/v1/outreach/mailboxes/{id}/test"), None).await;
    assert_eq!(
        (&tested["ok"], &tested["error"], &tested["server"]),
        (&json!(false), &json!("oauth_expired"), &json!("provider"))
    );

    // Shown on the mailbox pages, in both languages, with the way back.
    let reconnect = format!("/outreach/mailboxes/connect/google?mailbox={id}");
    for path in ["/outreach/mailboxes".to_string(), format!("/outreach/mailboxes/{id}")] {
        let html = browser.get(&path).await.text().await.unwrap();
        assert!(html.contains("the provider no longer accepts Relais"), "{path}: {html}");
        assert!(html.contains(&format!("href=\"{reconnect}\"")) && html.contains("Connect again"), "{path}");
    }
    let csrf = browser.csrf_token("/outreach/mailboxes").await;
    browser.post_form("/lang", &[("csrf", &csrf), ("lang", "fr"), ("next", "/outreach/mailboxes")]).await;
    let html = browser.get(&format!("/outreach/mailboxes/{id}")).await.text().await.unwrap();
    assert!(html.contains("le fournisseur n’accepte plus l’accès de Relais à cette boîte"), "{html}");
    assert!(html.contains("Connecter de nouveau"));
    browser.post_form("/lang", &[("csrf", &csrf), ("lang", "en"), ("next", "/outreach/mailboxes")]).await;

    // Connecting again with another account is refused before anything is tested or stored.
    let started = browser.get(&reconnect).await;
    let authorize = header(&started, "location");
    assert_eq!(query_of(&authorize)["login_hint"], ADDRESS, "the provider is told which account");
    let elsewhere = authorize.replace("login_hint=camille%40gmail.test", "login_hint=other%40gmail.test");
    let answered = app.http.get(&elsewhere).send().await.unwrap();
    let callback = header(&answered, "location").strip_prefix(&app.origin()).unwrap().to_string();
    let other = browser.get(&callback).await;
    assert_eq!(other.status(), 400);
    assert!(other.text().await.unwrap().contains("You signed in with another account than this mailbox"));

    // Connecting again with its account: the same mailbox, active, new tokens.
    peers.oauth.sign_in_as(ADDRESS).await;
    assert_eq!(connect(&app, &browser, &reconnect, &peers).await, id);
    let rows = mailboxes(&app, org).await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].4.as_str(), rows[0].5.as_str()), ("active", ""));
    assert_eq!(app.count_audit_events(org, "outreach.mailbox.reconnected").await, 1);
    let (_, access) = tokens(&app, org, id).await;
    assert!(peers.oauth.is_active(&access).await);

    // The message waited ten minutes, like one whose server was unreachable; then it goes out.
    app.clock.advance(Duration::minutes(11));
    app.run_jobs().await;
    assert_eq!(peers.smtp.mailbox().messages_to("ada@example.org").len(), 1, "{:?}", app.outreach_messages(org).await);
    assert_eq!(peers.smtp.xoauth2_logins().last(), Some(&jti(&access)));
}

/// P0-05: when the mail server itself refuses a still-unexpired access token by XOAUTH2 (the
/// person removed the app from their account since it was issued), the mailbox pauses with
/// `oauth_refused` — "connect it again", not the password mailbox's "change the password" — and
/// its message waits, planned.
#[tokio::test]
async fn p0_05_an_access_token_the_mail_server_refuses_pauses_with_words_for_a_connected_account() {
    let peers = peers().await;
    let app = app_for(&peers, "GOOGLE").await;
    let (org, user, browser) = app.sign_up_and_log_in("owner@refused.example.eu").await;
    let id = connect(&app, &browser, "/outreach/mailboxes/connect/google", &peers).await;
    open_all_hours(&app, org, id).await;

    // The token has most of its hour left, so it is not refreshed: the SMTP server says no.
    peers.oauth.revoke_grants().await;
    campaign(&app, org, user.0, id, "ada@example.org").await;
    app.run_jobs().await;

    let rows = mailboxes(&app, org).await;
    assert_eq!((rows[0].4.as_str(), rows[0].5.as_str()), ("paused", "oauth_refused"));
    assert_eq!(app.outreach_messages(org).await, [("ada@example.org".into(), "planned".into(), "smtp_auth".into())]);
    assert!(peers.smtp.mailbox().messages().is_empty());
    let grants = peers.oauth.log().await["tokenRequests"].as_array().unwrap().len();
    assert_eq!(grants, 1, "only the authorization code: no refresh was tried");

    let html = browser.get(&format!("/outreach/mailboxes/{id}")).await.text().await.unwrap();
    assert!(html.contains("the mail server refused Relais"), "{html}");
    assert!(!html.contains("refused the password"), "{html}");
    let reconnect = format!("/outreach/mailboxes/connect/google?mailbox={id}");
    assert!(html.contains(&format!("href=\"{reconnect}\"")) && html.contains("Connect again"), "{html}");
    let csrf = browser.csrf_token("/outreach/mailboxes").await;
    browser.post_form("/lang", &[("csrf", &csrf), ("lang", "fr"), ("next", "/outreach/mailboxes")]).await;
    let html = browser.get(&format!("/outreach/mailboxes/{id}")).await.text().await.unwrap();
    assert!(html.contains("le serveur de messagerie a refusé l’accès de Relais à cette boîte"), "{html}");
}

/// The whole database as `pg_dump` writes it.
fn database_dump(app: &TestApp) -> String {
    let options = app.connect_options(kernel::db::embedded::SUPERUSER);
    let binary = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path().join("bin/pg_dump")))
        .filter(|p| p.exists())
        .max()
        .unwrap_or_else(|| "pg_dump".into());
    let output = std::process::Command::new(binary)
        .arg("--host")
        .arg(app.socket_dir())
        .args(["--port", &options.get_port().to_string(), "--username", options.get_username()])
        .args(["--data-only", "--no-password", &app.database])
        .output()
        .expect("pg_dump runs");
    assert!(output.status.success(), "pg_dump: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// P0-17: revoking a Gmail mailbox deletes its row — and the sealed tokens in it — at once (not a
/// byte of them left in the database), then tells Google the grant is over (RFC 7009): the
/// provider no longer holds its access token active.
#[tokio::test]
async fn p0_17_revoking_a_gmail_mailbox_deletes_its_tokens_and_ends_the_grant_at_google() {
    let peers = peers().await;
    let app = app_for(&peers, "GOOGLE").await;
    let (org, _, browser) = app.sign_up_and_log_in("owner@revoke.example.eu").await;
    let id = connect(&app, &browser, "/outreach/mailboxes/connect/google", &peers).await;
    let (secret, access_sealed, _) = sealed(&app, org, id).await;
    let (refresh, access) = tokens(&app, org, id).await;
    let dump = database_dump(&app);
    assert!(dump.contains(&hex::encode(&secret)), "the dump shows bytea as hex: the search below means something");

    let page = browser.get(&format!("/outreach/mailboxes/{id}")).await.text().await.unwrap();
    assert!(page.contains("tells the provider the access is over"), "{page}");
    let revoked = browser
        .submit_form(&format!("/outreach/mailboxes/{id}"), &format!("/outreach/mailboxes/{id}/revoke"), &[])
        .await;
    assert_eq!(revoked.status(), 303);
    assert!(mailboxes(&app, org).await.is_empty());
    let dump = database_dump(&app);
    for (what, needle) in [
        ("sealed refresh token", hex::encode(&secret)),
        ("sealed access token", hex::encode(&access_sealed)),
        ("refresh token", refresh.clone()),
        ("access token", access.clone()),
    ] {
        assert!(!dump.contains(&needle), "the {what} is still in the database");
    }

    assert_eq!(peers.oauth.log().await["revoked"], json!([refresh]), "the refresh token is revoked at Google");
    assert!(!peers.oauth.is_active(&access).await, "the grant is over at the provider");
    let log = app.org_audit_log(org).await;
    let event = log.iter().find(|e| e.action == "outreach.mailbox.revoked").unwrap();
    assert_eq!(event.payload["provider"], "google");
    assert!(!event.payload.to_string().contains(&refresh));
}

/// P0-05: the callback completes a flow only for the member and session that started it, in its
/// organization: another member of the organization, a member of another organization and the
/// same member in another session are refused, store nothing, and a refused use spends the state.
#[tokio::test]
async fn p0_05_the_callback_completes_only_its_own_members_flow_in_its_own_session_and_organization() {
    let peers = peers().await;
    let app = app_for(&peers, "GOOGLE").await;
    let start = "/outreach/mailboxes/connect/google";
    let (org, owner, alice) = app.sign_up_and_log_in("alice@isolation.example.eu").await;
    app.add_member(org, "bob@isolation.example.eu", Role::User).await;
    let bob = app.browser_login("bob@isolation.example.eu", PASSWORD).await;
    let (other_org, _, carol) = app.sign_up_and_log_in("carol@elsewhere.example.eu").await;
    let alice_again = app.browser_login("alice@isolation.example.eu", PASSWORD).await;

    let callback = consent(&app, &alice, start).await;
    let to_bob = bob.get(&callback).await;
    assert_eq!(to_bob.status(), 400, "another member of the organization");
    assert_eq!(alice.get(&callback).await.status(), 400, "a state seen by someone else is spent");

    let callback = consent(&app, &alice, start).await;
    assert_eq!(carol.get(&callback).await.status(), 400, "a member of another organization");
    assert_eq!(state_rows(&app, org).await, 1, "invisible to another organization, so untouched");
    assert_eq!(alice_again.get(&callback).await.status(), 400, "the same member in another session");
    assert_eq!(alice.get(&callback).await.status(), 400);

    assert!(mailboxes(&app, org).await.is_empty());
    assert!(mailboxes(&app, other_org).await.is_empty());

    // Alice's own flow in her own session completes; Bob cannot reconnect her mailbox.
    let id = connect(&app, &alice, start, &peers).await;
    assert_eq!(mailboxes(&app, org).await[0].1, owner.0);
    assert_eq!(bob.get(&format!("{start}?mailbox={id}")).await.status(), 404);
    assert_eq!(carol.get(&format!("{start}?mailbox={id}")).await.status(), 404);
}
