//! Parsing one field's value, whatever path it came through (JSON API, form, CSV import, landing
//! page): the canonical JSON kept in history and answers, and the text bound to SQL.
//!
//! Inputs are JSON values; forms and CSV cells arrive as strings, so every kind also accepts its
//! string spelling ("12.50", "true", "2026-11-30").

use serde_json::Value;

use crate::object::{FieldDef, Kind};

/// A parsed value: `None` is "empty".
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub json: Value,
    /// What is bound to the column (cast to the kind's SQL type); `None` binds NULL.
    pub sql: Option<String>,
}

impl Cell {
    fn text(text: String) -> Self {
        Self { json: Value::String(text.clone()), sql: Some(text) }
    }

    pub fn empty(kind: Kind) -> Self {
        if kind.empty_is_blank_text() {
            Self { json: Value::String(String::new()), sql: Some(String::new()) }
        } else {
            Self { json: Value::Null, sql: None }
        }
    }

    pub fn is_empty(&self) -> bool {
        match &self.json {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            _ => false,
        }
    }
}

/// Why a value was refused: a stable code and an English message (pages translate the code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
}

fn invalid(code: &'static str, message: impl Into<String>) -> Invalid {
    Invalid { code, message: message.into() }
}

/// The region assumed for phone numbers written without an international prefix. Relais serves
/// European teams first; a number in another country must be written with its `+` prefix.
const DEFAULT_PHONE_REGION: phonenumber::country::Id = phonenumber::country::Id::FR;

/// The string form of a scalar input, trimmed; `None` for null or an empty string.
fn as_text(value: &Value) -> Result<Option<String>, Invalid> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => {
            let t = s.trim();
            Ok(if t.is_empty() { None } else { Some(t.to_string()) })
        }
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Array(_) | Value::Object(_) => Err(invalid("invalid_type", "Expected a single value.")),
    }
}

pub fn parse_field(def: &FieldDef, value: &Value) -> Result<Cell, Invalid> {
    let Some(text) = as_text(value)? else {
        if def.required {
            return Err(invalid("required", "This field is required."));
        }
        if def.kept {
            return Err(invalid("required", "This field cannot be emptied."));
        }
        return Ok(Cell::empty(def.kind));
    };
    parse_text(def.kind, &text)
}

/// Parses a non-empty, trimmed text for `kind`.
pub fn parse_text(kind: Kind, text: &str) -> Result<Cell, Invalid> {
    match kind {
        Kind::Text { max } => {
            if text.chars().count() > max {
                return Err(invalid("too_long", format!("At most {max} characters.")));
            }
            if text.chars().any(|c| c.is_control()) {
                return Err(invalid("invalid_characters", "Control characters are not allowed."));
            }
            Ok(Cell::text(text.to_string()))
        }
        Kind::Email => parse_email(text).map(Cell::text),
        Kind::Phone => parse_phone(text).map(Cell::text),
        Kind::Domain => parse_domain(text).map(Cell::text),
        Kind::Url => parse_url(text).map(Cell::text),
        Kind::Country => {
            let code = text.to_ascii_uppercase();
            if code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) {
                Ok(Cell::text(code))
            } else {
                Err(invalid("invalid_country", "Use a two-letter ISO country code, e.g. FR."))
            }
        }
        Kind::Language => {
            let code = text.to_ascii_lowercase();
            if code.len() == 2 && code.bytes().all(|b| b.is_ascii_lowercase()) {
                Ok(Cell::text(code))
            } else {
                Err(invalid("invalid_language", "Use a two-letter ISO language code, e.g. fr."))
            }
        }
        Kind::TimeZone => match text.parse::<chrono_tz::Tz>() {
            Ok(tz) => Ok(Cell::text(tz.name().to_string())),
            Err(_) => Err(invalid("invalid_time_zone", "Use a time zone name such as Europe/Paris.")),
        },
        Kind::Choice(options) => match options.iter().find(|o| o.eq_ignore_ascii_case(text)) {
            Some(option) => Ok(Cell::text((*option).to_string())),
            None => Err(invalid("invalid_choice", format!("Choose one of: {}.", options.join(", ")))),
        },
        Kind::Money => parse_money(text),
        Kind::Currency => {
            let code = text.to_ascii_uppercase();
            if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
                Ok(Cell::text(code))
            } else {
                Err(invalid("invalid_currency", "Use a three-letter ISO currency code, e.g. EUR."))
            }
        }
        Kind::Percent => match text.parse::<i64>() {
            Ok(n) if (0..=100).contains(&n) => Ok(Cell { json: Value::from(n), sql: Some(n.to_string()) }),
            _ => Err(invalid("invalid_percent", "Use a whole number from 0 to 100.")),
        },
        Kind::Date => parse_date(text).map(|d| Cell { json: Value::String(d.clone()), sql: Some(d) }),
        Kind::Timestamp => Err(invalid("read_only", "This field is maintained by Relais.")),
        Kind::Ref(_) => match uuid::Uuid::parse_str(text) {
            Ok(id) => Ok(Cell { json: Value::String(id.to_string()), sql: Some(id.to_string()) }),
            Err(_) => Err(invalid("invalid_reference", "Not a valid identifier.")),
        },
    }
}

