//! The CRM's panels on the home page (issue #11 item 2), registered through
//! `Module::home_panels` — identity's home page draws them without knowing the CRM:
//!
//! * **My tasks** — open tasks assigned to me, due today or overdue, each with its record and a
//!   "mark done" button (the task-status form every timeline uses), and a link to My tasks;
//! * **My deals** — my open deals by stage: count and total per currency, with a bar per stage;
//! * **New leads from forms** — leads created by a landing-page form since the start of yesterday;
//! * **Recent activity** — the last events on records I own: creation, conversion, merges, stage
//!   changes, notes, tasks and activities;
//! * for those granted [`crate::actions::REPORTS_VIEW`] (owners, managers): **Team pipeline** —
//!   every open deal they see, by stage — and **Conversion** — leads converted out of leads created
//!   and deals won out of deals closed, over 30 and 90 days.
//!
//! Every read runs in the member's tenant transaction, so row-level security applies the CRM's
//! visibility rule (`app.crm_can_see`) exactly as on the lists: a user whose organization limits
//! deals to their owner never counts a colleague's private deal, even in a total. Each query
//! aggregates in SQL and returns a bounded number of rows. Each panel has an empty state with the
//! next step to take.
//!
//! Files: `store.rs` (the SQL), `pages.rs` (the panels and their view models).

pub mod pages;
pub mod store;

use kernel::module::{HomePanel, NavCount};

/// The CRM's home panels, in the order they appear (identity's team panel comes after them).
pub const PANELS: &[HomePanel] = &[
    HomePanel { key: "crm.my_tasks", position: 10, render: pages::my_tasks },
    HomePanel { key: "crm.my_deals", position: 20, render: pages::my_deals },
    HomePanel { key: "crm.form_leads", position: 30, render: pages::form_leads },
    HomePanel { key: "crm.recent_activity", position: 40, render: pages::recent_activity },
    HomePanel { key: "crm.team_pipeline", position: 50, render: pages::team_pipeline },
    HomePanel { key: "crm.conversion", position: 60, render: pages::conversion },
];

/// The number next to "My tasks": what the "Today" panel lists, one click away from any page.
pub const NAV_COUNTS: &[NavCount] =
    &[NavCount { href: "/crm/tasks", label_key: "crm.nav.tasks_due", count: pages::tasks_due_count }];

/// How many rows a list panel shows; the rest is one link away.
pub const LIST_ROWS: i64 = 8;
/// How far back "recent activity" looks: it bounds the scan of the events' tables.
pub const ACTIVITY_DAYS: i64 = 30;
