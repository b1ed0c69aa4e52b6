//! SQL of MFA factors, recovery codes and pending logins.

use super::*;
use kernel::OrgTx;

/// The member's TOTP factor, enrolled or in progress; with `lock`, their row stays locked until the
/// transaction ends (a code is being spent).
pub(super) async fn factor(tx: &mut OrgTx, user: Uuid, lock: bool) -> Result<Option<FactorRow>, sqlx::Error> {
    if lock {
        sqlx::query_as!(
            FactorRow,
            "select secret_sealed, enrolled_at, last_used_step from mfa_factors
             where org_id = $1 and user_id = $2 for update",
            tx.org().0,
            user
        )
        .fetch_optional(tx.conn())
        .await
    } else {
        sqlx::query_as!(
            FactorRow,
            "select secret_sealed, enrolled_at, last_used_step from mfa_factors where org_id = $1 and user_id = $2",
            tx.org().0,
            user
        )
        .fetch_optional(tx.conn())
        .await
    }
}

/// Whether the member has completed MFA enrollment.
pub async fn is_enrolled(tx: &mut OrgTx, user: Uuid) -> Result<bool, sqlx::Error> {
    Ok(factor(tx, user, false).await?.is_some_and(|f| f.enrolled_at.is_some()))
}

pub(super) async fn account_name(tx: &mut OrgTx, user: Uuid) -> Result<String, sqlx::Error> {
    let email: Option<String> =
        sqlx::query_scalar!("select email from users where org_id = $1 and user_id = $2", tx.org().0, user)
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
    sqlx::query!("delete from mfa_recovery_codes where org_id = $1 and user_id = $2", tx.org().0, user)
        .execute(tx.conn())
        .await?;
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    while codes.len() < RECOVERY_CODES {
        let code = new_recovery_code();
        let inserted = sqlx::query!(
            "insert into mfa_recovery_codes (org_id, code_id, user_id, code_hash, created_at)
             values ($1, $2, $3, $4, $5) on conflict do nothing",
            tx.org().0,
            Uuid::now_v7(),
            user,
            &recovery_hash(code.expose_secret())[..],
            now
        )
        .execute(tx.conn())
        .await?;
        if inserted.rows_affected() == 1 {
            codes.push(code.expose_secret().to_owned());
        }
    }
    Ok(codes)
}

/// [`start_second_step`] inside the caller's transaction, for a first factor spent in it.
pub async fn begin_second_step(
    tx: &mut OrgTx,
    user_id: Uuid,
    first_factor: &str,
    now: OffsetDateTime,
) -> Result<SecretString, AppError> {
    let token = token::generate();
    sqlx::query!(
        "insert into mfa_pending_logins (org_id, pending_id, user_id, token_hash, created_at, expires_at, first_factor)
         values ($1, $2, $3, $4, $5, $6, $7)",
        tx.org().0,
        Uuid::now_v7(),
        user_id,
        &token::hash(&token)[..],
        now,
        now + PENDING_LIFETIME,
        first_factor
    )
    .execute(tx.conn())
    .await?;
    // Old pending logins of this member are of no use any more.
    sqlx::query!(
        "delete from mfa_pending_logins where org_id = $1 and user_id = $2 and expires_at <= $3",
        tx.org().0,
        user_id,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(token)
}

/// Whether a pending login can still be finished at `now` (unused, unexpired); `None` if unknown.
pub(super) async fn pending_login_live(
    tx: &mut OrgTx,
    pending_id: Uuid,
    now: OffsetDateTime,
) -> Result<Option<bool>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select used_at is null and expires_at > $3 as "live!" from mfa_pending_logins
           where org_id = $1 and pending_id = $2"#,
        tx.org().0,
        pending_id,
        now
    )
    .fetch_optional(tx.conn())
    .await
}

/// Spends a pending login if it is still live at `now`: its member and the first factor it was
/// opened by (`password`, `magic_link`, `email_otp`), or `None` when it was already used or expired
/// (the row lock settles two concurrent submissions).
pub(super) async fn claim_pending_login(
    tx: &mut OrgTx,
    pending_id: Uuid,
    now: OffsetDateTime,
) -> Result<Option<(Uuid, String)>, sqlx::Error> {
    Ok(sqlx::query!(
        "update mfa_pending_logins set used_at = $3
         where org_id = $1 and pending_id = $2 and used_at is null and expires_at > $3
         returning user_id, first_factor",
        tx.org().0,
        pending_id,
        now
    )
    .fetch_optional(tx.conn())
    .await?
    .map(|row| (row.user_id, row.first_factor)))
}

/// Whether the organization requires MFA of every member.
pub(super) async fn require_mfa_all(tx: &mut OrgTx) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!("select require_mfa_all from organizations where org_id = $1", tx.org().0)
        .fetch_one(tx.conn())
        .await
}

/// Requires MFA of every member of the organization, or stops requiring it.
pub(super) async fn set_require_mfa_all(tx: &mut OrgTx, enabled: bool) -> Result<(), sqlx::Error> {
    sqlx::query!("update organizations set require_mfa_all = $2 where org_id = $1", tx.org().0, enabled)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// How many of the member's recovery codes are still unused.
pub(super) async fn recovery_codes_left(tx: &mut OrgTx, user: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select count(*) as "count!" from mfa_recovery_codes where org_id = $1 and user_id = $2 and used_at is null"#,
        tx.org().0,
        user
    )
    .fetch_one(tx.conn())
    .await
}

/// Stores the sealed secret of a factor being enrolled (not enrolled until a code proves it).
pub(super) async fn insert_factor(
    tx: &mut OrgTx,
    user: Uuid,
    secret_sealed: &[u8],
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into mfa_factors (org_id, user_id, secret_sealed, created_at) values ($1, $2, $3, $4)",
        tx.org().0,
        user,
        secret_sealed,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Completes the member's enrollment.
pub(super) async fn mark_enrolled(tx: &mut OrgTx, user: Uuid, now: OffsetDateTime) -> Result<(), sqlx::Error> {
    sqlx::query!("update mfa_factors set enrolled_at = $3 where org_id = $1 and user_id = $2", tx.org().0, user, now)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Removes the member's factor and recovery codes: MFA is off.
pub(super) async fn delete_factor(tx: &mut OrgTx, user: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!("delete from mfa_recovery_codes where org_id = $1 and user_id = $2", tx.org().0, user)
        .execute(tx.conn())
        .await?;
    sqlx::query!("delete from mfa_factors where org_id = $1 and user_id = $2", tx.org().0, user)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// The member's password hash, for re-authentication.
pub(super) async fn password_hash(tx: &mut OrgTx, user: Uuid) -> Result<String, sqlx::Error> {
    sqlx::query_scalar!("select password_hash from users where org_id = $1 and user_id = $2", tx.org().0, user)
        .fetch_one(tx.conn())
        .await
}
