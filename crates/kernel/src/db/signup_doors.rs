//! The narrow doors for pending sign-ups (migration 0009): the request path stores a pending
//! sign-up, and asks whether a link still works, before any organization exists. Spending a link
//! (`app.pending_signup_take`) happens inside the tenant transaction that creates the organization.

use uuid::Uuid;

use super::Db;

/// A validated sign-up waiting for its address to confirm it. Holds no secret in clear: the
/// link's token as its SHA-256, the password as its bcrypt hash.
pub struct PendingSignup<'a> {
    pub signup_id: Uuid,
    pub email: &'a str,
    pub token_hash: [u8; 32],
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub job_title: &'a str,
    pub organization_name: &'a str,
    pub password_hash: &'a str,
    pub language: &'a str,
    pub policy_version: &'a str,
    pub created_at: time::OffsetDateTime,
    pub expires_at: time::OffsetDateTime,
}

impl std::fmt::Debug for PendingSignup<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingSignup").field("signup_id", &self.signup_id).finish_non_exhaustive()
    }
}

impl Db {
    /// Stores `pending` through `app.pending_signup_put`, replacing any pending sign-up of the same
    /// address and purging expired ones.
    pub async fn put_pending_signup(&self, pending: &PendingSignup<'_>) -> Result<(), sqlx::Error> {
        sqlx::query("select app.pending_signup_put($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")
            .bind(pending.signup_id)
            .bind(pending.email)
            .bind(pending.token_hash.as_slice())
            .bind(pending.first_name)
            .bind(pending.last_name)
            .bind(pending.job_title)
            .bind(pending.organization_name)
            .bind(pending.password_hash)
            .bind(pending.language)
            .bind(pending.policy_version)
            .bind(pending.created_at)
            .bind(pending.expires_at)
            .execute(&self.app)
            .await?;
        Ok(())
    }

    /// Whether a sign-up link still works at `now`, without spending it (`app.pending_signup_live`).
    pub async fn pending_signup_live(
        &self,
        token_hash: &[u8; 32],
        now: time::OffsetDateTime,
    ) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar("select app.pending_signup_live($1, $2)")
            .bind(token_hash.as_slice())
            .bind(now)
            .fetch_one(&self.app)
            .await
    }
}
