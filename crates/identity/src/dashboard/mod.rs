//! The home page (`/dashboard`), the page after login, which answers "what do I do today": it
//! draws the panels every module registers (`Module::home_panels`: the CRM's tasks, deals,
//! activity, form leads and the managers' pipeline and conversion rates), in one tenant
//! transaction so each panel reads under the member's visibility; and `/`, which sends a visitor
//! to it or to the login page. Identity's own panel is the team's, for those who invite members:
//! members administration (the members table, locks, the sign-in log) lives on `/members/manage`
//! and `/settings/activity`, which it links to.
//!
//! Files: `store.rs` (the team panel's counts), `pages.rs` (both pages and the team panel).

pub mod pages;
mod store;

use kernel::module::HomePanel;

/// Identity's panels on the home page.
pub const HOME_PANELS: &[HomePanel] = &[HomePanel { key: "identity.team", position: 90, render: pages::team_panel }];
