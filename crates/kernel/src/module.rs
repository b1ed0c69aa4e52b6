//! How a module plugs into Relais. Each module crate (identity, crm, privacy, and the ones to come)
//! exports one [`Module`] value declaring everything it brings: routes, data-catalog tables,
//! permission actions, pre-tenant doors, background jobs and watchers, OpenAPI part, event
//! subscribers and settings. The `web` crate lists the modules once; everything else (the router,
//! `relais catalog`, `relais permissions`, the job worker, the conformance and permission tests)
//! is derived from that list, so the kernel names no module and a new module cannot be
//! half-plugged.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::authz::Action;
use crate::catalog::TableEntry;
use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::events::{EventBus, Subscriber};
use crate::jobs::Registry;
use crate::mail::Mailer;
use crate::vault::Vault;
use crate::watchers::Watcher;
use crate::web::RouteDef;

/// Who may call a `SECURITY DEFINER` function. Such a function runs with its owner's rights, past
/// row-level security, so each one is a door: every door in the schema must be declared by exactly
/// one module, with its caller, and only its caller's database role ([`DoorCaller::role`]) may
/// execute it (the conformance test checks both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoorCaller {
    /// Before the organization is known (a login, a session cookie, an emailed link, a public
    /// form): it maps a secret or public identifier to the ids needed to open the tenant
    /// transaction, and nothing more.
    BeforeTenant,
    /// Inside a member's tenant transaction: it applies the organization and the member's
    /// visibility itself (so an index can serve it under row-level security).
    Member,
    /// The platform super admin's path (`/admin`: set-up, login, the backoffice), on its own
    /// connection (`Db::platform_admin`, role `relais_admin`) — never the request role.
    PlatformAdmin,
    /// The platform itself on the request path (rate-limit counters): no person's data crosses it.
    Platform,
    /// A module's watcher ([`crate::watchers`]), outside any organization: it lists the ids of
    /// what it must attend to in each organization, to open that organization's tenant
    /// transaction for the rest — never a secret, an address or any content.
    Worker,
}

impl DoorCaller {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::BeforeTenant => "before tenant",
            Self::Member => "member",
            Self::PlatformAdmin => "platform admin",
            Self::Platform => "platform",
            Self::Worker => "worker",
        }
    }

    /// The one database role granted EXECUTE on a door of this class.
    pub fn role(&self) -> &'static str {
        use crate::db::embedded::{ADMIN_ROLE, APP_ROLE};
        match self {
            // The worker has no database role of its own: its tenant transactions are the request
            // role's (`Db::begin_org`), and so is its pool with no organization set.
            Self::BeforeTenant | Self::Member | Self::Platform | Self::Worker => APP_ROLE,
            Self::PlatformAdmin => ADMIN_ROLE,
        }
    }
}

/// One `SECURITY DEFINER` function of the schema, as its module declares it.
#[derive(Debug, Clone, Copy)]
pub struct Door {
    /// Schema-qualified name, e.g. `app.resolve_session`.
    pub function: &'static str,
    pub caller: DoorCaller,
    pub purpose: &'static str,
}

/// An environment variable a module reads, for `relais --help` and the README.
#[derive(Debug, Clone, Copy)]
pub struct SettingDef {
    pub variable: &'static str,
    pub help: &'static str,
}

/// What a module's job handlers may need from the platform.
pub struct JobDeps<'a> {
    pub config: &'a Config,
    /// For a handler that must commit a step before the outside world sees it (a message marked
    /// `sending` before it is handed to SMTP), in transactions of its own.
    pub db: crate::Db,
    pub mailer: Mailer,
    pub vault: Vault,
    /// For a handler whose work must be audited (a bounce that suppresses an address).
    pub audit: crate::audit::AuditLog,
}

/// Reads the environment for a module's settings.
pub type Vars<'a> = dyn Fn(&str) -> Option<&'a str> + 'a;

/// Settings of every module, typed, kept in [`Config`]: a module parses its variables at start
/// (a bad value stops the program naming the variable) and reads its own type back.
#[derive(Clone, Default)]
pub struct ModuleSettings(HashMap<TypeId, Arc<dyn Any + Send + Sync>>);

