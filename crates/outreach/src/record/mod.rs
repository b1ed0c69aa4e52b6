//! Outreach on a CRM record's page (issue #12 items 2 and 3): the record's sequences with each
//! enrollment's state and why it stopped, and its do-not-contact state — a button that puts the
//! record's address on the suppression list, so no sequence ever writes to it. Drawn through the
//! kernel's record-panel hook: the CRM does not know outreach exists.

pub mod pages;
pub mod store;

use kernel::module::RecordPanel;

pub const PANELS: &[RecordPanel] = &[RecordPanel { key: "outreach.record", position: 10, render: pages::record_panel }];
