//! The export: the one function the API and the list pages call, with its audit events.

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use kernel::AppError;
use kernel::audit::AuditEvent;
use kernel::authz::Principal;
use serde_json::{Value, json};

use super::{CHUNK, ExportCtx, ExportParams, Format, csv_line, render};
use crate::list::api::ListParams;
use crate::list::{ListQuery, list_page, stream_all};
use crate::object::ObjectType;

type Chunk = Result<Bytes, std::io::Error>;

/// Reads every matching record in one member transaction and sends the rendered body in chunks
/// over a small bounded channel: when the client reads slowly, the channel fills and the reading
/// waits, so memory stays at a few chunks whatever the row count.
async fn produce(
    ctx: ExportCtx,
    principal: Principal,
    object: ObjectType,
    query: ListQuery,
    format: Format,
    columns: Vec<String>,
    sender: tokio::sync::mpsc::Sender<Chunk>,
) -> Result<(), AppError> {
    let mut tx = principal.begin(&ctx.db).await?;
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
    let format = match params.format.as_deref().unwrap_or("csv") {
        "csv" => Format::Csv,
        "json" => Format::Json,
        _ => return Err(AppError::field("format", "invalid_choice", "Choose csv or json.")),
    };
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
        "format": if format == Format::Csv { "csv" } else { "json" },
        "filters": filters,
        "search": query.q.as_deref().is_some_and(|q| !q.trim().is_empty()),
        "sort": query.sort.as_ref().map(|s| s.field.clone()),
    }));
    ctx.audit.record(&mut tx, event).await?;
    tx.commit().await?;

    let mut columns: Vec<String> = vec!["id".into()];
    columns.extend(object.fields().iter().chain(object.system_fields()).map(|f| f.key.to_string()));
    columns.extend(defs.iter().map(|d| format!("custom.{}", d.key)));
    let head = match format {
        Format::Csv => csv_line(columns.iter().map(String::as_str)),
        Format::Json => b"[".to_vec(),
    };
    let (sender, receiver) = tokio::sync::mpsc::channel::<Chunk>(4);
    let principal = principal.clone();
    let errors = sender.clone();
    tokio::spawn(async move {
        if let Err(error) = produce(ctx, principal, object, query, format, columns, sender).await {
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
