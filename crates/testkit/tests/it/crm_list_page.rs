//! The record lists and the deals board as pages (issue #11 items 4 and 5): filter chips and their
//! removal, sortable headers, the column chooser, bulk actions whose refusals come back in place
//! with the selection kept, stage totals and weighted amounts, the quick-add card, and the move
//! route the board's drag and drop posts to, within visibility and tenant rules.

use kernel::authz::Role;
use serde_json::{Value, json};
use testkit::http::percent_encode;
use testkit::reqwest::Method;
use testkit::{Browser, PASSWORD, TestApp};

/// Every `href` of a page, unescaped as a browser reads it.
fn hrefs(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|h| h.replace("&amp;", "&").replace("&#38;", "&"))
        .collect()
}

/// The `href` of the chip whose text contains `text`.
fn chip_remove(html: &str, text: &str) -> String {
    let chip = html.split("class=\"chip\"").skip(1).find(|c| c.split("</li>").next().unwrap().contains(text));
    let chip = chip.unwrap_or_else(|| panic!("no chip with {text}: {html}"));
    hrefs(chip.split("</li>").next().unwrap()).remove(0)
}

fn listed(html: &str, names: &[&str]) -> Vec<String> {
    let mut found: Vec<(usize, String)> =
        names.iter().filter_map(|n| html.find(&format!(">{n}<")).map(|at| (at, n.to_string()))).collect();
    found.sort();
    found.into_iter().map(|(_, n)| n).collect()
}

async fn companies(app: &TestApp, bearer: &str, rows: &[(&str, &str)]) -> Vec<String> {
    let mut ids = Vec::new();
    for (name, city) in rows {
        let (status, created) =
            app.call_api(bearer, Method::POST, "/api/v1/companies", Some(json!({ "name": name, "city": city }))).await;
        assert_eq!(status, 201, "{created}");
        ids.push(created["id"].as_str().unwrap().to_string());
    }
    ids
}

/// Filters are chips, each with a link that removes it and keeps the others; the older
/// `field/op/value` form still filters (and becomes a chip); headers sort and toggle with
/// `aria-sort`; a refused filter is named on the page, its inputs kept, never a 500.
#[tokio::test]
async fn list_filters_are_chips_and_headers_sort_both_ways() {
    let app = TestApp::spawn().await;
    let (_, _, browser) = app.sign_up_and_log_in("owner@lists-chips.example.eu").await;
    let bearer = app.access_token("owner@lists-chips.example.eu").await;
    companies(&app, &bearer, &[("Alpha", "Lyon"), ("Beta", "Paris"), ("Gamma", "Lyon")]).await;
    let all = ["Alpha", "Beta", "Gamma"];

    let html = browser.get("/crm/companies?f=city:eq:Lyon&f=name:starts_with:G").await.text().await.unwrap();
    assert_eq!(listed(&html, &all), vec!["Gamma"]);
    let without_name = chip_remove(&html, "\u{201c}G\u{201d}");
    assert_eq!(without_name, "/crm/companies?f=city%3Aeq%3ALyon", "removing one chip keeps the other");
    let html = browser.get(&without_name).await.text().await.unwrap();
    assert_eq!(listed(&html, &all), vec!["Alpha", "Gamma"]);
    assert!(html.contains("City is \u{201c}Lyon\u{201d}"), "the chip reads as a sentence");
    let html = browser.get(&chip_remove(&html, "Lyon")).await.text().await.unwrap();
    assert_eq!(listed(&html, &all), all);
    assert!(!html.contains("class=\"chip\""), "no filter, no chip");

    // The single-filter address of before still works and shows as a chip.
    let html = browser.get("/crm/companies?field=city&op=eq&value=Paris").await.text().await.unwrap();
    assert_eq!(listed(&html, &all), vec!["Beta"]);
    assert_eq!(chip_remove(&html, "Paris"), "/crm/companies");

    // Sorting: ascending by name by default; the header's link asks for descending, and back.
    let html = browser.get("/crm/companies?f=city:eq:Lyon").await.text().await.unwrap();
    assert!(html.contains("aria-sort=\"ascending\" data-key=\"name\""), "{html}");
    let header = hrefs(&html).into_iter().find(|h| h.contains("sort=-name")).expect("a descending link");
    assert_eq!(header, "/crm/companies?f=city%3Aeq%3ALyon&sort=-name", "the sort keeps the filters");
    let html = browser.get(&header).await.text().await.unwrap();
    assert!(html.contains("aria-sort=\"descending\" data-key=\"name\""));
    assert_eq!(listed(&html, &all), vec!["Gamma", "Alpha"]);
    assert!(hrefs(&html).iter().any(|h| h == "/crm/companies?f=city%3Aeq%3ALyon&sort=name"), "toggles back");
    assert!(html.contains("aria-sort=\"none\" data-key=\"city\""));

    // A date filter with text is refused with its message; the inputs keep what was typed.
    let response = browser.get("/crm/companies?f=city:eq:Lyon&field=created_at&op=gt&value=hier").await;
    assert_eq!(response.status(), 422, "a refused filter: the list page again, with the message in place");
    let html = response.text().await.unwrap();
    assert!(html.contains("role=\"alert\""), "{html}");
    assert!(html.contains("Created: "), "the message names the field: {html}");
    assert!(html.contains("value=\"hier\""), "what was typed is kept");
    assert!(html.contains("City is \u{201c}Lyon\u{201d}"), "the other filters stay");
}

