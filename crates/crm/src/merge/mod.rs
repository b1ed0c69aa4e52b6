//! Merging duplicate records: the other record's work, links and files move to the one kept, the
//! chosen values are copied, and the other record is deleted — audited, with a history row.
//!
//! Files: `service.rs` (the merge and its audit event), `api.rs`, `pages.rs`.

pub mod api;
pub mod pages;
mod service;

pub use service::*;

use kernel::{AppError, FieldError, OrgTx};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::object::ObjectType;
use crate::record_events;
use crate::records::{self, Source, WriteCtx};

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct MergeInput {
    /// The duplicate folded into this record, then deleted.
    pub other_id: Uuid,
    /// Fields whose value comes from the other record: `{"email": "other"}`; `custom.<key>` too.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub keep: Map<String, Value>,
}

/// Statements that move `other`'s relations to the survivor ($2 survivor, $3 other).
pub(crate) fn moves(object: ObjectType) -> Vec<String> {
    let column = object.id_column();
    let mut sql: Vec<String> = crate::worklog::WORK_TABLES
        .iter()
        .chain(&["record_changes"])
        .map(|table| format!("update {table} set {column} = $2 where org_id = $1 and {column} = $3"))
        .collect();
    match object {
        ObjectType::Contact => {
            sql.push(
                "insert into contact_companies (org_id, contact_id, company_id, role, is_primary, created_at)
                 select org_id, $2, company_id, role, false, created_at from contact_companies
                  where org_id = $1 and contact_id = $3 on conflict do nothing"
                    .into(),
            );
            sql.push(
                "insert into deal_contacts (org_id, deal_id, contact_id, role, created_at)
                 select org_id, deal_id, $2, role, created_at from deal_contacts
                  where org_id = $1 and contact_id = $3 on conflict do nothing"
                    .into(),
            );
            sql.push(
                "update leads set converted_contact_id = $2 where org_id = $1 and converted_contact_id = $3".into(),
            );
        }
        ObjectType::Company => {
            sql.push(
                "insert into contact_companies (org_id, contact_id, company_id, role, is_primary, created_at)
                 select org_id, contact_id, $2, role, is_primary, created_at from contact_companies
                  where org_id = $1 and company_id = $3 on conflict do nothing"
                    .into(),
            );
            sql.push("update deals set company_id = $2 where org_id = $1 and company_id = $3".into());
            sql.push(
                "update leads set converted_company_id = $2 where org_id = $1 and converted_company_id = $3".into(),
            );
        }
        ObjectType::Deal => {
            sql.push(
                "insert into deal_contacts (org_id, deal_id, contact_id, role, created_at)
                 select org_id, $2, contact_id, role, created_at from deal_contacts
                  where org_id = $1 and deal_id = $3 on conflict do nothing"
                    .into(),
            );
            sql.push("update leads set converted_deal_id = $2 where org_id = $1 and converted_deal_id = $3".into());
        }
        ObjectType::Lead => {}
    }
    sql
}
