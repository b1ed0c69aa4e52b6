//! The SQL of landing-page forms and of what a submission writes on its lead.

use kernel::{AppError, OrgTx};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{FormValues, LeadForm};

pub async fn all(tx: &mut OrgTx) -> Result<Vec<LeadForm>, AppError> {
    Ok(sqlx::query_as!(
        LeadForm,
        "select form_id, public_id, name, title, intro, fields, required_fields, consent_text, thank_you,
                language, lead_source, owner_id, active, submissions, created_at, updated_at
           from lead_forms where org_id = $1 order by created_at desc, form_id",
        tx.org().0
    )
    .fetch_all(tx.conn())
    .await?)
}

pub async fn get(tx: &mut OrgTx, id: Uuid) -> Result<LeadForm, AppError> {
    let found = sqlx::query_as!(
        LeadForm,
        "select form_id, public_id, name, title, intro, fields, required_fields, consent_text, thank_you,
                language, lead_source, owner_id, active, submissions, created_at, updated_at
           from lead_forms where org_id = $1 and form_id = $2",
        tx.org().0,
        id
    )
    .fetch_optional(tx.conn())
    .await?;
    found.ok_or(AppError::NotFound)
}

/// Whether `user` is a member of the transaction's org (a form's leads may be given only to one).
pub async fn is_member(tx: &mut OrgTx, user: Uuid) -> Result<bool, AppError> {
    Ok(sqlx::query_scalar!(
        r#"select exists (select 1 from users where org_id = $1 and user_id = $2) as "exists!""#,
        tx.org().0,
        user
    )
    .fetch_one(tx.conn())
    .await?)
}

/// How many forms the organization has (limited by `limits::FORMS_PER_ORG`).
pub async fn count(tx: &mut OrgTx) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar!(r#"select count(*) as "count!" from lead_forms where org_id = $1"#, tx.org().0)
        .fetch_one(tx.conn())
        .await?)
}

pub async fn insert(
    tx: &mut OrgTx,
    id: Uuid,
    public_id: &str,
    values: &FormValues,
    user: Uuid,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    sqlx::query!(
        "insert into lead_forms (org_id, form_id, public_id, name, title, intro, fields, required_fields, consent_text,
                                 thank_you, language, lead_source, owner_id, active, created_by, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)",
        tx.org().0,
        id,
        public_id,
        &values.name,
        &values.title,
        &values.intro,
        &values.fields,
        &values.required_fields,
        &values.consent_text,
        &values.thank_you,
        &values.language,
        &values.lead_source,
        values.owner_id,
        values.active,
        user,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn update(tx: &mut OrgTx, id: Uuid, values: &FormValues, now: OffsetDateTime) -> Result<(), AppError> {
    sqlx::query!(
        "update lead_forms set name = $3, title = $4, intro = $5, fields = $6, required_fields = $7, consent_text = $8,
                thank_you = $9, language = $10, lead_source = $11, owner_id = $12, active = $13, updated_at = $14
          where org_id = $1 and form_id = $2",
        tx.org().0,
        id,
        &values.name,
        &values.title,
        &values.intro,
        &values.fields,
        &values.required_fields,
        &values.consent_text,
        &values.thank_you,
        &values.language,
        &values.lead_source,
        values.owner_id,
        values.active,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn delete(tx: &mut OrgTx, id: Uuid) -> Result<(), AppError> {
    crate::records::delete_by_id(tx, "lead_forms", "form_id", id).await
}

/// A landing-page form's public id to (org, form id), through the door `app.resolve_lead_form`
/// (migration 0016): only an active form of an active org.
pub async fn resolve_lead_form(db: &kernel::Db, public_id: &str) -> Result<Option<(kernel::OrgId, Uuid)>, sqlx::Error> {
    // The door's columns are never NULL; the database cannot tell.
    let found = sqlx::query!(
        r#"select org_id as "org_id!: kernel::OrgId", form_id as "form_id!" from app.resolve_lead_form($1)"#,
        public_id
    )
    .fetch_optional(db.before_tenant())
    .await?;
    Ok(found.map(|row| (row.org_id, row.form_id)))
}

// ---------------------------------------------------------------- submissions

/// The open lead with this (lowercased) email, the oldest if several. Two submissions with the
/// same new email at once would both find no lead and both create one: the lock taken here makes
/// the second wait for the first, until the end of the transaction.
pub async fn lock_open_lead_by_email(tx: &mut OrgTx, email: &str) -> Result<Option<Uuid>, AppError> {
    // `$1::uuid::text`: the org id is bound as a uuid and hashed as its text, as before.
    sqlx::query!("select pg_advisory_xact_lock(hashtextextended($1::uuid::text || ':' || $2, 0))", tx.org().0, email)
        .fetch_one(tx.conn())
        .await?;
    Ok(sqlx::query_scalar!(
        "select lead_id from leads where org_id = $1 and email = $2 and status <> 'converted'
          order by created_at limit 1",
        tx.org().0,
        email
    )
    .fetch_optional(tx.conn())
    .await?)
}

/// The consent wording a lead agreed to last, and when.
pub async fn consent_of(tx: &mut OrgTx, lead: Uuid) -> Result<(String, Option<OffsetDateTime>), AppError> {
    let row =
        sqlx::query!("select consent_text, consent_at from leads where org_id = $1 and lead_id = $2", tx.org().0, lead)
            .fetch_one(tx.conn())
            .await?;
    Ok((row.consent_text, row.consent_at))
}

pub async fn set_consent(tx: &mut OrgTx, lead: Uuid, text: &str, now: OffsetDateTime) -> Result<(), AppError> {
    sqlx::query!(
        "update leads set consent_text = $3, consent_at = $4, updated_at = $4 where org_id = $1 and lead_id = $2",
        tx.org().0,
        lead,
        text,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn count_submission(tx: &mut OrgTx, form_id: Uuid) -> Result<(), AppError> {
    sqlx::query!(
        "update lead_forms set submissions = submissions + 1 where org_id = $1 and form_id = $2",
        tx.org().0,
        form_id
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}
