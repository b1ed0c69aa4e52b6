//! Upper limits on the CRM's configuration (issue #10 item 18): generous for any real use, small
//! enough that a script cannot make the settings page, the board or every record write (which
//! reads the custom fields) slow for the whole organization. docs/crm.md lists them.
//!
//! Each limit has its error code, whose message (`field_error.<code>` in the CRM's message files)
//! states the number in English and French; the API's message states it too.

use kernel::FieldError;

/// Stages in one pipeline.
pub const STAGES_PER_PIPELINE: usize = 50;
/// Pipelines in an organization.
pub const PIPELINES_PER_ORG: i64 = 20;
/// Options of one select or multi-select custom field.
pub const OPTIONS_PER_FIELD: usize = 200;
/// Custom fields per object type (lead, contact, company, deal).
pub const CUSTOM_FIELDS_PER_OBJECT: i64 = 100;
/// Saved views a member owns, all object types together.
pub const VIEWS_PER_MEMBER: i64 = 100;
/// Landing-page forms in an organization.
pub const FORMS_PER_ORG: i64 = 50;
/// Webhook endpoints in an organization.
pub const WEBHOOKS_PER_ORG: i64 = 10;

/// Every limit: its error code, its value, and the English message (also the API's).
pub const LIMITS: &[(&str, i64, &str)] = &[
    ("too_many_stages", STAGES_PER_PIPELINE as i64, "stages per pipeline"),
    ("too_many_pipelines", PIPELINES_PER_ORG, "pipelines per organization"),
    ("too_many_options", OPTIONS_PER_FIELD as i64, "options per field"),
    ("too_many_custom_fields", CUSTOM_FIELDS_PER_OBJECT, "custom fields per object type"),
    ("too_many_views", VIEWS_PER_MEMBER, "saved views per member"),
    ("too_many_forms", FORMS_PER_ORG, "forms per organization"),
    ("too_many_webhooks", WEBHOOKS_PER_ORG, "webhook endpoints per organization"),
];

/// The refusal of one more than `code`'s limit, naming `field`.
pub fn too_many(field: impl Into<String>, code: &'static str) -> FieldError {
    let (limit, what) =
        LIMITS.iter().find(|(c, _, _)| *c == code).map(|(_, limit, what)| (*limit, *what)).unwrap_or((0, "items"));
    FieldError::new(field, code, format!("At most {limit} {what}."))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pages show `field_error.<code>` from the message files: each states its limit's number.
    #[test]
    fn every_limit_message_states_its_number_in_english_and_french() {
        for text in [include_str!("../locales/en.json"), include_str!("../locales/fr.json")] {
            let messages: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).unwrap();
            for (code, limit, _) in LIMITS {
                let message = messages[&format!("field_error.{code}")].as_str().unwrap();
                assert!(message.contains(&limit.to_string()), "{code}: {message}");
            }
        }
        assert_eq!(too_many("stages", "too_many_stages").message, "At most 50 stages per pipeline.");
    }
}
