//! The CRM's part of the command palette: its pages and actions, and its record search (the global
//! search, so the palette finds exactly what the search page finds for the same member).

use kernel::OrgTx;
use kernel::authz::{Action, Principal};
use kernel::module::{PaletteEntry, PaletteGroup, RecordHit, RecordSearchFuture};

use crate::actions::{CRM_CONFIGURE, RECORDS_EDIT, RECORDS_IMPORT, RECORDS_VIEW};
use crate::object::ObjectType;
use PaletteGroup::{Action as Do, Page};

const fn entry(
    group: PaletteGroup,
    label_key: &'static str,
    href: &'static str,
    action: Action,
    keywords_key: Option<&'static str>,
    shortcut: Option<char>,
) -> PaletteEntry {
    PaletteEntry { group, label_key, href, action: Some(action), keywords_key, shortcut }
}

pub const ENTRIES: &[PaletteEntry] = &[
    entry(Page, "crm.object.leads", "/crm/leads", RECORDS_VIEW, Some("crm.palette.kw.leads"), Some('l')),
    entry(Page, "crm.object.contacts", "/crm/contacts", RECORDS_VIEW, Some("crm.palette.kw.contacts"), Some('c')),
    entry(Page, "crm.object.companies", "/crm/companies", RECORDS_VIEW, Some("crm.palette.kw.companies"), Some('o')),
    entry(Page, "crm.object.deals", "/crm/deals", RECORDS_VIEW, Some("crm.palette.kw.deals"), Some('d')),
    entry(Page, "crm.nav.board", "/crm/deals/board", RECORDS_VIEW, Some("crm.palette.kw.board"), Some('b')),
    entry(Page, "crm.tasks.title", "/crm/tasks", RECORDS_VIEW, Some("crm.palette.kw.tasks"), Some('t')),
    entry(Page, "crm.search.title", "/crm/search", RECORDS_VIEW, None, None),
    entry(Page, "crm.import.title", "/crm/imports", RECORDS_IMPORT, Some("crm.palette.kw.import"), None),
    entry(Page, "crm.settings.title", "/settings/crm", CRM_CONFIGURE, Some("crm.palette.kw.settings"), None),
    entry(Page, "crm.forms.title", "/crm/forms", CRM_CONFIGURE, None, None),
    entry(Page, "crm.webhooks.title", "/settings/webhooks", CRM_CONFIGURE, None, None),
    entry(Do, "crm.new.leads", "/crm/leads/new", RECORDS_EDIT, Some("crm.palette.kw.new"), None),
    entry(Do, "crm.new.contacts", "/crm/contacts/new", RECORDS_EDIT, Some("crm.palette.kw.new"), None),
    entry(Do, "crm.new.companies", "/crm/companies/new", RECORDS_EDIT, Some("crm.palette.kw.new"), None),
    entry(Do, "crm.new.deals", "/crm/deals/new", RECORDS_EDIT, Some("crm.palette.kw.new"), None),
    entry(Do, "crm.palette.import_csv", "/crm/imports", RECORDS_IMPORT, Some("crm.palette.kw.import"), None),
];

/// The palette's record search: the global search in the member's tenant transaction, which
/// applies the organization and the visibility rules (`app.crm_search*`).
pub fn search<'a>(tx: &'a mut OrgTx, principal: &'a Principal, q: &'a str, limit: u32) -> RecordSearchFuture<'a> {
    Box::pin(async move {
        if !principal.grant(RECORDS_VIEW).allows() {
            return Ok(Vec::new());
        }
        let hits = crate::search::search(tx, q, limit).await?;
        Ok(hits
            .into_iter()
            .filter_map(|hit| {
                let object = ObjectType::parse(&hit.object)?;
                Some(RecordHit {
                    title: hit.display_name,
                    kind_key: kind_key(object),
                    href: format!("/crm/{}/{}", object.plural(), hit.id),
                    // Below 1: a typo-tolerant match (see `SearchHit::score`).
                    approximate: hit.score < 1.0,
                })
            })
            .collect())
    })
}

fn kind_key(object: ObjectType) -> &'static str {
    match object {
        ObjectType::Lead => "crm.object.lead",
        ObjectType::Contact => "crm.object.contact",
        ObjectType::Company => "crm.object.company",
        ObjectType::Deal => "crm.object.deal",
    }
}
