//! Counting a failed password, locking the account, and telling the member.

use super::*;
use kernel::audit::AuditEvent;
use kernel::authz::Principal;
use kernel::web::AppState;
use kernel::{AppError, OrgTx};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

/// Counts one failed password attempt on the account, unless it is locked (attempts while locked
/// do not count, so they cannot extend the lock). Locks the account when the count calls for it,
/// and then tells the member ([`notify_account_locked`]).
pub(crate) async fn count_failure(state: &AppState, tx: &mut OrgTx, user: Uuid) -> Result<(), AppError> {
    let now = state.clock.now();
    let Some((failed, locked_until)) = lock_failures(tx, user).await? else {
        return Ok(());
    };
    if locked_until.is_some_and(|until| until > now) {
        return Ok(());
    }
    let failures = failed.saturating_add(1);
    let lock = lock_delay(failures).map(|delay| (delay, now + delay));
    sqlx::query!(
        "update users set failed_logins = $3, locked_until = $4 where org_id = $1 and user_id = $2",
        tx.org().0,
        user,
        failures,
        lock.map(|(_, until)| until).or(locked_until)
    )
    .execute(tx.conn())
    .await?;
    if let Some((delay, until)) = lock {
        notify_account_locked(state, tx, user, failures, delay, until).await?;
    }
    Ok(())
}

/// Tells a member their account was just locked after `failures` consecutive failed password
/// attempts, until `until`. Called inside the transaction that sets the lock, it records
/// `auth.account_locked` in the audit log (pseudonymous: the account id, the count and the
/// delay), which the owner sees; it also sends the member the notice email through the mail job
/// once `kernel::mail` lands, enqueued in this same transaction so the notice goes out exactly when
/// the lock commits.
pub async fn notify_account_locked(
    state: &AppState,
    tx: &mut OrgTx,
    user: Uuid,
    failures: i32,
    delay: Duration,
    until: OffsetDateTime,
) -> Result<(), AppError> {
    state
        .audit
        .record(
            tx,
            AuditEvent::new("auth.account_locked").target("user", user).payload(json!({
                "failures": failures,
                "locked_for_secs": delay.whole_seconds(),
                "locked_until": until.unix_timestamp(),
            })),
        )
        .await?;
    tracing::info!(user = %user, failures, "account locked after failed logins");
    let minutes = (delay.whole_seconds() / 60).max(1).to_string();
    crate::notify::security_notice(state, tx, user, "mail.account_locked", &[("minutes", &minutes)]).await
}

/// An owner lifts a member's lock at once and resets the count, audited `member.unlocked`.
/// `NotFound` for an unknown member.
pub async fn unlock(state: &AppState, principal: &Principal, member: Uuid) -> Result<(), AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let Some((failures, locked_until)) = lock_failures(&mut tx, member).await? else {
        return Err(AppError::NotFound);
    };
    reset(&mut tx, member).await?;
    let was_locked = locked_until.is_some_and(|until| until > state.clock.now());
    state
        .audit
        .record(
            &mut tx,
            AuditEvent::new("member.unlocked")
                .target("user", member)
                .payload(json!({ "was_locked": was_locked, "failures": failures })),
        )
        .await?;
    tx.commit().await?;
    Ok(())
}
