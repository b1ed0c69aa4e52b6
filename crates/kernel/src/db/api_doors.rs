//! Narrow doors for API credentials (refresh tokens, API keys): the secret's hash to the ids needed
//! to open the tenant transaction, through SECURITY DEFINER functions (migration 0004). Expiry,
//! rotation and revocation are checked afterwards, in the tenant transaction, against the app clock.

use uuid::Uuid;

use super::Db;
use crate::ids::OrgId;

impl Db {
    /// A refresh token's hash to (org, token id), through `app.resolve_refresh_token`.
    pub async fn resolve_refresh_token(&self, token_hash: &[u8; 32]) -> Result<Option<(OrgId, Uuid)>, sqlx::Error> {
        sqlx::query_as("select org_id, token_id from app.resolve_refresh_token($1)")
            .bind(token_hash.as_slice())
            .fetch_optional(&self.app)
            .await
    }

    /// An API key's hash to (org, key id), through `app.resolve_api_key`.
    pub async fn resolve_api_key(&self, key_hash: &[u8; 32]) -> Result<Option<(OrgId, Uuid)>, sqlx::Error> {
        sqlx::query_as("select org_id, key_id from app.resolve_api_key($1)")
            .bind(key_hash.as_slice())
            .fetch_optional(&self.app)
            .await
    }
}