pub fn parse_email(text: &str) -> Result<String, Invalid> {
    let normalized = text.trim().to_lowercase();
    if normalized.len() <= 254 && email_address::EmailAddress::is_valid(&normalized) && normalized.contains('.') {
        Ok(normalized)
    } else {
        Err(invalid("invalid_email", "Enter an email address like name@example.com."))
    }
}

/// The French overseas departments and collectivities whose numbers are written like mainland
/// ones ("0690 12 34 56") but carry their own country code: Réunion and Mayotte (+262, mobiles
/// 0692/0693 and 0639), Guadeloupe, Saint-Barthélemy and Saint-Martin (+590, 0690/0691), Guyane
/// (+594, 0694), Martinique (+596, 0696/0697). Which prefix
/// belongs where comes from libphonenumber's metadata (the `phonenumber` crate), not from a table
/// of ours.
const FRENCH_PLAN_REGIONS: &[phonenumber::country::Id] = {
    use phonenumber::country::Id;
    &[Id::RE, Id::YT, Id::GP, Id::BL, Id::MF, Id::GF, Id::MQ]
};

pub fn parse_phone(text: &str) -> Result<String, Invalid> {
    let refused = || invalid("invalid_phone", "Enter a phone number, with its country prefix (+33…) if not French.");
    let number = phonenumber::parse(Some(DEFAULT_PHONE_REGION), text).map_err(|_| refused())?;
    if phonenumber::is_valid(&number) {
        return Ok(number.format().mode(phonenumber::Mode::E164).to_string());
    }
    // Written the French way without a prefix, a number may belong to an overseas department:
    // the first region where it is valid gives its country code. A number written with its `+`
    // prefix is what it says.
    if !text.trim_start().starts_with('+') && !text.trim_start().starts_with("00") {
        for region in FRENCH_PLAN_REGIONS {
            if let Ok(number) = phonenumber::parse(Some(*region), text)
                && phonenumber::is_valid(&number)
            {
                return Ok(number.format().mode(phonenumber::Mode::E164).to_string());
            }
        }
    }
    Err(refused())
}

/// Accepts `acme.fr`, `www.acme.fr` or `https://www.acme.fr/contact` and keeps `acme.fr`.
pub fn parse_domain(text: &str) -> Result<String, Invalid> {
    let refused = || invalid("invalid_domain", "Enter a web domain such as example.com.");
    let lower = text.trim().to_lowercase();
    let host = if lower.contains("://") {
        url::Url::parse(&lower).ok().and_then(|u| u.host_str().map(str::to_owned)).ok_or_else(refused)?
    } else {
        lower.split(['/', '?', '#']).next().unwrap_or_default().to_string()
    };
    let host = host.strip_prefix("www.").unwrap_or(&host).trim_end_matches('.').to_string();
    let labels_ok = host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    });
    if host.len() <= 253 && host.contains('.') && labels_ok { Ok(host) } else { Err(refused()) }
}

