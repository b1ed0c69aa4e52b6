//! The CRM's part of the OpenAPI document, generated from the same field descriptions the
//! handlers validate with, so the documented schema of a contact cannot drift from what the API
//! accepts. (The record handlers are generic over the object type, which utoipa's per-function
//! path macros cannot describe; this builds the paths directly.)

use serde_json::{Map, Value, json};

use crate::object::{FieldDef, Kind, ObjectType};

pub(crate) fn problem(description: &str) -> Value {
    json!({ "description": description, "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } })
}

fn ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn kind_schema(kind: Kind) -> Value {
    match kind {
        Kind::Text { max } => json!({ "type": "string", "maxLength": max }),
        Kind::Email => json!({ "type": "string", "format": "email", "description": "Normalized to lower case." }),
        Kind::Phone => {
            json!({ "type": "string", "description": "Any common writing; stored and returned in E.164 (+33612345678). Without a + prefix, French numbering is assumed." })
        }
        Kind::Domain => {
            json!({ "type": "string", "description": "A web domain; a URL is reduced to its domain (www. removed)." })
        }
        Kind::Url => json!({ "type": "string", "format": "uri" }),
        Kind::Country => json!({ "type": "string", "pattern": "^[A-Za-z]{2}$", "description": "ISO 3166-1 alpha-2" }),
        Kind::Language => json!({ "type": "string", "pattern": "^[A-Za-z]{2}$", "description": "ISO 639-1" }),
        Kind::TimeZone => json!({ "type": "string", "description": "IANA time zone, e.g. Europe/Paris" }),
        Kind::Choice(options) => json!({ "type": "string", "enum": options }),
        Kind::Money => {
            json!({ "type": ["string", "number"], "description": "Decimal amount, at most two places; `1 250,50` is accepted." })
        }
        Kind::Currency => json!({ "type": "string", "pattern": "^[A-Za-z]{3}$", "description": "ISO 4217" }),
        Kind::Percent => json!({ "type": "integer", "minimum": 0, "maximum": 100 }),
        Kind::Date => json!({ "type": "string", "format": "date" }),
        Kind::Timestamp => json!({ "type": "string", "format": "date-time" }),
        Kind::Ref(_) => json!({ "type": "string", "format": "uuid" }),
    }
}

/// A field's schema, for requests and answers alike. An optional field is empty as `""` (kinds
/// stored as text) or `null` (the others) in answers, and a request clears it with either, or
/// with blanks: the schema says so, rather than the kind's format alone (issue #10 item 24).
fn field_schema(def: &FieldDef) -> Value {
    let kind = kind_schema(def.kind);
    if def.kind == Kind::Timestamp {
        let mut schema = kind;
        if matches!(def.key, "consent_at" | "converted_at" | "closed_at") {
            schema["type"] = json!(["string", "null"]);
        }
        schema["readOnly"] = json!(true);
        return schema;
    }
    if def.required || def.kept {
        return kind;
    }
    let empty = if def.kind.empty_is_blank_text() { "\"\" when empty" } else { "null when empty" };
    json!({ "anyOf": [kind, { "type": "string", "pattern": "^\\s*$" }, { "type": "null" }],
            "description": format!("{empty}; a request clears it with null, \"\" or blanks") })
}

fn record_schema(object: ObjectType) -> Value {
    let mut properties = Map::new();
    properties.insert("id".into(), json!({ "type": "string", "format": "uuid", "readOnly": true }));
    properties.insert("object".into(), json!({ "const": object.as_str(), "readOnly": true }));
    properties.insert("display_name".into(), json!({ "type": "string", "readOnly": true }));
    for def in object.fields().iter().chain(object.system_fields()) {
        properties.insert(def.key.into(), field_schema(def));
    }
    // Columns answered but never written through the API.
    let uuid_or_null = json!({ "type": ["string", "null"], "format": "uuid", "readOnly": true });
    properties.insert("created_by".into(), uuid_or_null.clone());
    if object == ObjectType::Lead {
        properties.insert(
            "consent_text".into(),
            json!({ "type": "string", "readOnly": true,
            "description": "The consent the person ticked on a landing-page form (\"\" when none)" }),
        );
        for key in ["converted_contact_id", "converted_company_id", "converted_deal_id"] {
            properties.insert(key.into(), uuid_or_null.clone());
        }
    }
    properties.insert(
        "custom".into(),
        json!({ "type": "object", "description": "Custom field values by key (see /api/v1/custom-fields); validated on every write." }),
    );
    let required: Vec<&str> = object.fields().iter().filter(|f| f.required).map(|f| f.key).collect();
    json!({ "type": "object", "properties": properties, "required": required, "additionalProperties": false,
            "description": "Unknown and read-only keys are refused (422) rather than ignored." })
}

fn schema_name(object: ObjectType) -> String {
    let name = object.as_str();
    let mut chars = name.chars();
    chars.next().map(|c| c.to_uppercase().collect::<String>() + chars.as_str()).unwrap_or_default()
}

fn id_param() -> Value {
    json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } })
}

