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

/// `format` (`csv`, the default, or `json`) and the list's own parameters.
#[derive(Debug, Default, Deserialize)]
pub struct ExportParams {
    pub format: Option<String>,
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
    let mut out = Vec::new();
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let cell = neutralize(cell);
        if cell.contains([',', '"', '\r', '\n']) {
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
}

/// Bytes gathered before a chunk is handed to the response body.
pub const CHUNK: usize = 64 * 1024;

pub fn render(format: Format, columns: &[String], record: &Value, first: bool, out: &mut Vec<u8>) {
    match format {
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
