//! Privacy. For now: the public privacy-policy page, generated from the data catalog so that what
//! it says is what the software does (P2-09), with the version in force and its "last updated"
//! date (P0-26, P1-20). Data-subject requests, retention and the record of processing come next.

use askama::Template;
use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use kernel::authz::Access;
use kernel::catalog::{Subject, TableEntry};
use kernel::web::{AppState, LangPref, Page, PageError, RouteDef, render};

#[derive(Template)]
#[template(path = "privacy_policy.html")]
struct PolicyPage {
    page: Page,
    version: String,
    last_updated: String,
    entries: Vec<TableEntry>,
}

impl PolicyPage {
    fn subject_key(&self, entry: &TableEntry) -> &'static str {
        match entry.subject {
            Subject::AccountHolder => "privacy.subject.account_holder",
            Subject::CrmContact => "privacy.subject.crm_contact",
            Subject::Trainee => "privacy.subject.trainee",
            Subject::Prospect => "privacy.subject.prospect",
            Subject::NoPerson => "privacy.subject.no_person",
        }
    }
}

/// The privacy module as the application assembles it.
pub fn module() -> kernel::module::Module {
    kernel::module::Module {
        routes,
        locales: &[
            (kernel::i18n::Lang::En, include_str!("../locales/en.json")),
            (kernel::i18n::Lang::Fr, include_str!("../locales/fr.json")),
        ],
        ..kernel::module::Module::new("privacy")
    }
}

fn routes() -> Vec<RouteDef> {
    vec![RouteDef::page(Method::GET, "/privacy", Access::Public, policy)]
}

/// The catalog is every module's, assembled with the application (`AppState::catalog`).
async fn policy(State(state): State<AppState>, LangPref(lang): LangPref) -> Result<Response, PageError> {
    let page = Page::anonymous(lang, "/privacy");
    let current = state.db.current_policy_version(state.clock.now()).await.map_err(|e| PageError::new(e, &page))?;
    let (version, effective_at) = current
        .ok_or_else(|| PageError::new(kernel::AppError::Unavailable("no privacy policy is published".into()), &page))?;
    let entries = state.catalog.iter().filter(|e| e.subject != Subject::NoPerson).copied().collect();
    let view = PolicyPage {
        page: page.clone(),
        version,
        // The day in the visitor's language, read in the default time zone (nobody is signed in).
        last_updated: page.date(&effective_at),
        entries,
    };
    Ok(render(&view).map_err(|e| PageError::new(e, &page))?.into_response())
}
