//! Running a list query: a page of records, or every row for an export.

use super::*;

/// One page of records matching the query, in the member's visibility.
pub async fn list(tx: &mut OrgTx, object: ObjectType, query: &ListQuery) -> Result<ListPage, AppError> {
    list_page(tx, object, query, MAX_PAGE).await
}

/// [`list`] with another page-size cap: exports walk the same keyset in pages of thousands.
pub async fn list_page(tx: &mut OrgTx, object: ObjectType, query: &ListQuery, max: u32) -> Result<ListPage, AppError> {
    let custom = crate::custom_fields::definitions(tx, object).await?;
    let (text, params) = build(object, &custom, query)?;
    check_cursor(tx, object, query).await?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, max.max(1));
    let text = format!("{text} limit {}", limit + 1);
    let mut q = sqlx::query_as::<_, (Value, Option<String>, Uuid)>(sqlx::AssertSqlSafe(text)).bind(tx.org());
    for p in params {
        q = q.bind(p);
    }
    let mut rows = q.fetch_all(tx.conn()).await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|(_, key, id)| encode_cursor(key.as_deref().unwrap_or_default(), *id))
    } else {
        None
    };
    Ok(ListPage { items: rows.into_iter().map(|(record, _, _)| record).collect(), next_cursor })
}

/// Refuses a page cursor whose sort key does not read as the sort's type (a date, a number, a
/// custom field's JSON…): a forged cursor is a 422 naming `after`, never a failed cast (500).
async fn check_cursor(tx: &mut OrgTx, object: ObjectType, query: &ListQuery) -> Result<(), AppError> {
    let Some((key, _)) = query.after.as_deref().and_then(decode_cursor) else {
        return Ok(());
    };
    let sort = query.sort.clone().unwrap_or(Sort { field: object.default_sort().into(), descending: false });
    let Some((_, sort_type)) = sort_parts(object, &sort.field) else {
        return Ok(());
    };
    if sort_type == "text" {
        return Ok(());
    }
    let reads = sqlx::query_scalar!(r#"select app.reads_as($1, $2::text::regtype) as "reads!""#, key, sort_type)
        .fetch_one(tx.conn())
        .await?;
    if reads { Ok(()) } else { Err(AppError::Validation(vec![invalid_cursor()])) }
}

/// A row of the list statement: the record, its sort key as text, its id.
pub type ListRow = (Value, Option<String>, Uuid);

/// Every record the query matches, in its order, as one streamed statement without a page cap
/// (exports). Why not keyset pages: under row-level security PostgreSQL does not use the keyset's
/// text comparison (not leakproof) as an index condition, so each later page would rescan the
/// organization's rows from the start; one ordered statement reads the index once.
pub async fn stream_all<'t>(
    tx: &'t mut OrgTx,
    object: ObjectType,
    query: &ListQuery,
) -> Result<futures_util::stream::BoxStream<'t, Result<ListRow, sqlx::Error>>, AppError> {
    let custom = crate::custom_fields::definitions(tx, object).await?;
    let (text, params) = build(object, &custom, query)?;
    let org = tx.org();
    let mut q = sqlx::query_as::<_, (Value, Option<String>, Uuid)>(sqlx::AssertSqlSafe(text)).bind(org);
    for p in params {
        q = q.bind(p);
    }
    Ok(q.fetch(tx.conn()))
}
