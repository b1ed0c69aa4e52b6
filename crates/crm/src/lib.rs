//! CRM core (issue #4; P1-03, P0-04, P1-18): leads, contacts, companies, deals on pipelines, the
//! work on them (notes, tasks, activities), field-level history, custom fields, lists with
//! filters and keyset pagination, search, kanban, duplicates, and per-object visibility.
//!
//! Every record type is described once in [`object`]; [`records`] and [`list`] read and write any
//! of them from those descriptions, and [`api`] and [`pages`] serve the four types with the same
//! generic handlers.

pub mod actions;
pub mod conversion;
pub mod custom_fields;
pub mod demo;
pub mod display;
pub mod export;
pub mod files;
pub mod forms;
pub mod home;
pub mod http;
pub mod idempotency;
pub mod import;
pub mod limits;
pub mod list;
pub mod merge;
pub mod object;
pub mod openapi;
pub mod pipelines;
pub mod record_events;
pub mod records;
pub mod relations;
pub mod routes;
pub mod search;
pub mod settings;
pub mod values;
pub mod views;
pub mod visibility;
pub mod webhooks;
pub mod worklog;

use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use kernel::module::{Door, DoorCaller, JobDeps, Module, NavLink};

/// The CRM as the application assembles it.
pub fn module() -> Module {
    Module {
        routes: routes::all,
        tables: &[TABLES, import::TABLES],
        actions: actions::ALL,
        doors: DOORS,
        jobs,
        openapi: openapi::document,
        subscribers: &[webhooks::SUBSCRIBER],
        settings: webhooks::SETTINGS,
        configure: webhooks::configure,
        locales: &[
            (kernel::i18n::Lang::En, include_str!("../locales/en.json")),
            (kernel::i18n::Lang::Fr, include_str!("../locales/fr.json")),
        ],
        // One link per kind of record, so the sidebar opens each list directly.
        nav: &[
            NavLink { href: "/crm/leads", label_key: "crm.object.leads", position: 10 },
            NavLink { href: "/crm/contacts", label_key: "crm.object.contacts", position: 11 },
            NavLink { href: "/crm/companies", label_key: "crm.object.companies", position: 12 },
            NavLink { href: "/crm/deals", label_key: "crm.object.deals", position: 13 },
            NavLink { href: "/crm/deals/board", label_key: "crm.nav.board", position: 14 },
            NavLink { href: "/crm/tasks", label_key: "crm.tasks.title", position: 15 },
        ],
        home_panels: home::PANELS,
        nav_counts: home::NAV_COUNTS,
        palette: search::palette::ENTRIES,
        record_search: Some(search::palette::search),
        ..Module::new("crm")
    }
}

const DOORS: &[Door] = &[
    Door {
        function: "app.resolve_lead_form",
        caller: DoorCaller::BeforeTenant,
        purpose: "a landing-page form's public id to (org, form) for an anonymous visitor: active forms of active orgs only",
    },
    Door {
        function: "app.crm_search",
        caller: DoorCaller::Member,
        purpose: "substring and typo search on the trigram indexes, applying org and visibility itself",
    },
    Door {
        function: "app.crm_search_words",
        caller: DoorCaller::Member,
        purpose: "word-prefix search on the word index, applying org and visibility itself",
    },
];

fn jobs(registry: &mut kernel::jobs::Registry, deps: &JobDeps<'_>) {
    import::register(registry);
    worklog::jobs::register(registry, deps.vault.clone(), deps.config.public_url.clone());
    let allow_private = deps.config.modules.get::<webhooks::WebhookSettings>().allow_private;
    webhooks::register(registry, deps.vault.clone(), allow_private);
}

const CRM_PURPOSE: &str = "CRM: the customer organization's sales records (P1-03)";

const fn crm_table(
    table: &'static str,
    description: &'static str,
    subject: Subject,
    personal_columns: &'static [&'static str],
) -> TableEntry {
    TableEntry {
        table,
        module: "crm",
        description,
        subject,
        personal_columns,
        purpose: CRM_PURPOSE,
        // The customer organization is the controller of its CRM data and chooses its basis;
        // Relais processes it for them under the contract (Art. 28).
        legal_basis: LegalBasis::Contract,
        retention: Retention::AccountLifetimePlusDays { days: 30 },
        erasure: Erasure::Delete,
        tenant: true,
    }
}

