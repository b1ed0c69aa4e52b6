//! The CRM in a real browser (issue #4): create a contact through its form, find it with the
//! search box, and drag a deal to another column of the board — headless Chromium, the pages'
//! own script, the real server.

use fantoccini::Locator;
use serde_json::{Value, json};
use testkit::{PASSWORD, TestApp};

use crate::browser_journeys::{Driver, arrive, fill};

async fn bearer(app: &TestApp, email: &str) -> String {
    let response = app.post_json("/api/v1/auth/token", &json!({ "email": email, "password": PASSWORD })).await;
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

/// P1-03: a sales rep's day in Chromium — a contact is created, found, and a deal moves on the board.
#[tokio::test]
async fn p1_03_create_search_and_drag_a_deal_in_chromium() {
    let app = TestApp::spawn().await;
    app.sign_up("owner@crm-chromium.example.eu").await;
    let token = bearer(&app, "owner@crm-chromium.example.eu").await;
    let driver = Driver::start().await;
    let profile = std::env::temp_dir().join(format!("relais-chromium-{}", uuid::Uuid::new_v4().simple()));
    let client = driver.browser(&profile).await;

    client.goto(&app.url("/login")).await.unwrap();
    fill(&client, "email", "owner@crm-chromium.example.eu").await;
    fill(&client, "password", PASSWORD).await;
    client.find(Locator::Css("main button.primary")).await.unwrap().click().await.unwrap();
    arrive(&client, &app, "/dashboard").await;

    // Create a contact; a bad email is named on the page first.
    client.goto(&app.url("/crm/contacts/new")).await.unwrap();
    fill(&client, "first_name", "Jeanne").await;
    fill(&client, "last_name", "Moreau").await;
    fill(&client, "email", "jeanne@").await;
    client.find(Locator::Css("#record-form button.primary")).await.unwrap().click().await.unwrap();
    let error = client.wait().for_element(Locator::Css(".field-error")).await.unwrap().text().await.unwrap();
    assert!(error.contains("email"), "{error}");
    let email = client.find(Locator::Css("input[name=email]")).await.unwrap();
    email.clear().await.unwrap();
    email.send_keys("jeanne.moreau@exemple.fr").await.unwrap();
    client.find(Locator::Css("#record-form button.primary")).await.unwrap().click().await.unwrap();
    let heading = client.wait().for_element(Locator::XPath("//h1[contains(., 'Jeanne Moreau')]")).await.unwrap();
    assert_eq!(heading.text().await.unwrap(), "Jeanne Moreau");

    // Search from the navigation box, accents and case folded.
    let search = client.find(Locator::Css(".crm-search input[name=q]")).await.unwrap();
    search.send_keys("MOREAU\n").await.unwrap();
    let hit = client.wait().for_element(Locator::Css("#search-results a")).await.unwrap();
    assert_eq!(hit.text().await.unwrap(), "Jeanne Moreau");

    // Drag a deal to the third column: the page's script posts the move, the server records it.
    let created: Value = app
        .http
        .post(app.url("/api/v1/deals"))
        .bearer_auth(&token)
        .json(&json!({ "name": "Parc machines", "amount": "12000" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let deal = created["id"].as_str().unwrap().to_string();
    client.goto(&app.url("/crm/deals/board")).await.unwrap();
    let target: String = client
        .execute("return document.querySelectorAll('.board-column')[2].dataset.stage", vec![])
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    // WebDriver cannot start a native HTML5 drag, so the drag events are dispatched as the browser
    // would dispatch them; everything after (the handler, the fetch, the server) is the real path.
    client
        .execute(
            "const card = document.querySelector(`[data-deal='${arguments[0]}']`);
             const column = document.querySelector(`.board-column[data-stage='${arguments[1]}']`);
             const transfer = new DataTransfer();
             card.dispatchEvent(new DragEvent('dragstart', { bubbles: true, dataTransfer: transfer }));
             column.dispatchEvent(new DragEvent('dragover', { bubbles: true, cancelable: true, dataTransfer: transfer }));
             column.dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: transfer }));",
            vec![json!(deal), json!(target)],
        )
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css(&format!(".board-column[data-stage='{target}'] [data-deal='{deal}']")))
        .await
        .unwrap();
    let count = client
        .find(Locator::Css(&format!(".board-column[data-stage='{target}'] [data-count]")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(count, "1");
    let moved: Value = app
        .http
        .get(app.url(&format!("/api/v1/deals/{deal}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(moved["stage_id"], target.as_str(), "the server holds the move");

    client.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&profile);
}
