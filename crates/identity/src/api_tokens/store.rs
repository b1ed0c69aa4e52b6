//! SQL revoking API tokens: one refresh family, or every token of a member.

use super::*;
use kernel::OrgTx;

/// Revokes every token of a refresh family (and so the family's access tokens).
pub async fn revoke_family(tx: &mut OrgTx, family: Uuid, now: OffsetDateTime) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update refresh_tokens set revoked_at = $3 where org_id = $1 and family_id = $2 and revoked_at is null",
        tx.org().0,
        family,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Ends every API token of a member at once: access tokens issued until now are refused
/// (`tokens_not_before`) and every refresh family is revoked. For a password change or reset and
/// "log out everywhere"; call it in the transaction that makes that change. API keys are not
/// touched: they are revoked one by one on the API-keys page.
pub async fn revoke_all_api_tokens(tx: &mut OrgTx, user: Uuid, now: OffsetDateTime) -> Result<(), sqlx::Error> {
    sqlx::query!("update users set tokens_not_before = $3 where org_id = $1 and user_id = $2", tx.org().0, user, now)
        .execute(tx.conn())
        .await?;
    sqlx::query!(
        "update refresh_tokens set revoked_at = $3 where org_id = $1 and user_id = $2 and revoked_at is null",
        tx.org().0,
        user,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}
