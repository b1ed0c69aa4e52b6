//! Every route of the CRM, with the access it requires, in one place: a newcomer finds the handler
//! of any URL here. Handlers live in their feature's `api.rs` or `pages.rs`.

use axum::http::Method;
use kernel::authz::Access;
use kernel::web::RouteDef;

use crate::actions;
use crate::http::{Companies, Contacts, Deals, Leads, Object};
use crate::*;

/// The five routes every record type has, plus bulk and duplicates.
fn record_routes<O: Object>(
    base: &'static str,
    item: &'static str,
    bulk: &'static str,
    dups: &'static str,
) -> Vec<RouteDef> {
    use Method as M;
    vec![
        RouteDef::api(M::GET, base, Access::Can(actions::RECORDS_VIEW), list::api::list::<O>),
        RouteDef::api(M::POST, base, Access::Can(actions::RECORDS_EDIT), records::api::create::<O>),
        RouteDef::api(M::GET, item, Access::Can(actions::RECORDS_VIEW), records::api::get::<O>),
        RouteDef::api(M::PATCH, item, Access::Can(actions::RECORDS_EDIT), records::api::update::<O>),
        RouteDef::api(M::DELETE, item, Access::Can(actions::RECORDS_DELETE), records::api::delete::<O>),
        RouteDef::api(M::POST, bulk, Access::Can(actions::RECORDS_BULK_EDIT), records::api::bulk::<O>),
        RouteDef::api(M::GET, dups, Access::Can(actions::RECORDS_VIEW), records::api::duplicates::<O>),
    ]
}

/// The pages every record type has.
fn record_pages<O: Object>(
    list: &'static str,
    new: &'static str,
    item: &'static str,
    delete: &'static str,
    bulk: &'static str,
) -> Vec<RouteDef> {
    use Method as M;
    vec![
        RouteDef::page(M::GET, list, Access::Can(actions::RECORDS_VIEW), list::pages::list::<O>),
        RouteDef::page(M::POST, list, Access::Can(actions::RECORDS_EDIT), records::pages::create::<O>),
        RouteDef::page(M::GET, new, Access::Can(actions::RECORDS_EDIT), records::pages::new_form::<O>),
        RouteDef::page(M::GET, item, Access::Can(actions::RECORDS_VIEW), records::pages::show::<O>),
        RouteDef::page(M::POST, item, Access::Can(actions::RECORDS_EDIT), records::pages::update::<O>),
        RouteDef::page(M::POST, delete, Access::Can(actions::RECORDS_DELETE), records::pages::delete::<O>),
        RouteDef::page(M::POST, bulk, Access::Can(actions::RECORDS_BULK_EDIT), records::pages::bulk::<O>),
    ]
}

/// A list page's saved views: "save as view", "update this view", "delete this view".
fn view_pages<O: Object>(save: &'static str, update: &'static str, delete: &'static str) -> Vec<RouteDef> {
    use Method as M;
    vec![
        RouteDef::page(M::POST, save, Access::Can(actions::RECORDS_VIEW), views::pages::save_view::<O>),
        RouteDef::page(M::POST, update, Access::Can(actions::RECORDS_VIEW), views::pages::update_view::<O>),
        RouteDef::page(M::POST, delete, Access::Can(actions::RECORDS_VIEW), views::pages::delete_view::<O>),
    ]
}

