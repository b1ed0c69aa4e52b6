//! Replies, auto-replies and bounces (issue #12 item 4), read from each mailbox over IMAP.

pub mod jobs;
