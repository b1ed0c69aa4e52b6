//! Export of any list to CSV or JSON (issue #4 item 8; P0-04, P1-18): the list's filters, sort and
//! search, streamed, no row cap, recorded in the audit log.
//!
//! Why one streamed statement in one transaction rather than keyset pages: the list's own query
//! (`crate::list::stream_all`: same filters, sort and visibility) read once gives a consistent
//! snapshot and reads the sort index once; keyset pages under row-level security rescan from the
//! start each page (see `stream_all`). Rows travel to the client through a bounded channel, so
//! memory stays flat. The price: a database connection is held while the client downloads.
//!
//! Layout: this file holds the parameters and the CSV rules; [`service`] the export itself with
//! its two audit events (`record.exported` when it starts, `record.export_completed` with the row
//! count before the last chunk leaves). The API and the list pages' download links are served by
//! the same handler ([`api`]): the page link answers with the file itself, so it needs no HTML
//! handler of its own.

pub mod api;
pub mod service;

use std::borrow::Cow;

use kernel::audit::AuditLog;
use kernel::db::Db;
use kernel::web::AppState;
use serde::Deserialize;
use serde_json::Value;

// The path `relais bench crm` uses.
pub use service::export_response;

/// What an export uses of the application, named rather than the whole state: the database and
/// the audit log, owned because the rows are read in a task that outlives the handler.
/// `&AppState` converts into it, so a handler passes its state as it is.
#[derive(Clone)]
pub struct ExportCtx {
    pub db: Db,
    pub audit: AuditLog,
}

impl From<&AppState> for ExportCtx {
    fn from(state: &AppState) -> Self {
        Self { db: state.db.clone(), audit: state.audit.clone() }
    }
}

/// `format` (`csv`, the default, `json`, or `excel`) and the list's own parameters.
#[derive(Debug, Default, Deserialize)]
pub struct ExportParams {
    pub format: Option<String>,
    /// For `excel`: the language of the labels, `en` or `fr` (a list page's link: the member's).
    pub lang: Option<String>,
    pub q: Option<String>,
    pub sort: Option<String>,
    pub filters: Option<String>,
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, carriage return first)
/// gets a leading `'`. Plain numbers (`+33612345678`, `-12.50`) are left alone: a spreadsheet
/// reads them as numbers, never as formulas, and quoting them would corrupt phones and amounts.
pub fn neutralize(cell: &str) -> Cow<'_, str> {
    let Some(first) = cell.chars().next() else { return Cow::Borrowed(cell) };
    if !matches!(first, '=' | '+' | '-' | '@' | '\t' | '\r') {
        return Cow::Borrowed(cell);
    }
    let rest = &cell[first.len_utf8()..];
    let numeric = matches!(first, '+' | '-')
        && !rest.is_empty()
        && rest.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | ',' | ' '))
        && rest.chars().any(|c| c.is_ascii_digit());
    if numeric { Cow::Borrowed(cell) } else { Cow::Owned(format!("'{cell}")) }
}

/// One RFC 4180 line (CRLF), every cell neutralized, quoted when it holds `,` `"` CR or LF.
pub fn csv_line<'a>(cells: impl Iterator<Item = &'a str>) -> Vec<u8> {
    csv_line_with(cells, b',')
}

/// [`csv_line`] with another delimiter (`;` for French Excel), quoted when a cell holds it.
pub fn csv_line_with<'a>(cells: impl Iterator<Item = &'a str>, delimiter: u8) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            out.push(delimiter);
        }
        let cell = neutralize(cell);
        if cell.contains([char::from(delimiter), '"', '\r', '\n']) {
            out.push(b'"');
            out.extend(cell.replace('"', "\"\"").as_bytes());
            out.push(b'"');
        } else {
            out.extend(cell.as_bytes());
        }
    }
    out.extend(b"\r\n");
    out
}

fn cell_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items.iter().map(|i| cell_text(Some(i))).collect::<Vec<_>>().join("; "),
        Some(other) => other.to_string(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    /// A CSV file for people opening it in Excel ([`Excel`]).
    Excel,
}

/// The UTF-8 byte-order mark: without it Excel reads a CSV file as the system's code page
/// (Windows-1252 in France) and shows "Ã©" for "é".
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How a file for people is written, so it opens cleanly in Excel in their language: the UTF-8
/// byte-order mark, `;` between cells in French (Excel in French uses `,` as the decimal
/// separator and reads `;` as the list separator), the columns' labels instead of their codes,
/// names instead of ids, choice labels, amounts with the language's decimal separator and no
/// grouping (Excel reads them as numbers), dates as the language writes them (`30/11/2026`;
/// ISO `2026-11-30` in English, which every Excel reads) and moments in the member's time zone.
/// The API's `csv` and `json` keep the codes, ids and ISO forms for programs.
pub struct Excel {
    pub page: kernel::web::Page,
    pub delimiter: u8,
}

