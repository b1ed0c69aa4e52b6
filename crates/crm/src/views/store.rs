//! Saved views' SQL.

use kernel::{AppError, OrgTx};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Filter, SavedView, ViewInput};
use crate::object::ObjectType;

/// The views a member sees for an object type: their own and the shared ones.
pub async fn visible(tx: &mut OrgTx, me: Uuid, object: Option<ObjectType>) -> Result<Vec<SavedView>, AppError> {
    Ok(sqlx::query_as!(
        SavedView,
        r#"select view_id, object_type, name, owner_id, shared, filters as "filters: sqlx::types::Json<Vec<Filter>>",
                  sort, q, columns as "columns: sqlx::types::Json<Vec<String>>"
             from saved_views where org_id = $1 and (shared or owner_id = $2)
            and ($3::text is null or object_type = $3) order by object_type, lower(name)"#,
        tx.org().0,
        me,
        object.map(|o| o.as_str())
    )
    .fetch_all(tx.conn())
    .await?)
}

/// A view the member sees (their own or a shared one), or 404.
pub async fn find(tx: &mut OrgTx, me: Uuid, id: Uuid) -> Result<SavedView, AppError> {
    sqlx::query_as!(
        SavedView,
        r#"select view_id, object_type, name, owner_id, shared, filters as "filters: sqlx::types::Json<Vec<Filter>>",
                  sort, q, columns as "columns: sqlx::types::Json<Vec<String>>"
             from saved_views where org_id = $1 and view_id = $2 and (shared or owner_id = $3)"#,
        tx.org().0,
        id,
        me
    )
    .fetch_optional(tx.conn())
    .await?
    .ok_or(AppError::NotFound)
}

/// How many saved views `owner` has (limited by `limits::VIEWS_PER_MEMBER`).
pub async fn count_owned(tx: &mut OrgTx, owner: Uuid) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar!(
        r#"select count(*) as "count!" from saved_views where org_id = $1 and owner_id = $2"#,
        tx.org().0,
        owner
    )
    .fetch_one(tx.conn())
    .await?)
}

pub async fn insert(
    tx: &mut OrgTx,
    object: ObjectType,
    owner: Uuid,
    input: &ViewInput,
    now: OffsetDateTime,
) -> Result<Uuid, AppError> {
    let id = Uuid::now_v7();
    sqlx::query!(
        "insert into saved_views (org_id, view_id, object_type, name, owner_id, shared, filters, sort, q, columns, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
        tx.org().0,
        id,
        object.as_str(),
        input.name.trim(),
        owner,
        input.shared,
        sqlx::types::Json(&input.filters) as _,
        input.sort.trim(),
        input.q.trim(),
        sqlx::types::Json(&input.columns) as _,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(id)
}

pub async fn update(tx: &mut OrgTx, id: Uuid, input: &ViewInput, now: OffsetDateTime) -> Result<(), AppError> {
    sqlx::query!(
        "update saved_views set name = $3, shared = $4, filters = $5, sort = $6, q = $7, columns = $8, updated_at = $9
          where org_id = $1 and view_id = $2",
        tx.org().0,
        id,
        input.name.trim(),
        input.shared,
        sqlx::types::Json(&input.filters) as _,
        input.sort.trim(),
        input.q.trim(),
        sqlx::types::Json(&input.columns) as _,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn delete(tx: &mut OrgTx, id: Uuid) -> Result<(), AppError> {
    sqlx::query!("delete from saved_views where org_id = $1 and view_id = $2", tx.org().0, id)
        .execute(tx.conn())
        .await?;
    Ok(())
}