/// The record page's editing: every field in one form, and one field at a time (htmx).
fn record_edits<O: Object>(edit: &'static str, field: &'static str) -> Vec<RouteDef> {
    use Method as M;
    vec![
        RouteDef::page(M::GET, edit, Access::Can(actions::RECORDS_EDIT), records::pages::edit_all::<O>),
        RouteDef::page(M::GET, field, Access::Can(actions::RECORDS_VIEW), records::pages::field_show::<O>),
        RouteDef::page(M::POST, field, Access::Can(actions::RECORDS_EDIT), records::pages::field_save::<O>),
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
                worklog::api::add_note::<$o>,
            ),
            RouteDef::api(
                Method::POST,
                concat!($base, "/tasks"),
                Access::Can(actions::RECORDS_EDIT),
                worklog::api::add_task::<$o>,
            ),
            RouteDef::api(
                Method::POST,
                concat!($base, "/activities"),
                Access::Can(actions::RECORDS_EDIT),
                worklog::api::add_activity::<$o>,
            ),
            RouteDef::api(
                Method::GET,
                concat!($base, "/timeline"),
                Access::Can(actions::RECORDS_VIEW),
                worklog::api::timeline::<$o>,
            ),
            RouteDef::page(
                Method::POST,
                concat!($page, "/notes"),
                Access::Can(actions::RECORDS_EDIT),
                worklog::pages::add_note::<$o>,
            ),
            RouteDef::page(
                Method::POST,
                concat!($page, "/tasks"),
                Access::Can(actions::RECORDS_EDIT),
                worklog::pages::add_task::<$o>,
            ),
            RouteDef::page(
                Method::POST,
                concat!($page, "/activities"),
                Access::Can(actions::RECORDS_EDIT),
                worklog::pages::add_activity::<$o>,
            ),
            RouteDef::api(
                Method::POST,
                concat!($base, "/merge"),
                Access::Can(actions::RECORDS_MERGE),
                merge::api::api_merge::<$o>,
            ),
            RouteDef::page(
                Method::GET,
                concat!($page, "/merge"),
                Access::Can(actions::RECORDS_MERGE),
                merge::pages::merge_form::<$o>,
            ),
            RouteDef::page(
                Method::POST,
                concat!($page, "/merge"),
                Access::Can(actions::RECORDS_MERGE),
                merge::pages::merge_submit::<$o>,
            ),
        ]
    };
}

