//! The command palette (issue #11 item 6): `GET /palette?q=` offers records (the CRM search, inside
//! the member's organization and visibility), pages and actions (by role), in the member's
//! language; only signed-in members reach it. In Chromium: Ctrl-K opens it, typing a lead's name
//! shows the lead, Enter opens it, `?` lists the shortcuts and `g l` goes to the leads.

use fantoccini::Locator;
use kernel::authz::Role;
use serde_json::json;
use testkit::chromium::{Driver, arrive, fill};
use testkit::http::percent_encode;
use testkit::reqwest::Method;
use testkit::{Browser, PASSWORD, TestApp};

/// The palette's answer to `q` for a signed-in browser.
async fn palette(browser: &Browser, q: &str) -> String {
    let response = browser.get(&format!("/palette?q={}", percent_encode(q))).await;
    assert_eq!(response.status(), 200, "GET /palette?q={q}");
    assert_eq!(testkit::http::header(&response, "cache-control"), "no-store");
    response.text().await.unwrap()
}

/// The titles of the options of a palette answer, in order.
fn titles(html: &str) -> Vec<String> {
    html.split("class=\"palette-title\">").skip(1).map(|rest| rest.split('<').next().unwrap().to_string()).collect()
}

/// Pages and actions follow the role: a user is offered new records but neither the import, the
/// invitation, the CRM settings nor the API keys; an owner gets all of them. A query filters by
/// label and keywords, in the member's language.
#[tokio::test]
async fn palette_offers_pages_and_actions_by_role_and_language() {
    let app = TestApp::spawn().await;
    let (org, _, owner) = app.sign_up_and_log_in("owner@palette-roles.example.eu").await;
    app.add_member(org, "user@palette-roles.example.eu", Role::User).await;
    let user = app.browser_login("user@palette-roles.example.eu", PASSWORD).await;

    let everything = titles(&palette(&owner, "").await);
    for label in [
        "Leads",
        "Contacts",
        "Deals board",
        "New lead",
        "New deal",
        "Import a CSV file",
        "Invite a member",
        "CRM settings",
        "API keys",
    ] {
        assert!(everything.iter().any(|t| t == label), "the owner is offered {label}: {everything:?}");
    }
    let users = titles(&palette(&user, "").await);
    for label in ["Leads", "Deals board", "New lead", "New deal", "Your profile"] {
        assert!(users.iter().any(|t| t == label), "a user is offered {label}: {users:?}");
    }
    for label in ["Import a CSV file", "Imports", "Invite a member", "CRM settings", "API keys", "Activity"] {
        assert!(!users.iter().any(|t| t == label), "a user is not offered {label}: {users:?}");
    }

    let html = palette(&owner, "new").await;
    let found = titles(&html);
    assert_eq!(found, ["New lead", "New contact", "New company", "New deal"], "{html}");
    assert!(html.contains(">Actions<") && !html.contains(">Pages<"), "{html}");
    assert!(html.contains("4 results"), "the count for the live region: {html}");
    assert_eq!(titles(&palette(&owner, "csv").await), ["Imports", "Import a CSV file"], "keywords find it too");
    assert!(titles(&palette(&user, "csv").await).is_empty(), "not for a user");
    assert!(palette(&user, "zzqx").await.contains("No results"));

    // In French, with French keywords, accents optional.
    let csrf = owner.csrf_token("/dashboard").await;
    let switched = owner.post_form("/lang", &[("lang", "fr"), ("next", "/dashboard"), ("csrf", &csrf)]).await;
    assert_eq!(switched.status(), 303);
    let html = palette(&owner, "creer").await;
    assert_eq!(titles(&html), ["Nouveau lead", "Nouveau contact", "Nouvelle entreprise", "Nouvelle affaire"], "{html}");
    assert!(html.contains("4 résultats"), "{html}");
    assert_eq!(titles(&palette(&owner, "invitation").await), ["Inviter un membre"]);
}

