//! The app shell in headless Chromium (issue #11): on a phone-sized window the sidebar is a drawer
//! the menu button opens and Escape closes, and the home page does not scroll sideways; on a
//! desktop the sidebar folds and stays folded after a reload; a toast follows an action once.

use fantoccini::{Client, Locator};
use testkit::chromium::{Driver, arrive, fill};
use testkit::{PASSWORD, TestApp};

async fn eval_bool(client: &Client, script: &str) -> bool {
    client.execute(script, vec![]).await.unwrap().as_bool().unwrap()
}

async fn log_in(client: &Client, app: &TestApp, email: &str) {
    client.goto(&app.url("/login")).await.unwrap();
    fill(client, "email", email).await;
    fill(client, "password", PASSWORD).await;
    client.find(Locator::Css("main button.primary")).await.unwrap().click().await.unwrap();
    arrive(client, app, "/dashboard").await;
}

#[tokio::test]
async fn the_sidebar_is_a_drawer_on_a_phone_and_folds_on_a_desktop() {
    let app = TestApp::spawn().await;
    app.sign_up("owner@shell-chromium.example.eu").await;
    let driver = Driver::start().await;
    let profile = std::env::temp_dir().join(format!("relais-chromium-{}", uuid::Uuid::new_v4().simple()));
    let client = driver.browser(&profile).await;
    log_in(&client, &app, "owner@shell-chromium.example.eu").await;

    // A phone: 390 px wide.
    client.set_window_size(390, 844).await.unwrap();
    client.goto(&app.url("/dashboard")).await.unwrap();
    let width = client.execute("return window.innerWidth", vec![]).await.unwrap().as_u64().unwrap();
    assert_eq!(width, 390, "the window is phone-sized");
    assert!(
        eval_bool(&client, "return document.documentElement.scrollWidth <= window.innerWidth").await,
        "the home page scrolls sideways at 390 px"
    );
    let sidebar = client.find(Locator::Css("#sidebar")).await.unwrap();
    assert!(!sidebar.is_displayed().await.unwrap(), "the drawer starts closed");
    let menu = client.find(Locator::Css("[data-drawer-toggle]")).await.unwrap();
    assert!(menu.is_displayed().await.unwrap(), "a menu button in the top bar");
    menu.click().await.unwrap();
    assert_eq!(menu.attr("aria-expanded").await.unwrap().as_deref(), Some("true"));
    client.wait().for_element(Locator::Css("body.drawer-open")).await.unwrap();
    let first = client.find(Locator::Css("#sidebar a")).await.unwrap();
    // The drawer slides in: wait for its first link to be clickable, then follow it.
    client.wait().for_element(Locator::Css("body.drawer-open #sidebar a[href='/dashboard']")).await.unwrap();
    assert!(
        eval_bool(&client, "return document.activeElement === document.querySelector('#sidebar a')").await,
        "the focus moves into the drawer"
    );
    assert!(first.is_displayed().await.unwrap());
    client.active_element().await.unwrap().send_keys("\u{E00C}").await.unwrap(); // Escape
    assert!(eval_bool(&client, "return !document.body.classList.contains('drawer-open')").await, "Escape closes it");
    assert_eq!(menu.attr("aria-expanded").await.unwrap().as_deref(), Some("false"));
    for path in ["/crm/leads", "/crm/deals/board", "/settings/profile"] {
        client.goto(&app.url(path)).await.unwrap();
        assert!(
            eval_bool(&client, "return document.documentElement.scrollWidth <= window.innerWidth").await,
            "{path} scrolls sideways at 390 px"
        );
    }

    // A desktop: the sidebar folds, and stays folded on the next page.
    client.set_window_size(1366, 900).await.unwrap();
    client.goto(&app.url("/dashboard")).await.unwrap();
    let fold = client.find(Locator::Css("[data-sidebar-collapse]")).await.unwrap();
    assert!(fold.is_displayed().await.unwrap());
    let menu = client.find(Locator::Css("[data-drawer-toggle]")).await.unwrap();
    assert!(!menu.is_displayed().await.unwrap(), "no phone menu on a desktop");
    assert!(client.find(Locator::Css("#sidebar")).await.unwrap().is_displayed().await.unwrap());
    fold.click().await.unwrap();
    assert_eq!(fold.attr("aria-expanded").await.unwrap().as_deref(), Some("false"));
    client.goto(&app.url("/crm/leads")).await.unwrap();
    client.wait().for_element(Locator::Css("body.sidebar-collapsed")).await.unwrap();
    let fold = client.find(Locator::Css("[data-sidebar-collapse]")).await.unwrap();
    assert_eq!(fold.attr("aria-expanded").await.unwrap().as_deref(), Some("false"));
    fold.click().await.unwrap();
    assert!(eval_bool(&client, "return !document.body.classList.contains('sidebar-collapsed')").await);

    // A toast after saving the profile; none after a reload.
    client.goto(&app.url("/settings/profile")).await.unwrap();
    let job = client.find(Locator::Css("input[name=job_title]")).await.unwrap();
    job.clear().await.unwrap();
    job.send_keys("Directrice commerciale").await.unwrap();
    client.find(Locator::Css("main form button.primary")).await.unwrap().click().await.unwrap();
    let toast = client.wait().for_element(Locator::Css(".toast-region .toast.success")).await.unwrap();
    assert_eq!(toast.text().await.unwrap().lines().next(), Some("Your details were saved."));
    client.find(Locator::Css(".toast [data-toast-dismiss]")).await.unwrap().click().await.unwrap();
    assert!(eval_bool(&client, "return document.querySelector('.toast-region .toast') === null").await, "dismissed");
    client.refresh().await.unwrap();
    client.wait().for_element(Locator::Css("main h1")).await.unwrap();
    assert!(eval_bool(&client, "return document.querySelector('.toast-region .toast') === null").await, "once");

    client.close().await.unwrap();
    let _ = std::fs::remove_dir_all(profile);
}
