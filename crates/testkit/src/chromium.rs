//! A real browser for journeys through the pages: Debian's Chromium, headless, driven through its
//! WebDriver (chromedriver) with fantoccini.

use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::TestApp;

/// A chromedriver process on a free loopback port, killed on drop.
pub struct Driver {
    child: tokio::process::Child,
    port: u16,
}

impl Driver {
    pub async fn start() -> Self {
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

    /// A new headless Chromium session with its profile in `profile`.
    pub async fn browser(&self, profile: &std::path::Path) -> Client {
        self.browser_sized(profile, 1100, 900).await
    }

    /// A new headless Chromium session whose viewport is `width` × `height` CSS pixels. Below
    /// 500 px (Chromium's narrowest window) it emulates a phone's screen: a mobile viewport that
    /// honours the page's `<meta name="viewport">`, as a phone's browser does.
    pub async fn browser_sized(&self, profile: &std::path::Path, width: u32, height: u32) -> Client {
        self.browser_with(profile, width, height, &[]).await
    }

    /// [`Self::browser_sized`] with the system set to a dark colour scheme: pages see
    /// `prefers-color-scheme: dark`, as on a phone or desktop in dark mode.
    pub async fn browser_dark(&self, profile: &std::path::Path, width: u32, height: u32) -> Client {
        self.browser_with(profile, width, height, &["--blink-settings=preferredColorScheme=0"]).await
    }

    async fn browser_with(&self, profile: &std::path::Path, width: u32, height: u32, extra: &[&str]) -> Client {
        let mut options = json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                format!("--window-size={},{}", width.max(500), height), format!("--user-data-dir={}", profile.display()),
            ],
        });
        if let Some(args) = options["args"].as_array_mut() {
            args.extend(extra.iter().map(|arg| json!(arg)));
        }
        if width < 500 {
            options["mobileEmulation"] = json!({ "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1.0, "mobile": true, "touch": true } });
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::rustls()
            .expect("rustls")
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a Chromium session");
        if width >= 500 {
            // The window's size includes the browser's own frame: grow it so the page gets the
            // asked size (the screenshots' 1366 × 900).
            let frame = client
                .execute(
                    "return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]",
                    vec![],
                )
                .await
                .expect("the window's frame");
            let side = |i: usize| frame[i].as_u64().and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
            let (dx, dy) = (side(0), side(1));
            if dx > 0 || dy > 0 {
                client.set_window_size(width + dx, height + dy).await.expect("resizing the window");
            }
        }
        client
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Types `value` into the page's `<input name="{name}">`.
pub async fn fill(client: &Client, name: &str, value: &str) {
    client.find(Locator::Css(&format!("input[name={name}]"))).await.unwrap().send_keys(value).await.unwrap();
}

/// Waits until the browser has navigated to `path` of the app, then returns the page's heading.
pub async fn arrive(client: &Client, app: &TestApp, path: &str) -> String {
    let url = reqwest::Url::parse(&app.url(path)).unwrap();
    client.wait().for_url(&url).await.unwrap();
    client.find(Locator::Css("h1")).await.unwrap().text().await.unwrap()
}