/// Every route of the CRM with the access it requires: what `module()` mounts.
pub fn all() -> Vec<RouteDef> {
    use Method as M;
    let mut routes = vec![
        RouteDef::page(M::GET, "/static/crm.js", Access::Public, crm_js),
        RouteDef::page(M::GET, "/static/crm-record.js", Access::Public, crm_record_js),
        RouteDef::page(M::GET, "/crm", Access::Can(actions::RECORDS_VIEW), search::pages::home),
        RouteDef::page(M::GET, "/crm/search", Access::Can(actions::RECORDS_VIEW), search::pages::search),
        RouteDef::page(M::GET, "/crm/deals/board", Access::Can(actions::RECORDS_VIEW), pipelines::pages::board),
        RouteDef::page(M::POST, "/crm/deals/board", Access::Can(actions::RECORDS_EDIT), pipelines::pages::quick_add),
        RouteDef::page(
            M::POST,
            "/crm/deals/{id}/move",
            Access::Can(actions::RECORDS_EDIT),
            pipelines::pages::move_deal,
        ),
        RouteDef::page(
            M::POST,
            "/crm/contacts/{id}/links",
            Access::Can(actions::RECORDS_EDIT),
            relations::pages::link_contact,
        ),
        RouteDef::page(
            M::POST,
            "/crm/deals/{id}/links",
            Access::Can(actions::RECORDS_EDIT),
            relations::pages::link_deal,
        ),
        RouteDef::page(
            M::GET,
            "/crm/companies/lookup",
            Access::Can(actions::RECORDS_VIEW),
            search::pages::lookup::<Companies>,
        ),
        RouteDef::page(
            M::GET,
            "/crm/contacts/lookup",
            Access::Can(actions::RECORDS_VIEW),
            search::pages::lookup::<Contacts>,
        ),
        RouteDef::page(M::GET, "/settings/crm", Access::Can(actions::CRM_CONFIGURE), settings::pages::page),
        RouteDef::page(
            M::POST,
            "/settings/crm/visibility",
            Access::Can(actions::CRM_CONFIGURE),
            settings::pages::visibility_submit,
        ),
        RouteDef::page(
            M::POST,
            "/settings/crm/fields",
            Access::Can(actions::CRM_CONFIGURE),
            settings::pages::field_create,
        ),
        RouteDef::page(
            M::POST,
            "/settings/crm/fields/{id}/delete",
            Access::Can(actions::CRM_CONFIGURE),
            settings::pages::field_delete,
        ),
        RouteDef::page(
            M::POST,
            "/settings/crm/pipelines",
            Access::Can(actions::CRM_CONFIGURE),
            settings::pages::pipeline_create,
        ),
        RouteDef::page(
            M::POST,
            "/settings/crm/pipelines/{id}",
            Access::Can(actions::CRM_CONFIGURE),
            settings::pages::pipeline_update,
        ),
    ];
    routes.extend(record_pages::<Leads>(
        "/crm/leads",
        "/crm/leads/new",
        "/crm/leads/{id}",
        "/crm/leads/{id}/delete",
        "/crm/leads/bulk",
    ));
    routes.extend(view_pages::<Leads>("/crm/leads/views", "/crm/leads/views/{id}", "/crm/leads/views/{id}/delete"));
    routes.extend(record_edits::<Leads>("/crm/leads/{id}/edit", "/crm/leads/{id}/fields/{field}"));
    routes.extend(record_pages::<Contacts>(
        "/crm/contacts",
        "/crm/contacts/new",
        "/crm/contacts/{id}",
        "/crm/contacts/{id}/delete",
        "/crm/contacts/bulk",
    ));
    routes.extend(view_pages::<Contacts>(
        "/crm/contacts/views",
        "/crm/contacts/views/{id}",
        "/crm/contacts/views/{id}/delete",
    ));
    routes.extend(record_edits::<Contacts>("/crm/contacts/{id}/edit", "/crm/contacts/{id}/fields/{field}"));
    routes.extend(record_pages::<Companies>(
        "/crm/companies",
        "/crm/companies/new",
        "/crm/companies/{id}",
        "/crm/companies/{id}/delete",
        "/crm/companies/bulk",
    ));
    routes.extend(view_pages::<Companies>(
        "/crm/companies/views",
        "/crm/companies/views/{id}",
        "/crm/companies/views/{id}/delete",
    ));
    routes.extend(record_edits::<Companies>("/crm/companies/{id}/edit", "/crm/companies/{id}/fields/{field}"));
    routes.extend(record_pages::<Deals>(
        "/crm/deals",
        "/crm/deals/new",
        "/crm/deals/{id}",
        "/crm/deals/{id}/delete",
        "/crm/deals/bulk",
    ));
    routes.extend(view_pages::<Deals>("/crm/deals/views", "/crm/deals/views/{id}", "/crm/deals/views/{id}/delete"));
    routes.extend(record_edits::<Deals>("/crm/deals/{id}/edit", "/crm/deals/{id}/fields/{field}"));
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
        RouteDef::api(M::GET, "/api/v1/search", Access::Can(actions::RECORDS_VIEW), search::api::search),
        RouteDef::api(M::GET, "/api/v1/pipelines", Access::Can(actions::RECORDS_VIEW), pipelines::api::api_list),
        RouteDef::api(M::POST, "/api/v1/pipelines", Access::Can(actions::CRM_CONFIGURE), pipelines::api::api_create),
        RouteDef::api(
            M::PATCH,
            "/api/v1/pipelines/{id}",
            Access::Can(actions::CRM_CONFIGURE),
            pipelines::api::api_update,
        ),
        RouteDef::api(
            M::DELETE,
            "/api/v1/pipelines/{id}",
            Access::Can(actions::CRM_CONFIGURE),
            pipelines::api::api_delete,
        ),
        RouteDef::api(
            M::GET,
            "/api/v1/pipelines/{id}/board",
            Access::Can(actions::RECORDS_VIEW),
            pipelines::api::api_board,
        ),
        RouteDef::api(M::POST, "/api/v1/deals/{id}/move", Access::Can(actions::RECORDS_EDIT), pipelines::api::api_move),
        RouteDef::api(
            M::GET,
            "/api/v1/contacts/{id}/related",
            Access::Can(actions::RECORDS_VIEW),
            relations::api::related_contact,
        ),
        RouteDef::api(
            M::GET,
            "/api/v1/companies/{id}/related",
            Access::Can(actions::RECORDS_VIEW),
            relations::api::related_company,
        ),
        RouteDef::api(
            M::GET,
            "/api/v1/deals/{id}/related",
            Access::Can(actions::RECORDS_VIEW),
            relations::api::related_deal,
        ),
        RouteDef::api(
            M::PUT,
            "/api/v1/contacts/{id}/companies/{company_id}",
            Access::Can(actions::RECORDS_EDIT),
            relations::api::link_contact_company,
        ),
        RouteDef::api(
            M::DELETE,
            "/api/v1/contacts/{id}/companies/{company_id}",
            Access::Can(actions::RECORDS_EDIT),
            relations::api::unlink_contact_company,
        ),
        RouteDef::api(
            M::PUT,
            "/api/v1/deals/{id}/contacts/{contact_id}",
            Access::Can(actions::RECORDS_EDIT),
            relations::api::link_deal_contact,
        ),
        RouteDef::api(
            M::DELETE,
            "/api/v1/deals/{id}/contacts/{contact_id}",
            Access::Can(actions::RECORDS_EDIT),
            relations::api::unlink_deal_contact,
        ),
        RouteDef::api(
            M::POST,
            "/api/v1/leads/{id}/convert",
            Access::Can(actions::RECORDS_EDIT),
            conversion::api::api_convert,
        ),
        RouteDef::page(
            M::POST,
            "/crm/leads/{id}/convert",
            Access::Can(actions::RECORDS_EDIT),
            conversion::pages::convert_lead,
        ),
        RouteDef::api(M::GET, "/api/v1/tasks", Access::Can(actions::RECORDS_VIEW), worklog::api::my_tasks),
        RouteDef::api(M::PATCH, "/api/v1/tasks/{id}", Access::Can(actions::RECORDS_EDIT), worklog::api::change_task),
        RouteDef::api(M::DELETE, "/api/v1/tasks/{id}", Access::Can(actions::RECORDS_EDIT), worklog::api::delete_task),
        RouteDef::api(M::DELETE, "/api/v1/notes/{id}", Access::Can(actions::RECORDS_EDIT), worklog::api::delete_note),
        RouteDef::api(
            M::DELETE,
            "/api/v1/activities/{id}",
            Access::Can(actions::RECORDS_EDIT),
            worklog::api::delete_activity,
        ),
        RouteDef::page(M::GET, "/crm/tasks", Access::Can(actions::RECORDS_VIEW), worklog::pages::my_tasks),
        RouteDef::page(
            M::POST,
            "/crm/tasks/{id}/status",
            Access::Can(actions::RECORDS_EDIT),
            worklog::pages::task_status,
        ),
        RouteDef::api(M::GET, "/api/v1/views", Access::Can(actions::RECORDS_VIEW), views::api::list),
        RouteDef::api(M::POST, "/api/v1/views", Access::Can(actions::RECORDS_VIEW), views::api::create),
        RouteDef::api(M::PATCH, "/api/v1/views/{id}", Access::Can(actions::RECORDS_VIEW), views::api::update),
        RouteDef::api(M::DELETE, "/api/v1/views/{id}", Access::Can(actions::RECORDS_VIEW), views::api::delete),
        RouteDef::api(
            M::GET,
            "/api/v1/custom-fields",
            Access::Can(actions::RECORDS_VIEW),
            custom_fields::api::api_list_fields,
        ),
        RouteDef::api(
            M::POST,
            "/api/v1/custom-fields",
            Access::Can(actions::CRM_CONFIGURE),
            custom_fields::api::api_create_field,
        ),
        RouteDef::api(
            M::DELETE,
            "/api/v1/custom-fields/{id}",
            Access::Can(actions::CRM_CONFIGURE),
            custom_fields::api::api_delete_field,
        ),
        RouteDef::api(
            M::GET,
            "/api/v1/crm/visibility",
            Access::Can(actions::RECORDS_VIEW),
            visibility::api::api_get_visibility,
        ),
        RouteDef::api(
            M::PUT,
            "/api/v1/crm/visibility",
            Access::Can(actions::CRM_CONFIGURE),
            visibility::api::api_put_visibility,
        ),
    ]);
    routes.extend(imports());
    routes.extend(exports());
    routes.extend(files());
    routes.extend(forms_and_webhooks());
    routes
}

