//! The command palette (Ctrl-K / Cmd-K): one box to jump to a record, a page or an action.
//!
//! The kernel names no module: pages and actions are the modules' [`PaletteEntry`]s and navigation
//! links, records come from each module's [`RecordSearch`], all assembled once by
//! [`crate::module::Modules::palette`]. `GET /palette?q=` answers the results as an HTML fragment
//! for htmx (`static/palette.js` in the web crate drives the dialog the layout draws). Every
//! record search runs in the member's tenant transaction, so another organization's records and
//! records the member may not see never come back; pages and actions are filtered by role.

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::authz::{Access, Principal};
use crate::i18n::T;
use crate::module::{PaletteEntry, PaletteGroup, RecordSearch};
use crate::web::{AppState, LangPref, RouteDef, SignedInPage, render};
use crate::{AppError, AppResult};

/// The most records each module's search brings.
const RECORDS_PER_SEARCH: u32 = 8;
/// Longer queries are cut: nobody types a record's name that long, and it bounds the search.
const MAX_QUERY_CHARS: usize = 100;

/// The palette of the assembled application (see [`crate::module::Modules::palette`]).
pub struct Palette {
    pub entries: Vec<PaletteEntry>,
    pub searches: Vec<RecordSearch>,
}

impl Palette {
    /// The entries with a `g <letter>` shortcut, for the layout's keyboard help.
    pub fn shortcuts(&self) -> Arc<[PaletteEntry]> {
        self.entries.iter().filter(|e| e.shortcut.is_some()).copied().collect()
    }
}

impl std::fmt::Debug for Palette {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Palette({} entries, {} searches)", self.entries.len(), self.searches.len())
    }
}

pub fn routes() -> Vec<RouteDef> {
    vec![RouteDef::page(Method::GET, "/palette", Access::SignedIn, results)]
}

#[derive(Debug, Default, Deserialize)]
struct PaletteQuery {
    #[serde(default)]
    q: String,
}

struct Item {
    id: String,
    title: String,
    kind: Option<String>,
    href: String,
}

struct Group {
    label: String,
    items: Vec<Item>,
}

#[derive(Template)]
#[template(path = "palette_results.html")]
struct ResultsView {
    groups: Vec<Group>,
    status: String,
}

/// Lower case, accents removed, anything but letters and digits a space: "Créer" and "creer" meet.
fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match crate::i18n::unaccented(c) {
            c if c.is_alphanumeric() => c,
            _ => ' ',
        })
        .collect()
}

/// Whether every word of the (folded) query starts a word of the entry's label or keywords
/// ("imp" finds "Import a CSV file", "board" does not find "dashboard").
fn matches(t: &T, entry: &PaletteEntry, words: &[&str]) -> bool {
    let mut haystack = fold(t.get(entry.label_key));
    if let Some(key) = entry.keywords_key {
        haystack.push(' ');
        haystack.push_str(&fold(t.get(key)));
    }
    words.iter().all(|word| haystack.split_whitespace().any(|candidate| candidate.starts_with(word)))
}

/// `GET /palette?q=`: the records, pages and actions matching `q` for the signed-in member.
async fn results(
    State(state): State<AppState>,
    principal: Principal,
    signed_in: Option<Extension<SignedInPage>>,
    LangPref(lang): LangPref,
    Query(query): Query<PaletteQuery>,
) -> AppResult<Response> {
    let t = signed_in.map(|Extension(SignedInPage(page))| page.t).unwrap_or(T(lang));
    let q: String = query.q.trim().chars().take(MAX_QUERY_CHARS).collect();
    let folded = fold(&q);
    let words: Vec<&str> = folded.split_whitespace().collect();

    let mut records = Vec::new();
    if folded.trim().chars().count() >= 2 && !state.palette.searches.is_empty() {
        let mut tx = principal.begin(&state.db).await?;
        for search in &state.palette.searches {
            match search(&mut tx, &principal, &q, RECORDS_PER_SEARCH).await {
                Ok(hits) => records.extend(hits),
                // Too short, too long, nothing searchable: the other groups still answer.
                Err(AppError::Validation(_)) => {}
                Err(other) => return Err(other),
            }
        }
        tx.commit().await?;
    }

    let offered = |group: PaletteGroup| {
        let mut found: Vec<&PaletteEntry> = state
            .palette
            .entries
            .iter()
            .filter(|e| e.group == group)
            .filter(|e| e.action.is_none_or(|action| principal.grant(action).allows()))
            .filter(|e| matches(&t, e, &words))
            .collect();
        // Labels that start with what was typed come first ("lea" → "Leads" before "New lead").
        found.sort_by_key(|e| !fold(t.get(e.label_key)).starts_with(folded.trim()));
        found
    };
    let entries = |group: PaletteGroup| -> Vec<(String, Option<String>, String)> {
        offered(group).into_iter().map(|e| (t.get(e.label_key).to_owned(), None, e.href.to_owned())).collect()
    };
    let pages = ("palette.group.pages", entries(PaletteGroup::Page));
    let actions = ("palette.group.actions", entries(PaletteGroup::Action));
    // Records first, unless they were all found by tolerating a typo while a page or an action
    // matches what was typed ("board": the deals board before "Boulangeries Lemoine").
    let records_first = records.iter().any(|hit| !hit.approximate) || (pages.1.is_empty() && actions.1.is_empty());
    let records = (
        "palette.group.records",
        records.into_iter().map(|hit| (hit.title, Some(t.get(hit.kind_key).to_owned()), hit.href)).collect(),
    );
    let ordered = if records_first { [records, pages, actions] } else { [pages, actions, records] };

    let mut next_id = 0;
    let mut groups = Vec::new();
    for (key, found) in ordered.into_iter().filter(|(_, found)| !found.is_empty()) {
        let items = found.into_iter().map(|(title, kind, href)| {
            next_id += 1;
            Item { id: format!("palette-option-{next_id}"), title, kind, href }
        });
        groups.push(Group { label: t.get(key).to_owned(), items: items.collect() });
    }
    let count = groups.iter().map(|g| g.items.len()).sum::<usize>();
    let status = match count {
        0 => t.get("palette.none").to_owned(),
        1 => t.get("palette.count_one").to_owned(),
        n => t.fmt("palette.count", &[("count", &n.to_string())]),
    };
    let html = render(&ResultsView { groups, status })?;
    Ok(([(header::CACHE_CONTROL, "no-store")], html).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_ignores_case_accents_and_punctuation() {
        assert_eq!(fold("Créer un ÉVÉNEMENT!"), "creer un evenement ");
        assert_eq!(fold("Import CSV"), "import csv");
    }
}
