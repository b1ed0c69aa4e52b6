//! The OpenAPI paths of the file endpoints, merged into the CRM's document.

use serde_json::{Map, Value, json};

/// The OpenAPI paths of the file endpoints, merged into the CRM's document.
pub fn openapi_paths() -> Map<String, Value> {
    let download_types = || {
        let binary = json!({ "schema": { "type": "string", "format": "binary" } });
        let types = super::ALLOWED.iter().copied().chain(["text/plain", "text/csv"]);
        Value::Object(types.map(|media_type| (media_type.to_owned(), binary.clone())).collect())
    };
    let id = json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } });
    let file = json!({ "type": "object", "properties": {
        "id": { "type": "string", "format": "uuid" },
        "object": { "type": "string", "enum": ["lead", "contact", "company", "deal"] },
        "record_id": { "type": "string", "format": "uuid" },
        "name": { "type": "string", "maxLength": 255 },
        "content_type": { "type": "string", "description": "Sniffed from the bytes on upload, never taken from the client" },
        "size_bytes": { "type": "integer" },
        "sha256": { "type": "string", "description": "Hex SHA-256 of the stored bytes" },
        "uploaded_by": { "type": ["string", "null"], "format": "uuid" },
        "created_at": { "type": "string", "format": "date-time" },
        "download_url": { "type": "string" } } });
    let mut paths = Map::new();
    for plural in ["leads", "contacts", "companies", "deals"] {
        paths.insert(format!("/api/v1/{plural}/{{id}}/files"), json!({
            "post": crate::openapi::operation(plural, "Attach a file (multipart/form-data, field `file`; at most 25 MiB; PDF, PNG, JPEG, GIF, WebP, Office Open XML, OpenDocument, ZIP, plain text or CSV, recognized from the bytes)", json!({
                "parameters": [id.clone()],
                "requestBody": { "required": true, "content": { "multipart/form-data": { "schema": { "type": "object",
                    "properties": { "file": { "type": "string", "format": "binary" } }, "required": ["file"] } } } },
                "responses": {
                    "201": { "description": "Stored (audited)", "content": { "application/json": { "schema": file.clone() } } },
                    "400": crate::openapi::problem("Not a well-formed multipart body"),
                    "404": crate::openapi::problem("No such record, or not visible to the caller"),
                    "413": crate::openapi::problem("The file is larger than 25 MiB (error on `file`); nothing was stored"),
                    "415": crate::openapi::problem("Not a multipart/form-data request"),
                    "422": crate::openapi::problem("No file, an empty file, or a kind of file that is not accepted (error on `file`)") } })),
            "get": crate::openapi::operation(plural, "The files attached to the record, newest first", json!({
                "parameters": [id.clone()],
                "responses": {
                    "200": { "description": "Files", "content": { "application/json": { "schema": { "type": "array", "items": file.clone() } } } },
                    "404": crate::openapi::problem("No such record, or not visible to the caller") } })),
        }));
    }
    paths.insert("/api/v1/files/{id}".into(), json!({
        "get": crate::openapi::operation("files", "Download a file: always an attachment, with its sniffed type, nosniff and a sandbox CSP (audited)", json!({
            "parameters": [id.clone()],
            "responses": {
                "200": { "description": "The bytes, with the content type sniffed when the file was stored", "content": download_types() },
                "404": crate::openapi::problem("No such file, or its record is not visible to the caller") } })),
        "delete": crate::openapi::operation("files", "Delete a file and its stored bytes (audited)", json!({
            "parameters": [id],
            "responses": { "204": { "description": "Deleted" }, "404": crate::openapi::problem("No such file, or its record is not visible to the caller") } })),
    }));
    paths
}
