//! Sessions (issue #3 item 7; P1-04, P1-10): what a member is signed in with, and ending it.
//!
//! * `/settings/sessions` (`sessions_manage_own`): the member's own live browser sessions
//!   (created, last seen, IP, a readable browser/system summary, the current one marked) and API
//!   refresh-token families (created, last used, expires). Each can be revoked by a CSRF-checked
//!   POST; revoking the current session logs out. Revoking a family ends its refresh token and its
//!   access tokens at once (`api_tokens` refuses tokens of a revoked family).
//! * `/settings/members/{user_id}/sessions` (`sessions_manage_members`, owners): a member's
//!   sessions and API token families, and one button that deletes every session and revokes every
//!   API token of theirs (`api_tokens::revoke_all_api_tokens`), audited `member.sessions_ended`.
//!   API keys are left alone: they belong to the organization's integrations (`/settings/api-keys`).
//! * Ids that are not the caller's (or not the organization's) answer 404, like ids that do not exist.
//!
//! Files: `store.rs` (live sessions and API logins), `service.rs` (ending one, or all of a member's),
//! `pages.rs`.

pub mod pages;
mod service;
mod store;

pub use service::*;
use store::*;

use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use kernel::web::Page;
use time::OffsetDateTime;
use uuid::Uuid;

/// The data catalog entry of browser sessions.
pub const TABLES: &[TableEntry] = &[TableEntry {
    table: "sessions",
    module: "identity",
    description: "Browser sessions: hashed token, IP address and browser.",
    subject: Subject::AccountHolder,
    personal_columns: &["user_id", "ip", "user_agent"],
    purpose: "Authentication and account security",
    legal_basis: LegalBasis::Contract,
    retention: Retention::UntilExpiry,
    erasure: Erasure::Delete,
    tenant: true,
}];

/// A short, readable name for a browser's `User-Agent`: `("Firefox", "Linux")`. Only well-known
/// names are recognised (order matters: Edge and Opera also say "Chrome", Chrome also says
/// "Safari"); anything else is `None` and shown as "unknown". Versions are left out on purpose.
pub fn device_summary(user_agent: &str) -> (Option<&'static str>, Option<&'static str>) {
    let ua = user_agent;
    let browser = if ua.contains("Edg/") || ua.contains("EdgA/") || ua.contains("EdgiOS/") {
        Some("Edge")
    } else if ua.contains("OPR/") || ua.contains("Opera") {
        Some("Opera")
    } else if ua.contains("SamsungBrowser/") {
        Some("Samsung Internet")
    } else if ua.contains("Firefox/") || ua.contains("FxiOS/") {
        Some("Firefox")
    } else if ua.contains("Chrome/") || ua.contains("Chromium/") || ua.contains("CriOS/") {
        Some("Chrome")
    } else if ua.contains("Safari/") && ua.contains("Version/") {
        Some("Safari")
    } else if ua.starts_with("curl/") {
        Some("curl")
    } else {
        None
    };
    let system = if ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iPod") {
        Some("iOS")
    } else if ua.contains("Android") {
        Some("Android")
    } else if ua.contains("CrOS") {
        Some("ChromeOS")
    } else if ua.contains("Windows") {
        Some("Windows")
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        Some("macOS")
    } else if ua.contains("Linux") || ua.contains("X11") {
        Some("Linux")
    } else {
        None
    };
    (browser, system)
}

/// `device_summary` for a page: "Firefox · Linux", with "unknown" in the page's language.
fn device_text(page: &Page, user_agent: Option<&str>) -> String {
    let unknown = page.t.get("sessions.unknown");
    let (browser, system) = user_agent.map(device_summary).unwrap_or((None, None));
    format!("{} · {}", browser.unwrap_or(unknown), system.unwrap_or(unknown))
}

struct SessionRow {
    session_id: Uuid,
    created_at: OffsetDateTime,
    last_seen_at: OffsetDateTime,
    ip: Option<sqlx::types::ipnet::IpNet>,
    user_agent: Option<String>,
}

/// A browser session as the page shows it.
pub struct SessionView {
    pub id: Uuid,
    pub created: String,
    pub last_seen: String,
    pub ip: String,
    pub device: String,
    pub current: bool,
}

struct FamilyRow {
    family_id: Uuid,
    created_at: OffsetDateTime,
    last_used_at: Option<OffsetDateTime>,
    expires_at: OffsetDateTime,
}

/// A live API refresh-token family (one API login) as the page shows it.
pub struct FamilyView {
    pub id: Uuid,
    pub created: String,
    pub last_used: String,
    pub expires: String,
}

struct MemberName {
    first_name: String,
    last_name: String,
}

#[cfg(test)]
mod tests {
    use super::device_summary;

    #[test]
    fn common_browsers_are_named() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                (Some("Firefox"), Some("Linux")),
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
                (Some("Edge"), Some("Windows")),
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
                (Some("Safari"), Some("macOS")),
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                (Some("Safari"), Some("iOS")),
            ),
            (
                "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
                (Some("Chrome"), Some("Android")),
            ),
            ("curl/8.5.0", (Some("curl"), None)),
            ("something else", (None, None)),
        ];
        for (ua, expected) in cases {
            assert_eq!(device_summary(ua), expected, "{ua}");
        }
    }
}