/// Records come from the member's own organization and visibility only: another organization's
/// lead with the same name never shows, and with visibility `own` a user finds only their own
/// leads; each hit opens its record page.
#[tokio::test]
async fn palette_finds_records_inside_the_organization_and_visibility() {
    let app = TestApp::spawn().await;
    let (org, _, owner) = app.sign_up_and_log_in("owner@palette-records.example.eu").await;
    let owner_token = app.access_token("owner@palette-records.example.eu").await;
    app.add_member(org, "user@palette-records.example.eu", Role::User).await;
    let user = app.browser_login("user@palette-records.example.eu", PASSWORD).await;
    let user_token = app.access_token("user@palette-records.example.eu").await;
    let (_, _, other_token) = app.sign_up_with_token("owner@palette-elsewhere.example.eu").await;

    let lead = |token: String, first: &'static str| {
        let app = &app;
        async move {
            let body = json!({ "first_name": first, "last_name": "Vasseur", "email": format!("{first}@exemple.fr") });
            let (status, created) = app.call_api(&token, Method::POST, "/api/v1/leads", Some(body)).await;
            assert_eq!(status, 201, "{created}");
            created["id"].as_str().unwrap().to_string()
        }
    };
    let odile = lead(owner_token.clone(), "Odile").await;
    let ulysse = lead(user_token.clone(), "Ulysse").await;
    let octave = lead(other_token.clone(), "Octave").await;

    let html = palette(&owner, "vasseur").await;
    let mut found = titles(&html);
    found.sort();
    assert_eq!(found, ["Odile Vasseur", "Ulysse Vasseur"], "{html}");
    assert!(html.contains(&format!("href=\"/crm/leads/{odile}\"")), "{html}");
    assert!(html.contains(">Records<") && html.contains(">Lead<"), "grouped, with the kind: {html}");
    assert!(!html.contains(&octave) && !html.contains("Octave"), "another organization's lead: {html}");
    assert_eq!(titles(&palette(&owner, "Octave").await), Vec::<String>::new());

    // Everyone sees every lead by default; with visibility `own`, the user finds only theirs.
    assert_eq!(titles(&palette(&user, "vasseur").await).len(), 2);
    let (status, body) = app
        .call_api(&owner_token, Method::PUT, "/api/v1/crm/visibility", Some(json!({ "modes": { "lead": "own" } })))
        .await;
    assert_eq!(status, 200, "{body}");
    let html = palette(&user, "vasseur").await;
    assert_eq!(titles(&html), ["Ulysse Vasseur"], "{html}");
    assert!(html.contains(&format!("/crm/leads/{ulysse}")) && !html.contains(&odile), "{html}");
    assert_eq!(titles(&palette(&owner, "vasseur").await).len(), 2, "the owner still sees both");
}

/// Only a signed-in member reaches the palette: anonymous requests go to the login page and learn
/// nothing.
#[tokio::test]
async fn palette_is_for_signed_in_members_only() {
    let app = TestApp::spawn().await;
    let (_, _, token) = app.sign_up_with_token("owner@palette-anon.example.eu").await;
    let (status, _) = app
        .call_api(&token, Method::POST, "/api/v1/leads", Some(json!({ "first_name": "Anne", "last_name": "Secret" })))
        .await;
    assert_eq!(status, 201);
    let response = app.http.get(app.url("/palette?q=secret")).send().await.unwrap();
    let status = response.status().as_u16();
    let location = testkit::http::header(&response, "location");
    let body = response.text().await.unwrap();
    assert!(status == 401 || (status == 303 && location == "/login"), "{status} {location}");
    assert!(!body.contains("Secret"), "{body}");
    // An API token is no page session either.
    let response = app.get_with_bearer(&token, "/palette?q=secret").await;
    assert_ne!(response.status(), 200);
}

