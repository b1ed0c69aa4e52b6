//! Replies, auto-replies and bounces (issue #12 item 4), read from each mailbox over IMAP.
//!
//! One job per mailbox (`outreach.inbound`) reads what arrived in its INBOX since the last
//! reading, by UID, without marking anything read (`BODY.PEEK`): the member's mail client sees
//! their inbox unchanged. The kernel's queue bounds how many run at once, per organization and in
//! all. The first reading only notes where the inbox stands: mail that was there before the
//! mailbox was connected is never read.
//!
//! Reading is regular polling, every [`POLL_EVERY`], and right after a mailbox sends. IMAP IDLE
//! is not used: it holds a connection (and here a job slot) per mailbox for as long as it waits,
//! which the shared job queue cannot afford; a reply is seen within [`POLL_EVERY`] instead.

pub mod classify;
pub mod jobs;
pub mod service;
pub mod store;

use time::Duration;

pub const INBOUND_JOB: &str = "outreach.inbound";

/// How often each active mailbox's inbox is read.
pub const POLL_EVERY: Duration = Duration::minutes(2);

/// Bytes of a message read: its headers and the start of its text are enough to tell what it is,
/// and a 20 MB reply costs no more than a short one.
pub const FETCH_LIMIT: usize = 256 * 1024;

/// Messages read per job: a backlog is read in several jobs, each committing as it goes.
pub const BATCH: usize = 200;
