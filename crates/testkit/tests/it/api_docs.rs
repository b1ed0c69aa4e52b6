//! Every JSON API route the application mounts is described in the OpenAPI document, with its
//! method (issue #3 item 8, issue #4 item 11): an undocumented endpoint fails here.

use kernel::web::Surface;
use serde_json::Value;

#[test]
fn every_api_route_is_in_the_openapi_document() {
    let doc: Value = web::openapi();
    let mut missing = Vec::new();
    for route in web::routes().into_iter().filter(|r| r.surface == Surface::Api) {
        if route.path == "/api/v1/openapi.json" {
            continue;
        }
        let method = route.method.as_str().to_ascii_lowercase();
        if !doc["paths"][route.path][&method].is_object() {
            missing.push(format!("{} {}", route.method, route.path));
        }
    }
    assert!(missing.is_empty(), "routes missing from the OpenAPI document:\n{}", missing.join("\n"));
}
