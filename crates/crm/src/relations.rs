//! Links between records (issue #4 item 1): a contact works for several companies, with a role
//! at each; a deal involves several contacts, with a role each. Links are made and read only
//! between records the member can see (row-level security hides the others).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use identity::session::SignedIn;
use kernel::authz::Principal;
use kernel::error::ApiJson;
use kernel::web::{AppState, PageError};
use kernel::{AppError, OrgTx};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::http::{parse_id, write_ctx};
use crate::object::ObjectType;
use crate::records::{self, Source, WriteCtx};

/// The kinds of link: which table, which two records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// `contact_companies`: a contact at a company.
    ContactCompany,
    /// `deal_contacts`: a contact involved in a deal.
    DealContact,
}

impl Link {
    fn table(&self) -> &'static str {
        match self {
            Self::ContactCompany => "contact_companies",
            Self::DealContact => "deal_contacts",
        }
    }

    /// (left object, right object): the URL is /{left}/{id}/{right}/{other_id}.
    fn sides(&self) -> (ObjectType, ObjectType) {
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
    let role = input.role.trim();
    if role.chars().count() > 100 {
        return Err(AppError::field("role", "too_long", "At most 100 characters."));
    }
    match link {
        Link::ContactCompany => {
            if input.is_primary {
                sqlx::query("update contact_companies set is_primary = false where org_id = $1 and contact_id = $2")
                    .bind(tx.org())
                    .bind(left)
                    .execute(tx.conn())
                    .await?;
            }
            sqlx::query(
                "insert into contact_companies (org_id, contact_id, company_id, role, is_primary, created_at)
                 values ($1, $2, $3, $4, $5, $6)
                 on conflict (org_id, contact_id, company_id) do update set role = excluded.role, is_primary = excluded.is_primary",
            )
            .bind(tx.org())
            .bind(left)
            .bind(right)
            .bind(role)
            .bind(input.is_primary)
            .bind(ctx.now)
            .execute(tx.conn())
            .await?;
        }
        Link::DealContact => {
            sqlx::query(
                "insert into deal_contacts (org_id, deal_id, contact_id, role, created_at) values ($1, $2, $3, $4, $5)
                 on conflict (org_id, deal_id, contact_id) do update set role = excluded.role",
            )
            .bind(tx.org())
            .bind(left)
            .bind(right)
            .bind(role)
            .bind(ctx.now)
            .execute(tx.conn())
            .await?;
        }
    }
    Ok(())
}

pub async fn unlink(tx: &mut OrgTx, link: Link, left: Uuid, right: Uuid) -> Result<(), AppError> {
    let (left_type, right_type) = link.sides();
    records::get(tx, left_type, left).await?;
    let sql = format!(
        "delete from {} where org_id = $1 and {} = $2 and {} = $3",
        link.table(),
        left_type.id_column(),
        right_type.id_column()
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tx.org()).bind(left).bind(right).execute(tx.conn()).await?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    Ok(())
}

/// A linked record as lists and pages show it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Related {
    pub object: String,
    pub id: Uuid,
    pub display_name: String,
    pub role: String,
    pub is_primary: bool,
}

/// Everything linked to a record that the member can see: a contact's companies and deals, a
/// company's contacts and deals, a deal's contacts (its company is a field).
pub async fn related(tx: &mut OrgTx, object: ObjectType, id: Uuid) -> Result<Vec<Related>, AppError> {
    let sql = match object {
        ObjectType::Contact => {
            "select 'company' as object, c.company_id as id, c.name as display_name, l.role, l.is_primary
               from contact_companies l join companies c using (org_id, company_id)
              where l.org_id = $1 and l.contact_id = $2
             union all
             select 'deal', d.deal_id, d.name, l.role, false
               from deal_contacts l join deals d using (org_id, deal_id)
              where l.org_id = $1 and l.contact_id = $2
             order by 1, 3"
        }
        ObjectType::Company => {
            "select 'contact' as object, c.contact_id as id,
                    coalesce(nullif(trim(c.first_name || ' ' || c.last_name), ''), c.email) as display_name, l.role, l.is_primary
               from contact_companies l join contacts c using (org_id, contact_id)
              where l.org_id = $1 and l.company_id = $2
             union all
             select 'deal', d.deal_id, d.name, '', false from deals d where d.org_id = $1 and d.company_id = $2
             order by 1, 3"
        }
        ObjectType::Deal => {
            "select 'contact' as object, c.contact_id as id,
                    coalesce(nullif(trim(c.first_name || ' ' || c.last_name), ''), c.email) as display_name, l.role, false as is_primary
               from deal_contacts l join contacts c using (org_id, contact_id)
              where l.org_id = $1 and l.deal_id = $2
             order by 3"
        }
        ObjectType::Lead => return Ok(Vec::new()),
    };
    Ok(sqlx::query_as(sql).bind(tx.org()).bind(id).fetch_all(tx.conn()).await?)
}