/// Landing-page forms (public and managed) and webhook endpoints.
fn forms_and_webhooks() -> Vec<RouteDef> {
    use Method as M;
    let configure = || Access::Can(actions::CRM_CONFIGURE);
    vec![
        // Public: anyone may open and submit a published form (rate-limited, honeypot).
        RouteDef::page(M::GET, "/f/{public_id}", Access::Public, forms::pages::public_show),
        RouteDef::page(M::POST, "/f/{public_id}", Access::Public, forms::pages::public_submit),
        RouteDef::page(M::GET, "/crm/forms", configure(), forms::pages::list),
        RouteDef::page(M::POST, "/crm/forms", configure(), forms::pages::create),
        RouteDef::page(M::GET, "/crm/forms/{id}", configure(), forms::pages::show),
        RouteDef::page(M::POST, "/crm/forms/{id}", configure(), forms::pages::update),
        RouteDef::page(M::POST, "/crm/forms/{id}/delete", configure(), forms::pages::delete),
        RouteDef::api(M::GET, "/api/v1/forms", configure(), forms::api::list),
        RouteDef::api(M::POST, "/api/v1/forms", configure(), forms::api::create),
        RouteDef::api(M::GET, "/api/v1/forms/{id}", configure(), forms::api::get),
        RouteDef::api(M::PATCH, "/api/v1/forms/{id}", configure(), forms::api::update),
        RouteDef::api(M::DELETE, "/api/v1/forms/{id}", configure(), forms::api::delete),
        RouteDef::page(M::GET, "/settings/webhooks", configure(), webhooks::pages::list),
        RouteDef::page(M::POST, "/settings/webhooks", configure(), webhooks::pages::create),
        RouteDef::page(M::GET, "/settings/webhooks/{id}", configure(), webhooks::pages::show),
        RouteDef::page(M::POST, "/settings/webhooks/{id}", configure(), webhooks::pages::action),
        RouteDef::api(M::GET, "/api/v1/webhooks", configure(), webhooks::api::list),
        RouteDef::api(M::POST, "/api/v1/webhooks", configure(), webhooks::api::create),
        RouteDef::api(M::GET, "/api/v1/webhooks/{id}", configure(), webhooks::api::get),
        RouteDef::api(M::PATCH, "/api/v1/webhooks/{id}", configure(), webhooks::api::update),
        RouteDef::api(M::DELETE, "/api/v1/webhooks/{id}", configure(), webhooks::api::delete),
        RouteDef::api(M::GET, "/api/v1/webhooks/{id}/deliveries", configure(), webhooks::api::deliveries),
        RouteDef::api(M::POST, "/api/v1/webhooks/{id}/ping", configure(), webhooks::api::ping),
    ]
}

