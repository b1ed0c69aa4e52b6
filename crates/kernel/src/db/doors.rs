//! Narrow doors for emailed links (password reset, invitation): the token's hash to the ids needed
//! to open the tenant transaction, through SECURITY DEFINER functions (migration 0003). Expiry and
//! single use are checked afterwards, in the tenant transaction, against the application clock.

use uuid::Uuid;

use super::Db;
use crate::ids::OrgId;

impl Db {
    /// A password-reset link's token hash to (org, reset id, user), through `app.resolve_password_reset`.
    pub async fn resolve_password_reset(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<(OrgId, Uuid, Uuid)>, sqlx::Error> {
        sqlx::query_as("select org_id, reset_id, user_id from app.resolve_password_reset($1)")
            .bind(token_hash.as_slice())
            .fetch_optional(&self.app)
            .await
    }

    /// An invitation link's token hash to (org, invitation id), through `app.resolve_invitation`.
    pub async fn resolve_invitation(&self, token_hash: &[u8; 32]) -> Result<Option<(OrgId, Uuid)>, sqlx::Error> {
        sqlx::query_as("select org_id, invitation_id from app.resolve_invitation($1)")
            .bind(token_hash.as_slice())
            .fetch_optional(&self.app)
            .await
    }

    /// A landing-page form's public id to (org, form id), through `app.resolve_lead_form`
    /// (migration 0016): only an active form of an active org.
    pub async fn resolve_lead_form(&self, public_id: &str) -> Result<Option<(OrgId, Uuid)>, sqlx::Error> {
        sqlx::query_as("select org_id, form_id from app.resolve_lead_form($1)")
            .bind(public_id)
            .fetch_optional(&self.app)
            .await
    }
}
