//! What every API operation can answer, whatever its module: added to the assembled OpenAPI
//! document from the route's declared [`Access`] and the shape of its operation, so no module can
//! forget a refusal the shared layers make (issue #10 item 24: schemathesis found the 401s, 403s,
//! 400s, 413s, 415s and 422s of these layers undocumented).
//!
//! * a route that is not public: `security: bearer`, and 401 (no valid bearer token);
//! * a route whose action some role lacks: 403;
//! * a JSON request body: 400 (not JSON), 413 (over 1 MiB), 415 (not `application/json`) and 422
//!   (the wrong shape, named);
//! * a query parameter: 422 naming the parameter whose value does not fit;
//! * a path parameter: 404 (nothing has that id, or the caller may not see it).
//!
//! Every one is `application/problem+json` ([`kernel::error::Problem`]). A module still documents
//! its own meaning of a status (its description is kept); this only adds what is missing.

use kernel::authz::Access;
use kernel::web::{RouteDef, Surface};
use serde_json::{Map, Value, json};

/// A problem+json response with `description`.
pub fn problem(description: &str) -> Value {
    json!({ "description": description,
            "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } })
}

/// Completes `doc` (the assembled document) for `routes`: see the module's documentation.
pub fn complete(doc: &mut Value, routes: &[RouteDef]) {
    for route in routes.iter().filter(|r| r.surface == Surface::Api) {
        let method = route.method.as_str().to_ascii_lowercase();
        let Some(Value::Object(operation)) = doc.pointer_mut(&format!("/paths/{}/{method}", escape(route.path))) else {
            continue;
        };
        complete_operation(operation, route.access);
    }
}

/// JSON pointer escaping of one path segment (`/` is `~1`).
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn complete_operation(operation: &mut Map<String, Value>, access: Access) {
    let mut add: Vec<(&str, &str)> = Vec::new();
    match access {
        Access::Public => {
            operation.insert("security".into(), json!([]));
        }
        Access::SignedIn | Access::PlatformAdmin => {
            operation.insert("security".into(), json!([{ "bearer": [] }]));
            add.push(("401", "No valid bearer token"));
        }
        Access::Can(action) => {
            operation.insert("security".into(), json!([{ "bearer": [] }]));
            add.push(("401", "No valid bearer token"));
            if [action.owner, action.manager, action.user].iter().any(|grant| !grant.allows()) {
                add.push(("403", "The caller's role may not do this"));
            }
        }
    }
    let json_body = operation.get("requestBody").and_then(|body| body.pointer("/content/application~1json")).is_some();
    if json_body {
        add.push(("400", "The body is not valid JSON"));
        add.push(("413", "The body is larger than 1 MiB (code `payload_too_large`)"));
        add.push(("415", "The body is not `application/json`"));
        add.push(("422", "The body does not fit the schema; each bad field is named"));
    }
    let parameters: Vec<String> = operation
        .get("parameters")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(|p| p["in"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    if parameters.iter().any(|place| place == "query") {
        add.push(("422", "A query parameter does not fit its schema; the parameter is named"));
    }
    if parameters.iter().any(|place| place == "path") {
        add.push(("404", "Nothing has this id, or the caller may not see it"));
    }
    let responses = operation.entry("responses").or_insert_with(|| json!({}));
    if let Value::Object(responses) = responses {
        for (status, description) in add {
            responses.entry(status).or_insert_with(|| problem(description));
        }
    }
}
