//! CRM core (issue #4; P1-03, P0-04, P1-18): leads, contacts, companies, deals on pipelines, the
//! work on them (notes, tasks, activities), field-level history, custom fields, lists with
//! filters and keyset pagination, search, kanban, duplicates, and per-object visibility.
//!
//! Every record type is described once in [`object`]; [`records`] and [`list`] read and write any
//! of them from those descriptions, and [`api`] and [`pages`] serve the four types with the same
//! generic handlers.

pub mod actions;
pub mod api;
pub mod custom;
pub mod demo;
pub mod display;
pub mod export;
pub mod files;
pub mod form;
pub mod forms;
pub mod idempotency;
pub mod import;
pub mod list;
pub mod merge;
pub mod object;
pub mod openapi;
pub mod pages;
pub mod pipelines;
pub mod record_events;
pub mod records;
pub mod relations;
pub mod reminders;
pub mod settings;
pub mod settings_pages;
pub mod values;
pub mod views;
pub mod webhooks;
pub mod worklog;

use axum::http::Method;
use kernel::authz::Access;
use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use kernel::module::{Door, DoorCaller, JobDeps, Module};
use kernel::web::RouteDef;

use api::{Companies, Contacts, Deals, Leads, Object};

/// The CRM as the application assembles it.
pub fn module() -> Module {
    Module {
        routes,
        tables: &[TABLES, import::TABLES],
        actions: actions::ALL,
        doors: DOORS,
        jobs,
        openapi: openapi::document,
        subscribers: &[webhooks::SUBSCRIBER],
        settings: webhooks::SETTINGS,
        configure: webhooks::configure,
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
    reminders::register(registry, deps.vault.clone(), deps.config.public_url.clone());
    let allow_private = deps.config.modules.get::<webhooks::WebhookSettings>().allow_private;
    webhooks::register(registry, deps.vault.clone(), allow_private);
}

/// The five routes every record type has, plus bulk and duplicates.
fn record_routes<O: Object>(
    base: &'static str,
    item: &'static str,
    bulk: &'static str,
    dups: &'static str,
) -> Vec<RouteDef> {
    use Method as M;
    vec![
        RouteDef::api(M::GET, base, Access::Can(actions::RECORDS_VIEW), api::list::<O>),
        RouteDef::api(M::POST, base, Access::Can(actions::RECORDS_EDIT), api::create::<O>),
        RouteDef::api(M::GET, item, Access::Can(actions::RECORDS_VIEW), api::get::<O>),
        RouteDef::api(M::PATCH, item, Access::Can(actions::RECORDS_EDIT), api::update::<O>),
        RouteDef::api(M::DELETE, item, Access::Can(actions::RECORDS_DELETE), api::delete::<O>),
        RouteDef::api(M::POST, bulk, Access::Can(actions::RECORDS_BULK_EDIT), api::bulk::<O>),
        RouteDef::api(M::GET, dups, Access::Can(actions::RECORDS_VIEW), api::duplicates::<O>),
    ]
}

/// The pages every record type has.
fn record_pages<O: Object>(
    list: &'static str,
    new: &'static str,
    item: &'static str,
    delete: &'static str,
    bulk: &'static str,
    views: &'static str,
    view_delete: &'static str,
) -> Vec<RouteDef> {
    use Method as M;
    vec![
        RouteDef::page(M::GET, list, Access::Can(actions::RECORDS_VIEW), pages::list::<O>),
        RouteDef::page(M::POST, list, Access::Can(actions::RECORDS_EDIT), pages::create::<O>),
        RouteDef::page(M::GET, new, Access::Can(actions::RECORDS_EDIT), pages::new_form::<O>),
        RouteDef::page(M::GET, item, Access::Can(actions::RECORDS_VIEW), pages::show::<O>),
        RouteDef::page(M::POST, item, Access::Can(actions::RECORDS_EDIT), pages::update::<O>),
        RouteDef::page(M::POST, delete, Access::Can(actions::RECORDS_DELETE), pages::delete::<O>),
        RouteDef::page(M::POST, bulk, Access::Can(actions::RECORDS_BULK_EDIT), pages::bulk::<O>),
        RouteDef::page(M::POST, views, Access::Can(actions::RECORDS_VIEW), pages::save_view::<O>),
        RouteDef::page(M::POST, view_delete, Access::Can(actions::RECORDS_VIEW), pages::delete_view::<O>),
    ]
}

/// Notes, tasks, activities and the timeline of every record type: `$base` is the record's API
/// path, `$page` its page path.
macro_rules! work_routes {
    ($o:ty, $base:literal, $page:literal) => {
        vec![
            RouteDef::api(
                Method::POST,
                concat!($base, "/notes"),
                Access::Can(actions::RECORDS_EDIT),
                worklog::api_add_note::<$o>,
            ),
            RouteDef::api(
                Method::POST,
                concat!($base, "/tasks"),
                Access::Can(actions::RECORDS_EDIT),
                worklog::api_add_task::<$o>,
            ),
            RouteDef::api(
                Method::POST,
                concat!($base, "/activities"),
                Access::Can(actions::RECORDS_EDIT),
                worklog::api_add_activity::<$o>,
            ),
            RouteDef::api(
                Method::GET,
                concat!($base, "/timeline"),
                Access::Can(actions::RECORDS_VIEW),
                worklog::api_timeline::<$o>,
            ),
            RouteDef::page(
                Method::POST,
                concat!($page, "/notes"),
                Access::Can(actions::RECORDS_EDIT),
                pages::add_note::<$o>,
            ),
            RouteDef::page(
                Method::POST,
                concat!($page, "/tasks"),
                Access::Can(actions::RECORDS_EDIT),
                pages::add_task::<$o>,
            ),
            RouteDef::page(
                Method::POST,
                concat!($page, "/activities"),
                Access::Can(actions::RECORDS_EDIT),
                pages::add_activity::<$o>,
            ),
            RouteDef::api(
                Method::POST,
                concat!($base, "/merge"),
                Access::Can(actions::RECORDS_MERGE),
                merge::api_merge::<$o>,
            ),
            RouteDef::page(
                Method::GET,
                concat!($page, "/merge"),
                Access::Can(actions::RECORDS_MERGE),
                pages::merge_form::<$o>,
            ),
            RouteDef::page(
                Method::POST,
                concat!($page, "/merge"),
                Access::Can(actions::RECORDS_MERGE),
                pages::merge_submit::<$o>,
            ),
        ]
    };
}

const CRM_JS: &str = include_str!("../static/crm.js");

async fn crm_js() -> impl axum::response::IntoResponse {
    use axum::http::header;
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        CRM_JS,
    )
}

