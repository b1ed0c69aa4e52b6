//! Identity and tenancy: organizations, members, sign-up, login, sessions.
//!
//! [`routes`] lists every route. Each feature is a folder: `mod.rs` (types, rules, catalog
//! tables), `store.rs` (SQL over a tenant transaction), `service.rs` (writes with their audit
//! events: what the API and the pages both call), `api.rs` (JSON handlers), `pages.rs` (HTML
//! handlers) — only the files it needs. Shared by the features: [`http`] (page helpers),
//! [`model`] (parsed inputs, password hashing), [`signed_in`] (who is signed in), [`notify`]
//! (security notices by email), [`doors`] (the pre-tenant database functions) and [`actions`]
//! (permissions).

pub mod actions;
pub mod activity;
pub mod api_keys;
pub mod api_tokens;
pub mod common_passwords;
pub mod dashboard;
pub mod dev_outbox;
pub mod doors;
pub mod http;
pub mod invitations;
pub mod login;
pub mod magic;
pub mod members;
pub mod mfa;
pub mod model;
pub mod nav_counts;
pub mod notify;
pub mod openapi;
pub mod platform_admin;
pub mod profile;
pub mod recovery;
pub mod routes;
pub mod sessions;
pub mod signed_in;
pub mod signup;
pub mod throttle;

use kernel::module::{Module, NavLink, PaletteEntry, PaletteGroup};
pub use signed_in::attach_principal;

/// The identity module as the application assembles it.
pub fn module() -> Module {
    Module {
        routes: routes::all,
        // In this order: `docs/data-catalog.md` lists the tables as they come.
        tables: &[
            members::ACCOUNT_TABLES,
            sessions::TABLES,
            login::TABLES,
            recovery::TABLES,
            invitations::TABLES,
            api_tokens::TABLES,
            api_keys::TABLES,
            activity::TABLES,
            members::TABLES,
            profile::TABLES,
            mfa::TABLES,
            magic::TABLES,
            platform_admin::TABLES,
            signup::TABLES,
        ],
        actions: actions::ALL,
        doors: doors::DOORS,
        openapi: openapi::document,
        locales: &[
            (kernel::i18n::Lang::En, include_str!("../locales/en.json")),
            (kernel::i18n::Lang::Fr, include_str!("../locales/fr.json")),
        ],
        nav: &[
            NavLink { href: "/dashboard", label_key: "nav.home", position: 0 },
            NavLink { href: "/members", label_key: "nav.members", position: 20 },
            NavLink { href: "/settings/sessions", label_key: "nav.sessions", position: 90 },
        ],
        home_panels: dashboard::HOME_PANELS,
        palette: PALETTE,
        ..Module::new("identity")
    }
}

const fn palette_entry(
    group: PaletteGroup,
    label_key: &'static str,
    href: &'static str,
    action: Option<kernel::authz::Action>,
    keywords_key: Option<&'static str>,
) -> PaletteEntry {
    PaletteEntry { group, label_key, href, action, keywords_key, shortcut: None }
}

/// The identity module's pages and actions in the command palette.
const PALETTE: &[PaletteEntry] = &[
    PaletteEntry {
        group: PaletteGroup::Page,
        label_key: "shortcuts.home",
        href: "/",
        action: None,
        keywords_key: Some("nav.home_keywords"),
        shortcut: Some('h'),
    },
    palette_entry(
        PaletteGroup::Page,
        "profile.title",
        "/settings/profile",
        Some(actions::PROFILE_MANAGE),
        Some("profile.palette_keywords"),
    ),
    palette_entry(PaletteGroup::Page, "mfa.title", "/settings/mfa", None, Some("mfa.palette_keywords")),
    palette_entry(PaletteGroup::Page, "api_keys.title", "/settings/api-keys", Some(actions::API_KEYS_MANAGE), None),
    palette_entry(PaletteGroup::Page, "activity.title", "/settings/activity", Some(actions::LOGIN_ACTIVITY_VIEW), None),
    palette_entry(
        PaletteGroup::Action,
        "members.palette_invite",
        "/members#invite",
        Some(actions::MEMBERS_INVITE),
        Some("members.palette_keywords"),
    ),
];
