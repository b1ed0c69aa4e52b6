//! Account lockout (P1-17, ASVS 5.0 V6.3.1): consecutive failed password attempts are counted on
//! the account (`users.failed_logins`); from the [`LOCK_AFTER_FAILURES`]th on, each failure locks
//! the account for a growing delay ([`LOCK_DELAYS`], capped at one hour), during which every
//! password — the right one too — gets exactly the answer of a wrong password (same status, same
//! message, same bcrypt work), so a lock reveals nothing about the account or the password.
//!
//! Locks are always temporary: attempts while locked neither count nor extend the lock, so an
//! attacker can delay a victim's logins but never lock them out for good; an owner can unlock a
//! member at once, and a successful login resets the count. Rate limits (P1-16, `kernel::ratelimit`)
//! stack on top of this.

use crate::actions;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use kernel::audit::AuditEvent;
use kernel::authz::Principal;
use kernel::web::{AppState, CsrfForm};
use kernel::{AppError, AppResult, OrgTx};
use serde::de::IgnoredAny;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// Consecutive failures at which the account locks for the first time.
pub const LOCK_AFTER_FAILURES: i32 = 5;

/// How long each successive lock lasts: the 5th consecutive failure locks for a minute, the 6th
/// (once that lock is over) for five, the 7th for fifteen, then an hour each time.
pub const LOCK_DELAYS: [Duration; 4] =
    [Duration::minutes(1), Duration::minutes(5), Duration::minutes(15), Duration::hours(1)];

/// How long the account locks after its `failures`th consecutive failure, if at all.
pub fn lock_delay(failures: i32) -> Option<Duration> {
    let level = usize::try_from(failures.checked_sub(LOCK_AFTER_FAILURES)?).ok()?;
    Some(LOCK_DELAYS[level.min(LOCK_DELAYS.len() - 1)])
}

/// Until when the account is locked at `now`, if it is; holds the member's row until the end of
/// the transaction so a concurrent failure or unlock waits for it.
pub(crate) async fn locked_until(
    tx: &mut OrgTx,
    user: Uuid,
    now: OffsetDateTime,
) -> Result<Option<OffsetDateTime>, sqlx::Error> {
    let until: Option<Option<OffsetDateTime>> = sqlx::query_scalar!(
        "select locked_until from users where org_id = $1 and user_id = $2 for update",
        tx.org().0,
        user
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(until.flatten().filter(|until| *until > now))
}

/// Counts one failed password attempt on the account, unless it is locked (attempts while locked
/// do not count, so they cannot extend the lock). Locks the account when the count calls for it,
/// and then tells the member ([`notify_account_locked`]).
pub(crate) async fn count_failure(state: &AppState, tx: &mut OrgTx, user: Uuid) -> Result<(), AppError> {
    let now = state.clock.now();
    let row: Option<(i32, Option<OffsetDateTime>)> =
        sqlx::query_as("select failed_logins, locked_until from users where org_id = $1 and user_id = $2 for update")
            .bind(tx.org())
            .bind(user)
            .fetch_optional(tx.conn())
            .await?;
    let Some((failed, locked_until)) = row else {
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

/// A successful login: the count starts again and any lock is gone.
pub(crate) async fn reset(tx: &mut OrgTx, user: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update users set failed_logins = 0, locked_until = null
         where org_id = $1 and user_id = $2 and (failed_logins <> 0 or locked_until is not null)",
        tx.org().0,
        user
    )
    .execute(tx.conn())
    .await?;
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

/// `POST /members/{user_id}/unlock`: an owner lifts a member's lock at once (and resets the
/// count). CSRF-checked and audited as `member.unlocked`.
pub async fn unlock_member(
    State(state): State<AppState>,
    principal: Principal,
    Path(member): Path<Uuid>,
    CsrfForm(_): CsrfForm<IgnoredAny>,
) -> AppResult<Response> {
    // The router enforces this already; checked again because unlocking is owner-only business.
    if !kernel::authz::grant(principal.role, actions::MEMBERS_MANAGE).allows() {
        return Err(AppError::Forbidden);
    }
    let mut tx = principal.begin(&state.db).await?;
    let was: Option<(i32, Option<OffsetDateTime>)> =
        sqlx::query_as("select failed_logins, locked_until from users where org_id = $1 and user_id = $2 for update")
            .bind(principal.org)
            .bind(member)
            .fetch_optional(tx.conn())
            .await?;
    let Some((failures, locked_until)) = was else {
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
    Ok(Redirect::to("/dashboard").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_start_at_the_fifth_failure_and_grow_to_an_hour() {
        for failures in 0..LOCK_AFTER_FAILURES {
            assert_eq!(lock_delay(failures), None, "{failures}");
        }
        assert_eq!(lock_delay(5), Some(Duration::minutes(1)));
        assert_eq!(lock_delay(6), Some(Duration::minutes(5)));
        assert_eq!(lock_delay(7), Some(Duration::minutes(15)));
        assert_eq!(lock_delay(8), Some(Duration::hours(1)));
        assert_eq!(lock_delay(i32::MAX), Some(Duration::hours(1)));
        assert_eq!(lock_delay(-1), None);
    }
}