fn list_params() -> Value {
    json!([
        { "name": "q", "in": "query", "schema": { "type": "string" }, "description": "Accent-insensitive search within the list" },
        { "name": "sort", "in": "query", "schema": { "type": "string" }, "description": "A field key or custom.<key>; prefix with - for descending" },
        { "name": "filters", "in": "query", "schema": { "type": "string" }, "description": "JSON array of {field, op, value}; op is eq, neq, contains, starts_with, gt, gte, lt, lte, is_empty, is_not_empty or in" },
        { "name": "after", "in": "query", "schema": { "type": "string" }, "description": "next_cursor of the previous page (keyset pagination)" },
        { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": crate::list::MAX_PAGE, "default": crate::list::DEFAULT_PAGE },
          "description": "Page size; a larger value is refused (422 naming `limit`), not reduced" }
    ])
}

/// `T`'s schema, as derived from the Rust type the handler deserializes, registered with the
/// schemas it refers to; returns a reference to it.
fn schema_of<T: utoipa::ToSchema>(schemas: &mut Map<String, Value>) -> Value {
    let mut nested = Vec::new();
    T::schemas(&mut nested);
    for (name, schema) in nested {
        schemas.insert(name, serde_json::to_value(schema).unwrap_or_default());
    }
    let name = T::name().into_owned();
    schemas.insert(name.clone(), serde_json::to_value(T::schema()).unwrap_or_default());
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn json_body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

pub(crate) fn operation(tag: &str, summary: &str, extra: Value) -> Value {
    let mut op = json!({ "tags": [tag], "summary": summary, "security": [{ "bearer": [] }] });
    if let (Some(op), Value::Object(extra)) = (op.as_object_mut(), extra) {
        op.extend(extra);
    }
    op
}

/// The CRM paths and schemas, merged into the application's document by the web crate.
pub fn document() -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for object in ObjectType::ALL {
        let name = schema_name(object);
        let plural = object.plural();
        let record_ref = json!({ "$ref": format!("#/components/schemas/{name}") });
        let changes_ref = json!({ "$ref": format!("#/components/schemas/{name}Changes") });
        let record = record_schema(object);
        // A change names only the fields it changes: the same schema with nothing required.
        let mut changes = record.clone();
        changes["required"] = json!([]);
        changes["description"] = json!("The fields to change; unknown and read-only keys are refused (422).");
        schemas.insert(format!("{name}Changes"), changes);
        schemas.insert(name.clone(), record);
        paths.insert(
            format!("/api/v1/{plural}"),
            json!({
                "get": operation(plural, &format!("List {plural} (filters, sort, keyset pages)"), json!({
                    "parameters": list_params(),
                    "responses": { "200": ok("A page", json!({ "type": "object", "properties": {
                        "items": { "type": "array", "items": record_ref }, "next_cursor": { "type": ["string", "null"] } } })),
                        "401": problem("No valid bearer token"), "422": problem("A filter or sort names an unknown field") }
                })),
                "post": operation(plural, &format!("Create a {}", object.as_str()), json!({
                    "parameters": [{ "name": "Idempotency-Key", "in": "header", "schema": { "type": "string", "maxLength": 200 },
                                     "description": "A retry with the same key and body gets the first answer; nothing is created twice" }],
                    "requestBody": { "required": true, "content": { "application/json": { "schema": record_ref } } },
                    "responses": { "201": ok("Created, with possible duplicates", json!({ "type": "object", "properties": {
                        "id": { "type": "string", "format": "uuid" }, "record": record_ref,
                        "possible_duplicates": { "type": "array", "items": { "type": "object" } } } })),
                        "401": problem("No valid bearer token"), "403": problem("The role may not create records"),
                        "422": problem("Invalid fields, each named") }
                })),
            }),
        );
        paths.insert(
            format!("/api/v1/{plural}/{{id}}"),
            json!({
                "get": operation(plural, &format!("Read a {} (the read is audited)", object.as_str()), json!({
                    "parameters": [id_param()],
                    "responses": { "200": ok("The record", record_ref.clone()), "404": problem("No such record, or not visible to the caller") }
                })),
                "patch": operation(plural, &format!("Change some fields of a {}; each change is kept in its history", object.as_str()), json!({
                    "parameters": [id_param()],
                    "requestBody": { "required": true, "content": { "application/json": { "schema": changes_ref } } },
                    "responses": { "200": ok("The record as changed", record_ref.clone()), "404": problem("No such record"), "422": problem("Invalid fields") }
                })),
                "delete": operation(plural, &format!("Delete a {} with its notes, tasks, activities and history (users: only their own)", object.as_str()), json!({
                    "parameters": [id_param()],
                    "responses": { "204": { "description": "Deleted" }, "404": problem("No such record") }
                })),
            }),
        );
        paths.insert(
            format!("/api/v1/{plural}/bulk"),
            json!({ "post": operation(plural, "Update, assign or delete up to 1,000 records at once (all or nothing)", json!({
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "oneOf": [
                    { "type": "object", "properties": { "action": { "const": "update" }, "ids": { "type": "array", "items": { "type": "string", "format": "uuid" } }, "changes": changes_ref } },
                    { "type": "object", "properties": { "action": { "const": "assign" }, "ids": { "type": "array", "items": { "type": "string", "format": "uuid" } }, "owner_id": { "type": "string", "format": "uuid" } } },
                    { "type": "object", "properties": { "action": { "const": "delete" }, "ids": { "type": "array", "items": { "type": "string", "format": "uuid" } }, "confirm": { "type": "integer", "description": "Must equal the number of ids" } } }
                ] } } } },
                "responses": { "200": ok("Done", json!({ "type": "object", "properties": { "count": { "type": "integer" } } })), "403": problem("Owners and managers only"),
                    "404": problem("One of the ids names no record visible to the caller; nothing was changed"), "422": problem("Invalid request") }
            })) }),
        );
        paths.insert(
            format!("/api/v1/{plural}/{{id}}/duplicates"),
            json!({ "get": operation(plural, "Records sharing a normalized email, phone or domain", json!({
                "parameters": [id_param()],
                "responses": { "200": ok("Possible duplicates", json!({ "type": "array", "items": { "type": "object" } })), "404": problem("No such record") }
            })) }),
        );
    }
    paths.insert(
        "/api/v1/search".into(),
        json!({ "get": operation("search", "Search leads, contacts, companies and deals (accents folded, typos and prefixes tolerated)", json!({
            "parameters": [{ "name": "q", "in": "query", "required": true, "schema": { "type": "string", "minLength": 2, "maxLength": 100 } },
                           { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": crate::search::MAX_HITS, "default": 20 },
                             "description": "A larger value is refused (422 naming `limit`)" }],
            "responses": { "200": ok("Hits, best first", json!({ "type": "array", "items": { "type": "object", "properties": {
                "object": { "type": "string" }, "id": { "type": "string", "format": "uuid" }, "display_name": { "type": "string" }, "score": { "type": "number" } } } })),
                "422": problem("Query too short or too long") }
        })) }),
    );
    let pipeline = json!({ "type": "object", "properties": {
        "pipeline_id": { "type": "string", "format": "uuid" }, "name": { "type": "string" }, "position": { "type": "integer" },
        "stages": { "type": "array", "items": { "type": "object", "properties": {
            "stage_id": { "type": "string", "format": "uuid" }, "name": { "type": "string" }, "position": { "type": "integer" },
            "probability": { "type": "integer" }, "outcome": { "type": "string", "enum": ["open", "won", "lost"] } } } } } });
    schemas.insert("Pipeline".into(), pipeline);
    let pipeline_ref = json!({ "$ref": "#/components/schemas/Pipeline" });
    paths.insert(
        "/api/v1/pipelines".into(),
        json!({
            "get": operation("pipelines", "Pipelines and their stages (a default pipeline is created on first use)", json!({
                "responses": { "200": ok("Pipelines", json!({ "type": "array", "items": pipeline_ref })) } })),
            "post": operation("pipelines", "Create a pipeline with its ordered stages (owners, managers)", json!({
                "requestBody": json_body(schema_of::<crate::pipelines::PipelineInput>(&mut schemas)),
                "responses": { "201": ok("Created", pipeline_ref.clone()), "422": problem("Invalid fields") } })),
        }),
    );
    paths.insert(
        "/api/v1/pipelines/{id}".into(),
        json!({
            "patch": operation("pipelines", "Rename a pipeline and rename, reorder, add or remove stages (a stage holding deals is kept)", json!({
                "parameters": [id_param()],
                "requestBody": json_body(schema_of::<crate::pipelines::PipelineUpdate>(&mut schemas)),
                "responses": { "200": ok("The pipeline", pipeline_ref.clone()), "404": problem("No such pipeline"), "422": problem("Invalid fields") } })),
            "delete": operation("pipelines", "Delete a pipeline without deals", json!({
                "parameters": [id_param()],
                "responses": { "204": { "description": "Deleted" }, "409": problem("The pipeline still has deals") } })),
        }),
    );
    paths.insert(
        "/api/v1/pipelines/{id}/board".into(),
        json!({ "get": operation("pipelines", "The kanban board: per stage, the count, totals per currency and the latest deals", json!({
            "parameters": [id_param(), { "name": "per_stage", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 200, "default": 50 },
                             "description": "A larger value is refused (422 naming `per_stage`)" }],
            "responses": { "200": ok("The board", json!({ "type": "object" })), "404": problem("No such pipeline") } })) }),
    );
    paths.insert(
        "/api/v1/deals/{id}/move".into(),
        json!({ "post": operation("deals", "Move a deal to a stage (drag and drop on the board)", json!({
            "parameters": [id_param()],
            "requestBody": json_body(schema_of::<crate::pipelines::MoveInput>(&mut schemas)),
            "responses": { "200": ok("The deal", json!({ "$ref": "#/components/schemas/Deal" })), "404": problem("No such deal"), "422": problem("No such stage") } })) }),
    );
    paths.insert(
        "/api/v1/custom-fields".into(),
        json!({
            "get": operation("custom-fields", "Custom field definitions of every object type", json!({
                "responses": { "200": ok("Definitions", json!({ "type": "array", "items": { "type": "object" } })) } })),
            "post": operation("custom-fields", "Define a custom field (owners, managers)", json!({
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "properties": {
                    "object_type": { "type": "string", "enum": ["lead", "contact", "company", "deal"] }, "key": { "type": "string", "pattern": "^[a-z][a-z0-9_]{0,39}$" },
                    "label": { "type": "string" }, "kind": { "type": "string", "enum": crate::custom_fields::KINDS },
                    "options": { "type": "array", "items": { "type": "string" } }, "required": { "type": "boolean" } } } } } },
                "responses": { "201": ok("Created", json!({ "type": "object" })), "422": problem("Invalid fields") } })),
        }),
    );
    paths.insert(
        "/api/v1/custom-fields/{id}".into(),
        json!({ "delete": operation("custom-fields", "Delete a custom field and its values", json!({
            "parameters": [id_param()], "responses": { "204": { "description": "Deleted" }, "404": problem("No such field") } })) }),
    );
    let related = ok(
        "Linked records",
        json!({ "type": "array", "items": { "type": "object", "properties": {
        "object": { "type": "string" }, "id": { "type": "string", "format": "uuid" }, "display_name": { "type": "string" },
        "role": { "type": "string" }, "is_primary": { "type": "boolean" } } } }),
    );
    for plural in ["contacts", "companies", "deals"] {
        paths.insert(
            format!("/api/v1/{plural}/{{id}}/related"),
            json!({ "get": operation(plural, "Linked records (a contact's companies and deals, a company's contacts and deals, a deal's contacts)", json!({
                "parameters": [id_param()], "responses": { "200": related.clone(), "404": problem("No such record") } })) }),
        );
    }
    let link_body = json!({ "required": true, "content": { "application/json": { "schema": { "type": "object", "properties": {
        "role": { "type": "string", "maxLength": 100 }, "is_primary": { "type": "boolean" } } } } } });
    for (path, tag, other) in [
        ("/api/v1/contacts/{id}/companies/{company_id}", "contacts", "company_id"),
        ("/api/v1/deals/{id}/contacts/{contact_id}", "deals", "contact_id"),
    ] {
        let params = json!([id_param(), { "name": other, "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }]);
        paths.insert(
            path.into(),
            json!({
                "put": operation(tag, "Link the two records, with a role", json!({ "parameters": params.clone(), "requestBody": link_body.clone(),
                    "responses": { "204": { "description": "Linked" }, "404": problem("No such record"), "422": problem("The other record does not exist") } })),
                "delete": operation(tag, "Unlink the two records", json!({ "parameters": params,
                    "responses": { "204": { "description": "Unlinked" }, "404": problem("No such link") } })),
            }),
        );
    }
    let view = json!({ "type": "object", "properties": {
        "view_id": { "type": "string", "format": "uuid", "readOnly": true }, "object_type": { "type": "string", "enum": ["lead", "contact", "company", "deal"] },
        "name": { "type": "string", "maxLength": 100 }, "shared": { "type": "boolean" }, "owner_id": { "type": "string", "format": "uuid", "readOnly": true },
        "filters": { "type": "array", "items": { "type": "object" } }, "sort": { "type": "string" }, "q": { "type": "string" },
        "columns": { "type": "array", "items": { "type": "string" } } } });
    paths.insert(
        "/api/v1/views".into(),
        json!({
            "get": operation("views", "Saved views: one's own and the shared ones", json!({ "responses": { "200": ok("Views", json!({ "type": "array", "items": view.clone() })) } })),
            "post": operation("views", "Save a view (filters, sort, search, columns), personal or shared", json!({
                "requestBody": { "required": true, "content": { "application/json": { "schema": view.clone() } } },
                "responses": { "201": ok("Saved", view.clone()), "422": problem("A filter, sort or column names an unknown field") } })),
        }),
    );
    paths.insert(
        "/api/v1/views/{id}".into(),
        json!({
            "patch": operation("views", "Change a view (its owner, or owners and managers for shared views)", json!({ "parameters": [id_param()],
                "requestBody": { "required": true, "content": { "application/json": { "schema": view.clone() } } },
                "responses": { "200": ok("Saved", view), "403": problem("Not this member's view"), "404": problem("No such view") } })),
            "delete": operation("views", "Delete a view", json!({ "parameters": [id_param()],
                "responses": { "204": { "description": "Deleted" }, "403": problem("Not this member's view"), "404": problem("No such view") } })),
        }),
    );
    let body_of = |properties: Value| json!({ "required": true, "content": { "application/json": { "schema": { "type": "object", "properties": properties } } } });
    let created = |what: &str| ok(&format!("{what} added"), json!({ "type": "object" }));
    for object in ObjectType::ALL {
        let plural = object.plural();
        paths.insert(
            format!("/api/v1/{plural}/{{id}}/notes"),
            json!({ "post": operation(plural, "Add a note in Markdown (rendered sanitized: no script, no remote image)", json!({
                "parameters": [id_param()], "requestBody": json_body(schema_of::<crate::worklog::NoteInput>(&mut schemas)),
                "responses": { "201": created("Note"), "404": problem("No such record"), "422": problem("Invalid fields") } })) }),
        );
        paths.insert(
            format!("/api/v1/{plural}/{{id}}/tasks"),
            json!({ "post": operation(plural, "Add a task with assignee, due date and reminder (mailed to the assignee at remind_at)", json!({
                "parameters": [id_param()], "requestBody": json_body(schema_of::<crate::worklog::TaskInput>(&mut schemas)),
                "responses": { "201": created("Task"), "404": problem("No such record"), "422": problem("Invalid fields") } })) }),
        );
        paths.insert(
            format!("/api/v1/{plural}/{{id}}/activities"),
            json!({ "post": operation(plural, "Log a call, meeting or email with its outcome and time", json!({
                "parameters": [id_param()], "requestBody": json_body(schema_of::<crate::worklog::ActivityInput>(&mut schemas)),
                "responses": { "201": created("Activity"), "404": problem("No such record"), "422": problem("Invalid fields") } })) }),
        );
        paths.insert(
            format!("/api/v1/{plural}/{{id}}/timeline"),
            json!({ "get": operation(plural, "The record's timeline: field history, notes, tasks, activities and files, newest first", json!({
                "parameters": [id_param(), { "name": "before", "in": "query", "schema": { "type": "string" }, "description": "next_cursor of the previous page" },
                    { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 200, "default": 50 },
                      "description": "A larger value is refused (422 naming `limit`)" }],
                "responses": { "200": ok("Entries", json!({ "type": "object", "properties": { "entries": { "type": "array", "items": { "type": "object" } }, "next_cursor": { "type": ["string", "null"] } } })),
                    "404": problem("No such record") } })) }),
        );
        paths.insert(
            format!("/api/v1/{plural}/{{id}}/merge"),
            json!({ "post": operation(plural, "Merge a duplicate into this record, keeping every relation and the chosen values (audited)", json!({
                "parameters": [id_param()], "requestBody": body_of(json!({ "other_id": { "type": "string", "format": "uuid" },
                    "keep": { "type": "object", "additionalProperties": { "type": "string", "enum": ["this", "other"] } } })),
                "responses": { "200": ok("The merged record", json!({ "$ref": format!("#/components/schemas/{}", schema_name(object)) })),
                    "403": problem("Owners and managers only"), "404": problem("No such record"), "422": problem("Invalid request") } })) }),
        );
    }
    paths.insert(
        "/api/v1/leads/{id}/convert".into(),
        json!({ "post": operation("leads", "Convert a lead into a contact, its company and optionally a deal, in one step", json!({
            "parameters": [id_param()], "requestBody": body_of(json!({ "contact": { "type": "object" }, "company": { "type": "object" },
                "skip_company": { "type": "boolean" }, "deal": { "type": "object" } })),
            "responses": { "200": ok("What the lead became", json!({ "type": "object" })), "404": problem("No such lead"),
                "409": problem("Already converted"), "422": problem("Invalid fields, named with their part (contact., company., deal.)") } })) }),
    );
    paths.insert(
        "/api/v1/tasks".into(),
        json!({ "get": operation("tasks", "The caller's open tasks, soonest due first", json!({ "responses": { "200": ok("Tasks", json!({ "type": "array", "items": { "type": "object" } })) } })) }),
    );
    paths.insert(
        "/api/v1/tasks/{id}".into(),
        json!({
            "patch": operation("tasks", "Change a task's status, title, assignee, due date or reminder (a new reminder time is mailed again)", json!({ "parameters": [id_param()],
                "requestBody": json_body(schema_of::<crate::worklog::TaskChange>(&mut schemas)),
                "responses": { "204": { "description": "Changed" }, "404": problem("No such task"), "422": problem("Invalid fields") } })),
            "delete": operation("tasks", "Delete a task", json!({ "parameters": [id_param()], "responses": { "204": { "description": "Deleted" }, "404": problem("No such task") } })),
        }),
    );
    for (path, tag) in [("/api/v1/notes/{id}", "notes"), ("/api/v1/activities/{id}", "activities")] {
        paths.insert(
            path.into(),
            json!({ "delete": operation(tag, "Delete it", json!({ "parameters": [id_param()], "responses": { "204": { "description": "Deleted" }, "404": problem("Not found") } })) }),
        );
    }
    let mode = json!({ "type": "string", "enum": ["all", "own"] });
    let modes: Map<String, Value> = ObjectType::ALL.iter().map(|o| (o.as_str().to_owned(), mode.clone())).collect();
    let visibility = json!({ "type": "object", "required": ["modes"], "properties": {
        "modes": { "type": "object", "properties": modes, "additionalProperties": false } } });
    paths.insert(
        "/api/v1/crm/visibility".into(),
        json!({
            "get": operation("crm", "Record visibility per object type", json!({ "responses": { "200": ok("Modes", visibility.clone()) } })),
            "put": operation("crm", "Set record visibility per object type (owners, managers); enforced by row-level security", json!({
                "requestBody": { "required": true, "content": { "application/json": { "schema": visibility.clone() } } },
                "responses": { "200": ok("Modes", visibility), "422": problem("Invalid modes") } })),
        }),
    );
    paths.extend(crate::import::openapi::paths());
    paths.extend(forms_and_webhooks_paths());
    paths.extend(crate::files::openapi_paths());
    let mut doc = json!({ "openapi": "3.1.0", "info": { "title": "Relais CRM", "version": "1" }, "paths": paths, "components": { "schemas": schemas } });
    mark_optional_parameters(&mut doc);
    doc
}

fn forms_and_webhooks_paths() -> Map<String, Value> {
    let text = || json!({ "type": "string" });
    let form = json!({ "type": "object", "properties": {
        "form_id": { "type": "string", "format": "uuid", "readOnly": true },
        "public_id": { "type": "string", "readOnly": true },
        "public_url": { "type": "string", "readOnly": true, "description": "The hosted page: /f/{public_id}" },
        "embed_html": { "type": "string", "readOnly": true, "description": "A plain HTML form to paste into a site (no script)" },
        "name": { "type": "string", "maxLength": 100 }, "title": { "type": "string", "maxLength": 200 },
        "intro": { "type": "string", "maxLength": 2000 },
        "fields": { "type": "array", "items": { "type": "string", "enum": crate::forms::FIELDS } },
        "required_fields": { "type": "array", "items": { "type": "string", "enum": crate::forms::FIELDS } },
        "consent_text": { "type": "string", "maxLength": 2000, "description": "Shown next to a box the person must tick; stored on the lead with the time" },
        "thank_you": { "type": "string", "maxLength": 2000 }, "language": { "type": "string", "enum": ["en", "fr"] },
        "lead_source": { "type": "string", "maxLength": 100 }, "owner_id": { "type": ["string", "null"], "format": "uuid" },
        "active": { "type": "boolean" }, "submissions": { "type": "integer", "readOnly": true },
        "created_at": text(), "updated_at": text() } });
    let mut events: Vec<&str> = vec!["*"];
    events.extend(crate::webhooks::EVENTS);
    let endpoint = json!({ "type": "object", "properties": {
        "endpoint_id": { "type": "string", "format": "uuid", "readOnly": true },
        "url": { "type": "string", "format": "uri", "description": "https:// only; must resolve to a public address" },
        "description": { "type": "string", "maxLength": 200 },
        "events": { "type": "array", "items": { "type": "string", "enum": events } },
        "secret_hint": { "type": "string", "readOnly": true }, "active": { "type": "boolean" },
        "created_at": text(), "updated_at": text() } });
    let delivery = json!({ "type": "object", "properties": {
        "delivery_id": { "type": "string", "format": "uuid" }, "event_id": { "type": "string", "format": "uuid" },
        "event_type": text(), "status": { "type": "string", "enum": ["pending", "delivered", "failed", "skipped"] },
        "attempts": { "type": "integer" }, "next_attempt_at": { "type": ["string", "null"] },
        "delivered_at": { "type": ["string", "null"] }, "created_at": text(),
        "last_status_code": { "type": ["integer", "null"] },
        "last_error": { "type": ["string", "null"], "description": "The last attempt's failure in English; empty when it was delivered" },
        "last_error_code": { "type": ["string", "null"], "description": "The same failure's stable code (empty when delivered): timeout, connect_failed, request_failed, http_status (the status is last_status_code), redirect, not_a_url, https_required, credentials_in_url, no_host, no_port, private_address, dns_failed, resolves_private (refused before any connection), client_failed, secret_unreadable, gave_up; failed for an attempt logged before codes existed whose text was not recognised" } } });
    let body = |schema: &Value| json!({ "required": true, "content": { "application/json": { "schema": schema } } });
    let mut paths = Map::new();
    paths.insert("/api/v1/forms".into(), json!({
        "get": operation("forms", "Landing-page forms (owners, managers)", json!({ "responses": { "200": ok("Forms", json!({ "type": "array", "items": form })) } })),
        "post": operation("forms", "Create a landing-page form; submissions to its public URL create or update leads with UTM, referrer and consent", json!({
            "requestBody": body(&form), "responses": { "201": ok("The form, with its public URL and embeddable snippet", form.clone()), "422": problem("Invalid fields, each named") } })),
    }));
    paths.insert("/api/v1/forms/{id}".into(), json!({
        "get": operation("forms", "A form", json!({ "parameters": [id_param()], "responses": { "200": ok("The form", form.clone()), "404": problem("No such form") } })),
        "patch": operation("forms", "Change a form", json!({ "parameters": [id_param()], "requestBody": body(&form),
            "responses": { "200": ok("The form", form.clone()), "404": problem("No such form"), "422": problem("Invalid fields") } })),
        "delete": operation("forms", "Delete a form (its leads stay)", json!({ "parameters": [id_param()], "responses": { "204": { "description": "Deleted" }, "404": problem("No such form") } })),
    }));
    paths.insert("/api/v1/webhooks".into(), json!({
        "get": operation("webhooks", "Webhook endpoints", json!({ "responses": { "200": ok("Endpoints", json!({ "type": "array", "items": endpoint })) } })),
        "post": operation("webhooks", "Subscribe an endpoint to record events. Requests carry Relais-Signature: t=<unix>,v1=<hex HMAC-SHA256 of \"t.body\">", json!({
            "requestBody": body(&endpoint),
            "responses": { "201": ok("The endpoint with its signing secret (shown only here)", endpoint.clone()), "422": problem("Invalid fields, each named") } })),
    }));
    paths.insert("/api/v1/webhooks/{id}".into(), json!({
        "get": operation("webhooks", "An endpoint", json!({ "parameters": [id_param()], "responses": { "200": ok("The endpoint", endpoint.clone()), "404": problem("No such endpoint") } })),
        "patch": operation("webhooks", "Change an endpoint (url, events, description, active)", json!({ "parameters": [id_param()], "requestBody": body(&endpoint),
            "responses": { "200": ok("The endpoint", endpoint.clone()), "404": problem("No such endpoint"), "422": problem("Invalid fields") } })),
        "delete": operation("webhooks", "Delete an endpoint and its delivery log", json!({ "parameters": [id_param()], "responses": { "204": { "description": "Deleted" }, "404": problem("No such endpoint") } })),
    }));
    paths.insert("/api/v1/webhooks/{id}/deliveries".into(), json!({
        "get": operation("webhooks", "The endpoint's delivery log, newest first", json!({
            "parameters": [id_param(), { "name": "before", "in": "query", "schema": { "type": "string", "format": "uuid" } },
                           { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 200 } }],
            "responses": { "200": ok("Deliveries", json!({ "type": "array", "items": delivery })), "404": problem("No such endpoint") } })),
    }));
    paths.insert("/api/v1/webhooks/{id}/ping".into(), json!({
        "post": operation("webhooks", "Queue a signed test event (type ping) to the endpoint", json!({ "parameters": [id_param()],
            "responses": { "202": ok("Queued", json!({ "type": "object", "properties": { "delivery_id": { "type": "string", "format": "uuid" } } })), "404": problem("No such endpoint") } })),
    }));
    paths
}

/// OpenAPI parameters say whether they are required; the optional ones above leave it implied.
fn mark_optional_parameters(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(parameters)) = map.get_mut("parameters") {
                for parameter in parameters.iter_mut().filter_map(Value::as_object_mut) {
                    parameter.entry("required").or_insert(Value::Bool(false));
                }
            }
            map.values_mut().for_each(mark_optional_parameters);
        }
        Value::Array(items) => items.iter_mut().for_each(mark_optional_parameters),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_parameter_says_whether_it_is_required() {
        fn check(value: &serde_json::Value, seen: &mut usize) {
            match value {
                serde_json::Value::Object(map) => {
                    if let Some(serde_json::Value::Array(parameters)) = map.get("parameters") {
                        for p in parameters {
                            assert!(p["required"].is_boolean(), "{p}");
                            *seen += 1;
                        }
                    }
                    map.values().for_each(|v| check(v, seen));
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| check(v, seen)),
                _ => {}
            }
        }
        let doc = super::document();
        assert!(doc["paths"]["/api/v1/contacts/{id}"]["patch"].is_object());
        let mut seen = 0;
        check(&doc, &mut seen);
        assert!(seen > 20);
    }
}
