//! One clock, passed in. Expiry, retention and audit months read it, so tests move it instead of
//! sleeping.

use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

#[derive(Clone)]
pub struct Clock(Arc<Source>);

enum Source {
    System,
    Manual(Mutex<OffsetDateTime>),
}

impl Clock {
    pub fn system() -> Self {
        Self(Arc::new(Source::System))
    }

    /// A clock that stands still until moved; for tests and benchmarks.
    pub fn manual(start: OffsetDateTime) -> Self {
        Self(Arc::new(Source::Manual(Mutex::new(start))))
    }

    pub fn now(&self) -> OffsetDateTime {
        let now = match &*self.0 {
            Source::System => OffsetDateTime::now_utc(),
            Source::Manual(at) => *at.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
        };
        // PostgreSQL keeps microseconds; rounding here keeps values equal after a round trip.
        now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000).unwrap_or(now)
    }

    /// Moves a manual clock forward; does nothing to the system clock.
    pub fn advance(&self, by: Duration) {
        if let Source::Manual(at) = &*self.0 {
            let mut at = at.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            *at += by;
        }
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0 {
            Source::System => f.write_str("Clock::System"),
            Source::Manual(_) => write!(f, "Clock::Manual({})", self.now()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = time::macros::datetime!(2026-01-31 23:00 UTC);
        let clock = Clock::manual(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::hours(2));
        assert_eq!(clock.now(), time::macros::datetime!(2026-02-01 01:00 UTC));
    }
}
