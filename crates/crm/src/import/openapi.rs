//! OpenAPI descriptions of the import and export endpoints, merged into the CRM's document.

use serde_json::{Map, Value, json};

fn id() -> Value {
    json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } })
}

/// The import and export paths.
pub fn paths() -> Map<String, Value> {
    let import = json!({ "type": "object", "description": "An import: status (uploaded, dry_running, dry_run_done, running, done, failed, reverting, reverted, discarded); when failed, failed_step (dry_run, run or revert) says where, last_error why in English and last_error_code as a stable code (file_missing, job_stopped or step_failed); encoding (the one the file is read with: utf-8, utf-8-bom, windows-1252, iso-8859-15 or macintosh), detected_encoding, invalid_utf8 (invalid UTF-8 sequences found on upload, each read as U+FFFD when the file is read as UTF-8), delimiter, headers, mapping (column index → field key or custom.<key>), mode (create_only, fill_empty or overwrite), dry_run findings (counts, a sample of rejects and warnings — each with row, kind, reason in English, code and problems: [{field, code, message, text}] where code is a field check's code such as invalid_email or required, or duplicate_key, refused_by_database, unterminated_quote, text_after_quote, row_too_long, phone_kept_as_note —, and a sample of updates with each changed field's old and new value), counters (warning_count: rows kept with a phone number that could not be read, kept as a note), checkpoint and progress (0–100)." });
    let ok = |d: &str| json!({ "description": d, "content": { "application/json": { "schema": import.clone() } } });
    let not_found = crate::openapi::problem("No such import in this organization");
    let conflict = crate::openapi::problem("The import has already started (or is not finished, for a revert)");
    let mut paths = Map::new();
    paths.insert("/api/v1/imports".into(), json!({
        "post": crate::openapi::operation("imports", "Upload a CSV file (the request body) to import leads, contacts or companies", json!({
            "parameters": [
                { "name": "object", "in": "query", "required": true, "schema": { "type": "string", "enum": ["leads", "contacts", "companies"] } },
                { "name": "filename", "in": "query", "required": false, "schema": { "type": "string" } }],
            "requestBody": { "required": true, "content": { "text/csv": { "schema": { "type": "string", "format": "binary" } } },
                             "description": "Any ASCII-compatible encoding, detected on upload (UTF-8 with or without BOM, else Windows-1252) and changeable before the run; `,`, `;` or tab; no size cap below 4 GB; streamed to disk, cut when no byte arrives for the upload idle timeout (60 s by default)." },
            "responses": { "201": ok("Stored, with the detected encoding and the auto-matched mapping"), "400": crate::openapi::problem("The upload stalled or was interrupted; nothing is kept"), "422": crate::openapi::problem("Unknown object, an empty file, or a binary or UTF-16 file (`file`, code `not_text`)") } })),
        "get": crate::openapi::operation("imports", "The organization's last 100 imports", json!({ "responses": { "200": { "description": "Imports", "content": { "application/json": { "schema": { "type": "array", "items": import.clone() } } } } } })),
    }));
    paths.insert("/api/v1/imports/{id}".into(), json!({
        "get": crate::openapi::operation("imports", "An import and its progress", json!({ "parameters": [id()], "responses": { "200": ok("The import"), "404": not_found } })),
    }));
    paths.insert("/api/v1/imports/{id}/preview".into(), json!({
        "get": crate::openapi::operation("imports", "The first five rows parsed with the current mapping, with their errors (error in English, problems with their codes)", json!({ "parameters": [id()],
            "responses": { "200": { "description": "Headers, mapping and rows" }, "404": not_found } })),
    }));
    paths.insert("/api/v1/imports/{id}/mapping".into(), json!({
        "put": crate::openapi::operation("imports", "Set the column mapping", json!({ "parameters": [id()],
            "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "properties": {
                "mapping": { "type": "object", "additionalProperties": { "type": "string" } },
                "mode": { "type": "string", "enum": ["create_only", "fill_empty", "overwrite"], "description": "What to do with a record that already has the row's key (email or domain): leave it, fill its empty fields (the default), or overwrite the mapped fields. Left out: unchanged." } }, "required": ["mapping"] } } } },
            "responses": { "200": ok("Saved"), "404": not_found, "409": conflict, "422": crate::openapi::problem("Unknown column or field, or a field mapped twice") } })),
    }));
    paths.insert("/api/v1/imports/{id}/encoding".into(), json!({
        "put": crate::openapi::operation("imports", "Read the file with another encoding: the header row is read again, the columns matched again and any dry run discarded", json!({ "parameters": [id()],
            "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "properties": {
                "encoding": { "type": "string", "enum": ["utf-8", "windows-1252", "iso-8859-15", "macintosh"] } }, "required": ["encoding"] } } } },
            "responses": { "200": ok("Saved"), "404": not_found, "409": conflict, "422": crate::openapi::problem("Unknown encoding (`encoding`)") } })),
    }));
    paths.insert("/api/v1/imports/{id}/dry-run".into(), json!({
        "post": crate::openapi::operation("imports", "Start a dry run (a background job): rows to create, to update, duplicates and per-row errors; writes no record", json!({ "parameters": [id()],
            "responses": { "202": ok("Started"), "404": not_found, "409": conflict } })),
    }));
    paths.insert("/api/v1/imports/{id}/run".into(), json!({
        "post": crate::openapi::operation("imports", "Start the import (background jobs, one committed batch each, resumable)", json!({ "parameters": [id(),
                { "name": "batch_rows", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1, "maximum": 50000, "default": 5000 } }],
            "responses": { "202": ok("Started"), "404": not_found, "409": conflict, "422": crate::openapi::problem("No column is mapped") } })),
    }));
    paths.insert("/api/v1/imports/{id}/revert".into(), json!({
        "post": crate::openapi::operation("imports", "Revert in the background: restore the fields the import updated, then delete the records it created in batches (audited); the import is `reverting` (with revert_restored_fields, revert_deleted and progress) until `reverted`", json!({ "parameters": [id()],
            "responses": { "202": { "description": "Started: the import, status reverting" }, "404": not_found, "409": conflict } })),
    }));
    paths.insert("/api/v1/imports/{id}/retry".into(), json!({
        "post": crate::openapi::operation("imports", "Retry a failed import's failed step (failed_step) from its last committed checkpoint: a dry run starts over, a run resumes at the first batch not done, a revert where it stopped (audited)", json!({ "parameters": [id()],
            "responses": { "202": ok("Started again"), "404": not_found, "409": crate::openapi::problem("The import is not failed") } })),
    }));
    paths.insert("/api/v1/imports/{id}/discard".into(), json!({
        "post": crate::openapi::operation("imports", "Discard a failed import: it becomes `discarded` and nothing more runs; records it already wrote stay and can still be reverted (audited)", json!({ "parameters": [id()],
            "responses": { "200": ok("Discarded"), "404": not_found, "409": crate::openapi::problem("The import is not failed") } })),
    }));
    paths.insert("/api/v1/imports/{id}/rejects.csv".into(), json!({
        "get": crate::openapi::operation("imports", "The rejected rows: the file's columns, then `row`, `error` (field and reason, in English) and `code` (`field:code` for each problem, or the row's code such as `duplicate_key`, separated by `; `)", json!({ "parameters": [id()],
            "responses": { "200": { "description": "CSV", "content": { "text/csv": { "schema": { "type": "string" } } } }, "404": not_found } })),
    }));
    for plural in ["leads", "contacts", "companies", "deals"] {
        paths.insert(format!("/api/v1/{plural}/export"), json!({
            "get": crate::openapi::operation(plural, &format!("Export the {plural} list to CSV, JSON or a CSV file for Excel: streamed, no row cap, audited"), json!({
                "parameters": [
                    { "name": "format", "in": "query", "required": false, "schema": { "type": "string", "enum": ["csv", "json", "excel"], "default": "csv" }, "description": "`excel`: a CSV file for people — UTF-8 byte-order mark, `;` in French, column labels, names instead of ids, choice labels, local amounts and dates" },
                    { "name": "lang", "in": "query", "required": false, "schema": { "type": "string", "enum": ["en", "fr"], "default": "en" }, "description": "The language of an `excel` export" },
                    { "name": "q", "in": "query", "required": false, "schema": { "type": "string" } },
                    { "name": "sort", "in": "query", "required": false, "schema": { "type": "string" }, "description": "A field key; `-key` for descending" },
                    { "name": "filters", "in": "query", "required": false, "schema": { "type": "string" }, "description": "A JSON array of {field, op, value}, as for the list" }],
                "responses": {
                    "200": { "description": "Every matching record. CSV: a header of field keys and custom.<key>; cells that a spreadsheet would run as formulas start with '",
                             "content": { "text/csv": { "schema": { "type": "string" } }, "application/json": { "schema": { "type": "array", "items": { "type": "object" } } } } },
                    "403": crate::openapi::problem("The role may not export"), "422": crate::openapi::problem("A filter or sort names an unknown field") } })),
        }));
    }
    paths
}
