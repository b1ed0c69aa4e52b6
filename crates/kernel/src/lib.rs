//! The kernel every Relais module stands on.
//!
//! Nothing here knows about CRM records or campaigns: it holds what all modules share — typed
//! configuration, the database with its tenant transaction (the only door to tenant data), the
//! clock, errors, the audit log, the data catalog, the vault, the job queue (and the watchers beside
//! it) and the message catalog.

pub mod assets;
pub mod audit;
pub mod authz;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod dates;
pub mod db;
pub mod dev_ui;
pub mod error;
pub mod events;
pub mod extract;
pub mod i18n;
pub mod ids;
pub mod jobs;
pub mod keys;
pub mod mail;
pub mod module;
pub mod outbox;
pub mod palette;
pub mod ratelimit;
pub mod reject_nul;
pub mod toast;
pub mod token;
pub mod vault;
pub mod watchers;
pub mod web;

pub use clock::Clock;
pub use config::Config;
pub use db::{Db, OrgTx, PlatformTx};
pub use error::{AppError, AppResult, FieldError};
pub use ids::{OrgId, UserId};