/// Every route of the CRM with the access it requires.
pub fn routes() -> Vec<RouteDef> {
    use Method as M;
    let mut routes = vec![
        RouteDef::page(M::GET, "/static/crm.js", Access::Public, crm_js),
        RouteDef::page(M::GET, "/crm", Access::Can(actions::RECORDS_VIEW), pages::home),
        RouteDef::page(M::GET, "/crm/search", Access::Can(actions::RECORDS_VIEW), pages::search),
        RouteDef::page(M::GET, "/crm/deals/board", Access::Can(actions::RECORDS_VIEW), pages::board),
        RouteDef::page(M::POST, "/crm/deals/{id}/move", Access::Can(actions::RECORDS_EDIT), pages::move_deal),
        RouteDef::page(
            M::POST,
            "/crm/contacts/{id}/links",
            Access::Can(actions::RECORDS_EDIT),
            relations::page_link_contact,
        ),
        RouteDef::page(M::POST, "/crm/deals/{id}/links", Access::Can(actions::RECORDS_EDIT), relations::page_link_deal),
        RouteDef::page(M::GET, "/crm/companies/lookup", Access::Can(actions::RECORDS_VIEW), pages::lookup::<Companies>),
        RouteDef::page(M::GET, "/crm/contacts/lookup", Access::Can(actions::RECORDS_VIEW), pages::lookup::<Contacts>),
        RouteDef::page(M::GET, "/settings/crm", Access::Can(actions::CRM_CONFIGURE), settings_pages::page),
        RouteDef::page(
            M::POST,
            "/settings/crm/visibility",
            Access::Can(actions::CRM_CONFIGURE),
            settings_pages::visibility_submit,
        ),
        RouteDef::page(
            M::POST,
            "/settings/crm/fields",
            Access::Can(actions::CRM_CONFIGURE),
            settings_pages::field_create,
        ),
        RouteDef::page(
            M::POST,
            "/settings/crm/fields/{id}/delete",
            Access::Can(actions::CRM_CONFIGURE),
            settings_pages::field_delete,
        ),
        RouteDef::page(
            M::POST,
            "/settings/crm/pipelines",
            Access::Can(actions::CRM_CONFIGURE),
            settings_pages::pipeline_create,
        ),
        RouteDef::page(
            M::POST,
            "/settings/crm/pipelines/{id}",
            Access::Can(actions::CRM_CONFIGURE),
            settings_pages::pipeline_update,
        ),
    ];
    routes.extend(record_pages::<Leads>(
        "/crm/leads",
        "/crm/leads/new",
        "/crm/leads/{id}",
        "/crm/leads/{id}/delete",
        "/crm/leads/bulk",
        "/crm/leads/views",
        "/crm/leads/views/{id}/delete",
    ));
    routes.extend(record_pages::<Contacts>(
        "/crm/contacts",
        "/crm/contacts/new",
        "/crm/contacts/{id}",
        "/crm/contacts/{id}/delete",
        "/crm/contacts/bulk",
        "/crm/contacts/views",
        "/crm/contacts/views/{id}/delete",
    ));
    routes.extend(record_pages::<Companies>(
        "/crm/companies",
        "/crm/companies/new",
        "/crm/companies/{id}",
        "/crm/companies/{id}/delete",
        "/crm/companies/bulk",
        "/crm/companies/views",
        "/crm/companies/views/{id}/delete",
    ));
    routes.extend(record_pages::<Deals>(
        "/crm/deals",
        "/crm/deals/new",
        "/crm/deals/{id}",
        "/crm/deals/{id}/delete",
        "/crm/deals/bulk",
        "/crm/deals/views",
        "/crm/deals/views/{id}/delete",
    ));
    routes.extend(record_routes::<Leads>(
        "/api/v1/leads",
        "/api/v1/leads/{id}",
        "/api/v1/leads/bulk",
        "/api/v1/leads/{id}/duplicates",
    ));
    routes.extend(record_routes::<Contacts>(
        "/api/v1/contacts",
        "/api/v1/contacts/{id}",
        "/api/v1/contacts/bulk",
        "/api/v1/contacts/{id}/duplicates",
    ));
    routes.extend(record_routes::<Companies>(
        "/api/v1/companies",
        "/api/v1/companies/{id}",
        "/api/v1/companies/bulk",
        "/api/v1/companies/{id}/duplicates",
    ));
    routes.extend(record_routes::<Deals>(
        "/api/v1/deals",
        "/api/v1/deals/{id}",
        "/api/v1/deals/bulk",
        "/api/v1/deals/{id}/duplicates",
    ));
    routes.extend(work_routes!(Leads, "/api/v1/leads/{id}", "/crm/leads/{id}"));
    routes.extend(work_routes!(Contacts, "/api/v1/contacts/{id}", "/crm/contacts/{id}"));
    routes.extend(work_routes!(Companies, "/api/v1/companies/{id}", "/crm/companies/{id}"));
    routes.extend(work_routes!(Deals, "/api/v1/deals/{id}", "/crm/deals/{id}"));
    routes.extend([
        RouteDef::api(M::GET, "/api/v1/search", Access::Can(actions::RECORDS_VIEW), api::search),
        RouteDef::api(M::GET, "/api/v1/pipelines", Access::Can(actions::RECORDS_VIEW), pipelines::api_list),
        RouteDef::api(M::POST, "/api/v1/pipelines", Access::Can(actions::CRM_CONFIGURE), pipelines::api_create),
        RouteDef::api(M::PATCH, "/api/v1/pipelines/{id}", Access::Can(actions::CRM_CONFIGURE), pipelines::api_update),
        RouteDef::api(M::DELETE, "/api/v1/pipelines/{id}", Access::Can(actions::CRM_CONFIGURE), pipelines::api_delete),
        RouteDef::api(M::GET, "/api/v1/pipelines/{id}/board", Access::Can(actions::RECORDS_VIEW), pipelines::api_board),
        RouteDef::api(M::POST, "/api/v1/deals/{id}/move", Access::Can(actions::RECORDS_EDIT), pipelines::api_move),
        RouteDef::api(
            M::GET,
            "/api/v1/contacts/{id}/related",
            Access::Can(actions::RECORDS_VIEW),
            relations::api_related_contact,
        ),
        RouteDef::api(
            M::GET,
            "/api/v1/companies/{id}/related",
            Access::Can(actions::RECORDS_VIEW),
            relations::api_related_company,
        ),
        RouteDef::api(
            M::GET,
            "/api/v1/deals/{id}/related",
            Access::Can(actions::RECORDS_VIEW),
            relations::api_related_deal,
        ),
        RouteDef::api(
            M::PUT,
            "/api/v1/contacts/{id}/companies/{company_id}",
            Access::Can(actions::RECORDS_EDIT),
            relations::api_link_contact_company,
        ),
        RouteDef::api(
            M::DELETE,
            "/api/v1/contacts/{id}/companies/{company_id}",
            Access::Can(actions::RECORDS_EDIT),
            relations::api_unlink_contact_company,
        ),
        RouteDef::api(
            M::PUT,
            "/api/v1/deals/{id}/contacts/{contact_id}",
            Access::Can(actions::RECORDS_EDIT),
            relations::api_link_deal_contact,
        ),
        RouteDef::api(
            M::DELETE,
            "/api/v1/deals/{id}/contacts/{contact_id}",
            Access::Can(actions::RECORDS_EDIT),
            relations::api_unlink_deal_contact,
        ),
        RouteDef::api(M::POST, "/api/v1/leads/{id}/convert", Access::Can(actions::RECORDS_EDIT), merge::api_convert),
        RouteDef::page(M::POST, "/crm/leads/{id}/convert", Access::Can(actions::RECORDS_EDIT), pages::convert_lead),
        RouteDef::api(M::GET, "/api/v1/tasks", Access::Can(actions::RECORDS_VIEW), worklog::api_my_tasks),
        RouteDef::api(M::PATCH, "/api/v1/tasks/{id}", Access::Can(actions::RECORDS_EDIT), worklog::api_change_task),
        RouteDef::api(M::DELETE, "/api/v1/tasks/{id}", Access::Can(actions::RECORDS_EDIT), worklog::api_delete_task),
        RouteDef::api(M::DELETE, "/api/v1/notes/{id}", Access::Can(actions::RECORDS_EDIT), worklog::api_delete_note),
        RouteDef::api(
            M::DELETE,
            "/api/v1/activities/{id}",
            Access::Can(actions::RECORDS_EDIT),
            worklog::api_delete_activity,
        ),
        RouteDef::page(M::POST, "/crm/tasks/{id}/status", Access::Can(actions::RECORDS_EDIT), pages::task_status),
        RouteDef::api(M::GET, "/api/v1/views", Access::Can(actions::RECORDS_VIEW), views::api_list),
        RouteDef::api(M::POST, "/api/v1/views", Access::Can(actions::RECORDS_VIEW), views::api_create),
        RouteDef::api(M::PATCH, "/api/v1/views/{id}", Access::Can(actions::RECORDS_VIEW), views::api_update),
        RouteDef::api(M::DELETE, "/api/v1/views/{id}", Access::Can(actions::RECORDS_VIEW), views::api_delete),
        RouteDef::api(M::GET, "/api/v1/custom-fields", Access::Can(actions::RECORDS_VIEW), settings::api_list_fields),
        RouteDef::api(
            M::POST,
            "/api/v1/custom-fields",
            Access::Can(actions::CRM_CONFIGURE),
            settings::api_create_field,
        ),
        RouteDef::api(
            M::DELETE,
            "/api/v1/custom-fields/{id}",
            Access::Can(actions::CRM_CONFIGURE),
            settings::api_delete_field,
        ),
        RouteDef::api(
            M::GET,
            "/api/v1/crm/visibility",
            Access::Can(actions::RECORDS_VIEW),
            settings::api_get_visibility,
        ),
        RouteDef::api(
            M::PUT,
            "/api/v1/crm/visibility",
            Access::Can(actions::CRM_CONFIGURE),
            settings::api_put_visibility,
        ),
    ]);
    routes.extend(import::routes().into_iter().chain(export::routes()));
    routes.extend(files::routes());
    routes.extend(forms_and_webhooks_routes());
    routes
}

