//! How values read on a page: amounts with the language's separators and the currency's symbol,
//! phone numbers grouped the international way, references by name, field labels and error texts
//! in the member's language — the pieces every CRM page shares. The API keeps the canonical forms.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kernel::i18n::Lang;
use kernel::web::Page;
use kernel::{AppError, FieldError, OrgTx};
use serde_json::Value;
use uuid::Uuid;

use crate::custom_fields::CustomField;
use crate::object::{Kind, ObjectType, RefKind};

/// A moment as the pages show it, to the minute, in the member's time zone and the language's
/// style (`6 déc. 2026 à 14:05`, `Dec 6, 2026, 2:05 PM`: see `kernel::dates`), never Rust's
/// `Display` of an `OffsetDateTime`.
pub fn minute(page: &Page, at: &time::OffsetDateTime) -> String {
    page.date_time(at)
}

/// A timestamp as a row's JSON carries it (RFC 3339); `None` when absent or not a timestamp.
pub fn instant_of(value: Option<&Value>) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(value?.as_str()?, &time::format_description::well_known::Rfc3339).ok()
}

fn symbol(currency: &str) -> Option<&'static str> {
    match currency {
        "EUR" => Some("€"),
        "USD" => Some("$"),
        "GBP" => Some("£"),
        _ => None,
    }
}

/// `48000.5` in EUR reads `48 000,50 €` in French and `€48,000.50` in English.
pub fn money(amount: &str, currency: &str, lang: Lang) -> String {
    let amount = amount.trim();
    if amount.is_empty() {
        return String::new();
    }
    let (negative, digits) = match amount.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, amount),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return amount.to_string();
    }
    let cents: String = fraction.chars().chain(std::iter::repeat('0')).take(2).collect();
    let (group, decimal) = match lang {
        Lang::Fr => ('\u{202f}', ','),
        Lang::En => (',', '.'),
    };
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(group);
        }
        grouped.push(c);
    }
    let number = format!("{}{grouped}{decimal}{cents}", if negative { "-" } else { "" });
    match (lang, symbol(currency)) {
        (Lang::Fr, Some(s)) => format!("{number}\u{a0}{s}"),
        (Lang::En, Some(s)) => format!("{s}{number}"),
        (_, None) => format!("{number}\u{a0}{currency}"),
    }
}

/// A plain decimal (`15000.5`, `-3`, `1234.5678`) split into its sign, whole digits and fraction
/// digits; `None` for anything else (what a member typed and a form refused, `1e21`…).
fn plain_decimal(value: &str) -> Option<(bool, &str, &str)> {
    let value = value.trim();
    let (negative, digits) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) if !fraction.is_empty() => (whole, fraction),
        Some(_) => return None,
        None => (digits, ""),
    };
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    (!whole.is_empty() && digits_only(whole) && digits_only(fraction)).then_some((negative, whole, fraction))
}

/// A plain decimal written with `group` between thousands (none when `None`) and `decimal` before
/// the fraction, none when it is zero (`15000.0` is `15 000`). `cents`: an amount, whose fraction has
/// two digits (`,50`).
fn write_decimal(value: &str, group: Option<char>, decimal: char, cents: bool) -> Option<String> {
    let (negative, whole, fraction) = plain_decimal(value)?;
    let fraction = if fraction.bytes().all(|b| b == b'0') {
        String::new()
    } else if cents && fraction.len() < 2 {
        format!("{fraction:0<2}")
    } else {
        fraction.to_string()
    };
    let mut text = String::from(if negative { "-" } else { "" });
    for (i, c) in whole.chars().enumerate() {
        if let Some(group) = group
            && i > 0
            && (whole.len() - i) % 3 == 0
        {
            text.push(group);
        }
        text.push(c);
    }
    if !fraction.is_empty() {
        text.push(decimal);
        text.push_str(&fraction);
    }
    Some(text)
}

/// A decimal as an input shows it, to be edited and sent back: `15000.5` reads `15 000,50` in
/// French (a narrow no-break space between thousands, a decimal comma) and `15000.50` in English.
/// English thousands commas are left out on purpose: the parsers (`values::parse_money`,
/// `values::parse_number`) read a comma as the decimal point, as French writes it, so what is shown
/// here reads back as the same value in both languages. Anything but a plain decimal (a refused
/// value kept as typed) is shown as it is. `cents`: an amount (see [`write_decimal`]).
pub fn decimal_input(value: &str, lang: Lang, cents: bool) -> String {
    let written = match lang {
        Lang::Fr => write_decimal(value, Some('\u{202f}'), ',', cents),
        Lang::En => write_decimal(value, None, '.', cents),
    };
    written.unwrap_or_else(|| value.to_string())
}

