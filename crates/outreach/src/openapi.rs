//! Outreach's part of the OpenAPI document: each feature describes its own paths and schemas,
//! merged here.

use serde_json::{Map, Value, json};

pub fn problem(description: &str) -> Value {
    json!({ "description": description, "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } })
}

pub fn ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

pub fn body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

pub fn id_param() -> Value {
    json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } })
}

pub fn operation(tag: &str, summary: &str, rest: Value) -> Value {
    let mut op = json!({ "tags": [tag], "summary": summary });
    if let (Some(target), Value::Object(extra)) = (op.as_object_mut(), rest) {
        target.extend(extra);
    }
    op
}

/// `{ "paths": …, "components": { "schemas": … } }` of every outreach feature.
pub fn document() -> Value {
    let (mut paths, mut schemas) = (Map::new(), Map::new());
    for (feature_paths, feature_schemas) in [
        crate::mailboxes::api::openapi(),
        crate::sequences::api::openapi(),
        crate::sending::api::openapi(),
        crate::suppression::api::openapi(),
    ] {
        paths.extend(feature_paths);
        schemas.extend(feature_schemas);
    }
    json!({ "paths": paths, "components": { "schemas": schemas } })
}
