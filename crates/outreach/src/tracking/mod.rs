//! Open and click tracking (issue #12 item 3): **off unless a sequence's owner turns it on**, and
//! then said on the sequence's pages and report.
//!
//! When on, the HTML part of each message gets a 1×1 image on `RELAIS_PUBLIC_URL`
//! (`/t/o/{token}`) and each web link in it goes through a redirect there
//! (`/t/c/{token}?u=<destination>`). The plain-text part is left alone: a reader of plain text is
//! not tracked. The unsubscribe link is never rewritten. Tokens are signed (`crate::signed`): an
//! open token for the message, a click token for the message *and its destination*, so the
//! redirect only ever leads where the message's own link led (no open redirect), and a made-up
//! token costs a MAC and a 404. What is recorded is the first time each happened
//! (`opened_at`, `clicked_at`) — no address, no user agent, no count per person.

pub mod pages;
pub mod store;

use kernel::OrgId;
use kernel::vault::Vault;
use uuid::Uuid;

const OPEN: &str = "outreach-open";
const CLICK: &str = "outreach-click";

/// Rewrites one message's HTML for tracking.
pub struct Tracker<'a> {
    pub vault: &'a Vault,
    /// `RELAIS_PUBLIC_URL`'s origin.
    pub origin: &'a str,
    pub org: OrgId,
    pub message: Uuid,
}

impl Tracker<'_> {
    /// The open pixel's address.
    pub fn open_url(&self) -> String {
        format!("{}/t/o/{}", self.origin, crate::signed::token(self.vault, OPEN, self.org, self.message, b""))
    }

    /// The redirect to `destination` through which a click is counted.
    pub fn click_url(&self, destination: &str) -> String {
        let token = crate::signed::token(self.vault, CLICK, self.org, self.message, destination.as_bytes());
        let query: String = url::form_urlencoded::Serializer::new(String::new()).append_pair("u", destination).finish();
        format!("{}/t/c/{token}?{query}", self.origin)
    }
}

/// The organization and message of an open token.
pub fn verify_open(vault: &Vault, token: &str) -> Option<(OrgId, Uuid)> {
    crate::signed::verify(vault, OPEN, token, b"")
}

/// The organization and message of a click token, if it was made for `destination`.
pub fn verify_click(vault: &Vault, token: &str, destination: &str) -> Option<(OrgId, Uuid)> {
    crate::signed::verify(vault, CLICK, token, destination.as_bytes())
}
