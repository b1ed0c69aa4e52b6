//! Links between records (issue #4 item 1): a contact works for several companies, with a role
//! at each; a deal involves several contacts, with a role each. Links are made and read only
//! between records the member can see (row-level security hides the others).
//!
//! Files: this one holds the types and rules; [`store`] the SQL, [`service`] the link and unlink
//! that the API ([`api`]) and the record pages ([`pages`]) both call.

pub mod api;
pub mod pages;
pub mod service;
pub mod store;

use kernel::AppError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::object::ObjectType;

pub use service::{link, unlink};
pub use store::related;

/// The kinds of link: which table, which two records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// `contact_companies`: a contact at a company.
    ContactCompany,
    /// `deal_contacts`: a contact involved in a deal.
    DealContact,
}

impl Link {
    pub fn table(&self) -> &'static str {
        match self {
            Self::ContactCompany => "contact_companies",
            Self::DealContact => "deal_contacts",
        }
    }

    /// (left object, right object): the URL is /{left}/{id}/{right}/{other_id}.
    pub fn sides(&self) -> (ObjectType, ObjectType) {
        match self {
            Self::ContactCompany => (ObjectType::Contact, ObjectType::Company),
            Self::DealContact => (ObjectType::Deal, ObjectType::Contact),
        }
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct LinkInput {
    /// The person's role (at the company, or in the deal), up to 100 characters.
    #[serde(default)]
    pub role: String,
    /// For a contact's companies: the main one.
    #[serde(default)]
    pub is_primary: bool,
}

/// The role of a link, trimmed: at most 100 characters.
pub fn parse_role(input: &LinkInput) -> Result<&str, AppError> {
    let role = input.role.trim();
    if role.chars().count() > 100 {
        return Err(AppError::field("role", "too_long", "At most 100 characters."));
    }
    Ok(role)
}

/// A linked record as lists and pages show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Related {
    pub object: String,
    pub id: Uuid,
    pub display_name: String,
    pub role: String,
    pub is_primary: bool,
}
