//! SQL of the platform admin: the platform audit log, and the `app.platform_*` doors the backoffice
//! reads and writes through (the request role reads none of these tables directly).

use super::*;
use sqlx::PgConnection;

/// Appends to the platform audit log through its door (the owner at the CLI, the platform admin
/// path on the web). Payloads carry pseudonymous ids only.
#[allow(clippy::too_many_arguments)]
pub(super) async fn audit(
    conn: &mut PgConnection,
    now: OffsetDateTime,
    actor: Option<Uuid>,
    actor_kind: &str,
    action: &str,
    target: Option<(&str, Uuid)>,
    payload: Value,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "select app.platform_audit_append($1, $2, $3, $4, $5, $6, $7, $8)",
        Uuid::now_v7(),
        now,
        actor_kind,
        actor,
        action,
        target.map(|t| t.0),
        target.map(|t| t.1),
        payload
    )
    .execute(conn)
    .await?;
    Ok(())
}

// The door functions return table rows whose columns the database cannot promise non-null: the
// overrides (`as "col!"`) state what each function's query guarantees.

/// A setup link's hash to its pending admin, if the link is unused and unexpired at `now`.
pub(super) async fn setup_resolve(
    conn: &mut PgConnection,
    token_hash: &[u8],
    now: OffsetDateTime,
) -> Result<Option<SetupRow>, sqlx::Error> {
    sqlx::query_as!(
        SetupRow,
        r#"select admin_id as "admin_id!", email as "email!", totp_secret_sealed as "totp_secret_sealed!"
           from app.platform_admin_setup_resolve($1, $2)"#,
        token_hash,
        now
    )
    .fetch_optional(conn)
    .await
}

/// Spends a setup link and activates its admin with `password_hash` and the TOTP step that proved
/// the enrollment: the admin, or `None` when the link was already spent or expired.
pub(super) async fn setup_complete(
    conn: &mut PgConnection,
    token_hash: &[u8],
    now: OffsetDateTime,
    password_hash: &str,
    step: i64,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "select app.platform_admin_setup_complete($1, $2, $3, $4)",
        token_hash,
        now,
        password_hash,
        step
    )
    .fetch_one(conn)
    .await
}

/// The one admin an email could be.
pub(super) async fn login_candidate(conn: &mut PgConnection, email: &str) -> Result<Option<Candidate>, sqlx::Error> {
    sqlx::query_as!(
        Candidate,
        r#"select admin_id as "admin_id!", status as "status!", password_hash,
                  totp_secret_sealed as "totp_secret_sealed!"
           from app.platform_admin_login_candidate($1)"#,
        email
    )
    .fetch_optional(conn)
    .await
}

/// Spends the TOTP `step` and opens a session, atomically: false when the step was already used or
/// the admin is no longer active.
pub(super) async fn open_session(
    conn: &mut PgConnection,
    admin_id: Uuid,
    step: i64,
    token_hash: &[u8],
    now: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select app.platform_admin_open_session($1, $2, $3, $4, $5, $6) as "opened!""#,
        admin_id,
        step,
        Uuid::now_v7(),
        token_hash,
        now,
        now + SESSION_LIFETIME
    )
    .fetch_one(conn)
    .await
}

/// The admin cookie's hash to its live session (touched at `now`); expired, idle or disabled: none.
pub(super) async fn resolve_session(
    conn: &mut PgConnection,
    token_hash: &[u8],
    now: OffsetDateTime,
    idle_secs: i32,
) -> Result<Option<SessionRow>, sqlx::Error> {
    sqlx::query_as!(
        SessionRow,
        r#"select session_id as "session_id!", admin_id as "admin_id!", email as "email!"
           from app.platform_admin_resolve_session($1, $2, $3)"#,
        token_hash,
        now,
        idle_secs
    )
    .fetch_optional(conn)
    .await
}

/// Ends an admin session.
pub(super) async fn end_session(conn: &mut PgConnection, session_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!("select app.platform_admin_end_session($1)", session_id).execute(conn).await?;
    Ok(())
}

/// Organizations with their member counts and last login: no member data.
pub(super) async fn overview_orgs(conn: &mut PgConnection) -> Result<Vec<OrgRow>, sqlx::Error> {
    sqlx::query_as!(
        OrgRow,
        r#"select org_id as "org_id!", name as "name!", status as "status!", created_at as "created_at!",
                  member_count as "member_count!", last_login_at
           from app.platform_overview_orgs()"#
    )
    .fetch_all(conn)
    .await
}

/// Job counts per kind and state, with the oldest job still waiting.
pub(super) async fn overview_jobs(conn: &mut PgConnection) -> Result<Vec<JobRow>, sqlx::Error> {
    sqlx::query_as!(
        JobRow,
        r#"select kind as "kind!", status as "status!", jobs as "jobs!", oldest_waiting
           from app.platform_overview_jobs()"#
    )
    .fetch_all(conn)
    .await
}

/// The schema migrations applied.
pub(super) async fn overview_migrations(conn: &mut PgConnection) -> Result<Vec<MigrationRow>, sqlx::Error> {
    sqlx::query_as!(
        MigrationRow,
        r#"select version as "version!", description as "description!", installed_on as "installed_on!",
                  success as "success!"
           from app.platform_overview_migrations()"#
    )
    .fetch_all(conn)
    .await
}

/// The super admins.
pub(super) async fn overview_admins(conn: &mut PgConnection) -> Result<Vec<AdminRow>, sqlx::Error> {
    sqlx::query_as!(
        AdminRow,
        r#"select email as "email!", status as "status!", created_at as "created_at!", last_login_at
           from app.platform_overview_admins()"#
    )
    .fetch_all(conn)
    .await
}

/// The platform audit log's latest `limit` events, newest first.
pub(super) async fn audit_recent(conn: &mut PgConnection, limit: i32) -> Result<Vec<AuditRow>, sqlx::Error> {
    sqlx::query_as!(
        AuditRow,
        r#"select occurred_at as "occurred_at!", actor_kind as "actor_kind!", actor_id, action as "action!",
                  target_kind, target_id, payload as "payload!"
           from app.platform_audit_recent($1)"#,
        limit
    )
    .fetch_all(conn)
    .await
}

/// Suspends or reactivates an organization: false when it does not exist or is closed.
pub(super) async fn set_org_status(conn: &mut PgConnection, org_id: Uuid, suspend: bool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(r#"select app.platform_set_org_status($1, $2) as "changed!""#, org_id, suspend)
        .fetch_one(conn)
        .await
}