/// Landing-page forms (public and managed) and webhook endpoints.
fn forms_and_webhooks_routes() -> Vec<RouteDef> {
    use Method as M;
    let configure = || Access::Can(actions::CRM_CONFIGURE);
    vec![
        // Public: anyone may open and submit a published form (rate-limited, honeypot).
        RouteDef::page(M::GET, "/f/{public_id}", Access::Public, forms::public_show),
        RouteDef::page(M::POST, "/f/{public_id}", Access::Public, forms::public_submit),
        RouteDef::page(M::GET, "/crm/forms", configure(), forms::page_list),
        RouteDef::page(M::POST, "/crm/forms", configure(), forms::page_create),
        RouteDef::page(M::GET, "/crm/forms/{id}", configure(), forms::page_show),
        RouteDef::page(M::POST, "/crm/forms/{id}", configure(), forms::page_update),
        RouteDef::page(M::POST, "/crm/forms/{id}/delete", configure(), forms::page_delete),
        RouteDef::api(M::GET, "/api/v1/forms", configure(), forms::api_list),
        RouteDef::api(M::POST, "/api/v1/forms", configure(), forms::api_create),
        RouteDef::api(M::GET, "/api/v1/forms/{id}", configure(), forms::api_get),
        RouteDef::api(M::PATCH, "/api/v1/forms/{id}", configure(), forms::api_update),
        RouteDef::api(M::DELETE, "/api/v1/forms/{id}", configure(), forms::api_delete),
        RouteDef::page(M::GET, "/settings/webhooks", configure(), webhooks::page_list),
        RouteDef::page(M::POST, "/settings/webhooks", configure(), webhooks::page_create),
        RouteDef::page(M::GET, "/settings/webhooks/{id}", configure(), webhooks::page_show),
        RouteDef::page(M::POST, "/settings/webhooks/{id}", configure(), webhooks::page_action),
        RouteDef::api(M::GET, "/api/v1/webhooks", configure(), webhooks::api_list),
        RouteDef::api(M::POST, "/api/v1/webhooks", configure(), webhooks::api_create),
        RouteDef::api(M::GET, "/api/v1/webhooks/{id}", configure(), webhooks::api_get),
        RouteDef::api(M::PATCH, "/api/v1/webhooks/{id}", configure(), webhooks::api_update),
        RouteDef::api(M::DELETE, "/api/v1/webhooks/{id}", configure(), webhooks::api_delete),
        RouteDef::api(M::GET, "/api/v1/webhooks/{id}/deliveries", configure(), webhooks::api_deliveries),
        RouteDef::api(M::POST, "/api/v1/webhooks/{id}/ping", configure(), webhooks::api_ping),
    ]
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
        description: "Each delivery attempt: HTTP status, a fixed error text, duration, time (never the receiver's body).",
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
