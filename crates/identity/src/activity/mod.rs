//! Login activity and the API request log (issue #3 item 7; P1-04): recorded, and visible to the
//! organization's owners.
//!
//! * Every request to the JSON API that carried a valid credential is recorded in
//!   `api_request_log` by a middleware of the `web` crate, through [`record_api_request`]: when, the
//!   method, the route *template* (never the concrete path, so ids and tokens in paths are not
//!   kept), the status, the member, the kind of credential, the API key if one was used, and the
//!   client's address. Never bodies, query strings, headers or secrets.
//! * `/settings/activity` (`login_activity_view`, owners): login events and API requests,
//!   newest first, each list paged by keyset (`?logins_before=` / `?requests_before=`, a cursor
//!   made of the last row's time and id — never OFFSET). Each view is audited (`activity.viewed`).
//!
//! Files: `store.rs` (the pages of both lists), `service.rs` (recording a request), `pages.rs`.

pub mod pages;
mod service;
mod store;

pub use service::*;
use store::*;

use std::net::IpAddr;

use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use time::OffsetDateTime;
use uuid::Uuid;

/// The data catalog entry of the API request log.
pub const TABLES: &[TableEntry] = &[TableEntry {
    table: "api_request_log",
    module: "identity",
    description: "Each request to the API made with a credential: time, method, route template, status, member, kind of credential, API key, IP address.",
    subject: Subject::AccountHolder,
    personal_columns: &["user_id", "ip", "at"],
    purpose: "Security, fraud prevention and audit logging",
    legal_basis: LegalBasis::LegitimateInterest,
    retention: Retention::RollingMonths { months: 12 },
    erasure: Erasure::Delete,
    tenant: true,
}];

/// Rows per list and page.
pub const PAGE_SIZE: usize = 50;

/// One API request, as it is recorded: nothing of its body, query string or headers.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: String,
    /// The route template (`MatchedPath`), e.g. `/api/v1/api-keys/{id}`.
    pub route: String,
    pub status: u16,
    pub ip: Option<IpAddr>,
}

/// Where a list resumes: strictly older than this (time, id). Written `<unix micros>_<uuid>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: OffsetDateTime,
    pub id: Uuid,
}

impl Cursor {
    pub fn parse(text: &str) -> Option<Self> {
        let (micros, id) = text.split_once('_')?;
        let micros: i128 = micros.parse().ok()?;
        let at = OffsetDateTime::from_unix_timestamp_nanos(micros.checked_mul(1000)?).ok()?;
        Some(Self { at, id: Uuid::parse_str(id).ok()? })
    }

    pub fn encode(&self) -> String {
        format!("{}_{}", self.at.unix_timestamp_nanos() / 1000, self.id)
    }
}

struct LoginRow {
    event_id: Uuid,
    occurred_at: OffsetDateTime,
    outcome: String,
    method: String,
    ip: Option<sqlx::types::ipnet::IpNet>,
    user_agent: Option<String>,
    first_name: String,
    last_name: String,
}

struct RequestRow {
    request_id: Uuid,
    at: OffsetDateTime,
    method: String,
    route: String,
    status: i16,
    credential: String,
    key_prefix: Option<String>,
    ip: Option<sqlx::types::ipnet::IpNet>,
    first_name: String,
    last_name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let cursor = Cursor { at: time::macros::datetime!(2026-03-01 12:00:00.123456 UTC), id: Uuid::now_v7() };
        assert_eq!(Cursor::parse(&cursor.encode()), Some(cursor));
        for bad in ["", "x", "12_notauuid", "_", "abc_00000000-0000-0000-0000-000000000000"] {
            assert_eq!(Cursor::parse(bad), None, "{bad}");
        }
    }
}
