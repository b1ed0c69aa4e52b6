//! Links' SQL: `contact_companies` and `deal_contacts`, and what is linked to a record.

use kernel::{AppError, OrgTx};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Link, Related};
use crate::object::ObjectType;

/// Makes none of the contact's companies the main one.
pub async fn clear_primary_company(tx: &mut OrgTx, contact: Uuid) -> Result<(), AppError> {
    sqlx::query!(
        "update contact_companies set is_primary = false where org_id = $1 and contact_id = $2",
        tx.org().0,
        contact
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn upsert_contact_company(
    tx: &mut OrgTx,
    contact: Uuid,
    company: Uuid,
    role: &str,
    is_primary: bool,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    sqlx::query!(
        "insert into contact_companies (org_id, contact_id, company_id, role, is_primary, created_at)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (org_id, contact_id, company_id) do update set role = excluded.role, is_primary = excluded.is_primary",
        tx.org().0,
        contact,
        company,
        role,
        is_primary,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn upsert_deal_contact(
    tx: &mut OrgTx,
    deal: Uuid,
    contact: Uuid,
    role: &str,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    sqlx::query!(
        "insert into deal_contacts (org_id, deal_id, contact_id, role, created_at) values ($1, $2, $3, $4, $5)
         on conflict (org_id, deal_id, contact_id) do update set role = excluded.role",
        tx.org().0,
        deal,
        contact,
        role,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Deletes a link; false when there was none.
pub async fn delete_link(tx: &mut OrgTx, link: Link, left: Uuid, right: Uuid) -> Result<bool, AppError> {
    let (left_type, right_type) = link.sides();
    let sql = format!(
        "delete from {} where org_id = $1 and {} = $2 and {} = $3",
        link.table(),
        left_type.id_column(),
        right_type.id_column()
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tx.org()).bind(left).bind(right).execute(tx.conn()).await?;
    Ok(done.rows_affected() > 0)
}

/// Everything linked to a record that the member can see: a contact's companies and deals, a
/// company's contacts and deals, a deal's contacts (its company is a field).
pub async fn related(tx: &mut OrgTx, object: ObjectType, id: Uuid) -> Result<Vec<Related>, AppError> {
    // Unions and computed columns: the database cannot tell that none is ever NULL.
    let related =
        match object {
            ObjectType::Contact => sqlx::query_as!(
                Related,
                r#"select 'company' as "object!", c.company_id as "id!", c.name as "display_name!", l.role as "role!",
                    l.is_primary as "is_primary!"
               from contact_companies l join companies c using (org_id, company_id)
              where l.org_id = $1 and l.contact_id = $2
             union all
             select 'deal', d.deal_id, d.name, l.role, false
               from deal_contacts l join deals d using (org_id, deal_id)
              where l.org_id = $1 and l.contact_id = $2
             order by 1, 3"#,
                tx.org().0,
                id
            )
            .fetch_all(tx.conn())
            .await?,
            ObjectType::Company => {
                sqlx::query_as!(
                    Related,
                    r#"select 'contact' as "object!", c.contact_id as "id!",
                    coalesce(nullif(trim(c.first_name || ' ' || c.last_name), ''), c.email) as "display_name!",
                    l.role as "role!", l.is_primary as "is_primary!"
               from contact_companies l join contacts c using (org_id, contact_id)
              where l.org_id = $1 and l.company_id = $2
             union all
             select 'deal', d.deal_id, d.name, '', false from deals d where d.org_id = $1 and d.company_id = $2
             order by 1, 3"#,
                    tx.org().0,
                    id
                )
                .fetch_all(tx.conn())
                .await?
            }
            ObjectType::Deal => {
                sqlx::query_as!(
                    Related,
                    r#"select 'contact' as "object!", c.contact_id as "id!",
                    coalesce(nullif(trim(c.first_name || ' ' || c.last_name), ''), c.email) as "display_name!",
                    l.role as "role!", false as "is_primary!"
               from deal_contacts l join contacts c using (org_id, contact_id)
              where l.org_id = $1 and l.deal_id = $2
             order by 3"#,
                    tx.org().0,
                    id
                )
                .fetch_all(tx.conn())
                .await?
            }
            ObjectType::Lead => Vec::new(),
        };
    Ok(related)
}
