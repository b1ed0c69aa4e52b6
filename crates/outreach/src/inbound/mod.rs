//! Replies, auto-replies and bounces (issue #12 item 4), read from each mailbox over IMAP.
//!
//! One job per mailbox (`outreach.inbound`) reads what arrived in its INBOX since the last
//! reading, by UID, without marking anything read (`BODY.PEEK`): the member's mail client sees
//! their inbox unchanged. The kernel's queue bounds how many run at once, per organization and in
//! all. The first reading only notes where the inbox stands: mail that was there before the
//! mailbox was connected is never read.
//!
//! Reading is regular polling, every [`POLL_EVERY`], and right after a mailbox sends. Where the
//! server has IMAP IDLE, a watcher of the worker process (`idle`, outside the job queue, so no
//! job slot is held while it waits) also keeps a connection per mailbox, up to
//! `RELAIS_OUTREACH_IDLE_MAX`, and makes the reading due at once when new mail arrives: a reply
//! is then seen within seconds. The regular polling goes on beside it, as the fallback.

pub mod classify;
pub mod idle;
pub mod inbox;
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