impl ModuleSettings {
    pub fn insert<T: Any + Send + Sync>(&mut self, value: T) {
        self.0.insert(TypeId::of::<T>(), Arc::new(value));
    }

    /// The module's settings, or their defaults when the module was not configured (a unit test).
    pub fn get<T: Any + Send + Sync + Clone + Default>(&self) -> T {
        self.0.get(&TypeId::of::<T>()).and_then(|value| value.downcast_ref::<T>()).cloned().unwrap_or_default()
    }
}

impl std::fmt::Debug for ModuleSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ModuleSettings({} modules)", self.0.len())
    }
}

/// A link of the signed-in shell's navigation, brought by the module whose page it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NavLink {
    pub href: &'static str,
    /// The message key of its label, in the module's own message files.
    pub label_key: &'static str,
    /// Where it goes among every module's links (lower first), so the order of the module list
    /// does not decide what a member sees first.
    pub position: u16,
}

/// What a home panel is given to draw itself: the member's tenant transaction (so their record
/// visibility applies to every read, as on any list), who they are, their page (language, CSRF
/// token for a form) and the request's time (`now`, from the application clock, so tests can move it).
pub struct HomeCtx<'a> {
    pub tx: &'a mut crate::OrgTx,
    pub principal: &'a crate::authz::Principal,
    pub page: &'a crate::web::Page,
    pub now: time::OffsetDateTime,
}

/// A panel's drawing: its HTML fragment, or `None` when the panel is not for this member.
pub type PanelFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Option<String>, crate::AppError>> + Send + 'a>>;

/// A panel of the signed-in home page (`/dashboard`), the page that answers "what do I do today".
/// The home page belongs to identity, which knows no product module: each module registers its
/// panels here, and the page draws every module's panels by position in one tenant transaction.
/// A panel renders itself (an askama template of its module, so its text is escaped there) as a
/// `<section>` fragment, with its own empty state; it returns `None` when the member may not see
/// it (a managers' panel for a user) — the panel checks the member's grants itself.
#[derive(Clone, Copy)]
pub struct HomePanel {
    /// Stable name, for the panel's anchor and the tests (`crm.my_tasks`).
    pub key: &'static str,
    /// Where it goes among every module's panels (lower first).
    pub position: u16,
    pub render: for<'a> fn(HomeCtx<'a>) -> PanelFuture<'a>,
}

impl std::fmt::Debug for HomePanel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HomePanel({}, {})", self.key, self.position)
    }
}

/// What a record panel is given: the member's tenant transaction (their visibility applies), who
/// they are, their page, and the record shown: its object type's singular name (`lead`,
/// `contact`, `company`, `deal`), its id and its values as the record page read them.
pub struct RecordCtx<'a> {
    pub tx: &'a mut crate::OrgTx,
    pub principal: &'a crate::authz::Principal,
    pub page: &'a crate::web::Page,
    pub object: &'static str,
    pub id: uuid::Uuid,
    pub values: &'a serde_json::Map<String, serde_json::Value>,
}

/// A panel of a CRM record's page drawn by another module (outreach shows the record's sequences
/// and its do-not-contact state): the CRM knows no module that builds on it, so modules register
/// panels here and the record page draws them by position, in its own transaction. Like a
/// [`HomePanel`], it renders itself as a `<section>` fragment and returns `None` when it has
/// nothing for this record or member.
#[derive(Clone, Copy)]
pub struct RecordPanel {
    /// Stable name, for the panel's anchor and the tests (`outreach.sequences`).
    pub key: &'static str,
    pub position: u16,
    pub render: for<'a> fn(RecordCtx<'a>) -> PanelFuture<'a>,
}

impl std::fmt::Debug for RecordPanel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecordPanel({}, {})", self.key, self.position)
    }
}

