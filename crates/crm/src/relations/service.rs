//! Link and unlink: each is the one function the API, the record pages, merge and lead conversion
//! call. Linking is not audited (the link itself shows who is related, and merge and conversion
//! audit their own step); unlinking is (`record.unlinked`): it removes what a record showed.

use kernel::audit::{AuditEvent, AuditLog};
use kernel::{AppError, OrgTx};
use serde_json::json;
use uuid::Uuid;

use super::{Link, LinkInput, Related, parse_role, store};
use crate::object::ObjectType;
use crate::records::{self, WriteCtx};

/// Creates or updates a link; both records must exist and be visible.
pub async fn link(
    tx: &mut OrgTx,
    link: Link,
    left: Uuid,
    right: Uuid,
    input: &LinkInput,
    ctx: &WriteCtx,
) -> Result<(), AppError> {
    let (left_type, right_type) = link.sides();
    records::get(tx, left_type, left).await?;
    if records::get(tx, right_type, right).await.is_err() {
        return Err(AppError::field(right_type.id_column(), "not_found", "No such record."));
    }
    let role = parse_role(input)?;
    match link {
        Link::ContactCompany => {
            if input.is_primary {
                store::clear_primary_company(tx, left).await?;
            }
            store::upsert_contact_company(tx, left, right, role, input.is_primary, ctx.now).await
        }
        Link::DealContact => store::upsert_deal_contact(tx, left, right, role, ctx.now).await,
    }
}

/// Removes a link from a visible record, and audits it.
pub async fn unlink(tx: &mut OrgTx, audit: &AuditLog, link: Link, left: Uuid, right: Uuid) -> Result<(), AppError> {
    let (left_type, right_type) = link.sides();
    records::get(tx, left_type, left).await?;
    if !store::delete_link(tx, link, left, right).await? {
        return Err(AppError::NotFound);
    }
    let event = AuditEvent::new("record.unlinked")
        .target(left_type.as_str(), left)
        .payload(json!({ "link": link.table(), "other_object": right_type.as_str(), "other_id": right }));
    audit.record(tx, event).await?;
    Ok(())
}

/// What is linked to a record, once the record is found visible (404 otherwise).
pub async fn related_to_visible(tx: &mut OrgTx, object: ObjectType, id: Uuid) -> Result<Vec<Related>, AppError> {
    records::get(tx, object, id).await?;
    store::related(tx, object, id).await
}
