//! What members can do in the CRM, with each role's grant (P0-12, P1-07). Routes name these in
//! their `Access::Can`; `docs/permissions.md` is rendered from them.
use kernel::authz::Action;
use kernel::authz::Grant::{Denied, Org, Own};

pub const RECORDS_VIEW: Action = Action::new(
    "records_view",
    "See leads, contacts, companies and deals, their timelines and search them; where the organization limits visibility, users see only records they own or that are shared with their departments (enforced by row-level security)",
    Org,
    Org,
    Org,
);

pub const RECORDS_EDIT: Action = Action::new(
    "records_edit",
    "Create and edit the records one sees; add notes, tasks and activities; move deals between stages",
    Org,
    Org,
    Org,
);

pub const RECORDS_DELETE: Action =
    Action::new("records_delete", "Delete a record (users: only records they own)", Org, Org, Own);

pub const RECORDS_BULK_EDIT: Action =
    Action::new("records_bulk_edit", "Edit, assign or delete many records at once", Org, Org, Denied);

pub const RECORDS_MERGE: Action = Action::new("records_merge", "Merge duplicate records (audited)", Org, Org, Denied);

pub const RECORDS_EXPORT: Action =
    Action::new("records_export", "Export lists to CSV or JSON (audited)", Org, Org, Denied);

pub const RECORDS_IMPORT: Action =
    Action::new("records_import", "Import records from CSV files, and revert an import", Org, Org, Denied);

pub const CRM_CONFIGURE: Action = Action::new(
    "crm_configure",
    "Configure the CRM: pipelines and stages, custom fields, record visibility, landing-page forms, webhooks",
    Org,
    Org,
    Denied,
);

pub const REPORTS_VIEW: Action = Action::new(
    "reports_view",
    "See the team's figures on the home page: the pipeline of every deal one sees, lead conversion and win rates",
    Org,
    Org,
    Denied,
);
/// Every action of this module, in the order `docs/permissions.md` lists them.
pub const ALL: &[Action] = &[
    RECORDS_VIEW,
    RECORDS_EDIT,
    RECORDS_DELETE,
    RECORDS_BULK_EDIT,
    RECORDS_MERGE,
    RECORDS_EXPORT,
    RECORDS_IMPORT,
    CRM_CONFIGURE,
    REPORTS_VIEW,
];
