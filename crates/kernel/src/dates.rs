//! Dates and times as pages show them: in the member's time zone, written the way their language
//! writes them. One style per language, used by every page:
//!
//! * French: `6 déc. 2026 à 14:05` (a date alone: `6 déc. 2026`) — CLDR's medium date with a
//!   24-hour clock;
//! * English: `Dec 6, 2026, 2:05 PM` (a date alone: `Dec 6, 2026`) — CLDR's medium date with a
//!   12-hour clock.
//!
//! Time zones are IANA names (`Europe/Paris`) read by `chrono-tz`, the tz database the CRM's
//! `time_zone` values are checked against too. The API keeps RFC 3339 in UTC.

use chrono::{Offset, TimeZone};
pub use chrono_tz::Tz;
use time::{OffsetDateTime, UtcOffset};

use crate::i18n::Lang;

/// The time zone of a member who has not chosen one, and of pages nobody is signed in to: Relais
/// serves European teams first (as the phone numbers' default region, France, says).
pub const DEFAULT_ZONE: Tz = chrono_tz::Europe::Paris;

/// An IANA time zone name, as the tz database knows it (`Europe/Paris`, `America/Guadeloupe`);
/// `None` for anything else.
pub fn zone(name: &str) -> Option<Tz> {
    name.trim().parse::<Tz>().ok()
}

/// Every time zone name the tz database knows, sorted: what a time zone field offers.
pub fn zone_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
    names.sort_unstable();
    names
}

/// `at` as the wall clock of `tz` reads it.
pub fn local(at: OffsetDateTime, tz: Tz) -> OffsetDateTime {
    let offset = chrono::DateTime::from_timestamp(at.unix_timestamp(), 0)
        .map(|utc| tz.offset_from_utc_datetime(&utc.naive_utc()).fix().local_minus_utc())
        .and_then(|seconds| UtcOffset::from_whole_seconds(seconds).ok())
        .unwrap_or(UtcOffset::UTC);
    at.to_offset(offset)
}

const MONTHS_FR: [&str; 12] =
    ["janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."];
const MONTHS_EN: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// A calendar date: `6 déc. 2026` / `Dec 6, 2026`.
pub fn date(day: time::Date, lang: Lang) -> String {
    let month = usize::from(u8::from(day.month())) - 1;
    match lang {
        Lang::Fr => format!("{} {} {}", day.day(), MONTHS_FR[month], day.year()),
        Lang::En => format!("{} {}, {}", MONTHS_EN[month], day.day(), day.year()),
    }
}

/// A moment to the minute in `tz`: `6 déc. 2026 à 14:05` / `Dec 6, 2026, 2:05 PM`.
pub fn date_time(at: OffsetDateTime, tz: Tz, lang: Lang) -> String {
    let local = local(at, tz);
    let day = date(local.date(), lang);
    let (hour, minute) = (local.hour(), local.minute());
    match lang {
        Lang::Fr => format!("{day} à {hour:02}:{minute:02}"),
        Lang::En => {
            let (h12, half) = match hour {
                0 => (12, "AM"),
                1..=11 => (hour, "AM"),
                12 => (12, "PM"),
                _ => (hour - 12, "PM"),
            };
            format!("{day}, {h12}:{minute:02}\u{a0}{half}")
        }
    }
}

/// The date of a moment in `tz` (a due day, a deadline): `6 déc. 2026` / `Dec 6, 2026`.
pub fn local_date(at: OffsetDateTime, tz: Tz, lang: Lang) -> String {
    date(local(at, tz).date(), lang)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn moments_read_in_the_members_zone_and_language() {
        let at = datetime!(2026-12-06 13:05 UTC);
        assert_eq!(date_time(at, DEFAULT_ZONE, Lang::Fr), "6 déc. 2026 à 14:05");
        assert_eq!(date_time(at, DEFAULT_ZONE, Lang::En), "Dec 6, 2026, 2:05\u{a0}PM");
        assert_eq!(date_time(at, chrono_tz::America::Guadeloupe, Lang::Fr), "6 déc. 2026 à 09:05");
        // Summer time, and a day that is another day in the zone.
        let summer = datetime!(2026-07-01 22:30 UTC);
        assert_eq!(date_time(summer, DEFAULT_ZONE, Lang::Fr), "2 juil. 2026 à 00:30");
        assert_eq!(date_time(summer, chrono_tz::UTC, Lang::En), "Jul 1, 2026, 10:30\u{a0}PM");
        assert_eq!(local_date(summer, DEFAULT_ZONE, Lang::En), "Jul 2, 2026");
        assert_eq!(date_time(datetime!(2026-01-01 00:00 UTC), chrono_tz::UTC, Lang::En), "Jan 1, 2026, 12:00\u{a0}AM");
    }

    #[test]
    fn zones_are_iana_names() {
        assert_eq!(zone(" Europe/Paris ").map(|tz| tz.name()), Some("Europe/Paris"));
        assert!(zone("Mars/Olympus").is_none());
        assert!(zone("").is_none());
        assert!(zone_names().contains(&"America/Martinique"));
    }
}