pub fn parse_url(text: &str) -> Result<String, Invalid> {
    match url::Url::parse(text.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() && text.len() <= 2000 => {
            Ok(url.to_string())
        }
        _ => Err(invalid("invalid_url", "Enter a full web address starting with https://.")),
    }
}

/// Decimal amounts: digits, one `.` or `,` (French writing), two places at most, below 10^16.
/// Spaces and non-breaking spaces between thousands are ignored.
pub fn parse_money(text: &str) -> Result<Cell, Invalid> {
    let refused = || invalid("invalid_amount", "Enter an amount such as 1250.50.");
    let compact: String = text.chars().filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}')).collect();
    let (negative, digits) = match compact.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, compact.as_str()),
    };
    let normalized = digits.replace(',', ".");
    let (whole, fraction) = normalized.split_once('.').unwrap_or((&normalized, ""));
    let valid = !whole.is_empty()
        && whole.len() <= 16
        && fraction.len() <= 2
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && !(normalized.contains('.') && fraction.is_empty());
    if !valid {
        return Err(refused());
    }
    let whole = whole.trim_start_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    let canonical = match (negative, fraction.is_empty()) {
        (false, true) => whole.to_string(),
        (false, false) => format!("{whole}.{fraction}"),
        (true, true) => format!("-{whole}"),
        (true, false) => format!("-{whole}.{fraction}"),
    };
    let json = canonical.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Value::Number);
    Ok(Cell { json: json.ok_or_else(refused)?, sql: Some(canonical) })
}

/// A number (custom fields of kind `number`): `1234.5`, or written the French way, `1 234,5`
/// (spaces and no-break spaces between thousands ignored, a comma as the decimal point).
pub fn parse_number(text: &str) -> Result<f64, Invalid> {
    let compact: String = text.chars().filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}')).collect();
    match compact.replace(',', ".").parse::<f64>() {
        Ok(n) if n.is_finite() && !compact.is_empty() => Ok(n),
        _ => Err(invalid("invalid_number", "Enter a number.")),
    }
}