/// A decimal without a currency as a page reads it: `15000.5` is `15 000,50` in French and
/// `15,000.50` in English (a custom amount or number field).
pub fn decimal(value: &str, lang: Lang, cents: bool) -> String {
    let written = match lang {
        Lang::Fr => write_decimal(value, Some('\u{202f}'), ',', cents),
        Lang::En => write_decimal(value, Some(','), '.', cents),
    };
    written.unwrap_or_else(|| value.to_string())
}

/// `+33612345678` reads `+33 6 12 34 56 78`.
pub fn phone(e164: &str) -> String {
    match phonenumber::parse(None, e164) {
        Ok(number) => number.format().mode(phonenumber::Mode::International).to_string(),
        Err(_) => e164.to_string(),
    }
}

// ---------------------------------------------------------------- shared page pieces

/// Names for the references a page shows: members, departments, companies, stages, pipelines.
#[derive(Default)]
pub(crate) struct Names {
    pub(crate) members: Vec<(Uuid, String)>,
    pub(crate) departments: Vec<(Uuid, String)>,
    pub(crate) stages: Vec<(Uuid, String)>,
    pub(crate) pipelines: Vec<(Uuid, String)>,
    pub(crate) companies: HashMap<Uuid, String>,
}

impl Names {
    pub(crate) async fn load(tx: &mut OrgTx) -> Result<Self, AppError> {
        let members = crate::records::active_members(tx).await?;
        let departments =
            sqlx::query!("select department_id, name from departments where org_id = $1 order by name", tx.org().0)
                .fetch_all(tx.conn())
                .await?
                .into_iter()
                .map(|row| (row.department_id, row.name))
                .collect();
        let stages = sqlx::query!(
            r#"select s.stage_id, p.name || ' › ' || s.name as "name!" from pipeline_stages s join pipelines p using (org_id, pipeline_id)
              where s.org_id = $1 order by p.position, p.created_at, s.position"#,
            tx.org().0
        )
        .fetch_all(tx.conn())
        .await?
        .into_iter()
        .map(|row| (row.stage_id, row.name))
        .collect();
        let pipelines = sqlx::query!(
            "select pipeline_id, name from pipelines where org_id = $1 order by position, created_at",
            tx.org().0
        )
        .fetch_all(tx.conn())
        .await?
        .into_iter()
        .map(|row| (row.pipeline_id, row.name))
        .collect();
        Ok(Self { members, departments, stages, pipelines, companies: HashMap::new() })
    }

    /// Company names for the ids on a page (visible companies only).
    pub(crate) async fn load_companies(&mut self, tx: &mut OrgTx, ids: Vec<Uuid>) -> Result<(), AppError> {
        if ids.is_empty() {
            return Ok(());
        }
        let rows = sqlx::query!(
            "select company_id, name from companies where org_id = $1 and company_id = any($2)",
            tx.org().0,
            &ids
        )
        .fetch_all(tx.conn())
        .await?;
        self.companies.extend(rows.into_iter().map(|row| (row.company_id, row.name)));
        Ok(())
    }

    pub(crate) fn of(&self, kind: RefKind, id: &str) -> String {
        let Ok(id) = Uuid::parse_str(id) else { return String::new() };
        let find = |list: &Vec<(Uuid, String)>| list.iter().find(|(i, _)| *i == id).map(|(_, n)| n.clone());
        match kind {
            RefKind::Member => find(&self.members),
            RefKind::Department => find(&self.departments),
            RefKind::Stage => find(&self.stages),
            RefKind::Pipeline => find(&self.pipelines),
            RefKind::Company => self.companies.get(&id).cloned(),
            RefKind::Contact | RefKind::Deal => None,
        }
        .unwrap_or_else(|| "—".into())
    }

    pub(crate) fn options(&self, kind: RefKind) -> Vec<(String, String)> {
        let list = match kind {
            RefKind::Member => &self.members,
            RefKind::Department => &self.departments,
            RefKind::Stage => &self.stages,
            RefKind::Pipeline => &self.pipelines,
            _ => return Vec::new(),
        };
        list.iter().map(|(id, name)| (id.to_string(), name.clone())).collect()
    }
}

