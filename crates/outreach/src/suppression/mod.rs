//! The org-wide suppression list (issue #12 item 3): addresses no sequence of the organization
//! sends to again, whichever path put them there (an unsubscribe, a hard bounce, a member).

pub mod api;
pub mod pages;
pub mod service;
pub mod store;

/// Why an address is suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Unsubscribed,
    HardBounce,
    Complaint,
    Manual,
    Imported,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unsubscribed => "unsubscribed",
            Self::HardBounce => "hard_bounce",
            Self::Complaint => "complaint",
            Self::Manual => "manual",
            Self::Imported => "imported",
        }
    }
}
