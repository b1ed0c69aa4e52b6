//! Outreach's part of the OpenAPI document: each feature describes its own paths and schemas,
//! merged here.

use serde_json::{Map, Value, json};

/// For an optional input field the document types without `null`: absent is `None`, and an
/// explicit `null` is refused like any value of the wrong type (422 naming the body) instead of
/// being read as "absent" — the API accepts exactly what its document describes.
pub fn non_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

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