/// What a navigation count is given: the member's tenant transaction (their visibility applies),
/// who they are, their time zone (for "today") and the request's time.
pub struct NavCountCtx<'a> {
    pub tx: &'a mut crate::OrgTx,
    pub principal: &'a crate::authz::Principal,
    pub tz: chrono_tz::Tz,
    pub now: time::OffsetDateTime,
}

/// A count's result: how many things wait, or `None` when the count is not for this member.
pub type CountFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Option<i64>, crate::AppError>> + Send + 'a>>;

/// A number next to one of the module's navigation links: what waits for the member there (their
/// tasks due today or overdue). Counts are read after the page has loaded (the sidebar asks for
/// them), so a slow count never delays a page; each must be cheap (an indexed count bounded by
/// the member's own work, never a scan of the organization's records).
#[derive(Clone, Copy)]
pub struct NavCount {
    /// The `href` of the module's [`NavLink`] the number goes next to.
    pub href: &'static str,
    /// The message key of what a screen reader hears instead of the bare number, with `{count}`
    /// ("3 due today or overdue").
    pub label_key: &'static str,
    pub count: for<'a> fn(NavCountCtx<'a>) -> CountFuture<'a>,
}

impl std::fmt::Debug for NavCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NavCount({})", self.href)
    }
}

/// The element id of a navigation link's count, which the counts' answer fills in.
pub fn nav_count_id(href: &str) -> String {
    let slug: String = href.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    format!("nav-count{slug}")
}

/// Where an entry of the command palette shows: among pages (places to go) or actions (things to
/// do, usually a form to fill).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaletteGroup {
    Page,
    Action,
}

/// A page or an action the command palette (Ctrl-K) offers, brought by the module that serves it.
/// The module's navigation links are offered as pages too, without being listed again here.
#[derive(Debug, Clone, Copy)]
pub struct PaletteEntry {
    pub group: PaletteGroup,
    /// The message key of its label, in the module's own message files.
    pub label_key: &'static str,
    pub href: &'static str,
    /// The action a member's role must grant for the entry to be offered (`None`: every member).
    /// It matches the access of the route `href` opens (a test checks it), so the palette never
    /// offers what would answer "forbidden".
    pub action: Option<Action>,
    /// The message key of more words that find it ("create add" for "New lead"), in both languages.
    pub keywords_key: Option<&'static str>,
    /// The letter of its `g <letter>` keyboard shortcut, listed in the `?` help.
    pub shortcut: Option<char>,
}

/// One record the command palette found for a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHit {
    pub title: String,
    /// The message key of what it is ("Lead", "Company"), shown next to the title.
    pub kind_key: &'static str,
    pub href: String,
    /// Found only by tolerating a typo: pages and actions that match what was typed come first.
    pub approximate: bool,
}

/// What [`RecordSearch`] returns: the hits, or an error (a validation error means "nothing to
/// search for", the palette then shows pages and actions only).
pub type RecordSearchFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<RecordHit>, crate::AppError>> + Send + 'a>>;

/// A module's record search for the command palette: inside the member's tenant transaction (so
/// the organization and the visibility rules apply), at most `limit` hits for the query.
pub type RecordSearch =
    for<'a> fn(&'a mut crate::OrgTx, &'a crate::authz::Principal, &'a str, u32) -> RecordSearchFuture<'a>;

