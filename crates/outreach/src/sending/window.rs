//! When a message may go: a mailbox's sending window (weekdays and hours) in the recipient's
//! time zone when known, else the mailbox's. Pure functions over instants, tested below.

use chrono::{Datelike, NaiveDate, NaiveTime, TimeZone};
use chrono_tz::Tz;
use time::OffsetDateTime;

/// Weekdays (ISO: 1 = Monday … 7 = Sunday) and minutes of the day `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub days: Vec<u8>,
    pub start_minute: u16,
    pub end_minute: u16,
}

fn to_chrono(at: OffsetDateTime) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(at.unix_timestamp(), 0).unwrap_or_default()
}

fn from_chrono<Z: TimeZone>(at: chrono::DateTime<Z>) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(at.timestamp()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The instant a local wall-clock time of `day` names in `tz`. In a spring-forward gap the time
/// does not exist: the first instant after the gap stands for it.
fn at_local(tz: Tz, day: NaiveDate, minute: u16) -> OffsetDateTime {
    if minute >= 1440 {
        return at_local(tz, day.succ_opt().unwrap_or(day), 0);
    }
    let time = NaiveTime::from_num_seconds_from_midnight_opt(u32::from(minute) * 60, 0).unwrap_or_default();
    let mut naive = day.and_time(time);
    for _ in 0..4 {
        if let Some(resolved) = tz.from_local_datetime(&naive).earliest() {
            return from_chrono(resolved);
        }
        naive += chrono::Duration::minutes(30);
    }
    from_chrono(chrono::Utc.from_utc_datetime(&day.and_time(time)))
}

/// The local calendar day of `at` in `tz`.
pub fn local_day(at: OffsetDateTime, tz: Tz) -> NaiveDate {
    to_chrono(at).with_timezone(&tz).date_naive()
}

/// The first instant at or after `at` inside the window.
pub fn next_open(at: OffsetDateTime, window: &Window, tz: Tz) -> OffsetDateTime {
    let first_day = local_day(at, tz);
    for offset in 0..=8 {
        let Some(day) = first_day.checked_add_days(chrono::Days::new(offset)) else { break };
        let weekday = day.weekday().number_from_monday() as u8;
        if !window.days.contains(&weekday) {
            continue;
        }
        let open = at_local(tz, day, window.start_minute);
        let close = at_local(tz, day, window.end_minute);
        if at < open {
            return open;
        }
        if at < close {
            return at;
        }
    }
    // The window has no day at all (refused when saved): do not spin, try again in a day.
    at + time::Duration::days(1)
}

/// The start (00:00) of the local day after `at`'s, in `tz`: where a mailbox's next daily cap begins.
pub fn next_day_start(at: OffsetDateTime, tz: Tz) -> OffsetDateTime {
    let day = local_day(at, tz);
    at_local(tz, day.succ_opt().unwrap_or(day), 0)
}

/// `[start, end)` of `at`'s local day in `tz`: the span a daily cap counts.
pub fn day_span(at: OffsetDateTime, tz: Tz) -> (OffsetDateTime, OffsetDateTime) {
    let day = local_day(at, tz);
    (at_local(tz, day, 0), next_day_start(at, tz))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn office() -> Window {
        Window { days: vec![1, 2, 3, 4, 5], start_minute: 9 * 60, end_minute: 17 * 60 }
    }

    #[test]
    fn inside_the_window_a_message_goes_now() {
        // Tuesday 8 Dec 2026, 10:00 in Paris (09:00 UTC).
        let at = datetime!(2026-12-08 09:00 UTC);
        assert_eq!(next_open(at, &office(), chrono_tz::Europe::Paris), at);
    }

    #[test]
    fn before_hours_it_waits_for_the_opening_and_after_hours_for_the_next_day() {
        let paris = chrono_tz::Europe::Paris;
        // 07:00 Paris → 09:00 Paris (08:00 UTC).
        assert_eq!(next_open(datetime!(2026-12-08 06:00 UTC), &office(), paris), datetime!(2026-12-08 08:00 UTC));
        // 18:00 Paris on Tuesday → Wednesday 09:00 Paris.
        assert_eq!(next_open(datetime!(2026-12-08 17:00 UTC), &office(), paris), datetime!(2026-12-09 08:00 UTC));
    }

    #[test]
    fn a_weekend_is_skipped_in_the_recipients_zone() {
        // Friday 11 Dec 2026, 16:30 UTC = 17:30 Paris (closed) but 11:30 in New York (open).
        let friday = datetime!(2026-12-11 16:30 UTC);
        assert_eq!(next_open(friday, &office(), chrono_tz::America::New_York), friday);
        // Paris: Monday 14 Dec 09:00 Paris.
        assert_eq!(next_open(friday, &office(), chrono_tz::Europe::Paris), datetime!(2026-12-14 08:00 UTC));
    }

    #[test]
    fn the_daily_cap_counts_the_mailboxs_local_day() {
        let (start, end) = day_span(datetime!(2026-12-08 23:30 UTC), chrono_tz::Europe::Paris);
        // 23:30 UTC is already Wednesday 00:30 in Paris.
        assert_eq!((start, end), (datetime!(2026-12-08 23:00 UTC), datetime!(2026-12-09 23:00 UTC)));
    }

    #[test]
    fn a_window_opening_inside_the_spring_forward_gap_opens_after_it() {
        // 29 March 2026, Paris skips 02:00–03:00. A window opening at 02:30 opens at 03:00 local.
        let night = Window { days: vec![7], start_minute: 150, end_minute: 240 };
        assert_eq!(
            next_open(datetime!(2026-03-28 22:00 UTC), &night, chrono_tz::Europe::Paris),
            datetime!(2026-03-29 01:00 UTC)
        );
    }
}
