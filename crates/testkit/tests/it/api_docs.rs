//! Every JSON API route the application mounts is described in the OpenAPI document, with its
//! method (issue #3 item 8, issue #4 item 11): an undocumented endpoint fails here.
//!
//! Issue #10 item 24: the document is exact. Schemathesis (`scripts/api-fuzz.sh`) checks it over
//! HTTP with generated requests; these tests pin what it found, structurally: every route
//! documents the refusals of the shared layers as problem+json, record answers with empty fields
//! match their schema, downloads document the media types they really have, and page sizes
//! document their maximum.

use kernel::authz::Access;
use kernel::web::Surface;
use serde_json::{Value, json};
use testkit::TestApp;
use testkit::openapi::{response_schema, violations};
use testkit::reqwest::{Method, header};

fn api_routes() -> Vec<kernel::web::RouteDef> {
    web::routes().into_iter().filter(|r| r.surface == Surface::Api && r.path != "/api/v1/openapi.json").collect()
}

#[test]
fn every_api_route_is_in_the_openapi_document() {
    let doc: Value = web::openapi();
    let mut missing = Vec::new();
    for route in api_routes() {
        let method = route.method.as_str().to_ascii_lowercase();
        if !doc["paths"][route.path][&method].is_object() {
            missing.push(format!("{} {}", route.method, route.path));
        }
    }
    assert!(missing.is_empty(), "routes missing from the OpenAPI document:\n{}", missing.join("\n"));
}

/// Every refusal the shared layers make is documented on every operation it can reach, as
/// problem+json: 401 (and the bearer requirement) unless the route is public, 403 where a role
/// lacks the route's action, 400/413/415/422 for a JSON body, 422 for a query parameter, 404 for
/// a path parameter. Every error answer is problem+json.
#[test]
fn every_api_route_documents_its_refusals_as_problem_json() {
    let doc: Value = web::openapi();
    let mut wrong = Vec::new();
    for route in api_routes() {
        let method = route.method.as_str().to_ascii_lowercase();
        let operation = &doc["paths"][route.path][&method];
        let label = format!("{} {}", route.method, route.path);
        let mut expected: Vec<&str> = Vec::new();
        match route.access {
            Access::Public => {}
            Access::Can(action) => {
                expected.push("401");
                if [action.owner, action.manager, action.user].iter().any(|grant| !grant.allows()) {
                    expected.push("403");
                }
            }
            _ => expected.push("401"),
        }
        let bearer = operation["security"].as_array().is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        if bearer != (route.access != Access::Public) {
            wrong.push(format!("{label}: security {} for access {:?}", operation["security"], route.access));
        }
        if operation.pointer("/requestBody/content/application~1json").is_some() {
            expected.extend(["400", "413", "415", "422"]);
        }
        let places: Vec<&str> =
            operation["parameters"].as_array().into_iter().flatten().filter_map(|p| p["in"].as_str()).collect();
        if places.contains(&"query") {
            expected.push("422");
        }
        if places.contains(&"path") {
            expected.push("404");
        }
        for status in expected {
            if operation["responses"][status].is_null() {
                wrong.push(format!("{label}: no {status}"));
            }
        }
        for (status, response) in operation["responses"].as_object().into_iter().flatten() {
            let is_error = status.starts_with('4') || status.starts_with('5');
            if is_error && response.pointer("/content/application~1problem+json/schema").is_none() {
                wrong.push(format!("{label}: {status} is not problem+json"));
            }
        }
    }
    assert!(wrong.is_empty(), "{} undocumented refusals:\n{}", wrong.len(), wrong.join("\n"));
}

/// A page size is refused past its maximum (422 naming it), so the document says the maximum.
#[test]
fn every_page_size_parameter_documents_its_bounds() {
    let doc: Value = web::openapi();
    let mut seen = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                if !matches!(parameter["name"].as_str(), Some("limit" | "per_stage")) {
                    continue;
                }
                seen += 1;
                let schema = &parameter["schema"];
                assert_eq!(schema["type"], "integer", "{method} {path}");
                assert_eq!(schema["minimum"], 1, "{method} {path}: {schema}");
                assert!(schema["maximum"].as_u64().is_some_and(|max| max >= 1), "{method} {path}: {schema}");
            }
        }
    }
    assert!(seen >= 8, "the lists, the timelines, search, the board and deliveries: {seen}");
}