pub const TABLES: &[TableEntry] = &[
    crm_table(
        "crm_visibility",
        "Per object type: whether every member sees all records or users only their own and their departments'.",
        Subject::NoPerson,
        &[],
    ),
    crm_table("custom_fields", "Custom field definitions per object type.", Subject::NoPerson, &[]),
    crm_table(
        "saved_views",
        "Saved list views: filters, sort, search and columns, personal or shared; filter values may name people.",
        Subject::AccountHolder,
        &["owner_id", "filters", "q"],
    ),
    crm_table(
        "companies",
        "Companies: name, web domain, phone, address, size, industry, owner, custom values.",
        Subject::CrmContact,
        &["phone", "address", "custom"],
    ),
    crm_table(
        "contacts",
        "People in the CRM: names, email, phones (E.164), job title, language, time zone, owner, custom values.",
        Subject::CrmContact,
        &["first_name", "last_name", "email", "phone", "mobile", "title", "language", "time_zone", "custom"],
    ),
    crm_table(
        "contact_companies",
        "Which companies a contact works for, with their role.",
        Subject::CrmContact,
        &["contact_id", "role"],
    ),
    crm_table("pipelines", "Sales pipelines.", Subject::NoPerson, &[]),
    crm_table(
        "pipeline_stages",
        "Ordered stages of a pipeline, with default probability and outcome.",
        Subject::NoPerson,
        &[],
    ),
    crm_table(
        "leads",
        "Leads: identity, status, source, UTM attribution, referrer, landing URL, consent text and time, conversion.",
        Subject::CrmContact,
        &[
            "first_name",
            "last_name",
            "email",
            "phone",
            "company_name",
            "title",
            "referrer",
            "landing_url",
            "consent_text",
            "consent_at",
            "custom",
        ],
    ),
    crm_table(
        "deals",
        "Deals: name, pipeline stage, amount and currency, expected close date, probability, company, owner.",
        Subject::NoPerson,
        &["custom"],
    ),
    crm_table(
        "deal_contacts",
        "The contacts involved in a deal, with their role.",
        Subject::CrmContact,
        &["contact_id", "role"],
    ),
    crm_table(
        "record_changes",
        "Field-level history of records: who changed which field, from what to what, when.",
        Subject::CrmContact,
        &["old_value", "new_value", "changed_by"],
    ),
    crm_table(
        "notes",
        "Notes in Markdown on a record, with their author.",
        Subject::CrmContact,
        &["body", "author_id"],
    ),
    crm_table(
        "tasks",
        "Tasks: title, description, assignee, due date, reminder and status.",
        Subject::CrmContact,
        &["title", "description", "assignee_id"],
    ),
    TableEntry {
        table: "idempotency_keys",
        module: "crm",
        description: "Idempotency keys of creating API requests and the answer given, so a retry creates nothing twice.",
        subject: Subject::CrmContact,
        personal_columns: &["response"],
        purpose: "Reliable API: a retried request is answered without creating a duplicate",
        legal_basis: LegalBasis::Contract,
        retention: Retention::UntilExpiry,
        erasure: Erasure::Delete,
        tenant: true,
    },
    crm_table(
        "lead_forms",
        "Landing-page forms: fields asked, consent wording, thank-you message, owner of new leads.",
        Subject::NoPerson,
        &[],
    ),
    crm_table(
        "webhook_endpoints",
        "Webhook endpoints: URL, subscribed events, signing secret sealed by the vault.",
        Subject::NoPerson,
        &[],
    ),
    TableEntry {
        table: "webhook_deliveries",
        module: "crm",
        description: "Events queued for a webhook endpoint: the signed payload (a copy of the record) and its delivery state.",
        subject: Subject::CrmContact,
        personal_columns: &["payload"],
        purpose: "Deliver record events to the organization's own systems (webhooks)",
        legal_basis: LegalBasis::Contract,
        // The delivery log is for troubleshooting; payloads copy CRM data, so it is kept briefly.
        retention: Retention::RollingMonths { months: 1 },
        erasure: Erasure::Delete,
        tenant: true,
    },
    TableEntry {
        table: "webhook_attempts",
        module: "crm",
        description: "Each delivery attempt: HTTP status, a fixed error code and its English text, duration, time (never the receiver's body).",
        subject: Subject::NoPerson,
        personal_columns: &[],
        purpose: "Deliver record events to the organization's own systems (webhooks)",
        legal_basis: LegalBasis::Contract,
        retention: Retention::RollingMonths { months: 1 },
        erasure: Erasure::Delete,
        tenant: true,
    },
    crm_table(
        "activities",
        "Calls, meetings and logged emails on a record: subject, notes, outcome, time.",
        Subject::CrmContact,
        &["subject", "body", "outcome", "author_id"],
    ),
    crm_table(
        "files",
        "Files attached to a record: name, sniffed content type, size, SHA-256, storage key, who uploaded it; the bytes are in the file store.",
        Subject::CrmContact,
        &["name", "storage_key", "sha256", "uploaded_by"],
    ),
];
