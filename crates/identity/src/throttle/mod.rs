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
//!
//! Files: `store.rs` (the lock and the count), `service.rs` (counting a failure, locking, telling
//! the member), `pages.rs` (an owner's unlock).

pub mod pages;
mod service;
mod store;

pub use service::*;
pub(crate) use store::*;

use time::Duration;

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
