//! Checking answers against the application's OpenAPI document (`web::openapi()`), as an API
//! client generated from it would: the JSON Schema keywords the document uses (`$ref`, `type`,
//! `enum`, `const`, `anyOf`, `oneOf`, `pattern`, `format`, `minimum`, `maximum`, `maxLength`,
//! `properties`, `required`, `additionalProperties`, `items`). Schemathesis does the same over
//! HTTP in `scripts/api-fuzz.sh`; this lets a test pin one answer.

use serde_json::Value;

/// The schema of the `status` answer of `method path` (e.g. `get`, `/api/v1/contacts/{id}`) for
/// `media_type`.
pub fn response_schema<'a>(doc: &'a Value, method: &str, path: &str, status: &str, media_type: &str) -> &'a Value {
    let response = &doc["paths"][path][method]["responses"][status];
    let schema = &response["content"][media_type]["schema"];
    assert!(schema.is_object(), "{method} {path} documents no {status} {media_type} answer: {response}");
    schema
}

/// Why `value` does not match `schema` (resolved in `doc`), one line per violation: empty when it
/// matches.
pub fn violations(doc: &Value, schema: &Value, value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    check(doc, schema, value, "$", &mut found);
    found
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let target = doc.pointer(reference.trim_start_matches('#')).unwrap_or(&Value::Null);
            resolve(doc, target)
        }
        None => schema,
    }
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.as_i64().is_some() || value.as_u64().is_some(),
        _ => false,
    }
}

fn format_matches(format: &str, text: &str) -> bool {
    use time::format_description::well_known::Rfc3339;
    match format {
        "uuid" => uuid::Uuid::parse_str(text).is_ok(),
        "date-time" => time::OffsetDateTime::parse(text, &Rfc3339).is_ok(),
        "date" => time::Date::parse(text, time::macros::format_description!("[year]-[month]-[day]")).is_ok(),
        "email" => text.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.')),
        "uri" => url::Url::parse(text).is_ok(),
        _ => true,
    }
}

fn check(doc: &Value, schema: &Value, value: &Value, at: &str, found: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if let Some(alternatives) = schema.get("anyOf").or_else(|| schema.get("oneOf")).and_then(Value::as_array) {
        let matching = alternatives.iter().filter(|s| violations(doc, s, value).is_empty()).count();
        let one_of = schema.get("oneOf").is_some();
        if matching == 0 || (one_of && matching > 1) {
            found.push(format!("{at}: {value} matches {matching} of the alternatives {alternatives:?}"));
        }
    }
    match schema.get("type") {
        Some(Value::String(name)) if !type_matches(name, value) => {
            found.push(format!("{at}: {value} is not of type {name}"));
            return;
        }
        Some(Value::Array(names)) if !names.iter().filter_map(Value::as_str).any(|n| type_matches(n, value)) => {
            found.push(format!("{at}: {value} is none of the types {names:?}"));
            return;
        }
        _ => {}
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        found.push(format!("{at}: {value} is not one of {options:?}"));
    }
    if let Some(constant) = schema.get("const")
        && constant != value
    {
        found.push(format!("{at}: {value} is not {constant}"));
    }
    if let Some(text) = value.as_str() {
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
            let regex = regex::Regex::new(pattern).unwrap_or_else(|e| panic!("{at}: bad pattern {pattern}: {e}"));
            if !regex.is_match(text) {
                found.push(format!("{at}: {value} does not match {pattern}"));
            }
        }
        if let Some(format) = schema.get("format").and_then(Value::as_str)
            && !format_matches(format, text)
        {
            found.push(format!("{at}: {value} is not a {format}"));
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && text.chars().count() as u64 > max
        {
            found.push(format!("{at}: longer than {max}"));
        }
    }
    if let Some(number) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && number < min
        {
            found.push(format!("{at}: {number} < {min}"));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && number > max
        {
            found.push(format!("{at}: {number} > {max}"));
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for key in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if !object.contains_key(key) {
                found.push(format!("{at}: `{key}` is missing"));
            }
        }
        for (key, item) in object {
            let here = format!("{at}.{key}");
            match (properties.and_then(|p| p.get(key)), schema.get("additionalProperties")) {
                (Some(property), _) => check(doc, property, item, &here, found),
                (None, Some(Value::Bool(false))) => found.push(format!("{here}: not a documented property")),
                (None, Some(additional)) if additional.is_object() => check(doc, additional, item, &here, found),
                (None, _) => {}
            }
        }
    }
    if let (Some(items), Some(schema_items)) = (value.as_array(), schema.get("items")) {
        for (index, item) in items.iter().enumerate() {
            check(doc, schema_items, item, &format!("{at}[{index}]"), found);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn the_checker_finds_what_a_schema_refuses() {
        let doc = json!({ "components": { "schemas": { "A": { "type": "object", "required": ["id"], "additionalProperties": false,
            "properties": { "id": { "type": "string", "format": "uuid" }, "country": { "type": "string", "pattern": "^[A-Z]{2}$" },
                            "n": { "type": ["integer", "null"], "maximum": 3 } } } } } });
        let schema = json!({ "$ref": "#/components/schemas/A" });
        let ok = json!({ "id": "0193c5a0-0000-7000-8000-000000000000", "country": "FR", "n": null });
        assert!(super::violations(&doc, &schema, &ok).is_empty());
        let bad = json!({ "id": "x", "country": "", "n": 4, "extra": 1 });
        assert_eq!(super::violations(&doc, &schema, &bad).len(), 4, "{:?}", super::violations(&doc, &schema, &bad));
        assert_eq!(super::violations(&doc, &schema, &json!({})).len(), 1);
    }
}
