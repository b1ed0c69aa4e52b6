//! The main identity journey in a real browser: Debian's Chromium, headless, driven through its
//! WebDriver (chromedriver). Header-perfect HTTP clients once hid that every real browser's form
//! POST was refused; this drives what people actually use.

use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use testkit::TestApp;

/// A chromedriver process on a free loopback port, killed on drop.
pub(crate) struct Driver {
    child: tokio::process::Child,
    port: u16,
}

impl Driver {
    pub(crate) async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("chromedriver not found ({e}): install it with `apt-get install chromium chromium-driver`")
            });
        // Readiness of an external process: a bounded wait for its port, not test synchronisation.
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Self { child, port };
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("chromedriver did not listen on {port} within 5 s");
    }

    pub(crate) async fn browser(&self, profile: &std::path::Path) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--window-size=1100,900", format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        ClientBuilder::rustls()
            .expect("rustls")
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

pub(crate) async fn fill(client: &Client, name: &str, value: &str) {
    client.find(Locator::Css(&format!("input[name={name}]"))).await.unwrap().send_keys(value).await.unwrap();
}

/// Waits until the browser has navigated to `path` of the app, then returns the page's heading.
pub(crate) async fn arrive(client: &Client, app: &TestApp, path: &str) -> String {
    let url = testkit::reqwest::Url::parse(&app.url(path)).unwrap();
    client.wait().for_url(&url).await.unwrap();
    client.find(Locator::Css("h1")).await.unwrap().text().await.unwrap()
}

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
    assert_eq!(arrive(&client, &app, "/dashboard").await, "Navigateur SARL");

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

    client.find(Locator::Css("form[action='/logout'] button")).await.unwrap().click().await.unwrap();
    arrive(&client, &app, "/login").await;
    client.goto(&app.url("/dashboard")).await.unwrap();
    assert_eq!(path(&client).await, "/login", "the dashboard opened after logout");

    fill(&client, "email", "ines@chromium.example.eu").await;
    fill(&client, "password", "un mot de passe assez long").await;
    client.find(Locator::Css("button.primary")).await.unwrap().click().await.unwrap();
    assert_eq!(arrive(&client, &app, "/dashboard").await, "Navigateur SARL");

    client.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&profile);
}
