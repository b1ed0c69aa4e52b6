//! The platform super admin's way in (migration 0010): a request-role connection with no org set.
//! Row-level security shows it no tenant row and the platform-admin tables grant it nothing, so
//! all it can do is call the narrow SECURITY DEFINER doors `app.platform_*`, which return
//! aggregates and organization names only (see identity's `platform_admin` module).

use sqlx::Postgres;
use sqlx::pool::PoolConnection;

use super::Db;

impl Db {
    /// A request-role connection with no org set, for the `app.platform_*` doors.
    pub async fn platform_door(&self) -> Result<PoolConnection<Postgres>, sqlx::Error> {
        self.app.acquire().await
    }
}