/// The column chooser shows the chosen columns (in the address, so the list can be shared), and a
/// saved view keeps them and opens as a tab.
#[tokio::test]
async fn column_chooser_and_saved_view_tabs_keep_the_columns() {
    let app = TestApp::spawn().await;
    let (org, _, browser) = app.sign_up_and_log_in("owner@lists-columns.example.eu").await;
    let bearer = app.access_token("owner@lists-columns.example.eu").await;
    companies(&app, &bearer, &[("Alpha", "Lyon")]).await;

    let html = browser.get("/crm/companies").await.text().await.unwrap();
    for key in ["name", "domain", "city", "owner_id"] {
        assert!(html.contains(&format!("data-key=\"{key}\"")), "default column {key}");
    }
    let html = browser.get("/crm/companies?f=city:eq:Lyon&col=name&col=industry").await.text().await.unwrap();
    let headers: Vec<&str> = html.split("data-key=\"").skip(1).map(|rest| rest.split('"').next().unwrap()).collect();
    assert_eq!(headers, vec!["name", "industry"]);
    assert!(html.contains("name=\"col\" value=\"industry\" checked"), "the chooser ticks the shown columns");
    assert!(html.contains("name=\"col\" value=\"city\" >"), "and only those");
    assert!(
        html.contains("<input type=\"hidden\" name=\"f\" value=\"city:eq:Lyon\">"),
        "the chooser keeps the filters"
    );

    let csrf = browser.csrf_token("/crm/companies").await;
    let response = browser
        .post_form(
            "/crm/companies/views",
            &[
                ("csrf", &csrf),
                ("name", "Lyon, short"),
                ("filters", r#"[{"field":"city","op":"eq","value":"Lyon"}]"#),
                ("col", "name"),
                ("col", "industry"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let html = browser.get(&location).await.text().await.unwrap();
    assert!(html.contains(&format!("href=\"{location}\" aria-current=\"page\">Lyon, short")), "{html}");
    let headers: Vec<&str> = html.split("data-key=\"").skip(1).map(|rest| rest.split('"').next().unwrap()).collect();
    assert_eq!(headers, vec!["name", "industry"]);
    // The view's filter is a chip too; removing it leaves the view for "All" with the columns kept.
    let removed = chip_remove(&html, "Lyon");
    assert_eq!(removed, "/crm/companies?col=name&col=industry");

    // A filter added on top of the view, then "Update" folds it into the view: same name, same
    // tab, both filters, and a toast says so.
    assert!(html.contains("id=\"update-view\"") && html.contains("Update “Lyon, short” with these filters"), "{html}");
    let view_id = location.rsplit("view=").next().unwrap().to_string();
    let response = browser
        .post_form(
            &format!("/crm/companies/views/{view_id}"),
            &[
                ("csrf", &csrf),
                (
                    "filters",
                    r#"[{"field":"city","op":"eq","value":"Lyon"},{"field":"industry","op":"eq","value":"Bakery"}]"#,
                ),
                ("col", "name"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"].to_str().unwrap(), location, "back on the same view");
    let html = browser.get(&location).await.text().await.unwrap();
    assert!(html.contains("View updated."), "a toast confirms the update: {html}");
    let (_, views) = app.call_api(&bearer, Method::GET, "/api/v1/views", None).await;
    let view = views.as_array().unwrap().iter().find(|v| v["view_id"] == view_id.as_str()).expect("the view");
    assert_eq!(view["name"], "Lyon, short", "the name is kept");
    assert_eq!(view["filters"].as_array().unwrap().len(), 2, "{view}");
    assert_eq!(view["columns"], json!(["name"]), "{view}");

    // Another member cannot update a personal view that is not theirs (nor see it).
    let other = "user@list-views-other.example.eu";
    app.add_member(org, other, Role::User).await;
    let other_browser = app.browser_login(other, PASSWORD).await;
    let other_csrf = other_browser.csrf_token("/crm/companies").await;
    let response = other_browser
        .post_form(&format!("/crm/companies/views/{view_id}"), &[("csrf", &other_csrf), ("filters", "[]")])
        .await;
    assert_eq!(response.status(), 404, "not their view");
    let (_, views) = app.call_api(&bearer, Method::GET, "/api/v1/views", None).await;
    let view = views.as_array().unwrap().iter().find(|v| v["view_id"] == view_id.as_str()).expect("the view");
    assert_eq!(view["filters"].as_array().unwrap().len(), 2, "unchanged: {view}");
}

async fn ticked(html: &str, id: &str) -> bool {
    html.contains(&format!("name=\"ids\" value=\"{id}\" aria-label=\"")) && {
        let at = html.find(&format!("name=\"ids\" value=\"{id}\"")).unwrap();
        html[at..].split('>').next().unwrap().contains("checked")
    }
}

/// Issue #11: "bulk apply with nothing selected" and "bulk delete without the count" ended on an
/// error page. Now the list comes back (422) with the message in place, its filters and the
/// selection kept, and nothing changed; with the count, the records are deleted.
#[tokio::test]
async fn bulk_refusals_come_back_on_the_list_with_the_selection_kept() {
    let app = TestApp::spawn().await;
    let (org, owner, browser) = app.sign_up_and_log_in("owner@lists-bulk.example.eu").await;
    let bearer = app.access_token("owner@lists-bulk.example.eu").await;
    let ids = companies(&app, &bearer, &[("Alpha", "Lyon"), ("Beta", "Paris"), ("Gamma", "Lyon")]).await;
    let csrf = browser.csrf_token("/crm/companies").await;
    let query = "f=city%3Aeq%3ALyon&sort=-name";

    let response = browser
        .post_form(
            "/crm/companies/bulk",
            &[("csrf", &csrf), ("list_query", query), ("action", "delete"), ("ids", &ids[0]), ("ids", &ids[2])],
        )
        .await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("Type the number of selected records to confirm the deletion."), "{html}");
    assert!(ticked(&html, &ids[0]).await && ticked(&html, &ids[2]).await, "the selection is kept");
    assert_eq!(listed(&html, &["Alpha", "Beta", "Gamma"]), vec!["Gamma", "Alpha"], "the list as it was");
    assert!(html.contains("2 selected"));
    assert_eq!(app.count_table_in_org(org, "companies").await, 3, "nothing deleted");

    let response = browser
        .post_form(
            "/crm/companies/bulk",
            &[("csrf", &csrf), ("list_query", query), ("action", "delete"), ("ids", &ids[0]), ("confirm", "5")],
        )
        .await;
    assert_eq!(response.status(), 422, "a wrong count is refused too");

    let response =
        browser.post_form("/crm/companies/bulk", &[("csrf", &csrf), ("list_query", query), ("action", "assign")]).await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("Owner: Fill in this field."), "the missing member is named: {html}");
    let owner = owner.0.to_string();
    let response = browser
        .post_form(
            "/crm/companies/bulk",
            &[("csrf", &csrf), ("list_query", query), ("action", "assign"), ("owner_id", &owner)],
        )
        .await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("Select from 1 to 1000 records."), "{html}");
    assert!(html.contains("City is \u{201c}Lyon\u{201d}"), "the list's filters are kept");

    let response = browser
        .post_form(
            "/crm/companies/bulk",
            &[
                ("csrf", &csrf),
                ("list_query", query),
                ("action", "delete"),
                ("ids", &ids[0]),
                ("ids", &ids[2]),
                ("confirm", "2"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.count_table_in_org(org, "companies").await, 1);
    let html = browser.get("/crm/companies?f=city:eq:Lyon").await.text().await.unwrap();
    assert!(html.contains("id=\"list-empty\""), "an empty filtered list says so and offers to clear");
    assert!(html.contains("Clear filters"));
}

/// The board's stage headers: count, total and weighted amount (total × the stage's probability,
/// exact to the cent) in the API and on the page; a card shows its owner's initials and the date
/// of its next open task.
#[tokio::test]
async fn board_stages_show_totals_and_weighted_amounts_and_cards_their_next_task() {
    let app = TestApp::spawn().await;
    let (_, _, browser) = app.sign_up_and_log_in("owner@board-sums.example.eu").await;
    let bearer = app.access_token("owner@board-sums.example.eu").await;
    let (_, pipelines) = app.call_api(&bearer, Method::GET, "/api/v1/pipelines", None).await;
    let pipeline = pipelines[0]["pipeline_id"].as_str().unwrap().to_string();
    let proposal = pipelines[0]["stages"][2]["stage_id"].as_str().unwrap().to_string();
    let mut deals = Vec::new();
    for (name, amount) in [("Fours", "12500"), ("Vitrine", "1000.50")] {
        let (status, deal) =
            app.call_api(&bearer, Method::POST, "/api/v1/deals", Some(json!({ "name": name, "amount": amount }))).await;
        assert_eq!(status, 201, "{deal}");
        deals.push(deal["id"].as_str().unwrap().to_string());
    }
    app.call_api(
        &bearer,
        Method::POST,
        &format!("/api/v1/deals/{}/move", deals[1]),
        Some(json!({ "stage_id": proposal })),
    )
    .await;
    let (status, _) = app
        .call_api(
            &bearer,
            Method::POST,
            &format!("/api/v1/deals/{}/tasks", deals[0]),
            Some(json!({ "title": "Relancer", "due_at": "2031-03-14T09:30:00Z" })),
        )
        .await;
    assert_eq!(status, 201);

    let (_, board) = app.call_api(&bearer, Method::GET, &format!("/api/v1/pipelines/{pipeline}/board"), None).await;
    assert_eq!(board["columns"][0]["probability"], 10);
    assert_eq!(board["columns"][0]["totals"], json!({ "EUR": "12500.00" }));
    assert_eq!(board["columns"][0]["weighted"], json!({ "EUR": "1250.00" }));
    assert_eq!(board["columns"][2]["weighted"], json!({ "EUR": "500.25" }), "1000.50 at 50 %");
    assert_eq!(board["columns"][1]["weighted"], json!({}), "an empty stage weighs nothing");

    let html = browser.get("/crm/deals/board").await.text().await.unwrap();
    assert!(html.contains("Weighted (10%)"), "{html}");
    assert!(html.contains("<dd class=\"stage-weighted\">€1,250.00</dd>"));
    assert!(html.contains("<dd class=\"stage-weighted\">€500.25</dd>"));
    assert!(html.contains("<dd class=\"stage-total\">€12,500.00</dd>"));
    assert!(html.contains(">AL</span>"), "the owner's initials (Ada Lovelace)");
    assert!(html.contains("Mar 14, 2031"), "the next task's day");
    // French: separators, symbol after, a non-breaking space before %.
    let csrf = browser.csrf_token("/crm/deals/board").await;
    browser.post_form("/lang", &[("csrf", &csrf), ("lang", "fr"), ("next", "/crm/deals/board")]).await;
    let html = browser.get("/crm/deals/board").await.text().await.unwrap();
    assert!(html.contains("Pondéré (10\u{a0}%)") || html.contains("Pond&#233;r&#233; (10\u{a0}%)"), "{html}");
    assert!(html.contains("<dd class=\"stage-weighted\">1\u{202f}250,00\u{a0}€</dd>"), "{html}");
    assert!(html.contains("14\u{a0}mars 2031"));
}

/// The quick-add card creates a deal in its column's stage through the create service; a refusal
/// comes back on the board with the message in that column and what was typed.
#[tokio::test]
async fn board_quick_add_creates_a_deal_in_its_stage_or_says_why_not() {
    let app = TestApp::spawn().await;
    let (org, _, browser) = app.sign_up_and_log_in("owner@board-quick.example.eu").await;
    let bearer = app.access_token("owner@board-quick.example.eu").await;
    let (_, pipelines) = app.call_api(&bearer, Method::GET, "/api/v1/pipelines", None).await;
    let pipeline = pipelines[0]["pipeline_id"].as_str().unwrap().to_string();
    let stage = pipelines[0]["stages"][3]["stage_id"].as_str().unwrap().to_string();
    let csrf = browser.csrf_token("/crm/deals/board").await;

    let response = browser
        .post_form(
            "/crm/deals/board",
            &[("csrf", &csrf), ("pipeline_id", &pipeline), ("stage_id", &stage), ("name", ""), ("amount", "4 200")],
        )
        .await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains(&format!("id=\"quick-error-{stage}\"")), "the message is in that column: {html}");
    assert!(html.contains("Name: Fill in this field."), "{html}");
    assert!(html.contains("value=\"4 200\""), "what was typed is kept");
    assert_eq!(app.count_table_in_org(org, "deals").await, 0);

    let response = browser
        .post_form(
            "/crm/deals/board",
            &[
                ("csrf", &csrf),
                ("pipeline_id", &pipeline),
                ("stage_id", &stage),
                ("name", "Toiture"),
                ("amount", "4 200"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], format!("/crm/deals/board?pipeline={pipeline}"));
    let (_, page) = app.call_api(&bearer, Method::GET, "/api/v1/deals", None).await;
    let deal = &page["items"][0];
    assert_eq!(deal["name"], "Toiture");
    assert_eq!(deal["stage_id"], stage.as_str());
    assert_eq!(deal["amount"], "4200.00");

    let response = browser
        .post_form(
            "/crm/deals/board",
            &[("csrf", "forged"), ("pipeline_id", &pipeline), ("stage_id", &stage), ("name", "X")],
        )
        .await;
    assert_eq!(response.status(), 403, "a forged quick-add is refused");
}

async fn move_as(browser: &Browser, csrf: &str, deal: &str, stage: &str) -> (u16, Value) {
    let response = browser
        .post_form_with_accept(
            &format!("/crm/deals/{deal}/move"),
            &[("csrf", csrf), ("stage_id", stage)],
            "application/json",
        )
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The route the board's drag and drop posts to (JSON when asked) moves only deals the member may
/// see: another member's deal under `own` visibility and another organization's deal are 404 and
/// stay where they were.
#[tokio::test]
async fn board_moves_keep_visibility_and_tenant_rules() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@board-rules.example.eu").await;
    app.add_member(org, "user@board-rules.example.eu", Role::User).await;
    let owner = app.access_token("owner@board-rules.example.eu").await;
    let user = app.access_token("user@board-rules.example.eu").await;
    let modes = json!({ "modes": { "lead": "all", "contact": "all", "company": "all", "deal": "own" } });
    let (status, _) = app.call_api(&owner, Method::PUT, "/api/v1/crm/visibility", Some(modes)).await;
    assert_eq!(status, 200);
    let (_, pipelines) = app.call_api(&owner, Method::GET, "/api/v1/pipelines", None).await;
    let target = pipelines[0]["stages"][2]["stage_id"].as_str().unwrap().to_string();
    let (_, theirs) = app.call_api(&owner, Method::POST, "/api/v1/deals", Some(json!({ "name": "Du patron" }))).await;
    let theirs = theirs["id"].as_str().unwrap().to_string();
    let (_, mine) = app.call_api(&user, Method::POST, "/api/v1/deals", Some(json!({ "name": "À moi" }))).await;
    let mine = mine["id"].as_str().unwrap().to_string();

    let browser = app.browser_login("user@board-rules.example.eu", PASSWORD).await;
    let csrf = browser.csrf_token("/crm/deals/board").await;
    let (status, moved) = move_as(&browser, &csrf, &mine, &target).await;
    assert_eq!(status, 200);
    assert_eq!(moved["stage_id"], target.as_str());
    let (status, _) = move_as(&browser, &csrf, &theirs, &target).await;
    assert_eq!(status, 404, "another member's deal under `own` visibility");

    let (_, _, stranger) = app.sign_up_and_log_in("owner@board-stranger.example.eu").await;
    let stranger_csrf = stranger.csrf_token("/crm/deals/board").await;
    let (status, _) = move_as(&stranger, &stranger_csrf, &theirs, &target).await;
    assert_eq!(status, 404, "another organization's deal");
    let (_, still) = app.call_api(&owner, Method::GET, &format!("/api/v1/deals/{theirs}"), None).await;
    assert_eq!(still["stage_id"], pipelines[0]["stages"][0]["stage_id"], "the refused moves changed nothing");
    let (status, _) = move_as(&browser, "forged", &mine, &target).await;
    assert_eq!(status, 403, "a move without the page's token is refused");
}

/// The names listed, in alphabetical order (the rows' order is not what these tests look at).
fn listed_sorted(html: &str, names: &[&str]) -> Vec<String> {
    let mut found = listed(html, names);
    found.sort();
    found
}

/// Issue #11 ("filters accept "10 000" and "=" on amounts"): amounts are filtered written the
/// French way, on a deal's amount and on a custom amount field alike; the menu's default
/// ("contains") reads as "is" on an amount; the value may start with its operator (`=`, `≠`, `>`,
/// `>=`…), shown with its symbol in the menu; a bad amount is a refused form (422) naming the field,
/// never a 500 nor a silently empty list. The API takes the same values and answers canonical JSON.
#[tokio::test]
async fn amount_filters_read_french_numbers_and_operators() {
    let app = TestApp::spawn().await;
    let (_, _, browser) = app.sign_up_and_log_in("owner@lists-amounts.example.eu").await;
    let bearer = app.access_token("owner@lists-amounts.example.eu").await;
    let (status, field) = app
        .call_api(
            &bearer,
            Method::POST,
            "/api/v1/custom-fields",
            Some(json!({ "object_type": "deal", "key": "budget", "label": "Budget", "kind": "currency" })),
        )
        .await;
    assert_eq!(status, 201, "{field}");
    for (name, amount) in [("Fours", "10000"), ("Vitrine", "10000.50"), ("Toiture", "5000")] {
        let body = json!({ "name": name, "amount": amount, "custom": { "budget": amount } });
        let (status, deal) = app.call_api(&bearer, Method::POST, "/api/v1/deals", Some(body)).await;
        assert_eq!(status, 201, "{deal}");
    }
    let csrf = browser.csrf_token("/crm/deals").await;
    browser.post_form("/lang", &[("csrf", &csrf), ("lang", "fr"), ("next", "/crm/deals")]).await;
    let all = ["Fours", "Toiture", "Vitrine"];
    let filtered = |field: &str, op: &str, value: &str| {
        format!("/crm/deals?field={}&op={op}&value={}", percent_encode(field), percent_encode(value))
    };

    for field in ["amount", "custom.budget"] {
        for (op, value, expected) in [
            ("contains", "10 000", vec!["Fours"]),
            ("eq", "10\u{202f}000,50", vec!["Vitrine"]),
            ("contains", "= 5000", vec!["Toiture"]),
            ("contains", "≠ 10 000", vec!["Toiture", "Vitrine"]),
            ("contains", ">= 10 000", vec!["Fours", "Vitrine"]),
            ("eq", "> 5 000", vec!["Fours", "Vitrine"]),
            ("lt", "10000.5", vec!["Fours", "Toiture"]),
        ] {
            let response = browser.get(&filtered(field, op, value)).await;
            assert_eq!(response.status(), 200, "{field} {op} {value}");
            let html = response.text().await.unwrap();
            assert_eq!(listed_sorted(&html, &all), expected, "{field} {op} {value}");
        }
        // An address filter reads the same writing.
        let html = browser.get(&format!("/crm/deals?f={field}:gte:10%20000")).await.text().await.unwrap();
        assert_eq!(listed_sorted(&html, &all), vec!["Fours", "Vitrine"], "{field}");
    }

    let html = browser.get("/crm/deals").await.text().await.unwrap();
    assert!(html.contains("<td class=\"num\">10\u{202f}000,50</td>"), "a custom amount reads the French way: {html}");
    assert!(html.contains(">est (=)</option>") && html.contains(" pas (≠)</option>"), "{html}");
    assert!(html.contains("aria-describedby=\"filter-value-hint\""));

    for (field, label) in [("amount", "Montant"), ("custom.budget", "Budget")] {
        let response = browser.get(&filtered(field, "contains", "> beaucoup")).await;
        assert_eq!(response.status(), 422, "{field}");
        let html = response.text().await.unwrap();
        assert!(html.contains(&format!("{label}\u{a0}: Saisissez un montant")), "{field}: {html}");
        assert!(html.contains("value=\"&gt; beaucoup\"") || html.contains("value=\"&#62; beaucoup\""), "kept: {html}");
    }

    let filters = json!([{ "field": "custom.budget", "op": "gte", "value": "10 000" }]).to_string();
    let (status, page) = app
        .call_api(&bearer, Method::GET, &format!("/api/v1/deals?sort=name&filters={}", percent_encode(&filters)), None)
        .await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.iter().map(|d| d["name"].as_str().unwrap()).collect::<Vec<_>>(), vec!["Fours", "Vitrine"]);
    assert_eq!(items[1]["amount"], "10000.50", "the API keeps canonical amounts");
    assert_eq!(items[1]["custom"]["budget"], json!(10000.5));
    let bad = json!([{ "field": "custom.budget", "op": "gt", "value": "beaucoup" }]).to_string();
    let (status, problem) =
        app.call_api(&bearer, Method::GET, &format!("/api/v1/deals?filters={}", percent_encode(&bad)), None).await;
    assert_eq!(status, 422, "{problem}");
    assert!(problem.to_string().contains("filter.custom.budget"), "{problem}");
}
