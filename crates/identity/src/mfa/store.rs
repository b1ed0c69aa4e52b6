//! SQL of MFA factors, recovery codes and pending logins.

use super::*;
use kernel::OrgTx;

pub(super) async fn factor(tx: &mut OrgTx, user: Uuid, lock: bool) -> Result<Option<FactorRow>, sqlx::Error> {
    let sql = if lock {
        "select secret_sealed, enrolled_at, last_used_step from mfa_factors where org_id = $1 and user_id = $2 for update"
    } else {
        "select secret_sealed, enrolled_at, last_used_step from mfa_factors where org_id = $1 and user_id = $2"
    };
    sqlx::query_as(sql).bind(tx.org()).bind(user).fetch_optional(tx.conn()).await
}

/// Whether the member has completed MFA enrollment.
pub async fn is_enrolled(tx: &mut OrgTx, user: Uuid) -> Result<bool, sqlx::Error> {
    Ok(factor(tx, user, false).await?.is_some_and(|f| f.enrolled_at.is_some()))
}

pub(super) async fn account_name(tx: &mut OrgTx, user: Uuid) -> Result<String, sqlx::Error> {
    let email: Option<String> = sqlx::query_scalar("select email from users where org_id = $1 and user_id = $2")
        .bind(tx.org())
        .bind(user)
        .fetch_optional(tx.conn())
        .await?;
    Ok(email.unwrap_or_default())
}

/// Generates a new set of recovery codes (the old ones stop working) and returns them, once.
pub(super) async fn regenerate_codes(
    tx: &mut OrgTx,
    user: Uuid,
    now: OffsetDateTime,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query("delete from mfa_recovery_codes where org_id = $1 and user_id = $2")
        .bind(tx.org())
        .bind(user)
        .execute(tx.conn())
        .await?;
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    while codes.len() < RECOVERY_CODES {
        let code = new_recovery_code();
        let inserted = sqlx::query(
            "insert into mfa_recovery_codes (org_id, code_id, user_id, code_hash, created_at)
             values ($1, $2, $3, $4, $5) on conflict do nothing",
        )
        .bind(tx.org())
        .bind(Uuid::now_v7())
        .bind(user)
        .bind(recovery_hash(code.expose_secret()).as_slice())
        .bind(now)
        .execute(tx.conn())
        .await?;
        if inserted.rows_affected() == 1 {
            codes.push(code.expose_secret().to_owned());
        }
    }
    Ok(codes)
}

/// [`start_second_step`] inside the caller's transaction, for a first factor spent in it.
pub async fn begin_second_step(tx: &mut OrgTx, user_id: Uuid, now: OffsetDateTime) -> Result<SecretString, AppError> {
    let token = token::generate();
    sqlx::query(
        "insert into mfa_pending_logins (org_id, pending_id, user_id, token_hash, created_at, expires_at)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(tx.org())
    .bind(Uuid::now_v7())
    .bind(user_id)
    .bind(token::hash(&token).as_slice())
    .bind(now)
    .bind(now + PENDING_LIFETIME)
    .execute(tx.conn())
    .await?;
    // Old pending logins of this member are of no use any more.
    sqlx::query("delete from mfa_pending_logins where org_id = $1 and user_id = $2 and expires_at <= $3")
        .bind(tx.org())
        .bind(user_id)
        .bind(now)
        .execute(tx.conn())
        .await?;
    Ok(token)
}
