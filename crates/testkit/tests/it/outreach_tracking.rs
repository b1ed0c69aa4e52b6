//! Open and click tracking (issue #12 item 3): off by default (no image, no redirected link), and
//! when a sequence's owner turns it on, a signed pixel and signed redirects in the HTML part only,
//! which record the first open and click; no open redirect, no forged count, and turning it off
//! stops the recording.

use kernel::OrgId;
use kernel::db::Actor;
use reqwest::Method;
use testkit::TestApp;
use testkit::outreach::{MailboxLimits, StepSpec};
use uuid::Uuid;

const BODY: &str =
    "Hi {{ first_name }}, our prices: https://example.org/pricing?plan=team&x=1\n\n{{ unsubscribe_url }}";

async fn sequence(app: &TestApp, org: OrgId, owner: Uuid, mailbox: Uuid, tracking: bool) -> Uuid {
    let id = app
        .outreach_sequence(
            org,
            owner,
            &[mailbox],
            &[StepSpec::Email { subject: "Prices", body: BODY, in_thread: false }],
        )
        .await;
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    sqlx::query("update outreach_sequences set tracking = $3 where org_id = $1 and sequence_id = $2")
        .bind(org)
        .bind(id)
        .bind(tracking)
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

/// Every `href="…"` and `src="…"` of an HTML part, unescaped.
fn attributes(html: &str, name: &str) -> Vec<String> {
    let marker = format!("{name}=\"");
    html.match_indices(&marker)
        .filter_map(|(at, _)| {
            let rest = &html[at + marker.len()..];
            rest.find('"').map(|end| rest[..end].replace("&amp;", "&"))
        })
        .collect()
}

async fn times(app: &TestApp, org: OrgId, to: &str) -> (bool, bool) {
    let mut tx = app.db.begin_org(org, Actor::System).await.unwrap();
    let row: (bool, bool) = sqlx::query_as(
        "select opened_at is not null, clicked_at is not null from outreach_messages where org_id = $1 and to_address = $2",
    )
    .bind(org)
    .bind(to)
    .fetch_one(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
    row
}

/// P0-10: without tracking, the HTML part loads nothing and links lead straight to their
/// destination; with it, a pixel and redirects on the public URL in the HTML part only, the
/// unsubscribe link untouched; opening and clicking record the first time, the redirect leads
/// only where the message's link led, and a forged or moved token is a 404 that records nothing.
#[tokio::test]
async fn p0_10_tracking_is_off_by_default_and_when_on_records_opens_and_clicks_through_signed_links() {
    let app = TestApp::spawn_with_mail().await;
    let (org, user) = app.sign_up_directly("owner@tracking.example.eu").await;
    let mailbox =
        app.outreach_mailbox(org, user.0, "camille@sender.example", app.smtp_port(), MailboxLimits::default()).await;
    let untracked = sequence(&app, org, user.0, mailbox, false).await;
    let tracked = sequence(&app, org, user.0, mailbox, true).await;
    let ada = app.outreach_contact(org, "ada@example.org", "Ada", "").await;
    let bob = app.outreach_contact(org, "bob@example.org", "Bob", "").await;
    let eve = app.outreach_contact(org, "eve@example.org", "Eve", "").await;
    app.outreach_enroll(org, untracked, &[eve]).await;
    app.outreach_enroll(org, tracked, &[ada, bob]).await;
    app.run_jobs().await;

    // Off: nothing loaded, the link as written.
    let plain = &app.mailbox().messages_to("eve@example.org")[0];
    let html = plain.html.clone().unwrap();
    assert!(!html.contains("<img") && !html.contains("/t/"), "{html}");
    assert!(attributes(&html, "href").contains(&"https://example.org/pricing?plan=team&x=1".to_string()));

    // On: a pixel and a redirect in the HTML; the text part and the unsubscribe link untouched.
    let mail = &app.mailbox().messages_to("ada@example.org")[0];
    let html = mail.html.clone().unwrap();
    let origin = app.origin();
    let pixel =
        attributes(&html, "src").into_iter().find(|src| src.starts_with(&format!("{origin}/t/o/"))).expect(&html);
    let links = attributes(&html, "href");
    let click = links.iter().find(|href| href.starts_with(&format!("{origin}/t/c/"))).expect(&html).clone();
    let unsubscribe = mail.link(&origin).unwrap();
    assert!(links.contains(&unsubscribe), "the unsubscribe link is never rewritten");
    assert!(mail.text.contains("https://example.org/pricing?plan=team&x=1") && !mail.text.contains("/t/c/"));
    assert_eq!(times(&app, org, "ada@example.org").await, (false, false));

    let response = app.http.get(&pixel).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/gif");
    assert_eq!(response.bytes().await.unwrap()[..6], *b"GIF89a");
    assert_eq!(times(&app, org, "ada@example.org").await, (true, false));

    let response = app.http.get(&click).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "https://example.org/pricing?plan=team&x=1");
    assert_eq!(times(&app, org, "ada@example.org").await, (true, true));

    // Bob's link, sent elsewhere or with its token moved onto another path: a 404, nothing recorded.
    let bob_html = app.mailbox().messages_to("bob@example.org")[0].html.clone().unwrap();
    let bob_click = attributes(&bob_html, "href").into_iter().find(|href| href.contains("/t/c/")).unwrap();
    let bob_pixel = attributes(&bob_html, "src").into_iter().find(|src| src.contains("/t/o/")).unwrap();
    let token = bob_click.split("/t/c/").nth(1).unwrap().split('?').next().unwrap().to_owned();
    let open_token = bob_pixel.rsplit('/').next().unwrap().to_owned();
    for forged in [
        format!("{origin}/t/c/{token}?u=https%3A%2F%2Fevil.example%2F"),
        format!("{origin}/t/c/{token}"),
        format!("{origin}/t/c/{open_token}?u=https%3A%2F%2Fexample.org%2Fpricing%3Fplan%3Dteam%26x%3D1"),
        format!("{origin}/t/o/{token}"),
        format!("{origin}/t/o/not-a-token"),
    ] {
        let response = app.http.get(&forged).send().await.unwrap();
        assert_eq!(response.status(), 404, "{forged}");
        assert!(response.headers().get("location").is_none());
    }
    assert_eq!(times(&app, org, "bob@example.org").await, (false, false));

    // The report shows opens and clicks only where tracking is on.
    let bearer = app.access_token("owner@tracking.example.eu").await;
    let (status, report) =
        app.call_api(&bearer, Method::GET, &format!("/api/v1/sequences/{tracked}/report"), None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!((report["totals"]["opened"].as_i64(), report["totals"]["clicked"].as_i64()), (Some(1), Some(1)));
    let (_, report) = app.call_api(&bearer, Method::GET, &format!("/api/v1/sequences/{untracked}/report"), None).await;
    assert!(report["totals"].get("opened").is_none(), "{report}");

    // Turned off, nothing more is recorded, even for mail sent while it was on.
    let (status, _) = app
        .call_api(
            &bearer,
            Method::PATCH,
            &format!("/api/v1/sequences/{tracked}"),
            Some(serde_json::json!({ "tracking": false })),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(app.http.get(&bob_pixel).send().await.unwrap().status(), 200);
    assert_eq!(times(&app, org, "bob@example.org").await, (false, false));
}