fn file_routes_of<O: Object>(api: &'static str, page: &'static str) -> Vec<RouteDef> {
    use Method as M;
    vec![
        RouteDef::api(M::POST, api, Access::Can(actions::RECORDS_EDIT), files::api::upload::<O>).upload(),
        RouteDef::api(M::GET, api, Access::Can(actions::RECORDS_VIEW), files::api::list::<O>),
        RouteDef::page(M::POST, page, Access::Can(actions::RECORDS_EDIT), files::pages::upload::<O>).upload(),
    ]
}

/// Files attached to records.
fn files() -> Vec<RouteDef> {
    use Method as M;
    let mut routes = vec![
        RouteDef::api(M::GET, "/api/v1/files/{id}", Access::Can(actions::RECORDS_VIEW), files::api::download),
        RouteDef::api(M::DELETE, "/api/v1/files/{id}", Access::Can(actions::RECORDS_EDIT), files::api::delete),
        RouteDef::page(M::GET, "/crm/files/{id}", Access::Can(actions::RECORDS_VIEW), files::pages::download),
        RouteDef::page(M::POST, "/crm/files/{id}/delete", Access::Can(actions::RECORDS_EDIT), files::pages::delete),
    ];
    routes.extend(file_routes_of::<Leads>("/api/v1/leads/{id}/files", "/crm/leads/{id}/files"));
    routes.extend(file_routes_of::<Contacts>("/api/v1/contacts/{id}/files", "/crm/contacts/{id}/files"));
    routes.extend(file_routes_of::<Companies>("/api/v1/companies/{id}/files", "/crm/companies/{id}/files"));
    routes.extend(file_routes_of::<Deals>("/api/v1/deals/{id}/files", "/crm/deals/{id}/files"));
    routes
}

