//! Screenshots of the main pages for the README, taken by scripts/screenshots.sh against a running
//! demo: headless Chromium through chromedriver (as the browser tests), signed in as the demo user,
//! at a laptop's size (1366 × 900) and a phone's (390 × 844), in English and, for two pages, French.
//!
//! Usage: screenshots <base URL> <email> <password> <output directory>

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use fantoccini::{Client, Locator};
use serde_json::json;
use testkit::chromium::Driver;

/// (file name, path) of the pages taken in English; `{lead}` is the first lead of the list.
const PAGES: [(&str, &str); 6] = [
    ("home", "/dashboard"),
    ("leads", "/crm/leads"),
    ("lead", "{lead}"),
    ("deals-board", "/crm/deals/board"),
    ("import", "/crm/imports"),
    ("settings", "/settings/crm"),
];
/// The pages also taken in French.
const FRENCH: [&str; 2] = ["home", "deals-board"];
/// (suffix, width, height) of the two window sizes.
const SIZES: [(&str, u32, u32); 2] = [("desktop", 1366, 900), ("phone", 390, 844)];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, email, password, out] = args.as_slice() else {
        bail!("usage: screenshots <base URL> <email> <password> <output directory>");
    };
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let driver = Driver::start().await;
    for (size, width, height) in SIZES {
        let profile = std::env::temp_dir().join(format!("relais-screenshots-{}", uuid::Uuid::new_v4().simple()));
        let client = driver.browser_sized(&profile, width, height).await;
        let taken = take(&client, base, email, password, size, &out).await;
        let _ = client.close().await;
        let _ = std::fs::remove_dir_all(&profile);
        taken?;
    }
    Ok(())
}

async fn take(client: &Client, base: &str, email: &str, password: &str, size: &str, out: &Path) -> anyhow::Result<()> {
    client.goto(&format!("{base}/login")).await?;
    client.find(Locator::Css("input[name=email]")).await?.send_keys(email).await?;
    client.find(Locator::Css("input[name=password]")).await?.send_keys(password).await?;
    client.find(Locator::Css("form[action='/login'] button")).await?.click().await?;
    client.wait().for_element(Locator::Css("form[action='/logout']")).await.context("signing in")?;

    client.goto(&format!("{base}/crm/leads")).await?;
    let lead = client
        .execute(
            "const a = [...document.querySelectorAll('main a[href]')]
               .find(a => /^\\/crm\\/leads\\/[0-9a-f-]{36}$/.test(a.getAttribute('href')));
             return a ? a.getAttribute('href') : null;",
            vec![],
        )
        .await?
        .as_str()
        .context("a lead in the list")?
        .to_string();

    for lang in ["en", "fr"] {
        set_language(client, lang).await?;
        for (name, path) in PAGES {
            if lang == "fr" && !FRENCH.contains(&name) {
                continue;
            }
            let path = path.replace("{lead}", &lead);
            client.goto(&format!("{base}{path}")).await?;
            settle(client).await?;
            let file = match lang {
                "en" => format!("{name}-{size}.png"),
                _ => format!("{name}-{size}-{lang}.png"),
            };
            std::fs::write(out.join(&file), client.screenshot().await?)?;
            println!("{}", out.join(&file).display());
        }
    }
    Ok(())
}

/// Switches the signed-in member's language with the page's own switch, if it is not `lang`.
async fn set_language(client: &Client, lang: &str) -> anyhow::Result<()> {
    if client.execute("return document.documentElement.lang", vec![]).await? != json!(lang) {
        client.execute("document.querySelector(\"form[action='/lang']\").submit()", vec![]).await?;
        client.wait().for_element(Locator::Css(&format!("html[lang={lang}]"))).await.context("switching language")?;
    }
    Ok(())
}

/// Waits (at most 5 s) until htmx has no request under way and no skeleton placeholder is left,
/// so the picture shows the page as a person sees it once loaded.
async fn settle(client: &Client) -> anyhow::Result<()> {
    client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const start = Date.now();
             (function poll() {
               const busy = document.readyState !== 'complete'
                 || document.querySelector('.htmx-request, .skeleton');
               if (!busy || Date.now() - start > 5000) { requestAnimationFrame(() => done(true)); }
               else { setTimeout(poll, 50); }
             })();",
            vec![],
        )
        .await?;
    Ok(())
}