// ---------------------------------------------------------------- API

pub async fn api_related_contact(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Vec<Related>>, AppError> {
    api_related(state, principal, ObjectType::Contact, id).await
}

pub async fn api_related_company(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Vec<Related>>, AppError> {
    api_related(state, principal, ObjectType::Company, id).await
}

pub async fn api_related_deal(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Vec<Related>>, AppError> {
    api_related(state, principal, ObjectType::Deal, id).await
}

async fn api_related(
    state: AppState,
    principal: Principal,
    object: ObjectType,
    id: String,
) -> Result<Json<Vec<Related>>, AppError> {
    let id = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    records::get(&mut tx, object, id).await?;
    let found = related(&mut tx, object, id).await?;
    tx.commit().await?;
    Ok(Json(found))
}

async fn api_link(
    state: AppState,
    principal: Principal,
    link_kind: Link,
    ids: (String, String),
    input: LinkInput,
) -> Result<StatusCode, AppError> {
    let (left, right) = (parse_id(&ids.0)?, parse_id(&ids.1)?);
    let mut tx = principal.begin(&state.db).await?;
    link(&mut tx, link_kind, left, right, &input, &write_ctx(&state, &principal, Source::Api)).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn api_unlink(
    state: AppState,
    principal: Principal,
    link_kind: Link,
    ids: (String, String),
) -> Result<StatusCode, AppError> {
    let (left, right) = (parse_id(&ids.0)?, parse_id(&ids.1)?);
    let mut tx = principal.begin(&state.db).await?;
    unlink(&mut tx, link_kind, left, right).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn api_link_contact_company(
    State(state): State<AppState>,
    principal: Principal,
    Path(ids): Path<(String, String)>,
    ApiJson(input): ApiJson<LinkInput>,
) -> Result<StatusCode, AppError> {
    api_link(state, principal, Link::ContactCompany, ids, input).await
}

pub async fn api_unlink_contact_company(
    State(state): State<AppState>,
    principal: Principal,
    Path(ids): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    api_unlink(state, principal, Link::ContactCompany, ids).await
}

pub async fn api_link_deal_contact(
    State(state): State<AppState>,
    principal: Principal,
    Path(ids): Path<(String, String)>,
    ApiJson(input): ApiJson<LinkInput>,
) -> Result<StatusCode, AppError> {
    api_link(state, principal, Link::DealContact, ids, input).await
}

pub async fn api_unlink_deal_contact(
    State(state): State<AppState>,
    principal: Principal,
    Path(ids): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    api_unlink(state, principal, Link::DealContact, ids).await
}

// ---------------------------------------------------------------- pages

/// `POST /crm/{contacts|deals}/{id}/links`: link the record typed or chosen in the form.
async fn page_link(
    state: AppState,
    signed_in: SignedIn,
    principal: Principal,
    link_kind: Link,
    id: String,
    body: Bytes,
) -> Result<Response, PageError> {
    let (left_type, right_type) = link_kind.sides();
    let back = format!("/crm/{}/{id}", left_type.plural());
    let page = signed_in.page(&state, &back);
    let form = crate::http::parse(&body);
    signed_in.check_csrf(&state, crate::http::csrf(&form))?;
    let fail = |e: AppError| PageError::new(e, &page);
    let left = parse_id(&id).map_err(fail)?;
    let right = parse_id(crate::http::value(&form, "other_id"))
        .map_err(|_| fail(AppError::field(right_type.id_column(), "required", "Choose a record.")))?;
    let input = LinkInput {
        role: crate::http::value(&form, "role").to_string(),
        is_primary: crate::http::value(&form, "is_primary") == "true",
    };
    let mut tx = principal.begin(&state.db).await.map_err(|e| fail(e.into()))?;
    let remove = crate::http::value(&form, "remove") == "true";
    let result = if remove {
        unlink(&mut tx, link_kind, left, right).await
    } else {
        link(&mut tx, link_kind, left, right, &input, &write_ctx(&state, &principal, Source::Ui)).await
    };
    result.map_err(fail)?;
    tx.commit().await.map_err(|e| fail(e.into()))?;
    Ok(Redirect::to(&format!("{back}?notice=saved")).into_response())
}

pub async fn page_link_contact(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    page_link(state, signed_in, principal, Link::ContactCompany, id, body).await
}

pub async fn page_link_deal(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    page_link(state, signed_in, principal, Link::DealContact, id, body).await
}