/// In Chromium: Ctrl-K opens the palette, typing a lead's name shows it first, Enter opens its
/// page; `?` opens the shortcut help, Escape closes it, and `g l` goes to the leads. The top bar's
/// trigger opens the palette too.
#[tokio::test]
async fn palette_and_shortcuts_in_chromium() {
    let app = TestApp::spawn().await;
    let (_, _, token) = app.sign_up_with_token("owner@palette-chromium.example.eu").await;
    let (status, created) = app
        .call_api(
            &token,
            Method::POST,
            "/api/v1/leads",
            Some(json!({ "first_name": "Brigitte", "last_name": "Fontaine", "email": "brigitte@exemple.fr" })),
        )
        .await;
    assert_eq!(status, 201);
    let lead = created["id"].as_str().unwrap().to_string();
    let driver = Driver::start().await;
    let profile = std::env::temp_dir().join(format!("relais-chromium-{}", uuid::Uuid::new_v4().simple()));
    let client = driver.browser(&profile).await;

    client.goto(&app.url("/login")).await.unwrap();
    fill(&client, "email", "owner@palette-chromium.example.eu").await;
    fill(&client, "password", PASSWORD).await;
    client.find(Locator::Css("main button.primary")).await.unwrap().click().await.unwrap();
    arrive(&client, &app, "/dashboard").await;

    // Ctrl-K (WebDriver's Control key, released by the null key).
    let body = client.find(Locator::Css("body")).await.unwrap();
    body.send_keys("\u{E009}k\u{E000}").await.unwrap();
    client.wait().for_element(Locator::Css("dialog#palette[open]")).await.unwrap();
    let focused: String =
        client.execute("return document.activeElement.id", vec![]).await.unwrap().as_str().unwrap().into();
    assert_eq!(focused, "palette-input", "the input has the focus");
    // Pages and actions at once, before typing.
    client.wait().for_element(Locator::Css("#palette-listbox [role=option]")).await.unwrap();

    let input = client.find(Locator::Id("palette-input")).await.unwrap();
    input.send_keys("fontaine").await.unwrap();
    let hit = client
        .wait()
        .for_element(Locator::XPath("//*[@id='palette-listbox']//*[@role='option'][contains(., 'Brigitte Fontaine')]"))
        .await
        .unwrap();
    let hit_id = hit.attr("id").await.unwrap().unwrap();
    assert_eq!(input.attr("aria-activedescendant").await.unwrap(), Some(hit_id), "the record is first and active");
    let status = client.find(Locator::Id("palette-status")).await.unwrap().text().await.unwrap();
    assert!(status.contains("result"), "{status}");
    input.send_keys("\u{E007}").await.unwrap();
    let heading = arrive(&client, &app, &format!("/crm/leads/{lead}")).await;
    assert!(heading.contains("Brigitte Fontaine"), "{heading}");

    // `?` lists the shortcuts; Escape closes the help; `g l` opens the leads.
    client.find(Locator::Css("body")).await.unwrap().send_keys("?").await.unwrap();
    let help = client.wait().for_element(Locator::Css("dialog#shortcuts[open]")).await.unwrap();
    let text = help.text().await.unwrap();
    assert!(text.contains("Keyboard shortcuts") && text.contains("Leads") && text.contains("Deals board"), "{text}");
    client.find(Locator::Css("dialog#shortcuts")).await.unwrap().send_keys("\u{E00C}").await.unwrap();
    client.wait().for_element(Locator::Css("dialog#shortcuts:not([open])")).await.unwrap();
    client.find(Locator::Css("body")).await.unwrap().send_keys("gl").await.unwrap();
    arrive(&client, &app, "/crm/leads").await;

    // Shortcut letters do nothing while typing in a field.
    let search = client.find(Locator::Css(".crm-search input[name=q]")).await.unwrap();
    search.send_keys("?").await.unwrap();
    let open: bool =
        client.execute("return document.getElementById('shortcuts').open", vec![]).await.unwrap().as_bool().unwrap();
    assert!(!open, "? typed in a field stays in the field");

    // The top bar's trigger.
    client.find(Locator::Css("button.palette-trigger")).await.unwrap().click().await.unwrap();
    client.wait().for_element(Locator::Css("dialog#palette[open]")).await.unwrap();
    client.close().await.unwrap();
}
