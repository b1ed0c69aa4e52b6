//! The search SQL: word prefixes first, then substrings and typos (see `SearchHit`).

use kernel::{AppError, OrgTx};
use serde::Serialize;
use uuid::Uuid;

/// A search hit across object types.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchHit {
    pub object: String,
    pub id: Uuid,
    pub display_name: String,
    /// How well the record matches: 2 to 3 for a match on word prefixes, 1 to 2 for a substring,
    /// below 1 for a typo-tolerant match (the word similarity, 0 to 1).
    pub score: f32,
}

/// The most hits one search returns (a larger `limit` is refused on the API).
pub const MAX_HITS: u32 = 50;

/// Searches leads, contacts, companies and deals at once: accent-folded substring and prefix
/// matches first; when they are fewer than `limit`, typo-tolerant trigram matches (word similarity)
/// complete them. Runs in `app.crm_search` (migration 0015), which applies the organization and the
/// visibility rule itself so that the trigram indexes can be used.
pub async fn search(tx: &mut OrgTx, q: &str, limit: u32) -> Result<Vec<SearchHit>, AppError> {
    let q = q.trim();
    if q.chars().count() < 2 {
        return Err(AppError::field("q", "too_short", "Type at least two characters."));
    }
    if q.chars().count() > 100 {
        return Err(AppError::field("q", "too_long", "At most 100 characters."));
    }
    let limit = i32::try_from(limit.clamp(1, MAX_HITS)).unwrap_or(20);
    let pattern = format!("%{}%", q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    // Words first: every word of the query as a word prefix ("mart 1234" finds "Martin 123456").
    let mut hits: Vec<SearchHit> = sqlx::query_as!(
        SearchHit,
        r#"select object as "object!", id as "id!", display_name as "display_name!", score as "score!"
             from app.crm_search_words($1, $2)"#,
        q,
        limit
    )
    .fetch_all(tx.conn())
    .await?;
    // Then, only when no word matches: substrings inside words ("ouvel") and typos ("Francios"),
    // in one pass on the trigram index, substrings ranked first. It is the slow pass on a large
    // organization (docs/benchmarks.md), so it never runs when words already answered.
    if hits.is_empty() {
        // The default word-similarity threshold (0.6) misses ordinary typos; 0.3 finds them.
        sqlx::query_scalar!("select set_config('pg_trgm.word_similarity_threshold', '0.3', true)")
            .fetch_one(tx.conn())
            .await?;
        hits = sqlx::query_as!(
            SearchHit,
            r#"select object as "object!", id as "id!", display_name as "display_name!", score as "score!"
                 from app.crm_search($1, $2, $3, true)"#,
            q,
            &pattern,
            limit
        )
        .fetch_all(tx.conn())
        .await?;
    }
    Ok(hits)
}
