//! Sequences and one-off campaigns (issue #12 item 2): ordered steps (email, wait, manual task),
//! their templates, and who is enrolled.
//!
//! Files: [`store`] the SQL, [`service`] the writes and reads that the JSON API ([`api`]) and the
//! pages ([`pages`]) both call, [`template`] the sandboxed renderer.

pub mod api;
pub mod pages;
pub mod service;
pub mod store;
pub mod template;

use uuid::Uuid;

/// The person an enrollment writes to: a contact or a lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Contact(Uuid),
    Lead(Uuid),
}
