//! Lists and the deals board in headless Chromium with the pages' own script (issue #11 items 4
//! and 5): the bulk bar appears only with a selection and asks before deleting, stating the count;
//! a click on a row opens its record; the board's "Move to…" menu moves a card from the keyboard
//! and a refused drop leaves the card where it was, with a message.

use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::json;
use testkit::chromium::{Driver, arrive, fill};
use testkit::reqwest::Method;
use testkit::{PASSWORD, TestApp};

#[tokio::test]
async fn bulk_bar_follows_the_selection_and_the_board_moves_from_the_keyboard_in_chromium() {
    let app = TestApp::spawn().await;
    let (org, _, token) = app.sign_up_with_token("owner@lists-chromium.example.eu").await;
    let mut companies = Vec::new();
    for name in ["Alpha", "Beta", "Gamma"] {
        let (_, created) = app.call_api(&token, Method::POST, "/api/v1/companies", Some(json!({ "name": name }))).await;
        companies.push(created["id"].as_str().unwrap().to_string());
    }
    let driver = Driver::start().await;
    let profile = std::env::temp_dir().join(format!("relais-chromium-{}", uuid::Uuid::new_v4().simple()));
    let client = driver.browser(&profile).await;
    client.goto(&app.url("/login")).await.unwrap();
    fill(&client, "email", "owner@lists-chromium.example.eu").await;
    fill(&client, "password", PASSWORD).await;
    client.find(Locator::Css("main button.primary")).await.unwrap().click().await.unwrap();
    arrive(&client, &app, "/dashboard").await;

    // A click on a row (not on its link) opens the record.
    client.goto(&app.url("/crm/companies")).await.unwrap();
    client
        .find(Locator::Css(&format!("tr[data-id='{}'] td:nth-child(3)", companies[1])))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client.wait().for_element(Locator::XPath("//h1[contains(., 'Beta')]")).await.unwrap();
    assert_eq!(client.current_url().await.unwrap().path(), format!("/crm/companies/{}", companies[1]));

    // The "Save these filters as a view" menu opens in full over the list: nothing clips it.
    client.goto(&app.url("/crm/companies")).await.unwrap();
    client.find(Locator::Css("details.save-view > summary")).await.unwrap().click().await.unwrap();
    let seen = client
        .execute(
            "const panel = document.querySelector('details.save-view > .menu-items');
             const r = panel.getBoundingClientRect();
             const hit = document.elementFromPoint(r.left + r.width / 2, r.bottom - 8);
             return panel.contains(hit);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(seen, serde_json::json!(true), "the save-view menu is visible down to its last control");

    // The bulk bar: hidden without a selection, shown with one, counting it.
    client.goto(&app.url("/crm/companies")).await.unwrap();
    let bar = client.find(Locator::Css("#bulk-bar")).await.unwrap();
    assert!(!bar.is_displayed().await.unwrap(), "no selection, no bulk bar");
    client
        .find(Locator::Css(&format!("input[name=ids][value='{}']", companies[0])))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client.wait().for_element(Locator::Css("#bulk-bar:not([hidden])")).await.unwrap();
    let count = client.find(Locator::Css("#selected-count")).await.unwrap().text().await.unwrap();
    assert_eq!(count, "1 selected");
    assert!(
        !client.find(Locator::Css("input[name=confirm]")).await.unwrap().is_displayed().await.unwrap(),
        "with the script the count is asked in a dialog, not typed"
    );
    client.find(Locator::Css("[data-select-all]")).await.unwrap().click().await.unwrap();
    let count = client.find(Locator::Css("#selected-count")).await.unwrap().text().await.unwrap();
    assert_eq!(count, "3 selected");
    // Delete asks first, stating the count; saying no deletes nothing.
    client.find(Locator::Css("#bulk-delete")).await.unwrap().click().await.unwrap();
    let question = client.get_alert_text().await.expect("a confirmation before deleting");
    assert!(question.contains("(3)"), "{question}");
    client.dismiss_alert().await.unwrap();
    assert_eq!(app.count_table_in_org(org, "companies").await, 3);
    client.find(Locator::Css("#bulk-delete")).await.unwrap().click().await.unwrap();
    client.accept_alert().await.unwrap();
    client.wait().for_element(Locator::Css("#list-empty")).await.unwrap();
    assert_eq!(app.count_table_in_org(org, "companies").await, 0, "deleted with the count confirmed");
    client.find(Locator::Css("[data-select-all]")).await.expect_err("an empty list has no table");

    // The board from the keyboard: open a card's "Move to…" menu with Enter, choose a stage.
    let mut deals = Vec::new();
    for (name, amount) in [("Parc machines", "12000"), ("Toiture", "3000")] {
        let (_, created) =
            app.call_api(&token, Method::POST, "/api/v1/deals", Some(json!({ "name": name, "amount": amount }))).await;
        deals.push(created["id"].as_str().unwrap().to_string());
    }
    client.goto(&app.url("/crm/deals/board")).await.unwrap();
    let target: String = client
        .execute("return document.querySelectorAll('.board-column')[2].dataset.stage", vec![])
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    let summary = client.find(Locator::Css(&format!("[data-deal='{}'] .move-menu summary", deals[0]))).await.unwrap();
    summary.send_keys(&Key::Enter).await.unwrap();
    let choice = client
        .wait()
        .for_element(Locator::Css(&format!("[data-deal='{}'] .move-menu[open] button[value='{target}']", deals[0])))
        .await
        .unwrap();
    choice.send_keys(&Key::Enter).await.unwrap();
    client
        .wait()
        .for_element(Locator::Css(&format!(".board-column[data-stage='{target}'] [data-deal='{}']", deals[0])))
        .await
        .unwrap();
    let weighted = client
        .find(Locator::Css(&format!(".board-column[data-stage='{target}'] .stage-weighted")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(weighted, "€6,000.00", "12,000 at the stage's 50 %");
    let (_, moved) = app.call_api(&token, Method::GET, &format!("/api/v1/deals/{}", deals[0]), None).await;
    assert_eq!(moved["stage_id"], target.as_str(), "the server holds the move");
    let live = client.find(Locator::Css("#board-live")).await.unwrap().text().await.unwrap();
    assert!(live.contains("Parc machines"), "the move is announced: {live}");

    // A drop the server refuses (the deal was deleted meanwhile): the card stays, a message shows.
    let (status, _) = app.call_api(&token, Method::DELETE, &format!("/api/v1/deals/{}", deals[1]), None).await;
    assert_eq!(status, 204);
    // WebDriver cannot start a native HTML5 drag: the drag events are dispatched as the browser would.
    client
        .execute(
            "const card = document.querySelector(`[data-deal='${arguments[0]}']`);
             const column = document.querySelector(`.board-column[data-stage='${arguments[1]}']`);
             const transfer = new DataTransfer();
             card.dispatchEvent(new DragEvent('dragstart', { bubbles: true, dataTransfer: transfer }));
             column.dispatchEvent(new DragEvent('dragover', { bubbles: true, cancelable: true, dataTransfer: transfer }));
             column.dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: transfer }));",
            vec![json!(deals[1]), json!(target)],
        )
        .await
        .unwrap();
    let message = client.wait().for_element(Locator::Css("#board-message:not([hidden])")).await.unwrap();
    assert!(message.text().await.unwrap().contains("could not be moved"));
    let home = client
        .execute(
            "return document.querySelector(`[data-deal='${arguments[0]}']`).closest('.board-column').dataset.stage",
            vec![json!(deals[1])],
        )
        .await
        .unwrap();
    assert_ne!(home.as_str(), Some(target.as_str()), "the refused card went back to its column");

    client.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&profile);
}
