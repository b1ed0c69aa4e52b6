//! The record page (issue #11): a details panel edited field by field (htmx), the composer and the
//! conversion dialog answering a refusal in place with what was typed, the timeline's filters, and
//! the relation picker that takes a company's name.

use kernel::authz::Role;
use serde_json::{Value, json};
use testkit::TestApp;
use testkit::reqwest::Method;
use uuid::Uuid;

async fn contact(app: &TestApp, bearer: &str, body: Value) -> String {
    let (status, created) = app.call_api(bearer, Method::POST, "/api/v1/contacts", Some(body)).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_string()
}

/// Inline editing saves one field through the same update as the full form: the value is shown
/// in place, the history names the member, and the page has both columns and the way back to the
/// full form.
#[tokio::test]
async fn inline_edit_saves_one_field_and_records_it() {
    let app = TestApp::spawn().await;
    let (org, user, browser) = app.sign_up_and_log_in("owner@record-inline.example.eu").await;
    let bearer = app.access_token("owner@record-inline.example.eu").await;
    let id = contact(
        &app,
        &bearer,
        json!({ "first_name": "Jeanne", "last_name": "Moreau", "email": "jeanne@moreau.fr", "phone": "+33123456789" }),
    )
    .await;
    let path = format!("/crm/contacts/{id}");
    let html = browser.get(&path).await.text().await.unwrap();
    assert!(html.contains(r#"class="record-details""#) && html.contains(r#"class="record-main""#), "two columns");
    assert!(html.contains(&format!(r#"hx-get="/crm/contacts/{id}/fields/title?edit=1""#)), "{html}");
    assert!(html.contains(&format!(r#"href="/crm/contacts/{id}/edit""#)), "the full form stays reachable");
    assert!(html.contains(r#"href="tel:+33123456789""#), "a phone is a link");
    assert!(!html.contains(r#"id="record-form""#), "no long form on the record page");

    let edit = browser.get(&format!("{path}/fields/title?edit=1")).await;
    assert_eq!(edit.status(), 200);
    let edit = edit.text().await.unwrap();
    assert!(edit.contains(r#"name="title""#) && edit.contains("autofocus"), "{edit}");
    assert!(edit.contains(r#"<label class="detail-label" for="input-title">"#), "the input is labelled");

    let csrf = browser.csrf_token(&path).await;
    let saved = browser.post_htmx(&format!("{path}/fields/title"), &[("csrf", &csrf), ("title", "Directrice")]).await;
    assert_eq!(saved.status(), 200);
    let fragment = saved.text().await.unwrap();
    assert!(fragment.contains("Directrice") && fragment.contains(r#"class="detail-field""#), "{fragment}");
    assert!(!fragment.contains("<form"), "back to reading: {fragment}");

    let (_, record) = app.call_api(&bearer, Method::GET, &format!("/api/v1/contacts/{id}"), None).await;
    assert_eq!(record["title"], "Directrice");
    assert_eq!(record["email"], "jeanne@moreau.fr", "the other fields are untouched");
    let history: Vec<(String, Option<Value>, Option<Uuid>)> = app
        .select_rows_in_org(
            org,
            "select field, new_value, changed_by from record_changes where org_id = $1 and action = 'updated'",
        )
        .await;
    assert_eq!(history, vec![("title".to_string(), Some(json!("Directrice")), Some(user.0))]);

    // Without htmx the same route goes back to the record page.
    let plain = browser.post_form(&format!("{path}/fields/title"), &[("csrf", &csrf), ("title", "DAF")]).await;
    assert_eq!(plain.status(), 303);
    let full = browser.get(&format!("{path}/edit")).await.text().await.unwrap();
    assert!(full.contains(r#"id="record-form""#) && full.contains(r#"value="DAF""#), "the full form, filled");
}

/// A refused value comes back as the input with its message in place (aria-invalid and
/// aria-describedby), what was typed kept, and nothing written; a forged form is refused.
#[tokio::test]
async fn inline_edit_error_is_shown_in_place_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (org, _, browser) = app.sign_up_and_log_in("owner@record-inline-error.example.eu").await;
    let bearer = app.access_token("owner@record-inline-error.example.eu").await;
    let id = contact(&app, &bearer, json!({ "last_name": "Moreau", "email": "jeanne@moreau.fr" })).await;
    let path = format!("/crm/contacts/{id}");
    let csrf = browser.csrf_token(&path).await;

    let refused =
        browser.post_htmx(&format!("{path}/fields/email"), &[("csrf", &csrf), ("email", "pas-une-adresse")]).await;
    assert_eq!(refused.status(), 422);
    let fragment = refused.text().await.unwrap();
    assert!(fragment.contains("Enter a valid email address"), "{fragment}");
    assert!(fragment.contains(r#"value="pas-une-adresse""#), "what was typed is kept");
    assert!(fragment.contains(r#"aria-invalid="true" aria-describedby="error-email""#), "{fragment}");
    assert!(fragment.contains(r#"<p class="field-error" id="error-email">"#), "{fragment}");

    let (_, record) = app.call_api(&bearer, Method::GET, &format!("/api/v1/contacts/{id}"), None).await;
    assert_eq!(record["email"], "jeanne@moreau.fr");
    assert_eq!(
        app.select_i64_in_org(org, "select count(*) from record_changes where org_id = $1 and action = 'updated'")
            .await,
        0
    );

    let forged = browser.post_htmx(&format!("{path}/fields/email"), &[("csrf", "forged"), ("email", "a@b.fr")]).await;
    assert_eq!(forged.status(), 403);
    let unknown = browser.post_htmx(&format!("{path}/fields/nope"), &[("csrf", &csrf), ("nope", "x")]).await;
    assert_eq!(unknown.status(), 404, "only the record's fields");
}

/// A record the member cannot see (another member's under "own" visibility, another
/// organization's) cannot be read or edited field by field: 404 as everywhere else.
#[tokio::test]
async fn records_out_of_sight_cannot_be_edited_inline() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@record-inline-vis.example.eu").await;
    app.add_member(org, "user@record-inline-vis.example.eu", Role::User).await;
    let owner = app.access_token("owner@record-inline-vis.example.eu").await;
    let theirs = contact(&app, &owner, json!({ "last_name": "Secret" })).await;
    let (status, _) = app
        .call_api(&owner, Method::PUT, "/api/v1/crm/visibility", Some(json!({ "modes": { "contact": "own" } })))
        .await;
    assert_eq!(status, 200);

    let user = app.browser_login("user@record-inline-vis.example.eu", testkit::PASSWORD).await;
    let csrf = user.csrf_token("/crm/contacts/new").await;
    let path = format!("/crm/contacts/{theirs}/fields/last_name");
    assert_eq!(user.get(&format!("{path}?edit=1")).await.status(), 404);
    assert_eq!(user.post_htmx(&path, &[("csrf", &csrf), ("last_name", "Volé")]).await.status(), 404);

    let (_, _, stranger) = app.sign_up_and_log_in("owner@record-inline-other.example.eu").await;
    let csrf = stranger.csrf_token("/crm/contacts/new").await;
    assert_eq!(stranger.get(&format!("{path}?edit=1")).await.status(), 404);
    assert_eq!(stranger.post_htmx(&path, &[("csrf", &csrf), ("last_name", "Volé")]).await.status(), 404);

    let (_, record) = app.call_api(&owner, Method::GET, &format!("/api/v1/contacts/{theirs}"), None).await;
    assert_eq!(record["last_name"], "Secret");
}

/// A task whose reminder comes after its due date: the record page again, on the task tab, with
/// the message at the reminder and what was typed kept — not an error page. The timeline filters.
#[tokio::test]
async fn composer_error_rerenders_with_the_input_kept_and_the_timeline_filters() {
    let app = TestApp::spawn().await;
    let (org, _, browser) = app.sign_up_and_log_in("owner@record-composer.example.eu").await;
    let bearer = app.access_token("owner@record-composer.example.eu").await;
    let id = contact(&app, &bearer, json!({ "last_name": "Composer" })).await;
    let path = format!("/crm/contacts/{id}");
    let csrf = browser.csrf_token(&path).await;

    let response = browser
        .post_form(
            &format!("{path}/tasks"),
            &[
                ("csrf", &csrf),
                ("tz_offset", "0"),
                ("title", "Rappeler après le salon"),
                ("due_at", "2031-03-14T09:30"),
                ("remind_at", "2031-03-15T09:30"),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("The reminder comes after the due date."), "{html}");
    assert!(html.contains(r#"aria-describedby="task-remind-error""#), "the message is at the reminder");
    assert!(html.contains(r#"value="Rappeler après le salon""#) || html.contains("Rappeler apr&#232;s le salon"));
    assert!(html.contains(r#"value="2031-03-15T09:30""#), "the dates typed are kept");
    assert!(html.contains(r#"id="task-form""#), "on the task tab");
    assert_eq!(app.count_table_in_org(org, "tasks").await, 0);

    // Notes and a task, then the timeline shows one kind at a time.
    let ok = browser.post_form(&format!("{path}/notes"), &[("csrf", &csrf), ("body", "Une note visible")]).await;
    assert_eq!(ok.status(), 303);
    let ok = browser
        .post_form(&format!("{path}/tasks"), &[("csrf", &csrf), ("tz_offset", "0"), ("title", "Une tâche visible")])
        .await;
    assert_eq!(ok.status(), 303);
    let notes = browser.get(&format!("{path}?kind=note")).await.text().await.unwrap();
    assert!(notes.contains("Une note visible") && !notes.contains("Une tâche visible"), "{notes}");
    assert!(notes.contains(r#"?kind=note#timeline" aria-current="page""#), "the filter is marked");
    let tasks = browser.get(&format!("{path}?kind=task&compose=task")).await.text().await.unwrap();
    assert!(!tasks.contains("Une note visible") && tasks.contains("Une tâche visible"));
    assert!(tasks.contains(r#"id="task-form""#));
    let all = browser.get(&path).await.text().await.unwrap();
    assert!(all.contains("Une note visible") && all.contains("Une tâche visible"));
}

/// The deal's company is chosen by name: the lookup lists visible companies for the datalist; an
/// exact name is resolved server-side (the path without JavaScript); an unknown or shared name is
/// a field error naming the problem, and nothing changes.
#[tokio::test]
async fn relation_picker_finds_by_name_and_resolves_an_exact_name() {
    let app = TestApp::spawn().await;
    let (_, _, browser) = app.sign_up_and_log_in("owner@record-picker.example.eu").await;
    let bearer = app.access_token("owner@record-picker.example.eu").await;
    let mut companies = Vec::new();
    for name in ["Transports Roux", "Boulangerie Martin", "Boulangerie Martin"] {
        let (_, c) = app.call_api(&bearer, Method::POST, "/api/v1/companies", Some(json!({ "name": name }))).await;
        companies.push(c["id"].as_str().unwrap().to_string());
    }
    let (_, deal) = app.call_api(&bearer, Method::POST, "/api/v1/deals", Some(json!({ "name": "Flotte 2031" }))).await;
    let deal = deal["id"].as_str().unwrap().to_string();

    let options = browser.get("/crm/companies/lookup?list=1&company_id=roux").await.text().await.unwrap();
    assert!(options.contains(&format!(r#"<option value="Transports Roux" data-id="{}">"#, companies[0])), "{options}");
    let page = browser.get(&format!("/crm/deals/{deal}/fields/company_id?edit=1")).await.text().await.unwrap();
    assert!(page.contains(r#"list="list-company_id""#) && page.contains("/crm/companies/lookup?list=1"), "{page}");

    let path = format!("/crm/deals/{deal}");
    let csrf = browser.csrf_token(&path).await;
    let saved = browser
        .post_htmx(&format!("{path}/fields/company_id"), &[("csrf", &csrf), ("company_id", "transports roux ")])
        .await;
    assert_eq!(saved.status(), 200);
    let fragment = saved.text().await.unwrap();
    assert!(fragment.contains(&format!(r#"href="/crm/companies/{}""#, companies[0])), "{fragment}");
    let (_, record) = app.call_api(&bearer, Method::GET, &format!("/api/v1/deals/{deal}"), None).await;
    assert_eq!(record["company_id"], companies[0].as_str());

    for (typed, message) in
        [("Nulle Part SA", "No record has this name"), ("Boulangerie Martin", "Several records have this name")]
    {
        let refused =
            browser.post_htmx(&format!("{path}/fields/company_id"), &[("csrf", &csrf), ("company_id", typed)]).await;
        assert_eq!(refused.status(), 422, "{typed}");
        let fragment = refused.text().await.unwrap();
        assert!(fragment.contains(message) && fragment.contains(&format!(r#"value="{typed}""#)), "{fragment}");
    }
    let (_, record) = app.call_api(&bearer, Method::GET, &format!("/api/v1/deals/{deal}"), None).await;
    assert_eq!(record["company_id"], companies[0].as_str(), "nothing changed");

    // The full form (without JavaScript) takes the name too.
    let response = browser
        .post_form("/crm/deals", &[("csrf", &csrf), ("name", "Pain 2031"), ("company_id", "Transports Roux")])
        .await;
    assert_eq!(response.status(), 303);
    let response =
        browser.post_form("/crm/deals", &[("csrf", &csrf), ("name", "Pain 2032"), ("company_id", "Inconnue")]).await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("No record has this name") && html.contains(r#"value="Inconnue""#), "{html}");
}

/// The link form of a contact's page without JavaScript (its choices never load): the company
/// named exactly is linked; an unknown or shared name comes back on the page (422) with the
/// message at the form and what was typed, and links nothing.
#[tokio::test]
async fn the_link_form_takes_an_exact_name_without_javascript() {
    let app = TestApp::spawn().await;
    let (_, _, browser) = app.sign_up_and_log_in("owner@record-links.example.eu").await;
    let bearer = app.access_token("owner@record-links.example.eu").await;
    let mut companies = Vec::new();
    for name in ["Transports Roux", "Boulangerie Martin", "Boulangerie Martin"] {
        let (_, c) = app.call_api(&bearer, Method::POST, "/api/v1/companies", Some(json!({ "name": name }))).await;
        companies.push(c["id"].as_str().unwrap().to_string());
    }
    let person = contact(&app, &bearer, json!({ "first_name": "Léa", "last_name": "Roux" })).await;
    let path = format!("/crm/contacts/{person}");
    let form = browser.get(&path).await.text().await.unwrap();
    assert!(form.contains(r#"<select name="other_id" id="link-choices">"#), "not required: {form}");
    let csrf = browser.csrf_token(&path).await;
    for (typed, message) in [
        ("Nulle Part SA", "No record has this name"),
        ("Boulangerie Martin", "Several records have this name"),
        ("", "Fill in this field."),
    ] {
        let refused =
            browser.post_form(&format!("{path}/links"), &[("csrf", &csrf), ("q", typed), ("other_id", "")]).await;
        assert_eq!(refused.status(), 422, "{typed}");
        let html = refused.text().await.unwrap();
        assert!(html.contains(r#"id="link-error""#) && html.contains(message), "{typed}: {html}");
        assert!(html.contains(&format!(r#"name="q" autocomplete="off" value="{typed}""#)), "{typed}: kept: {html}");
    }
    let related = format!("/api/v1/contacts/{person}/related");
    let (_, linked) = app.call_api(&bearer, Method::GET, &related, None).await;
    assert_eq!(linked.as_array().map_or(0, Vec::len), 0, "nothing linked: {linked}");

    let response = browser
        .post_form(
            &format!("{path}/links"),
            &[("csrf", &csrf), ("q", " transports roux"), ("other_id", ""), ("role", "Achats")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let (_, linked) = app.call_api(&bearer, Method::GET, &related, None).await;
    assert_eq!(linked.as_array().map_or(0, Vec::len), 1, "{linked}");
    assert!(linked.to_string().contains(&companies[0]) && linked.to_string().contains("Achats"), "{linked}");
}

/// Converting with a bad amount: the lead's page again with the dialog open, the three records
/// previewed, the message at the amount and what was typed kept; nothing is created.
#[tokio::test]
async fn conversion_errors_show_in_the_dialog() {
    let app = TestApp::spawn().await;
    let (org, _, browser) = app.sign_up_and_log_in("owner@record-convert.example.eu").await;
    let bearer = app.access_token("owner@record-convert.example.eu").await;
    let (_, lead) = app
        .call_api(
            &bearer,
            Method::POST,
            "/api/v1/leads",
            Some(json!({ "first_name": "Inès", "last_name": "Fabre", "email": "ines@cafe-fabre.fr",
                         "company_name": "Café Fabre", "utm_source": "newsletter" })),
        )
        .await;
    let lead = lead["id"].as_str().unwrap().to_string();
    let path = format!("/crm/leads/{lead}");
    let html = browser.get(&path).await.text().await.unwrap();
    assert!(html.contains(r#"<dialog class="modal" id="convert-dialog""#), "{html}");
    assert!(html.contains(r#"data-open-dialog="convert-dialog""#));
    assert!(html.contains(r#"<details class="card details-panel" id="attribution">"#), "UTM collapsed");
    let opened = browser.get(&format!("{path}?convert=1")).await.text().await.unwrap();
    assert!(opened.contains(r#"aria-labelledby="convert-title" open"#), "opens without JavaScript");

    let csrf = browser.csrf_token(&path).await;
    let response = browser
        .post_form(
            &format!("{path}/convert"),
            &[("csrf", &csrf), ("deal_name", "Machine à café"), ("deal_amount", "beaucoup")],
        )
        .await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains(r#"aria-labelledby="convert-title" open data-show-modal"#), "the dialog is open");
    assert!(html.contains("Enter an amount such as 1250.50."), "{html}");
    assert!(html.contains(r#"aria-describedby="convert-amount-error""#));
    assert!(html.contains(r#"value="beaucoup""#), "what was typed is kept");
    assert!(html.contains("Café Fabre") || html.contains("Caf&#233; Fabre"), "the company is previewed");
    assert!(html.contains("ines@cafe-fabre.fr"), "the contact is previewed");
    for table in ["contacts", "companies", "deals"] {
        assert_eq!(app.count_table_in_org(org, table).await, 0, "nothing created in {table}");
    }

    let response = browser
        .post_form(
            &format!("{path}/convert"),
            &[("csrf", &csrf), ("deal_name", "Machine à café"), ("deal_amount", "3200")],
        )
        .await;
    assert_eq!(response.status(), 303);
}

/// Inline editing in Chromium: click the field's pencil, type, Enter — the value shows in place
/// (htmx, the page's own script), survives a reload; Escape gives a field back unchanged; a bad
/// value shows its message at the field.
#[tokio::test]
async fn inline_edit_in_chromium_saves_on_enter_and_cancels_on_escape() {
    use fantoccini::{Locator, key::Key};
    use testkit::chromium::{Driver, arrive, fill};

    let app = TestApp::spawn().await;
    let (_, _, token) = app.sign_up_with_token("owner@record-chromium.example.eu").await;
    let id = contact(&app, &token, json!({ "first_name": "Jeanne", "last_name": "Moreau" })).await;
    let driver = Driver::start().await;
    let profile = std::env::temp_dir().join(format!("relais-chromium-{}", Uuid::new_v4().simple()));
    let client = driver.browser(&profile).await;
    client.goto(&app.url("/login")).await.unwrap();
    fill(&client, "email", "owner@record-chromium.example.eu").await;
    fill(&client, "password", testkit::PASSWORD).await;
    client.find(Locator::Css("main button.primary")).await.unwrap().click().await.unwrap();
    arrive(&client, &app, "/dashboard").await;

    client.goto(&app.url(&format!("/crm/contacts/{id}"))).await.unwrap();
    client.find(Locator::Css("#field-title .field-edit")).await.unwrap().click().await.unwrap();
    // An empty field (WebDriver's clear() would also leave the field, which saves it).
    let input = client.wait().for_element(Locator::Css("form#field-title input[name=title]")).await.unwrap();
    input.send_keys(&format!("Directrice commerciale{}", Key::Enter)).await.unwrap();
    let shown = client
        .wait()
        .for_element(Locator::XPath("//div[@id='field-title']//span[contains(., 'Directrice commerciale')]"))
        .await
        .unwrap();
    assert_eq!(shown.text().await.unwrap(), "Directrice commerciale");
    client.refresh().await.unwrap();
    let value = client.wait().for_element(Locator::Css("div#field-title .detail-value")).await.unwrap();
    assert_eq!(value.text().await.unwrap(), "Directrice commerciale", "kept after a reload");

    // Escape: nothing saved, the value back.
    client.find(Locator::Css("#field-last_name .field-edit")).await.unwrap().click().await.unwrap();
    let input = client.wait().for_element(Locator::Css("form#field-last_name input[name=last_name]")).await.unwrap();
    input.send_keys(" jamais").await.unwrap();
    input.send_keys(&Key::Escape.to_string()).await.unwrap();
    let value = client.wait().for_element(Locator::Css("div#field-last_name .detail-value")).await.unwrap();
    assert_eq!(value.text().await.unwrap(), "Moreau");

    // A bad email: the message at the field, the input kept.
    client.find(Locator::Css("#field-email .field-edit")).await.unwrap().click().await.unwrap();
    let input = client.wait().for_element(Locator::Css("form#field-email input[name=email]")).await.unwrap();
    input.send_keys(&format!("pas-une-adresse{}", Key::Enter)).await.unwrap();
    let error = client.wait().for_element(Locator::Css("form#field-email .field-error")).await.unwrap();
    assert!(error.text().await.unwrap().contains("email"), "the message is shown in place");
    let (_, record) = app.call_api(&token, Method::GET, &format!("/api/v1/contacts/{id}"), None).await;
    assert_eq!(record["title"], "Directrice commerciale");
    assert_eq!(record["last_name"], "Moreau");
    assert_eq!(record["email"].as_str().unwrap_or_default(), "", "the bad email was not saved");

    client.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&profile);
}

/// Issue #11 ("amounts in French format in inputs too"): to a French member, a deal's amount and
/// a custom amount read `15 000,50` in the inline edit input and in the full form (a text input
/// with a decimal keyboard, as `type="number"` refuses a comma); saved unchanged, the value is
/// kept and nothing is recorded as changed; a new amount typed the same way is saved.
#[tokio::test]
async fn french_amounts_in_inputs_read_back_unchanged() {
    let app = TestApp::spawn().await;
    let (org, _, browser) = app.sign_up_and_log_in("owner@record-amounts.example.eu").await;
    let bearer = app.access_token("owner@record-amounts.example.eu").await;
    let (status, field) = app
        .call_api(
            &bearer,
            Method::POST,
            "/api/v1/custom-fields",
            Some(json!({ "object_type": "deal", "key": "budget", "label": "Budget", "kind": "currency" })),
        )
        .await;
    assert_eq!(status, 201, "{field}");
    let (status, deal) = app
        .call_api(
            &bearer,
            Method::POST,
            "/api/v1/deals",
            Some(json!({ "name": "Fours", "amount": "15000.5", "custom": { "budget": "2500.5" } })),
        )
        .await;
    assert_eq!(status, 201, "{deal}");
    let id = deal["id"].as_str().unwrap().to_string();
    let path = format!("/crm/deals/{id}");
    let csrf = browser.csrf_token(&path).await;
    browser.post_form("/lang", &[("csrf", &csrf), ("lang", "fr"), ("next", &path)]).await;

    let page = browser.get(&path).await.text().await.unwrap();
    assert!(page.contains("15\u{202f}000,50\u{a0}€"), "the amount reads the French way: {page}");
    assert!(page.contains("2\u{202f}500,50"), "and the custom amount: {page}");
    for (name, shown) in [("amount", "15\u{202f}000,50"), ("custom.budget", "2\u{202f}500,50")] {
        let edit = browser.get(&format!("{path}/fields/{name}?edit=1")).await.text().await.unwrap();
        assert!(edit.contains(&format!(r#"value="{shown}""#)), "{name}: {edit}");
        assert!(edit.contains(r#"type="text" inputmode="decimal""#), "{name}: {edit}");
        let full = browser.get(&format!("{path}/edit")).await.text().await.unwrap();
        assert!(full.contains(&format!(r#"name="{name}" value="{shown}""#)), "{name}: {full}");

        let saved = browser.post_htmx(&format!("{path}/fields/{name}"), &[("csrf", &csrf), (name, shown)]).await;
        assert_eq!(saved.status(), 200, "{name}");
    }
    let (_, record) = app.call_api(&bearer, Method::GET, &format!("/api/v1/deals/{id}"), None).await;
    assert_eq!(record["amount"], "15000.50");
    assert_eq!(record["custom"]["budget"], json!(2500.5));
    let changed: Vec<(String,)> =
        app.select_rows_in_org(org, "select field from record_changes where org_id = $1 and action = 'updated'").await;
    assert_eq!(changed, vec![], "saved unchanged, nothing changed");

    let saved =
        browser.post_htmx(&format!("{path}/fields/amount"), &[("csrf", &csrf), ("amount", "16\u{202f}000,25")]).await;
    assert_eq!(saved.status(), 200);
    let (_, record) = app.call_api(&bearer, Method::GET, &format!("/api/v1/deals/{id}"), None).await;
    assert_eq!(record["amount"], "16000.25");
    let saved = browser
        .post_htmx(&format!("{path}/fields/custom.budget"), &[("csrf", &csrf), ("custom.budget", "3 000")])
        .await;
    assert_eq!(saved.status(), 200);
    let page = browser.get(&path).await.text().await.unwrap();
    assert!(page.contains("2\u{202f}500,50 → 3\u{202f}000"), "the history reads the French way: {page}");
    assert!(page.contains("Modification\u{a0}: Budget"), "named by its label, not its key: {page}");
}
