//! `GET /nav/counts`: the numbers next to the sidebar's links (`Module::nav_counts`: the CRM's
//! tasks due today or overdue). The sidebar asks for them once the page has loaded (htmx, `load`
//! trigger), so no page waits for a count; the answer is one out-of-band fragment per count, each
//! replacing the empty placeholder the layout drew next to its link. Every count runs in one tenant
//! transaction, so under the member's visibility.
//!
//! Files: `pages.rs` (the route).

pub mod pages;
