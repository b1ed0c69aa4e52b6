//! The main identity journey in a real browser: Debian's Chromium, headless, driven through its
//! WebDriver (chromedriver). Header-perfect HTTP clients once hid that every real browser's form
//! POST was refused; this drives what people actually use.

use fantoccini::{Client, Locator};
use testkit::TestApp;
use testkit::chromium::{Driver, arrive, fill};

async fn path(client: &Client) -> String {
    client.current_url().await.unwrap().path().to_string()
}

/// P1-10, P1-19, P0-01: sign up, follow the confirmation link from the local outbox, land on the dashboard with an HttpOnly, Secure, SameSite=Lax
/// session cookie, switch to French, log out, and log back in — in Chromium.
#[tokio::test]
async fn p1_10_sign_up_switch_language_log_out_and_in_with_chromium() {
    let app = TestApp::spawn().await;
    let driver = Driver::start().await;
    let profile = std::env::temp_dir().join(format!("relais-chromium-{}", uuid::Uuid::new_v4().simple()));
    let client = driver.browser(&profile).await;

    client.goto(&app.url("/signup")).await.unwrap();
    fill(&client, "first_name", "Inès").await;
    fill(&client, "last_name", "Lefèvre").await;
    fill(&client, "email", "ines@chromium.example.eu").await;
    fill(&client, "password", "un mot de passe assez long").await;
    fill(&client, "organization_name", "Navigateur SARL").await;
    fill(&client, "job_title", "Gérante").await;
    client.find(Locator::Css("input[name=adult]")).await.unwrap().click().await.unwrap();
    client.find(Locator::Css("input[name=accepted_policy_version]")).await.unwrap().click().await.unwrap();
    client.find(Locator::Css("button.primary")).await.unwrap().click().await.unwrap();
    // Verified sign-up: nothing is created until the mailed link is followed. Read it in the
    // local outbox (/dev/outbox), open the link and press the landing page's button.
    client.wait().for_element(Locator::XPath("//h1[contains(., 'Check your inbox')]")).await.unwrap();
    client.goto(&app.url("/dev/outbox")).await.unwrap();
    client.find(Locator::Css("a[href^='/dev/outbox/']")).await.unwrap().click().await.unwrap();
    client.find(Locator::Css("a[href*='/signup/confirm?token=']")).await.unwrap().click().await.unwrap();
    client
        .wait()
        .for_element(Locator::Css("form[action='/signup/confirm'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The home page greets the new owner by name.
    assert_eq!(arrive(&client, &app, "/dashboard").await, "Hello, Inès");

    let cookies = client.get_all_cookies().await.unwrap();
    let session = cookies.iter().find(|c| c.name() == "relais_session").expect("a session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(session.secure(), Some(true));
    assert_eq!(session.same_site().map(|s| format!("{s:?}")).as_deref(), Some("Lax"));
    let names: Vec<&str> = cookies.iter().map(|c| c.name()).collect();
    assert!(names.iter().all(|n| *n == "relais_session" || *n == "lang"), "unexpected cookies: {names:?}");

    client.find(Locator::Css("form[action='/lang'] button")).await.unwrap().click().await.unwrap();
    client.wait().for_element(Locator::Css("html[lang=fr]")).await.unwrap();
    assert_eq!(path(&client).await, "/dashboard");

    // Log out is in the profile menu of the top bar.
    client.find(Locator::Css("details.profile-menu > summary")).await.unwrap().click().await.unwrap();
    client.find(Locator::Css("form[action='/logout'] button")).await.unwrap().click().await.unwrap();
    arrive(&client, &app, "/login").await;
    client.goto(&app.url("/dashboard")).await.unwrap();
    assert_eq!(path(&client).await, "/login", "the dashboard opened after logout");

    fill(&client, "email", "ines@chromium.example.eu").await;
    fill(&client, "password", "un mot de passe assez long").await;
    client.find(Locator::Css("button.primary")).await.unwrap().click().await.unwrap();
    // Back in French, the language she chose.
    assert_eq!(arrive(&client, &app, "/dashboard").await, "Bonjour Inès");

    client.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&profile);
}