/// CSV imports: the API, then the pages.
fn imports() -> Vec<RouteDef> {
    use Method as M;
    let can = Access::Can(actions::RECORDS_IMPORT);
    let mut routes = vec![
        RouteDef::api(M::POST, "/api/v1/imports", can, import::api::upload).upload(),
        RouteDef::api(M::GET, "/api/v1/imports", can, import::api::list),
        RouteDef::api(M::GET, "/api/v1/imports/{id}", can, import::api::get),
        RouteDef::api(M::GET, "/api/v1/imports/{id}/preview", can, import::api::preview),
        RouteDef::api(M::PUT, "/api/v1/imports/{id}/mapping", can, import::api::mapping),
        RouteDef::api(M::PUT, "/api/v1/imports/{id}/encoding", can, import::api::encoding),
        RouteDef::api(M::POST, "/api/v1/imports/{id}/dry-run", can, import::api::dry_run),
        RouteDef::api(M::POST, "/api/v1/imports/{id}/run", can, import::api::run),
        RouteDef::api(M::POST, "/api/v1/imports/{id}/revert", can, import::api::revert),
        RouteDef::api(M::POST, "/api/v1/imports/{id}/retry", can, import::api::retry),
        RouteDef::api(M::POST, "/api/v1/imports/{id}/discard", can, import::api::discard),
        RouteDef::api(M::GET, "/api/v1/imports/{id}/rejects.csv", can, import::api::rejects),
    ];
    routes.extend(import_pages());
    routes
}

fn import_pages() -> Vec<RouteDef> {
    use Method as M;
    let can = Access::Can(actions::RECORDS_IMPORT);
    vec![
        RouteDef::page(M::GET, "/crm/imports", can, import::pages::list),
        RouteDef::page(M::POST, "/crm/imports", can, import::pages::upload).upload(),
        RouteDef::page(M::GET, "/crm/imports/{id}", can, import::pages::show),
        RouteDef::page(M::GET, "/crm/imports/{id}/progress", can, import::pages::progress),
        RouteDef::page(M::POST, "/crm/imports/{id}/mapping", can, import::pages::mapping),
        RouteDef::page(M::POST, "/crm/imports/{id}/encoding", can, import::pages::encoding),
        RouteDef::page(M::POST, "/crm/imports/{id}/dry-run", can, import::pages::dry_run),
        RouteDef::page(M::POST, "/crm/imports/{id}/run", can, import::pages::run),
        RouteDef::page(M::POST, "/crm/imports/{id}/revert", can, import::pages::revert),
        RouteDef::page(M::POST, "/crm/imports/{id}/retry", can, import::pages::retry),
        RouteDef::page(M::POST, "/crm/imports/{id}/discard", can, import::pages::discard),
        RouteDef::page(M::GET, "/crm/imports/{id}/rejects.csv", can, import::pages::rejects),
    ]
}

/// Exports to CSV and JSON.
fn exports() -> Vec<RouteDef> {
    use Method as M;
    let can = Access::Can(actions::RECORDS_EXPORT);
    vec![
        RouteDef::api(M::GET, "/api/v1/leads/export", can, export::api::export::<Leads>),
        RouteDef::api(M::GET, "/api/v1/contacts/export", can, export::api::export::<Contacts>),
        RouteDef::api(M::GET, "/api/v1/companies/export", can, export::api::export::<Companies>),
        RouteDef::api(M::GET, "/api/v1/deals/export", can, export::api::export::<Deals>),
        RouteDef::page(M::GET, "/crm/leads/export", can, export::api::export::<Leads>),
        RouteDef::page(M::GET, "/crm/contacts/export", can, export::api::export::<Contacts>),
        RouteDef::page(M::GET, "/crm/companies/export", can, export::api::export::<Companies>),
        RouteDef::page(M::GET, "/crm/deals/export", can, export::api::export::<Deals>),
    ]
}

const CRM_JS: &str = include_str!("../static/crm.js");
const CRM_RECORD_JS: &str = include_str!("../static/crm-record.js");

/// The record page's script: inline editing keys and the conversion dialog.
async fn crm_record_js(headers: axum::http::HeaderMap) -> axum::response::Response {
    kernel::assets::serve("text/javascript; charset=utf-8", CRM_RECORD_JS.as_bytes(), &headers)
}

async fn crm_js(headers: axum::http::HeaderMap) -> axum::response::Response {
    kernel::assets::serve("text/javascript; charset=utf-8", CRM_JS.as_bytes(), &headers)
}
