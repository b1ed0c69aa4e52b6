//! The CRM's object types and their fields, described once. Validation, the JSON API, lists,
//! filters, sorting, history, import and export all read these descriptions, so a field behaves
//! the same on every path (issue #4: "validated on every write — API, UI and import alike").

use serde::{Deserialize, Serialize};

/// A kind of CRM record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObjectType {
    Lead,
    Contact,
    Company,
    Deal,
}

impl ObjectType {
    pub const ALL: [ObjectType; 4] = [Self::Lead, Self::Contact, Self::Company, Self::Deal];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Lead => "lead",
            Self::Contact => "contact",
            Self::Company => "company",
            Self::Deal => "deal",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text || t.plural() == text)
    }

    /// The table, and the path segment of its API and pages.
    pub fn plural(&self) -> &'static str {
        match self {
            Self::Lead => "leads",
            Self::Contact => "contacts",
            Self::Company => "companies",
            Self::Deal => "deals",
        }
    }

    pub fn table(&self) -> &'static str {
        self.plural()
    }

    pub fn id_column(&self) -> &'static str {
        match self {
            Self::Lead => "lead_id",
            Self::Contact => "contact_id",
            Self::Company => "company_id",
            Self::Deal => "deal_id",
        }
    }

    /// The fields a person or an API client may write.
    pub fn fields(&self) -> &'static [FieldDef] {
        match self {
            Self::Lead => LEAD_FIELDS,
            Self::Contact => CONTACT_FIELDS,
            Self::Company => COMPANY_FIELDS,
            Self::Deal => DEAL_FIELDS,
        }
    }

    pub fn field(&self, key: &str) -> Option<&'static FieldDef> {
        self.fields().iter().find(|f| f.key == key)
    }

    /// Columns maintained by the system: readable, sortable and filterable, never written.
    pub fn system_fields(&self) -> &'static [FieldDef] {
        match self {
            Self::Lead => LEAD_SYSTEM,
            Self::Deal => DEAL_SYSTEM,
            Self::Contact | Self::Company => COMMON_SYSTEM,
        }
    }

    /// Any readable column, writable or not.
    pub fn readable(&self, key: &str) -> Option<&'static FieldDef> {
        self.field(key).or_else(|| self.system_fields().iter().find(|f| f.key == key))
    }

    /// The sort of a list when none is asked for.
    pub fn default_sort(&self) -> &'static str {
        match self {
            Self::Contact | Self::Lead => "last_name",
            Self::Company | Self::Deal => "name",
        }
    }

    /// The columns a list shows when no view chooses them.
    pub fn default_columns(&self) -> &'static [&'static str] {
        match self {
            Self::Lead => &["first_name", "last_name", "email", "company_name", "status", "source", "owner_id"],
            Self::Contact => &["first_name", "last_name", "email", "phone", "title", "owner_id"],
            Self::Company => &["name", "domain", "city", "country", "industry", "owner_id"],
            Self::Deal => &["name", "stage_id", "amount", "currency", "expected_close_date", "owner_id"],
        }
    }

    /// How a record of this type is named in lists, links and the timeline.
    pub fn title_sql(&self) -> &'static str {
        match self {
            Self::Contact => "coalesce(nullif(trim(first_name || ' ' || last_name), ''), nullif(email, ''), '—')",
            Self::Lead => {
                "coalesce(nullif(trim(first_name || ' ' || last_name), ''), nullif(email, ''), nullif(company_name, ''), '—')"
            }
            Self::Company | Self::Deal => "name",
        }
    }
}

/// What a field holds, and so how it is parsed, stored, compared and sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One line of text, at most `max` characters; stored as '' when empty.
    Text { max: usize },
    /// Normalized email address (trimmed, lower-cased).
    Email,
    /// A phone number, stored in E.164.
    Phone,
    /// A web domain (`acme.fr`), from a domain or a URL.
    Domain,
    /// An absolute http(s) URL.
    Url,
    /// ISO 3166-1 alpha-2 country code.
    Country,
    /// ISO 639-1 language code.
    Language,
    /// IANA time zone name.
    TimeZone,
    /// One of a fixed list of values.
    Choice(&'static [&'static str]),
    /// A decimal amount, two places at most.
    Money,
    /// ISO 4217 currency code.
    Currency,
    /// An integer from 0 to 100.
    Percent,
    /// A calendar date (YYYY-MM-DD); NULL when empty.
    Date,
    /// A moment, maintained by the system.
    Timestamp,
    /// A reference to another row (a member, a department, a company, a pipeline or a stage).
    Ref(RefKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    Member,
    Department,
    Company,
    Pipeline,
    Stage,
    Contact,
    Deal,
}