/// ISO dates, and the day-first `dd/mm/yyyy` that French spreadsheets write.
pub fn parse_date(text: &str) -> Result<String, Invalid> {
    let refused = || invalid("invalid_date", "Enter a date as YYYY-MM-DD.");
    let iso = time::macros::format_description!("[year]-[month]-[day]");
    let french = time::macros::format_description!("[day]/[month]/[year]");
    let date = time::Date::parse(text, iso).or_else(|_| time::Date::parse(text, french)).map_err(|_| refused())?;
    if !(1900..=2200).contains(&date.year()) {
        return Err(refused());
    }
    date.format(iso).map_err(|_| refused())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::{COMPANY_SIZES, RefKind};
    use serde_json::json;

    fn field(kind: Kind) -> FieldDef {
        FieldDef { key: "x", kind, required: false, kept: false }
    }

    #[test]
    fn phones_are_stored_in_e164() {
        assert_eq!(parse_phone("06 12 34 56 78").unwrap(), "+33612345678");
        assert_eq!(parse_phone("+49 30 901820").unwrap(), "+4930901820");
        assert!(parse_phone("12").is_err());
        assert!(parse_phone("not a number").is_err());
    }

    /// Issue #11: overseas mobiles written the French way take their department's country code.
    #[test]
    fn french_overseas_numbers_take_their_country_code() {
        for (written, e164) in [
            ("06 90 12 34 56", "+590690123456"), // Guadeloupe
            ("0691 30 12 34", "+590691301234"),
            ("06 92 12 34 56", "+262692123456"), // Réunion
            ("06 93 10 12 34", "+262693101234"),
            ("06 39 01 23 45", "+262639012345"), // Mayotte
            ("06 94 12 34 56", "+594694123456"), // Guyane
            ("06 96 12 34 56", "+596696123456"), // Martinique
            ("06 97 27 12 34", "+596697271234"),
            ("05 90 12 34 56", "+590590123456"), // a Guadeloupe landline
            ("02 62 12 34 56", "+262262123456"), // a Réunion landline
        ] {
            assert_eq!(parse_phone(written).ok().as_deref(), Some(e164), "{written}");
        }
        // Mainland numbers keep +33; a number with its prefix is what it says.
        assert_eq!(parse_phone("06 12 34 56 78").unwrap(), "+33612345678");
        assert!(parse_phone("+33 6 90 12 34 56").is_err(), "0690 numbers are not mainland numbers");
    }

    #[test]
    fn emails_and_domains_are_normalized() {
        assert_eq!(parse_email("  Jean.Dupont@Exemple.FR ").unwrap(), "jean.dupont@exemple.fr");
        assert!(parse_email("jean@").is_err());
        assert_eq!(parse_domain("https://www.Acme.fr/contact?x=1").unwrap(), "acme.fr");
        assert_eq!(parse_domain("acme.co.uk/").unwrap(), "acme.co.uk");
        assert!(parse_domain("localhost").is_err());
        assert!(parse_domain("bad_domain!.com").is_err());
    }

    #[test]
    fn amounts_accept_french_writing_and_refuse_more_than_cents() {
        assert_eq!(parse_money("1 250,50").unwrap().sql.as_deref(), Some("1250.50"));
        assert_eq!(parse_money("0042").unwrap().sql.as_deref(), Some("42"));
        assert_eq!(parse_money("-3.5").unwrap().sql.as_deref(), Some("-3.5"));
        for bad in ["1.234", "12.", "1e5", "abc", "", "12345678901234567"] {
            assert!(parse_money(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn numbers_accept_french_writing() {
        assert_eq!(parse_number("1\u{202f}234,5").unwrap(), 1234.5);
        assert_eq!(parse_number("10 000").unwrap(), 10000.0);
        assert_eq!(parse_number("-3.25").unwrap(), -3.25);
        for bad in ["", "abc", "1,2,3", "inf", "NaN"] {
            assert!(parse_number(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_choices_percent_and_refs() {
        assert_eq!(parse_date("2026-11-30").unwrap(), "2026-11-30");
        assert_eq!(parse_date("30/11/2026").unwrap(), "2026-11-30");
        assert!(parse_date("2026-02-30").is_err());
        let size = field(Kind::Choice(COMPANY_SIZES));
        assert_eq!(parse_field(&size, &json!("11-50")).unwrap().sql.as_deref(), Some("11-50"));
        assert_eq!(parse_field(&size, &json!("huge")).unwrap_err().code, "invalid_choice");
        assert_eq!(parse_field(&field(Kind::Percent), &json!(101)).unwrap_err().code, "invalid_percent");
        assert_eq!(parse_field(&field(Kind::Ref(RefKind::Member)), &json!("x")).unwrap_err().code, "invalid_reference");
        assert_eq!(
            parse_field(&field(Kind::TimeZone), &json!("Europe/Paris")).unwrap().sql.as_deref(),
            Some("Europe/Paris")
        );
        assert!(parse_field(&field(Kind::TimeZone), &json!("Mars/Olympus")).is_err());
    }

    #[test]
    fn empty_values_and_required_fields() {
        let text = field(Kind::Text { max: 5 });
        assert_eq!(parse_field(&text, &json!("  ")).unwrap(), Cell::empty(text.kind));
        assert_eq!(parse_field(&text, &json!("toolong")).unwrap_err().code, "too_long");
        let required = FieldDef { key: "name", kind: Kind::Text { max: 5 }, required: true, kept: false };
        assert_eq!(parse_field(&required, &Value::Null).unwrap_err().code, "required");
        assert_eq!(parse_field(&field(Kind::Date), &json!("")).unwrap().sql, None);
        assert_eq!(parse_field(&text, &json!(["a"])).unwrap_err().code, "invalid_type");
    }
}