impl Excel {
    pub fn new(lang: kernel::i18n::Lang, tz: kernel::dates::Tz) -> Self {
        let mut page = kernel::web::Page::anonymous(lang, "");
        page.tz = tz;
        let delimiter = match lang {
            kernel::i18n::Lang::Fr => b';',
            kernel::i18n::Lang::En => b',',
        };
        Self { page, delimiter }
    }

    pub fn line<'a>(&self, cells: impl Iterator<Item = &'a str>) -> Vec<u8> {
        csv_line_with(cells, self.delimiter)
    }

    /// A column's label in the file's language.
    pub fn label(&self, column: &str, defs: &[crate::custom_fields::CustomField]) -> String {
        if column == "id" {
            return self.page.t.get("crm.export.id").to_string();
        }
        crate::display::field_label(&self.page, column, defs)
    }

    /// A record's cell for people.
    pub(crate) fn cell(
        &self,
        object: crate::object::ObjectType,
        column: &str,
        record: &Value,
        names: &crate::display::Names,
    ) -> String {
        use crate::object::Kind;
        let lang = self.page.t.0;
        let value = record.get(column);
        let text = cell_text(value);
        if text.is_empty() || column.starts_with("custom.") {
            return match column.strip_prefix("custom.") {
                Some(key) => cell_text(record.get("custom").and_then(|v| v.get(key))),
                None => text,
            };
        }
        match object.readable(column).map(|d| d.kind) {
            Some(Kind::Ref(kind)) => names.of(kind, &text),
            Some(Kind::Choice(_)) => self.page.t.get(&format!("crm.choice.{text}")).to_string(),
            Some(Kind::Money) if lang == kernel::i18n::Lang::Fr => text.replace('.', ","),
            Some(Kind::Phone) => crate::display::phone(&text),
            Some(Kind::Date) => {
                match (lang, time::Date::parse(&text, time::macros::format_description!("[year]-[month]-[day]"))) {
                    (kernel::i18n::Lang::Fr, Ok(date)) => {
                        date.format(time::macros::format_description!("[day]/[month]/[year]")).unwrap_or(text)
                    }
                    _ => text,
                }
            }
            Some(Kind::Timestamp) => match crate::display::instant_of(value) {
                Some(at) => {
                    let local = kernel::dates::local(at, self.page.tz);
                    let format = match lang {
                        kernel::i18n::Lang::Fr => {
                            time::macros::format_description!("[day]/[month]/[year] [hour]:[minute]")
                        }
                        kernel::i18n::Lang::En => {
                            time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]")
                        }
                    };
                    local.format(format).unwrap_or(text)
                }
                None => text,
            },
            _ => match value {
                Some(Value::Bool(b)) => {
                    self.page.t.get(if *b { "crm.export.yes" } else { "crm.export.no" }).to_string()
                }
                _ => text,
            },
        }
    }
}

/// Bytes gathered before a chunk is handed to the response body.
pub const CHUNK: usize = 64 * 1024;

pub fn render(format: Format, columns: &[String], record: &Value, first: bool, out: &mut Vec<u8>) {
    match format {
        // Rendered by the export with its names (see `service::produce`).
        Format::Excel => {}
        Format::Json => {
            if !first {
                out.push(b',');
            }
            out.push(b'\n');
            if serde_json::to_writer(&mut *out, record).is_err() {
                out.extend(b"null");
            }
        }
        Format::Csv => {
            let cells: Vec<String> = columns
                .iter()
                .map(|c| match c.strip_prefix("custom.") {
                    Some(key) => cell_text(record.get("custom").and_then(|v| v.get(key))),
                    None => cell_text(record.get(c.as_str())),
                })
                .collect();
            out.extend(csv_line(cells.iter().map(String::as_str)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralized_and_numbers_kept() {
        assert_eq!(neutralize("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralize("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralize("-2+3"), "'-2+3");
        assert_eq!(neutralize("+33612345678"), "+33612345678");
        assert_eq!(neutralize("-12.50"), "-12.50");
        assert_eq!(neutralize("Zoé"), "Zoé");
        assert_eq!(
            csv_line(["a,b", "say \"hi\"", "x\ny", "=1"].into_iter()),
            b"\"a,b\",\"say \"\"hi\"\"\",\"x\ny\",'=1\r\n"
        );
    }
}
