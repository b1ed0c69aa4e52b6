//! The narrow door for sign-in links (migration 0006): a magic link's token hash to the ids needed
//! to open the tenant transaction. Expiry and single use are checked there, on the app clock.

use uuid::Uuid;

use super::Db;
use crate::ids::OrgId;

impl Db {
    /// A sign-in link's token hash to (org, magic-login id, member), through `app.resolve_magic_login`.
    pub async fn resolve_magic_login(&self, token_hash: &[u8; 32]) -> Result<Option<(OrgId, Uuid, Uuid)>, sqlx::Error> {
        sqlx::query_as("select org_id, magic_id, user_id from app.resolve_magic_login($1)")
            .bind(token_hash.as_slice())
            .fetch_optional(&self.app)
            .await
    }
}