impl Kind {
    /// The PostgreSQL type a bound text parameter is cast to.
    pub fn sql_type(&self) -> &'static str {
        match self {
            Self::Money => "numeric",
            Self::Percent => "smallint",
            Self::Date => "date",
            Self::Timestamp => "timestamptz",
            Self::Ref(_) => "uuid",
            _ => "text",
        }
    }

    /// Stored NOT NULL with '' for "empty" (text-like kinds), or NULL when empty.
    pub fn empty_is_blank_text(&self) -> bool {
        self.sql_type() == "text"
    }

    /// Whether `contains`/`starts_with` filters make sense.
    pub fn is_textual(&self) -> bool {
        matches!(self, Self::Text { .. } | Self::Email | Self::Phone | Self::Domain | Self::Url | Self::TimeZone)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDef {
    pub key: &'static str,
    pub kind: Kind,
    /// Must hold a value on create and cannot be cleared.
    pub required: bool,
    /// May be left out on create (the column's default applies) but never emptied: the lead's
    /// status, the deal's currency. Emptying it is refused (422), not a failed statement.
    pub kept: bool,
}

const fn f(key: &'static str, kind: Kind) -> FieldDef {
    FieldDef { key, kind, required: false, kept: false }
}

const fn req(key: &'static str, kind: Kind) -> FieldDef {
    FieldDef { key, kind, required: true, kept: false }
}

/// A field with a default that cannot be emptied ([`FieldDef::kept`]).
const fn kept(key: &'static str, kind: Kind) -> FieldDef {
    FieldDef { key, kind, required: false, kept: true }
}

const NAME: Kind = Kind::Text { max: 100 };
const OWNER: FieldDef = f("owner_id", Kind::Ref(RefKind::Member));
const DEPARTMENT: FieldDef = f("department_id", Kind::Ref(RefKind::Department));

pub const LEAD_STATUSES: &[&str] = &["new", "contacted", "qualified", "unqualified", "converted"];
pub const COMPANY_SIZES: &[&str] = &["1-10", "11-50", "51-200", "201-1000", "1001-5000", "5001+"];

const CONTACT_FIELDS: &[FieldDef] = &[
    f("first_name", NAME),
    f("last_name", NAME),
    f("email", Kind::Email),
    f("phone", Kind::Phone),
    f("mobile", Kind::Phone),
    f("title", NAME),
    f("language", Kind::Language),
    f("time_zone", Kind::TimeZone),
    OWNER,
    DEPARTMENT,
];

const COMPANY_FIELDS: &[FieldDef] = &[
    req("name", Kind::Text { max: 200 }),
    f("domain", Kind::Domain),
    f("phone", Kind::Phone),
    f("address", Kind::Text { max: 300 }),
    f("postal_code", Kind::Text { max: 20 }),
    f("city", NAME),
    f("country", Kind::Country),
    f("size", Kind::Choice(COMPANY_SIZES)),
    f("industry", NAME),
    OWNER,
    DEPARTMENT,
];

const LEAD_FIELDS: &[FieldDef] = &[
    f("first_name", NAME),
    f("last_name", NAME),
    f("email", Kind::Email),
    f("phone", Kind::Phone),
    f("company_name", Kind::Text { max: 200 }),
    f("title", NAME),
    kept("status", Kind::Choice(LEAD_STATUSES)),
    f("source", NAME),
    f("utm_source", Kind::Text { max: 200 }),
    f("utm_medium", Kind::Text { max: 200 }),
    f("utm_campaign", Kind::Text { max: 200 }),
    f("utm_term", Kind::Text { max: 200 }),
    f("utm_content", Kind::Text { max: 200 }),
    f("referrer", Kind::Text { max: 2000 }),
    f("landing_url", Kind::Text { max: 2000 }),
    OWNER,
    DEPARTMENT,
];

const DEAL_FIELDS: &[FieldDef] = &[
    req("name", Kind::Text { max: 200 }),
    f("pipeline_id", Kind::Ref(RefKind::Pipeline)),
    f("stage_id", Kind::Ref(RefKind::Stage)),
    f("amount", Kind::Money),
    kept("currency", Kind::Currency),
    f("expected_close_date", Kind::Date),
    f("probability", Kind::Percent),
    f("company_id", Kind::Ref(RefKind::Company)),
    OWNER,
    DEPARTMENT,
];

const COMMON_SYSTEM: &[FieldDef] = &[f("created_at", Kind::Timestamp), f("updated_at", Kind::Timestamp)];

const LEAD_SYSTEM: &[FieldDef] = &[
    f("created_at", Kind::Timestamp),
    f("updated_at", Kind::Timestamp),
    f("consent_at", Kind::Timestamp),
    f("converted_at", Kind::Timestamp),
];

const DEAL_SYSTEM: &[FieldDef] = &[
    f("created_at", Kind::Timestamp),
    f("updated_at", Kind::Timestamp),
    f("stage_changed_at", Kind::Timestamp),
    f("closed_at", Kind::Timestamp),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_types_round_trip_and_fields_are_unique() {
        for t in ObjectType::ALL {
            assert_eq!(ObjectType::parse(t.as_str()), Some(t));
            assert_eq!(ObjectType::parse(t.plural()), Some(t));
            let mut keys: Vec<_> = t.fields().iter().chain(t.system_fields()).map(|f| f.key).collect();
            let count = keys.len();
            keys.sort();
            keys.dedup();
            assert_eq!(keys.len(), count, "{t:?} repeats a field");
            assert!(t.readable(t.default_sort()).is_some());
            for column in t.default_columns() {
                assert!(t.readable(column).is_some(), "{t:?}.{column}");
            }
        }
    }

    /// Issue #11: no raw key on a page. Every field a record page, a list, a filter or the history
    /// can name has a label in both languages — the form fields a lead's history records
    /// (`consent`, `consent_text`) included.
    #[test]
    fn every_field_has_a_label_in_english_and_french() {
        for (lang, text) in [("en", include_str!("../locales/en.json")), ("fr", include_str!("../locales/fr.json"))] {
            let labels: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).unwrap();
            let mut missing = Vec::new();
            let history_only = ["consent", "consent_text"];
            for key in ObjectType::ALL
                .iter()
                .flat_map(|t| t.fields().iter().chain(t.system_fields()).map(|f| f.key))
                .chain(history_only)
            {
                if !labels.contains_key(&format!("crm.field.{key}")) {
                    missing.push(key);
                }
            }
            missing.sort_unstable();
            missing.dedup();
            assert!(missing.is_empty(), "{lang}: no label for {missing:?}");
        }
    }
}
