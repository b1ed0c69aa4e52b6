//! The database: two pools and the only two ways in.
//!
//! * [`Db::begin_org`] opens a **tenant transaction** as `relais_app`, with `app.org_id` and
//!   `app.actor_id` set *local to the transaction*. Row-level security (forced on every tenant
//!   table) then shows and accepts only that org's rows. This is the only door to tenant data.
//! * [`Db::begin_platform`] opens a transaction in **platform scope** (the schema owner, member of
//!   `relais_platform`). It is for the worker's job claiming, migrations, retention and the super
//!   admin's CLI; every use names its reason, which is logged.
//!
//! Two narrower handles reach only `SECURITY DEFINER` doors: [`Db::before_tenant`] (the request
//! role with no org set) and [`Db::platform_admin`] (the backoffice's role `relais_admin`).

pub mod embedded;

use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::ids::OrgId;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Who is acting inside a tenant transaction. Recorded in `app.actor_id` for triggers and in the
/// audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    User(Uuid),
    /// The platform itself (jobs, retention), acting for the org.
    System,
    /// Someone not signed in (a sign-up, a failed login, a public form).
    Anonymous,
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::User(_) => "user",
            Self::System => "system",
            Self::Anonymous => "anonymous",
        }
    }

    pub fn id(&self) -> Option<Uuid> {
        match self {
            Self::User(id) => Some(*id),
            Self::System | Self::Anonymous => None,
        }
    }
}

#[derive(Clone)]
pub struct Db {
    app: PgPool,
    platform: PgPool,
    /// The schema owner's connections, each switched to `relais_admin` for its whole life.
    admin: PgPool,
    /// Every module's event subscribers, handed to each tenant transaction (see `events`).
    events: crate::events::EventBus,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Db")
    }
}

/// A transaction bound to one organization. Dropped without `commit`, it rolls back.
pub struct OrgTx {
    tx: Transaction<'static, Postgres>,
    org: OrgId,
    actor: Actor,
    events: crate::events::EventBus,
}

impl OrgTx {
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    pub fn org(&self) -> OrgId {
        self.org
    }

    pub fn actor(&self) -> Actor {
        self.actor
    }

    /// The subscribers [`crate::events::publish`] runs in this transaction.
    pub fn events(&self) -> &crate::events::EventBus {
        &self.events
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

/// A transaction in platform scope. See the module documentation.
pub struct PlatformTx {
    tx: Transaction<'static, Postgres>,
}

impl PlatformTx {
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl Db {
    /// Connects the pools. `owner` runs migrations and platform work, and (switched to
    /// `relais_admin`) the backoffice's doors; `app` must be the `relais_app` role, which owns
    /// nothing and cannot bypass RLS.
    pub async fn connect(owner: PgConnectOptions, app: PgConnectOptions) -> Result<Self, sqlx::Error> {
        // The owner may SET ROLE to `relais_admin` (a NOLOGIN role it is a member of), so the
        // backoffice needs no credentials of its own. Each connection becomes `relais_admin` as it
        // opens and is dropped on release if anything switched it back; it is opened on first use.
        let admin = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("set role relais_admin").await?;
                    Ok(())
                })
            })
            .after_release(|conn, _| {
                Box::pin(async move {
                    let user =
                        sqlx::query_scalar!(r#"select current_user::text as "user!""#).fetch_one(&mut *conn).await?;
                    Ok(user == embedded::ADMIN_ROLE)
                })
            })
            .connect_lazy_with(owner.clone().application_name("relais-admin"));
        let platform = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(owner.application_name("relais-platform"))
            .await?;
        let app = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            // Tenant settings are transaction-local; clearing them on release as well means no
            // code path can ever hand a connection to the next request with an org still set.
            .after_release(|conn, _| {
                Box::pin(async move {
                    sqlx::query!(
                        r#"select set_config('app.org_id', '', false) as "org_id", set_config('app.actor_id', '', false) as "actor_id""#
                    )
                        .fetch_one(&mut *conn)
                        .await?;
                    Ok(true)
                })
            })
            .connect_with(app.application_name("relais-app"))
            .await?;
        Ok(Self { app, platform, admin, events: crate::events::EventBus::default() })
    }

    /// This handle, with the modules' event subscribers attached to every tenant transaction it
    /// opens (see [`crate::module::Modules::event_bus`]).
    pub fn with_events(mut self, events: crate::events::EventBus) -> Self {
        self.events = events;
        self
    }

    /// The request role's pool with no organization set: row-level security shows it no tenant
    /// row, so the only things it can reach are the `SECURITY DEFINER` doors each module declares
    /// (`kernel::module::Door`), which map a secret or public identifier to the ids needed to
    /// open the tenant transaction.
    pub fn before_tenant(&self) -> &PgPool {
        &self.app
    }

