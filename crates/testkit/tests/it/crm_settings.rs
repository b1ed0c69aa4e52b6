//! CRM configuration (pipelines, custom fields, record visibility) through both doors: the JSON
//! API and the `/settings/crm` page call the same service function, which writes the audit event
//! (P0-04) — so each change is audited exactly once, whichever door it came through.

use serde_json::json;
use testkit::reqwest::Method;
use testkit::{PASSWORD, TestApp};

/// A pipeline created or changed through the API, then through the settings page: one
/// `pipeline.created` / `pipeline.updated` event per change.
#[tokio::test]
async fn p0_04_pipeline_changes_are_audited_once_per_change_on_api_and_page() {
    let app = TestApp::spawn().await;
    let (org, _, bearer) = app.sign_up_with_token("owner@crm-audit-pipelines.example.eu").await;
    let browser = app.browser_login("owner@crm-audit-pipelines.example.eu", PASSWORD).await;

    let (status, created) = app
        .call_api(
            &bearer,
            Method::POST,
            "/api/v1/pipelines",
            Some(json!({ "name": "Renouvellements", "stages": [{ "name": "Contact" }, { "name": "Signé", "outcome": "won" }] })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(app.count_audit_events(org, "pipeline.created").await, 1, "the API creation is audited once");

    let response = browser
        .submit_form("/settings/crm", "/settings/crm/pipelines", &[("name", "Partenaires"), ("stages", "Contact | 10")])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.count_audit_events(org, "pipeline.created").await, 2, "the page creation is audited once");

    let id = created["pipeline_id"].as_str().unwrap();
    let (status, _) = app
        .call_api(&bearer, Method::PATCH, &format!("/api/v1/pipelines/{id}"), Some(json!({ "name": "Renouv." })))
        .await;
    assert_eq!(status, 200);
    assert_eq!(app.count_audit_events(org, "pipeline.updated").await, 1);
    let stage = created["stages"][0]["stage_id"].as_str().unwrap();
    let response = browser
        .submit_form(
            "/settings/crm",
            &format!("/settings/crm/pipelines/{id}"),
            &[
                ("name", "Renouvellements"),
                ("stage_id", stage),
                ("stage_name", "Premier contact"),
                ("stage_position", "0"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.count_audit_events(org, "pipeline.updated").await, 2);
}

/// A custom field created and deleted through the API, then through the page: one audit event
/// per change.
#[tokio::test]
async fn p0_04_custom_field_changes_are_audited_once_per_change_on_api_and_page() {
    let app = TestApp::spawn().await;
    let (org, _, bearer) = app.sign_up_with_token("owner@crm-audit-fields.example.eu").await;
    let browser = app.browser_login("owner@crm-audit-fields.example.eu", PASSWORD).await;

    let (status, field) = app
        .call_api(
            &bearer,
            Method::POST,
            "/api/v1/custom-fields",
            Some(json!({ "object_type": "contact", "key": "segment", "label": "Segment", "kind": "text" })),
        )
        .await;
    assert_eq!(status, 201, "{field}");
    assert_eq!(app.count_audit_events(org, "custom_field.created").await, 1);
    let response = browser
        .submit_form(
            "/settings/crm",
            "/settings/crm/fields",
            &[("object_type", "deal"), ("key", "source"), ("label", "Source"), ("kind", "text")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.count_audit_events(org, "custom_field.created").await, 2);

    let id = field["field_id"].as_str().unwrap();
    let (status, _) = app.call_api(&bearer, Method::DELETE, &format!("/api/v1/custom-fields/{id}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(app.count_audit_events(org, "custom_field.deleted").await, 1);
    let (_, fields) = app.call_api(&bearer, Method::GET, "/api/v1/custom-fields", None).await;
    let other = fields.as_array().unwrap().iter().find(|f| f["key"] == "source").unwrap()["field_id"]
        .as_str()
        .unwrap()
        .to_string();
    let response = browser.submit_form("/settings/crm", &format!("/settings/crm/fields/{other}/delete"), &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.count_audit_events(org, "custom_field.deleted").await, 2);
}

/// Record visibility changed through the API, then through the page: one
/// `crm.visibility_changed` event each.
#[tokio::test]
async fn p0_04_visibility_changes_are_audited_once_per_change_on_api_and_page() {
    let app = TestApp::spawn().await;
    let (org, _, bearer) = app.sign_up_with_token("owner@crm-audit-visibility.example.eu").await;
    let browser = app.browser_login("owner@crm-audit-visibility.example.eu", PASSWORD).await;

    let (status, body) =
        app.call_api(&bearer, Method::PUT, "/api/v1/crm/visibility", Some(json!({ "modes": { "lead": "own" } }))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.count_audit_events(org, "crm.visibility_changed").await, 1);
    let response = browser
        .submit_form(
            "/settings/crm",
            "/settings/crm/visibility",
            &[("mode.lead", "all"), ("mode.contact", "all"), ("mode.company", "all"), ("mode.deal", "own")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.count_audit_events(org, "crm.visibility_changed").await, 2);
}