/// Everything one module brings. Start from [`Module::new`] and fill in what the module has.
pub struct Module {
    pub name: &'static str,
    pub routes: fn() -> Vec<RouteDef>,
    /// The module's tables, in groups (each feature keeps its own list).
    pub tables: &'static [&'static [TableEntry]],
    pub actions: &'static [Action],
    pub doors: &'static [Door],
    pub jobs: fn(&mut Registry, &JobDeps<'_>),
    /// Its long-running tasks beside the job worker ([`crate::watchers`]), given what job handlers
    /// get and the application clock (a watcher has no job's `now`; tests move the clock).
    pub watchers: fn(&JobDeps<'_>, &Clock) -> Vec<Watcher>,
    /// The module's part of the OpenAPI document (`paths` and `components.schemas`), as JSON.
    pub openapi: fn() -> Value,
    pub subscribers: &'static [Subscriber],
    pub settings: &'static [SettingDef],
    /// The module's message files (`locales/en.json`, `locales/fr.json`).
    pub locales: &'static [crate::i18n::Locale],
    /// The module's links in the signed-in navigation.
    pub nav: &'static [NavLink],
    /// The module's panels on the home page.
    pub home_panels: &'static [HomePanel],
    /// Panels this module adds to CRM record pages.
    pub record_panels: &'static [RecordPanel],
    /// Numbers next to its navigation links.
    pub nav_counts: &'static [NavCount],
    /// Its pages and actions in the command palette (besides its `nav` links).
    pub palette: &'static [PaletteEntry],
    /// Its record search for the command palette, if it has records.
    pub record_search: Option<RecordSearch>,
    pub configure: fn(&Vars<'_>, &mut ModuleSettings) -> Result<(), ConfigError>,
}

fn no_routes() -> Vec<RouteDef> {
    Vec::new()
}

fn no_jobs(_: &mut Registry, _: &JobDeps<'_>) {}

fn no_watchers(_: &JobDeps<'_>, _: &Clock) -> Vec<Watcher> {
    Vec::new()
}

fn no_openapi() -> Value {
    Value::Null
}

fn no_settings(_: &Vars<'_>, _: &mut ModuleSettings) -> Result<(), ConfigError> {
    Ok(())
}

impl Module {
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            routes: no_routes,
            tables: &[],
            actions: &[],
            doors: &[],
            jobs: no_jobs,
            watchers: no_watchers,
            openapi: no_openapi,
            subscribers: &[],
            settings: &[],
            locales: &[],
            nav: &[],
            home_panels: &[],
            record_panels: &[],
            nav_counts: &[],
            palette: &[],
            record_search: None,
            configure: no_settings,
        }
    }
}

/// The kernel's own tables, doors and jobs, which every assembly has.
const KERNEL_DOORS: &[Door] = &[
    Door {
        function: "app.rate_limit_hit",
        caller: DoorCaller::Platform,
        purpose: "count a hit in a rate-limit bucket (HMAC-keyed names: no email or address is stored)",
    },
    Door {
        function: "app.rate_limit_peek",
        caller: DoorCaller::Platform,
        purpose: "look whether a rate-limit bucket is still under its limit, without counting a hit",
    },
];

/// The assembled application: the kernel plus every module, in the order given.
pub struct Modules(Vec<Module>);

impl Modules {
    pub fn new(modules: Vec<Module>) -> Self {
        Self(modules)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Module> {
        self.0.iter()
    }

    /// Every table: the kernel's, then each module's.
    pub fn catalog(&self) -> Vec<TableEntry> {
        let mut tables = [crate::catalog::KERNEL_TABLES, crate::ratelimit::TABLES].concat();
        for group in self.0.iter().flat_map(|module| module.tables) {
            tables.extend_from_slice(group);
        }
        tables
    }

    pub fn routes(&self) -> Vec<RouteDef> {
        self.0.iter().flat_map(|module| (module.routes)()).collect()
    }

    /// Every module's actions, for `docs/permissions.md` and the permission test.
    pub fn actions(&self) -> Vec<(&'static str, &'static [Action])> {
        self.0.iter().filter(|m| !m.actions.is_empty()).map(|m| (m.name, m.actions)).collect()
    }

    /// Every declared door with the module that declares it (`kernel` for the kernel's own).
    pub fn doors(&self) -> Vec<(&'static str, &'static Door)> {
        let kernel = KERNEL_DOORS.iter().map(|door| ("kernel", door));
        kernel.chain(self.0.iter().flat_map(|m| m.doors.iter().map(move |door| (m.name, door)))).collect()
    }

    /// The handlers of every background job: the kernel's mail, then each module's.
    pub fn job_registry(&self, deps: &JobDeps<'_>) -> Registry {
        let mut registry = Registry::default();
        crate::mail::register(&mut registry, deps.mailer.clone(), deps.vault.clone());
        for module in &self.0 {
            (module.jobs)(&mut registry, deps);
        }
        registry
    }

    /// Every module's watchers, in module order: what the process running the job worker starts
    /// beside it ([`crate::watchers::start`]).
    pub fn watchers(&self, deps: &JobDeps<'_>, clock: &Clock) -> Vec<Watcher> {
        self.0.iter().flat_map(|module| (module.watchers)(deps, clock)).collect()
    }

    /// Each module's OpenAPI part, to merge into the document.
    pub fn openapi_parts(&self) -> Vec<Value> {
        self.0.iter().map(|m| (m.openapi)()).filter(|part| !part.is_null()).collect()
    }

    /// Every module's message files, in module order.
    pub fn locales(&self) -> Vec<crate::i18n::Locale> {
        self.0.iter().flat_map(|m| m.locales.iter().copied()).collect()
    }

    /// Every module's navigation links, by position.
    pub fn nav(&self) -> Vec<NavLink> {
        let mut links: Vec<NavLink> = self.0.iter().flat_map(|m| m.nav.iter().copied()).collect();
        links.sort_by_key(|link| link.position);
        links
    }

    /// Every module's navigation counts, in the order of their links.
    pub fn nav_counts(&self) -> Vec<NavCount> {
        let links = self.nav();
        let mut counts: Vec<NavCount> = self.0.iter().flat_map(|m| m.nav_counts.iter().copied()).collect();
        counts.sort_by_key(|count| links.iter().position(|link| link.href == count.href));
        counts
    }

    /// Every module's home panels, by position.
    pub fn home_panels(&self) -> Vec<HomePanel> {
        let mut panels: Vec<HomePanel> = self.0.iter().flat_map(|m| m.home_panels.iter().copied()).collect();
        panels.sort_by_key(|panel| panel.position);
        panels
    }

    /// Every module's record panels, by position.
    pub fn record_panels(&self) -> Vec<RecordPanel> {
        let mut panels: Vec<RecordPanel> = self.0.iter().flat_map(|m| m.record_panels.iter().copied()).collect();
        panels.sort_by_key(|panel| panel.position);
        panels
    }

    /// The command palette of the assembly: every module's navigation links (as pages, with the
    /// action their route requires) and palette entries, and every record search.
    pub fn palette(&self) -> crate::palette::Palette {
        let routes = self.routes();
        let access = |href: &str| {
            routes.iter().find(|r| r.method == axum::http::Method::GET && r.path == href).map(|r| r.access)
        };
        let mut entries: Vec<PaletteEntry> = Vec::new();
        for link in self.nav() {
            let action = match access(link.href) {
                Some(crate::authz::Access::Can(action)) => Some(action),
                _ => None,
            };
            entries.push(PaletteEntry {
                group: PaletteGroup::Page,
                label_key: link.label_key,
                href: link.href,
                action,
                keywords_key: None,
                shortcut: None,
            });
        }
        for entry in self.0.iter().flat_map(|m| m.palette.iter()) {
            // A module's own entry for a link of the navigation replaces it (keywords, shortcut).
            entries.retain(|e| !(e.group == entry.group && e.href == entry.href));
            entries.push(*entry);
        }
        // The places with a shortcut (home, the record lists) come first: what an empty query shows.
        entries.sort_by_key(|entry| entry.shortcut.is_none());
        crate::palette::Palette { entries, searches: self.0.iter().filter_map(|m| m.record_search).collect() }
    }

    pub fn event_bus(&self) -> EventBus {
        EventBus::new(self.0.iter().flat_map(|m| m.subscribers.iter()).collect())
    }

    pub fn settings(&self) -> impl Iterator<Item = &'static SettingDef> + '_ {
        self.0.iter().flat_map(|m| m.settings.iter())
    }

    /// Parses every module's settings from the environment into `config`.
    pub fn configure(&self, vars: &HashMap<String, String>, config: &mut Config) -> Result<(), ConfigError> {
        let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        for module in &self.0 {
            (module.configure)(&get, &mut config.modules)?;
        }
        Ok(())
    }
}
