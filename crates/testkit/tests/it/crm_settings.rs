//! CRM configuration (pipelines, custom fields, record visibility) through both doors: the JSON
//! API and the `/settings/crm` page call the same service function, which writes the audit event
//! (P0-04) — so each change is audited exactly once, whichever door it came through.

use serde_json::{Value, json};
use testkit::reqwest::{Method, StatusCode};
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

/// The single refusal of a problem: (status, field, code, message).
fn refusal(status: StatusCode, problem: &Value) -> (u16, String, String, String) {
    let error = &problem["errors"][0];
    let text = |key: &str| error[key].as_str().unwrap_or_default().to_string();
    assert_eq!(problem["errors"].as_array().map(Vec::len), Some(1), "{problem}");
    (status.as_u16(), text("field"), text("code"), text("message"))
}

/// Issue #10 item 18: configuration has upper limits (docs/crm.md, "Limits") — stages per pipeline,
/// pipelines, options per field, custom fields per object type, saved views per member. One more
/// is a 422 naming the field, its message stating the limit; the page says it in French too.
#[tokio::test]
async fn configuration_sizes_have_limits_named_with_their_number() {
    let app = TestApp::spawn().await;
    let (org, _, bearer) = app.sign_up_with_token("owner@crm-limits.example.eu").await;
    let stages = |n: usize| (0..n).map(|i| json!({ "name": format!("Étape {i}") })).collect::<Vec<_>>();

    let (status, problem) = app
        .call_api(&bearer, Method::POST, "/api/v1/pipelines", Some(json!({ "name": "Trop", "stages": stages(51) })))
        .await;
    assert_eq!(
        refusal(status, &problem),
        (422, "stages".into(), "too_many_stages".into(), "At most 50 stages per pipeline.".into())
    );
    let (status, created) = app
        .call_api(&bearer, Method::POST, "/api/v1/pipelines", Some(json!({ "name": "Juste", "stages": stages(50) })))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["pipeline_id"].as_str().unwrap();
    let (status, problem) = app
        .call_api(&bearer, Method::PATCH, &format!("/api/v1/pipelines/{id}"), Some(json!({ "stages": stages(51) })))
        .await;
    assert_eq!(refusal(status, &problem).2, "too_many_stages");

    let (_, pipelines) = app.call_api(&bearer, Method::GET, "/api/v1/pipelines", None).await;
    for i in pipelines.as_array().unwrap().len()..20 {
        let body = json!({ "name": format!("Pipeline {i}"), "stages": stages(1) });
        assert_eq!(app.call_api(&bearer, Method::POST, "/api/v1/pipelines", Some(body)).await.0, 201);
    }
    let (status, problem) = app
        .call_api(
            &bearer,
            Method::POST,
            "/api/v1/pipelines",
            Some(json!({ "name": "Vingt et un", "stages": stages(1) })),
        )
        .await;
    assert_eq!(
        refusal(status, &problem),
        (422, "name".into(), "too_many_pipelines".into(), "At most 20 pipelines per organization.".into())
    );

    let options: Vec<String> = (0..201).map(|i| format!("Option {i}")).collect();
    let field = |key: String, options: &[String]| json!({ "object_type": "lead", "key": key, "label": "Choix", "kind": "select", "options": options });
    let (status, problem) =
        app.call_api(&bearer, Method::POST, "/api/v1/custom-fields", Some(field("choix".into(), &options))).await;
    assert_eq!(
        refusal(status, &problem),
        (422, "options".into(), "too_many_options".into(), "At most 200 options per field.".into())
    );
    for i in 0..100 {
        let (status, body) = app
            .call_api(&bearer, Method::POST, "/api/v1/custom-fields", Some(field(format!("f{i}"), &options[..2])))
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, problem) =
        app.call_api(&bearer, Method::POST, "/api/v1/custom-fields", Some(field("f100".into(), &options[..2]))).await;
    assert_eq!(
        refusal(status, &problem),
        (
            422,
            "object_type".into(),
            "too_many_custom_fields".into(),
            "At most 100 custom fields per object type.".into()
        )
    );
    let other_type = json!({ "object_type": "deal", "key": "f100", "label": "Autre", "kind": "text" });
    assert_eq!(app.call_api(&bearer, Method::POST, "/api/v1/custom-fields", Some(other_type)).await.0, 201);

    for i in 0..100 {
        let view = json!({ "object_type": "contact", "name": format!("Vue {i}") });
        assert_eq!(app.call_api(&bearer, Method::POST, "/api/v1/views", Some(view)).await.0, 201);
    }
    let view = json!({ "object_type": "lead", "name": "Une de trop" });
    let (status, problem) = app.call_api(&bearer, Method::POST, "/api/v1/views", Some(view)).await;
    assert_eq!(
        refusal(status, &problem),
        (422, "name".into(), "too_many_views".into(), "At most 100 saved views per member.".into())
    );
    assert_eq!(app.count_table_in_org(org, "saved_views").await, 100, "nothing written");

    // The settings page, in French: the form comes back with the limit in words.
    let browser = app.browser_login("owner@crm-limits.example.eu", PASSWORD).await;
    let response = browser.submit_form("/settings/crm", "/lang", &[("lang", "fr"), ("next", "/settings/crm")]).await;
    assert_eq!(response.status(), 303);
    let lines: Vec<String> = (0..51).map(|i| format!("Étape {i} | 10")).collect();
    let response = browser
        .submit_form("/settings/crm", "/settings/crm/pipelines", &[("name", "Trop"), ("stages", &lines.join("\n"))])
        .await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("Un pipeline compte au plus 50 étapes."), "{html}");
}

/// Issue #11 ("French"): stages typed on the settings page take their outcome in French as well as
/// in English ("gagnée", "Perdu", "en cours"), and the page's hints say so in the page's language.
#[tokio::test]
async fn stage_outcomes_can_be_typed_in_french() {
    let app = TestApp::spawn().await;
    let (_, _, bearer) = app.sign_up_with_token("owner@crm-outcomes-fr.example.eu").await;
    let browser = app.browser_login("owner@crm-outcomes-fr.example.eu", PASSWORD).await;
    let response = browser
        .submit_form(
            "/settings/crm",
            "/settings/crm/pipelines",
            &[("name", "Partenaires"), ("stages", "Contact | 10 | en cours\nSigné | 100 | Gagnée\nPerdu | 0 | perdu")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let (_, pipelines) = app.call_api(&bearer, Method::GET, "/api/v1/pipelines", None).await;
    let pipelines = if pipelines.is_array() { pipelines } else { pipelines["items"].clone() };
    let partners = pipelines.as_array().unwrap().iter().find(|p| p["name"] == "Partenaires").unwrap();
    let outcomes: Vec<&str> =
        partners["stages"].as_array().unwrap().iter().map(|s| s["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, vec!["open", "won", "lost"]);

    let csrf = browser.csrf_token("/settings/crm").await;
    browser.post_form("/lang", &[("csrf", &csrf), ("lang", "fr"), ("next", "/")]).await;
    let html = browser.get("/settings/crm").await.text().await.unwrap();
    assert!(html.contains("en cours, gagnée ou perdue") && !html.contains("won ou lost"), "the hints are French");
    assert!(html.contains("Signé | 100 | gagnée"), "the example is French");
}
