//! Export of lists to CSV and JSON over HTTP (issue #4 item 8; P0-04, P1-18): every matching row
//! past any page size, filters and sort applied, formula injection neutralized, audited, refused
//! to the User role.

use kernel::authz::Role;
use serde_json::{Value, json};
use testkit::http::percent_encode;
use testkit::reqwest::Method;
use testkit::{PASSWORD, TestApp};

/// P0-04 / P1-18: an export streams every row of the filtered list (more than one page of the
/// list API), with the filter applied, the CSV neutralized against formulas, and is audited.
#[tokio::test]
async fn p1_18_export_streams_every_filtered_row_neutralized_and_audited() {
    let app = TestApp::spawn().await;
    let (org, _, bearer) = app.sign_up_with_token("owner@export.example.eu").await;
    let mut csv = String::from("email,last_name,title\n");
    for i in 0..450 {
        let title = if i % 2 == 0 { "Achats" } else { "Ventes" };
        csv.push_str(&format!("p{i:03}@exemple.fr,Nom {i:03},{title}\n"));
    }
    csv.push_str("evil@exemple.fr,\"=HYPERLINK(\"\"http://x\"\")\",Achats\n");
    let done = app.import_csv(&bearer, "contacts", csv.into_bytes(), 5000).await;
    assert_eq!(done["created_count"], 451);

    let filters = percent_encode(&json!([{ "field": "title", "op": "eq", "value": "Achats" }]).to_string());
    let (status, text) = app
        .get_text_with_bearer(&bearer, &format!("/api/v1/contacts/export?format=csv&sort=-last_name&filters={filters}"))
        .await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(lines[0].starts_with("id,first_name,last_name,email,phone,"), "{}", lines[0]);
    assert_eq!(lines.len(), 1 + 226, "every Achats row, past the list's 200-row page cap");
    assert!(lines.iter().skip(1).all(|l| l.contains(",Achats,")), "the filter is applied");
    assert!(lines[1].contains(",Nom 448,"), "sorted descending: {}", lines[1]);
    let last = lines[lines.len() - 1];
    assert!(last.contains(",\"'=HYPERLINK(\"\"http://x\"\")\","), "the formula is neutralized: {last}");

    let (status, text) = app.get_text_with_bearer(&bearer, "/api/v1/contacts/export?format=json").await;
    assert_eq!(status, 200);
    let all: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(all.len(), 451);
    assert_eq!(all[0]["object"], "contact");

    let (status, problem) = app.call_api(&bearer,
        Method::GET,
        "/api/v1/contacts/export?filters=%5B%7B%22field%22%3A%22nope%22%2C%22op%22%3A%22eq%22%2C%22value%22%3A1%7D%5D",
        None,
    )
    .await;
    assert_eq!(status, 422, "{problem}");

    let mut tx = app.db.begin_org(org, kernel::db::Actor::System).await.unwrap();
    let events: Vec<(String, Value)> = sqlx::query_as(
        "select action, payload from audit_events where org_id = $1 and action like 'record.export%' order by seq",
    )
    .bind(org)
    .fetch_all(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let actions: Vec<&str> = events.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        vec!["record.exported", "record.export_completed", "record.exported", "record.export_completed"]
    );
    assert_eq!(events[0].1["filters"], json!([{ "field": "title", "op": "eq" }]), "the filter's value is not logged");
    assert_eq!(events[1].1["rows"], 226);
    assert_eq!(events[3].1["rows"], 451);
}

/// An export writes exactly one `record.exported` and one `record.export_completed`, through the
/// API as through a list page's download link.
#[tokio::test]
async fn an_export_is_audited_once_through_the_api_and_once_through_the_page() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@export-audit.example.eu").await;
    let bearer = app.access_token("owner@export-audit.example.eu").await;
    let done = app
        .import_csv(&bearer, "contacts", b"email,last_name\na@exemple.fr,Un\nb@exemple.fr,Deux\n".to_vec(), 5000)
        .await;
    assert_eq!(done["created_count"], 2);

    let (status, text) = app.get_text_with_bearer(&bearer, "/api/v1/contacts/export?format=json").await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Vec<Value>>(&text).unwrap().len(), 2);
    assert_eq!(app.count_audit_events(org, "record.exported").await, 1, "one event for the API's export");
    assert_eq!(app.count_audit_events(org, "record.export_completed").await, 1);

    let browser = app.browser_login("owner@export-audit.example.eu", PASSWORD).await;
    let response = browser.get("/crm/contacts/export?format=json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(serde_json::from_str::<Vec<Value>>(&response.text().await.unwrap()).unwrap().len(), 2);
    assert_eq!(app.count_audit_events(org, "record.exported").await, 2, "and one for the page's");
    assert_eq!(app.count_audit_events(org, "record.export_completed").await, 2);
}

/// The User role may not export.
#[tokio::test]
async fn export_is_refused_to_the_user_role() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@export-user.example.eu").await;
    app.add_member(org, "user@export-user.example.eu", Role::User).await;
    let user = app.access_token("user@export-user.example.eu").await;
    for object in ["leads", "contacts", "companies", "deals"] {
        let (status, _) = app.get_text_with_bearer(&user, &format!("/api/v1/{object}/export")).await;
        assert_eq!(status, 403, "{object}");
    }
}