/// A value as text for a cell or an input.
pub(crate) fn display(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => {
            if *b {
                "✔".into()
            } else {
                "✘".into()
            }
        }
        Some(Value::Array(items)) => items.iter().map(|i| display(Some(i))).collect::<Vec<_>>().join(", "),
        Some(other) => other.to_string(),
    }
}

pub(crate) fn field_label(page: &Page, key: &str, custom: &[CustomField]) -> String {
    match key.strip_prefix("custom.") {
        Some(k) => custom.iter().find(|c| c.key == k).map(|c| c.label.clone()).unwrap_or_else(|| k.into()),
        None => page.t.get(&format!("crm.field.{key}")).to_string(),
    }
}

pub(crate) fn cell_text(page: &Page, object: ObjectType, key: &str, record: &Value, names: &Names) -> String {
    if let Some(k) = key.strip_prefix("custom.") {
        return display(record.get("custom").and_then(|c| c.get(k)));
    }
    let value = display(record.get(key));
    match object.readable(key).map(|d| d.kind) {
        Some(Kind::Ref(kind)) if !value.is_empty() => names.of(kind, &value),
        Some(Kind::Timestamp) => match instant_of(record.get(key)) {
            Some(at) => page.date_time(&at),
            None => value,
        },
        Some(Kind::Money) => crate::display::money(&value, &display(record.get("currency")), page.t.0),
        Some(Kind::Phone) if !value.is_empty() => crate::display::phone(&value),
        Some(Kind::Choice(_)) if !value.is_empty() => page.t.get(&format!("crm.choice.{value}")).to_string(),
        _ => value,
    }
}

/// Translates a field error for a page: the code's message in the member's language.
pub(crate) fn error_text(page: &Page, error: &FieldError) -> String {
    kernel::web::field_error_text(page, error)
}

pub(crate) fn no_store(html: impl IntoResponse) -> Response {
    crate::http::page_response(StatusCode::OK, html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(crate) fn amounts_read_the_local_way() {
        assert_eq!(money("48000.5", "EUR", Lang::Fr), "48\u{202f}000,50\u{a0}€");
        assert_eq!(money("48000.5", "EUR", Lang::En), "€48,000.50");
        assert_eq!(money("-1234567", "CHF", Lang::En), "-1,234,567.00\u{a0}CHF");
        assert_eq!(money("12", "USD", Lang::Fr), "12,00\u{a0}$");
        assert_eq!(money("", "EUR", Lang::Fr), "");
    }

    /// Issue #11: an amount in an input reads the member's way and parses back unchanged.
    #[test]
    fn decimals_in_inputs_read_back_as_the_same_value() {
        assert_eq!(decimal_input("15000.5", Lang::Fr, true), "15\u{202f}000,50");
        assert_eq!(decimal_input("15000.50", Lang::En, true), "15000.50");
        assert_eq!(decimal_input("15000.00", Lang::Fr, true), "15\u{202f}000");
        assert_eq!(decimal_input("-1234567.25", Lang::Fr, true), "-1\u{202f}234\u{202f}567,25");
        assert_eq!(decimal_input("1234.5678", Lang::Fr, false), "1\u{202f}234,5678");
        assert_eq!(decimal_input("999", Lang::Fr, true), "999");
        for kept in ["15 000,5x", "", "1e21", "12.", "abc"] {
            assert_eq!(decimal_input(kept, Lang::Fr, true), kept, "a value that is not a plain decimal stays as typed");
        }
        for (value, cents) in [("15000.5", true), ("-1234567.25", true), ("0.05", true), ("1234.5678", false)] {
            for lang in [Lang::Fr, Lang::En] {
                let shown = decimal_input(value, lang, cents);
                let parsed = crate::values::parse_number(&shown).unwrap();
                assert_eq!(parsed, value.parse::<f64>().unwrap(), "{shown}");
                if cents {
                    let money = crate::values::parse_money(&shown).unwrap();
                    assert_eq!(money.json, crate::values::parse_money(value).unwrap().json, "{shown}");
                }
            }
        }
        assert_eq!(decimal("15000.5", Lang::En, true), "15,000.50");
        assert_eq!(decimal("15000.0", Lang::Fr, false), "15\u{202f}000");
    }

    #[test]
    pub(crate) fn phones_are_grouped() {
        assert_eq!(phone("+33612345678"), "+33 6 12 34 56 78");
        assert_eq!(phone("not a phone"), "not a phone");
    }
}
