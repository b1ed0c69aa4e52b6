//! The narrow door for the second step of a login (migration 0005): a pending-login token's hash
//! to the ids needed to open the tenant transaction. Expiry and single use are checked there.

use uuid::Uuid;

use super::Db;
use crate::ids::OrgId;

impl Db {
    /// A pending-login token's hash to (org, pending id, member), through `app.resolve_mfa_pending`.
    pub async fn resolve_mfa_pending(&self, token_hash: &[u8; 32]) -> Result<Option<(OrgId, Uuid, Uuid)>, sqlx::Error> {
        sqlx::query_as("select org_id, pending_id, user_id from app.resolve_mfa_pending($1)")
            .bind(token_hash.as_slice())
            .fetch_optional(&self.app)
            .await
    }
}