    /// The platform admin path: a connection as `relais_admin`, which may execute the
    /// `app.platform_*` doors of the super admin's setup, login and backoffice and nothing else (no
    /// table privilege, no tenant row). Only the backoffice (`/admin`) takes it; the request role
    /// cannot open those doors.
    pub async fn platform_admin(&self) -> Result<PoolConnection<Postgres>, sqlx::Error> {
        self.admin.acquire().await
    }

    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        MIGRATOR.run(&self.platform).await
    }

    /// Opens the tenant transaction for `org`, acting as `actor`.
    pub async fn begin_org(&self, org: OrgId, actor: Actor) -> Result<OrgTx, sqlx::Error> {
        let mut tx = self.app.begin().await?;
        sqlx::query!(r#"select set_config('app.org_id', $1, true) as "org_id", set_config('app.actor_id', $2, true) as "actor_id""#, org.to_string(), actor.id().map(|id| id.to_string()).unwrap_or_default())
            .fetch_one(&mut *tx)
            .await?;
        Ok(OrgTx { tx, org, actor, events: self.events.clone() })
    }

    /// Opens the tenant transaction for a member acting with `role` (for an API key, the key's
    /// scope). The role is set for row-level policies that depend on it, such as CRM record
    /// visibility; a member transaction opened with [`Db::begin_org`] counts as the most
    /// restricted role there (fail closed).
    pub async fn begin_member(&self, org: OrgId, user: Uuid, role: crate::authz::Role) -> Result<OrgTx, sqlx::Error> {
        let mut tx = self.begin_org(org, Actor::User(user)).await?;
        sqlx::query!("select set_config('app.role', $1, true)", role.as_str()).fetch_one(tx.conn()).await?;
        Ok(tx)
    }

    /// Opens a platform-scope transaction; `reason` says why and is logged.
    pub async fn begin_platform(&self, reason: &'static str) -> Result<PlatformTx, sqlx::Error> {
        tracing::debug!(reason, "platform scope");
        Ok(PlatformTx { tx: self.platform.begin().await? })
    }

    /// Counts one hit in a rate-limit bucket through the door `app.rate_limit_hit` (the only write
    /// the request role may make to that platform table): `(allowed, retry_after_secs)`.
    pub async fn rate_limit_hit(
        &self,
        bucket: &str,
        window_secs: i32,
        limit: i32,
        now: time::OffsetDateTime,
    ) -> Result<(bool, i32), sqlx::Error> {
        sqlx::query!(
            r#"select allowed as "allowed!", retry_after_secs as "retry_after_secs!" from app.rate_limit_hit($1, $2, $3, $4)"#,
            bucket,
            window_secs,
            limit,
            now,
        )
        .fetch_one(&self.app)
        .await
        .map(|hit| (hit.allowed, hit.retry_after_secs))
    }

    /// Whether a rate-limit bucket is still under `limit`, through the door `app.rate_limit_peek`,
    /// without counting a hit: `(allowed, retry_after_secs)`.
    pub async fn rate_limit_peek(
        &self,
        bucket: &str,
        limit: i32,
        now: time::OffsetDateTime,
    ) -> Result<(bool, i32), sqlx::Error> {
        sqlx::query!(
            r#"select allowed as "allowed!", retry_after_secs as "retry_after_secs!" from app.rate_limit_peek($1, $2, $3)"#,
            bucket,
            limit,
            now,
        )
        .fetch_one(&self.app)
        .await
        .map(|peek| (peek.allowed, peek.retry_after_secs))
    }

    /// The privacy-policy version in force at `now` (platform data, readable without an org).
    pub async fn current_policy_version(
        &self,
        now: time::OffsetDateTime,
    ) -> Result<Option<(String, time::OffsetDateTime)>, sqlx::Error> {
        sqlx::query!(
            "select version, effective_at from policy_versions where effective_at <= $1 order by effective_at desc limit 1",
            now,
        )
        .fetch_optional(&self.app)
        .await
        .map(|row| row.map(|row| (row.version, row.effective_at)))
    }

    pub async fn is_ready(&self) -> bool {
        sqlx::query!("select 1 as one").fetch_one(&self.app).await.is_ok()
    }

    pub async fn close(&self) {
        self.app.close().await;
        self.admin.close().await;
        self.platform.close().await;
    }

    /// The org-agnostic migration fingerprint: changes whenever a migration does.
    pub fn schema_fingerprint() -> String {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for migration in MIGRATOR.iter() {
            hasher.update(migration.version.to_be_bytes());
            hasher.update(&migration.checksum);
        }
        hex::encode(&hasher.finalize()[..8])
    }
}
