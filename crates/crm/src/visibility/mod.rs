//! Record visibility per object type: whether every member sees all records, or users only their
//! own and their departments' (enforced by row-level security, migration 0011).
//!
//! Files: `store.rs` (read), `service.rs` (change, audited), `api.rs`; the editor is on the CRM settings page.

pub mod api;
mod service;
mod store;

pub use service::*;
pub use store::*;

use kernel::{AppError, FieldError, OrgTx};
use serde::{Deserialize, Serialize};

use crate::object::ObjectType;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Visibility {
    /// Per object type (`lead`, `contact`, `company`, `deal`): `all` or `own`.
    #[schema(value_type = Object)]
    pub modes: std::collections::BTreeMap<String, String>,
}
