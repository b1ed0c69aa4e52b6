//! Saved views' writes: each is the one function the API and the list pages both call. None is
//! audited: a view is a member's own list setting, not data of the organization's customers.

use kernel::authz::Principal;
use kernel::{AppError, OrgTx};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{SavedView, ViewInput, may_change, store, validate};

pub async fn create(
    tx: &mut OrgTx,
    principal: &Principal,
    input: &ViewInput,
    now: OffsetDateTime,
) -> Result<SavedView, AppError> {
    let object = validate(input)?;
    if store::count_owned(tx, principal.user_id).await? >= crate::limits::VIEWS_PER_MEMBER {
        return Err(AppError::Validation(vec![crate::limits::too_many("name", "too_many_views")]));
    }
    let id = store::insert(tx, object, principal.user_id, input, now).await?;
    store::find(tx, principal.user_id, id).await
}

pub async fn update(
    tx: &mut OrgTx,
    principal: &Principal,
    id: Uuid,
    input: &ViewInput,
    now: OffsetDateTime,
) -> Result<SavedView, AppError> {
    let current = store::find(tx, principal.user_id, id).await?;
    if !may_change(principal, &current) {
        return Err(AppError::Forbidden);
    }
    let object = validate(input)?;
    if object.as_str() != current.object_type {
        return Err(AppError::field("object_type", "immutable", "A view keeps its object type."));
    }
    store::update(tx, id, input, now).await?;
    store::find(tx, principal.user_id, id).await
}

pub async fn delete(tx: &mut OrgTx, principal: &Principal, id: Uuid) -> Result<(), AppError> {
    let current = store::find(tx, principal.user_id, id).await?;
    if !may_change(principal, &current) {
        return Err(AppError::Forbidden);
    }
    store::delete(tx, id).await
}
