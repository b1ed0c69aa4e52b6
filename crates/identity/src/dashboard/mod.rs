//! The dashboard (`/dashboard`): the organization's members and, for owners, the latest sign-ins
//! (each view audited, P0-04, P1-04); and `/`, which sends a visitor to the dashboard or the login
//! page.
//!
//! Files: `store.rs` (the members, the latest sign-ins), `pages.rs` (both pages).

pub mod pages;
mod store;

use store::*;

/// A member as the dashboard lists them.
struct MemberRow {
    user_id: uuid::Uuid,
    first_name: String,
    last_name: String,
    email: String,
    job_title: String,
    org_role: String,
    last_login_at: Option<time::OffsetDateTime>,
    /// Until when the account is locked after failed logins (P1-17), if it is now.
    locked_until: Option<time::OffsetDateTime>,
}

/// A recent sign-in.
struct LoginRow {
    occurred_at: time::OffsetDateTime,
    outcome: String,
    ip: Option<sqlx::types::ipnet::IpNet>,
    user_agent: Option<String>,
    first_name: String,
    last_name: String,
}

fn when(at: &time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    at.format(&format).unwrap_or_default()
}

impl MemberRow {
    fn last_login(&self) -> String {
        self.last_login_at.as_ref().map(when).unwrap_or_else(|| "—".into())
    }

    fn locked_until_text(&self) -> Option<String> {
        self.locked_until.as_ref().map(when)
    }
}

impl LoginRow {
    fn when(&self) -> String {
        when(&self.occurred_at)
    }

    fn ip_text(&self) -> String {
        self.ip.map(|net| net.addr().to_string()).unwrap_or_default()
    }
}
