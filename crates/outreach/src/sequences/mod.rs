//! Sequences and one-off campaigns (issue #12 item 2): ordered steps (email, wait, manual task),
//! their templates, and who is enrolled.

pub mod api;
pub mod service;
pub mod template;

use uuid::Uuid;

/// The person an enrollment writes to: a contact or a lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Contact(Uuid),
    Lead(Uuid),
}
