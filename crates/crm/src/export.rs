//! Export of any list to CSV or JSON (issue #4 item 8; P0-04, P1-18): the list's filters, sort and
//! search, streamed, no row cap, recorded in the audit log.
//!
//! Why one streamed statement in one transaction rather than keyset pages: the list's own query
//! (`crate::list::stream_all`: same filters, sort and visibility) read once gives a consistent
//! snapshot and reads the sort index once; keyset pages under row-level security rescan from the
//! start each page (see `stream_all`). Rows travel to the client through a bounded channel, so
//! memory stays flat. The price: a database connection is held while the client downloads.

use std::borrow::Cow;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use kernel::AppError;
use kernel::audit::AuditEvent;
use kernel::authz::Principal;
use kernel::web::AppState;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::http::Object;
use crate::list::api::ListParams;
use crate::list::{ListQuery, list_page, stream_all};
use crate::object::ObjectType;

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
enum Format {
    Csv,
    Json,
}

/// Bytes gathered before a chunk is handed to the response body.
const CHUNK: usize = 64 * 1024;

fn render(format: Format, columns: &[String], record: &Value, first: bool, out: &mut Vec<u8>) {
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

type Chunk = Result<Bytes, std::io::Error>;

/// Reads every matching record in one member transaction and sends the rendered body in chunks
/// over a small bounded channel: when the client reads slowly, the channel fills and the reading
/// waits, so memory stays at a few chunks whatever the row count.
async fn produce(
    state: AppState,
    principal: Principal,
    object: ObjectType,
    query: ListQuery,
    format: Format,
    columns: Vec<String>,
    sender: tokio::sync::mpsc::Sender<Chunk>,
) -> Result<(), AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let mut rows: u64 = 0;
    let mut out = Vec::with_capacity(CHUNK + 4096);
    {
        let mut stream = stream_all(&mut tx, object, &query)?;
        while let Some(row) = futures_util::StreamExt::next(&mut stream).await {
            let (record, _, _) = row?;
            render(format, &columns, &record, rows == 0, &mut out);
            rows += 1;
            if out.len() >= CHUNK && sender.send(Ok(Bytes::from(std::mem::take(&mut out)))).await.is_err() {
                // The client went away: stop reading.
                return Ok(());
            }
        }
    }
    if format == Format::Json {
        out.extend(b"\n]\n");
    }
    // Recorded before the last chunk leaves: once the client has the whole file, the log has it.
    let event = AuditEvent::new("record.export_completed").payload(json!({ "object": object.as_str(), "rows": rows }));
    state.audit.record(&mut tx, event).await?;
    tx.commit().await?;
    let _ = sender.send(Ok(Bytes::from(out))).await;
    Ok(())
}

/// Exports the list of `object` the parameters describe, as a streamed response.
pub async fn export_response(
    state: &AppState,
    principal: &Principal,
    object: ObjectType,
    params: ExportParams,
) -> Result<Response, AppError> {
    let format = match params.format.as_deref().unwrap_or("csv") {
        "csv" => Format::Csv,
        "json" => Format::Json,
        _ => return Err(AppError::field("format", "invalid_choice", "Choose csv or json.")),
    };
    let list = ListParams { q: params.q, sort: params.sort, after: None, limit: Some(1), filters: params.filters };
    let query = list.into_query()?;
    let mut tx = principal.begin(&state.db).await?;
    // The query is checked before answering, so a bad filter is a 422, not a broken download.
    list_page(&mut tx, object, &query, 1).await?;
    let defs = crate::custom_fields::definitions(&mut tx, object).await?;
    // Pseudonymous summary: which fields were filtered and how, never the values (an email...).
    let filters: Vec<Value> = query.filters.iter().map(|f| json!({ "field": f.field, "op": f.op })).collect();
    let event = AuditEvent::new("record.exported").payload(json!({
        "object": object.as_str(),
        "format": if format == Format::Csv { "csv" } else { "json" },
        "filters": filters,
        "search": query.q.as_deref().is_some_and(|q| !q.trim().is_empty()),
        "sort": query.sort.as_ref().map(|s| s.field.clone()),
    }));
    state.audit.record(&mut tx, event).await?;
    tx.commit().await?;

    let mut columns: Vec<String> = vec!["id".into()];
    columns.extend(object.fields().iter().chain(object.system_fields()).map(|f| f.key.to_string()));
    columns.extend(defs.iter().map(|d| format!("custom.{}", d.key)));
    let head = match format {
        Format::Csv => csv_line(columns.iter().map(String::as_str)),
        Format::Json => b"[".to_vec(),
    };
    let (sender, receiver) = tokio::sync::mpsc::channel::<Chunk>(4);
    let (state, principal) = (state.clone(), principal.clone());
    let errors = sender.clone();
    tokio::spawn(async move {
        if let Err(error) = produce(state, principal, object, query, format, columns, sender).await {
            error.log();
            // The body ends with an error: the client sees a failed download, not a short file.
            let _ = errors.send(Err(std::io::Error::other("export interrupted"))).await;
        }
    });
    let rest = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    let body = futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(head)) }),
        rest,
    );
    let (content_type, extension) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Json => ("application/json", "json"),
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}.{extension}\"", object.plural())),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// `GET /api/v1/{leads,contacts,companies,deals}/export?format=csv|json&q=&sort=&filters=`.
pub async fn export<O: Object>(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<ExportParams>,
) -> Result<Response, AppError> {
    export_response(&state, &principal, O::TYPE, params).await
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
