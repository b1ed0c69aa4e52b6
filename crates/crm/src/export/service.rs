//! The export: the one function the API and the list pages call, with its audit events.

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use kernel::AppError;
use kernel::audit::AuditEvent;
use kernel::authz::Principal;
use serde_json::{Value, json};

use super::{BOM, CHUNK, Excel, ExportCtx, ExportParams, Format, csv_line, render};
use crate::list::api::ListParams;
use crate::list::{ListQuery, list_page, stream_all};
use crate::object::ObjectType;

type Chunk = Result<Bytes, std::io::Error>;

/// How the rows are written: the format, the columns, and for `excel` its language and names.
struct Layout {
    format: Format,
    columns: Vec<String>,
    excel: Option<Excel>,
}

/// Reads every matching record in one member transaction and sends the rendered body in chunks
/// over a small bounded channel: when the client reads slowly, the channel fills and the reading
/// waits, so memory stays at a few chunks whatever the row count.
async fn produce(
    ctx: ExportCtx,
    principal: Principal,
    object: ObjectType,
    query: ListQuery,
    layout: Layout,
    sender: tokio::sync::mpsc::Sender<Chunk>,
) -> Result<(), AppError> {
    let Layout { format, columns, excel } = layout;
    let mut tx = principal.begin(&ctx.db).await?;
    let mut rows: u64 = 0;
    let mut out = Vec::with_capacity(CHUNK + 4096);
    // A file for people names what the ids refer to: members, departments, stages, pipelines and
    // the companies the member can see (names only, read once before the rows stream).
    let names = match &excel {
        Some(_) => {
            let mut names = crate::display::Names::load(&mut tx).await?;
            if object.field("company_id").is_some() {
                let ids: Vec<uuid::Uuid> =
                    sqlx::query_scalar!("select company_id from companies where org_id = $1", tx.org().0)
                        .fetch_all(tx.conn())
                        .await?;
                names.load_companies(&mut tx, ids).await?;
            }
            Some(names)
        }
        None => None,
    };
    {
        let mut stream = stream_all(&mut tx, object, &query).await?;
        while let Some(row) = futures_util::StreamExt::next(&mut stream).await {
            let (record, _, _) = row?;
            match (&excel, &names) {
                (Some(excel), Some(names)) => {
                    let cells: Vec<String> = columns.iter().map(|c| excel.cell(object, c, &record, names)).collect();
                    out.extend(excel.line(cells.iter().map(String::as_str)));
                }
                _ => render(format, &columns, &record, rows == 0, &mut out),
            }
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
    ctx.audit.record(&mut tx, event).await?;
    tx.commit().await?;
    let _ = sender.send(Ok(Bytes::from(out))).await;
    Ok(())
}

/// Exports the list of `object` the parameters describe, as a streamed response; audited
/// `record.exported` before the first byte and `record.export_completed` before the last.
pub async fn export_response(
    ctx: impl Into<ExportCtx>,
    principal: &Principal,
    object: ObjectType,
    params: ExportParams,
) -> Result<Response, AppError> {
    export_for(ctx, principal, object, params, None).await
}

/// [`export_response`], for a person when `viewer` (their language and time zone) is known: the
/// `excel` format's labels and dates follow them (an explicit `lang` parameter wins).
pub async fn export_for(
    ctx: impl Into<ExportCtx>,
    principal: &Principal,
    object: ObjectType,
    params: ExportParams,
    viewer: Option<(kernel::i18n::Lang, kernel::dates::Tz)>,
) -> Result<Response, AppError> {
    let format = match params.format.as_deref().unwrap_or("csv") {
        "csv" => Format::Csv,
        "json" => Format::Json,
        "excel" => Format::Excel,
        _ => return Err(AppError::field("format", "invalid_choice", "Choose csv, json or excel.")),
    };
    let lang = match params.lang.as_deref() {
        None | Some("") => viewer.map(|(lang, _)| lang).unwrap_or(kernel::i18n::Lang::En),
        Some(text) => kernel::i18n::Lang::parse(text)
            .ok_or_else(|| AppError::field("lang", "invalid_choice", "Choose en or fr."))?,
    };
    let excel = (format == Format::Excel)
        .then(|| Excel::new(lang, viewer.map(|(_, tz)| tz).unwrap_or(kernel::dates::DEFAULT_ZONE)));
    let list = ListParams { q: params.q, sort: params.sort, after: None, limit: Some(1), filters: params.filters };
    let query = list.into_query()?;
    let ctx = ctx.into();
    let mut tx = principal.begin(&ctx.db).await?;
    // The query is checked before answering, so a bad filter is a 422, not a broken download.
    list_page(&mut tx, object, &query, 1).await?;
    let defs = crate::custom_fields::definitions(&mut tx, object).await?;
    // Pseudonymous summary: which fields were filtered and how, never the values (an email...).
    let filters: Vec<Value> = query.filters.iter().map(|f| json!({ "field": f.field, "op": f.op })).collect();
    let event = AuditEvent::new("record.exported").payload(json!({
        "object": object.as_str(),
        "format": match format {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Excel => "excel",
        },
        "filters": filters,
        "search": query.q.as_deref().is_some_and(|q| !q.trim().is_empty()),
        "sort": query.sort.as_ref().map(|s| s.field.clone()),
    }));
    ctx.audit.record(&mut tx, event).await?;
    tx.commit().await?;

    let mut columns: Vec<String> = vec!["id".into()];
    columns.extend(object.fields().iter().chain(object.system_fields()).map(|f| f.key.to_string()));
    columns.extend(defs.iter().map(|d| format!("custom.{}", d.key)));
    let head = match (&excel, format) {
        (Some(excel), _) => {
            let labels: Vec<String> = columns.iter().map(|c| excel.label(c, &defs)).collect();
            [BOM, &excel.line(labels.iter().map(String::as_str))].concat()
        }
        (None, Format::Json) => b"[".to_vec(),
        (None, _) => csv_line(columns.iter().map(String::as_str)),
    };
    let (sender, receiver) = tokio::sync::mpsc::channel::<Chunk>(4);
    let principal = principal.clone();
    let errors = sender.clone();
    tokio::spawn(async move {
        let layout = Layout { format, columns, excel };
        if let Err(error) = produce(ctx, principal, object, query, layout, sender).await {
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
        Format::Csv | Format::Excel => ("text/csv; charset=utf-8", "csv"),
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