/// Records answered with most fields empty match the document: an empty country, email or size
/// is `""` and an empty probability or reference `null`, and the schema says so (schemathesis
/// found `""` where the schema said a pattern, an enum or an email, and `null` where it said a
/// string or an integer). Every column of the answer is documented.
#[tokio::test]
async fn record_answers_with_empty_fields_match_the_document() {
    let app = TestApp::spawn().await;
    let (_, _, bearer) = app.sign_up_with_token("owner@api-docs-records.example.eu").await;
    let doc = web::openapi();
    for (plural, body) in [
        ("leads", json!({ "last_name": "Lovelace" })),
        ("contacts", json!({ "last_name": "Hopper" })),
        ("companies", json!({ "name": "Analytical Engines" })),
        ("deals", json!({ "name": "Difference engine" })),
    ] {
        let (status, created) = app.call_api(&bearer, Method::POST, &format!("/api/v1/{plural}"), Some(body)).await;
        assert_eq!(status, 201, "{created}");
        let schema = response_schema(&doc, "post", &format!("/api/v1/{plural}"), "201", "application/json");
        assert_eq!(violations(&doc, schema, &created), Vec::<String>::new(), "POST /api/v1/{plural}: {created}");
        let id = created["id"].as_str().expect("an id");
        let (status, record) = app.call_api(&bearer, Method::GET, &format!("/api/v1/{plural}/{id}"), None).await;
        assert_eq!(status, 200);
        let schema = response_schema(&doc, "get", &format!("/api/v1/{plural}/{{id}}"), "200", "application/json");
        assert_eq!(violations(&doc, schema, &record), Vec::<String>::new(), "GET /api/v1/{plural}/{{id}}: {record}");
        let (status, page) = app.call_api(&bearer, Method::GET, &format!("/api/v1/{plural}"), None).await;
        assert_eq!(status, 200);
        let schema = response_schema(&doc, "get", &format!("/api/v1/{plural}"), "200", "application/json");
        assert_eq!(violations(&doc, schema, &page), Vec::<String>::new(), "GET /api/v1/{plural}: {page}");
    }
}

/// A download answers the type sniffed when the file was stored, and the document lists every
/// such type (it said `application/octet-stream` only).
#[tokio::test]
async fn file_downloads_document_their_real_media_types() {
    let app = TestApp::spawn().await;
    let (_, _, bearer) = app.sign_up_with_token("owner@api-docs-files.example.eu").await;
    let doc = web::openapi();
    let documented: Vec<String> = doc["paths"]["/api/v1/files/{id}"]["get"]["responses"]["200"]["content"]
        .as_object()
        .expect("the download's media types")
        .keys()
        .cloned()
        .collect();
    assert!(!documented.iter().any(|t| t == "application/octet-stream"), "{documented:?}");
    for expected in ["application/pdf", "image/png", "text/plain", "text/csv"] {
        assert!(documented.iter().any(|t| t == expected), "{expected} missing from {documented:?}");
    }

    let (status, contact) =
        app.call_api(&bearer, Method::POST, "/api/v1/contacts", Some(json!({ "last_name": "Curie" }))).await;
    assert_eq!(status, 201);
    let contact = contact["id"].as_str().expect("an id");
    let boundary = "relais-api-docs";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"pixel.png\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let response = app
        .http
        .post(app.url(&format!("/api/v1/contacts/{contact}/files")))
        .bearer_auth(&bearer)
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 201);
    let file: Value = response.json().await.expect("json");
    let download = app.get_with_bearer(&bearer, file["download_url"].as_str().expect("a download url")).await;
    assert_eq!(download.status(), 200);
    let media_type = testkit::http::header(&download, "content-type");
    let media_type = media_type.split(';').next().unwrap_or_default().trim();
    assert_eq!(media_type, "image/png");
    assert!(documented.iter().any(|t| t == media_type), "{media_type} is not documented: {documented:?}");
}
