//! The sending engine (issue #12 item 5): planning under each mailbox's limits (`plan`,
//! `window`), the crash-safe queue of messages (`store`, `jobs`), the SMTP conversation that
//! knows each message's fate (`smtp`), the message as it leaves (`compose`) and the timeline.

pub mod api;
pub mod compose;
pub mod jobs;
pub mod pages;
pub mod plan;
pub mod service;
pub mod smtp;
pub mod store;
pub mod timeline;
pub mod window;

/// The job that plans due steps and sends due messages of one organization.
pub const DISPATCH_JOB: &str = "outreach.dispatch";
