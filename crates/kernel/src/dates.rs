//! Dates and times as pages show them: in the member's time zone, written the way their language
//! writes them. One style per language, used by every page:
//!
//! * French: `6 déc. 2026 à 14:05` (a date alone: `6 déc. 2026`) — CLDR's medium date with a
//!   24-hour clock;
//! * English: `Dec 6, 2026, 2:05 PM` (a date alone: `Dec 6, 2026`) — CLDR's medium date with a
//!   12-hour clock.
//!
//! Two compact forms for dense lists (the home page, members): `7 déc., 14:05` / `7 Dec, 14:05`
//! without the year when it is this year's, and the long day of a heading, `lundi 7 décembre 2026` /
//! `Monday 7 December 2026`. Month and day names are written here rather than in the message files
//! because they are grammar, not wording.
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
    let time = clock(local.hour(), local.minute(), lang);
    match lang {
        Lang::Fr => format!("{day} à {time}"),
        Lang::En => format!("{day}, {time}"),
    }
}

/// The date of a moment in `tz` (a due day, a deadline): `6 déc. 2026` / `Dec 6, 2026`.
pub fn local_date(at: OffsetDateTime, tz: Tz, lang: Lang) -> String {
    date(local(at, tz).date(), lang)
}

const MONTHS_EN_LONG: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const MONTHS_FR_LONG: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];
const DAYS_EN: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const DAYS_FR: [&str; 7] = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"];

/// "Monday 7 December 2026" / "lundi 7 décembre 2026".
pub fn long_day(day: time::Date, lang: Lang) -> String {
    let weekday = usize::from(day.weekday().number_days_from_monday());
    let month = usize::from(u8::from(day.month())) - 1;
    let (days, months) = match lang {
        Lang::En => (DAYS_EN, MONTHS_EN_LONG),
        Lang::Fr => (DAYS_FR, MONTHS_FR_LONG),
    };
    // French writes the first of the month as an ordinal: « 1er décembre ».
    let number = match (lang, day.day()) {
        (Lang::Fr, 1) => "1er".to_string(),
        (_, number) => number.to_string(),
    };
    format!("{} {number} {} {}", days[weekday], months[month], day.year())
}

/// "Dec 7" / "7 déc.", with the year when it is not `this_year` ("Feb 1, 2027" / "1 févr. 2027").
pub fn short_day(day: time::Date, lang: Lang, this_year: i32) -> String {
    let month = usize::from(u8::from(day.month())) - 1;
    let same_year = day.year() == this_year;
    match (lang, same_year) {
        (Lang::Fr, true) => format!("{}\u{a0}{}", day.day(), MONTHS_FR[month]),
        (Lang::Fr, false) => format!("{}\u{a0}{} {}", day.day(), MONTHS_FR[month], day.year()),
        (Lang::En, true) => format!("{} {}", MONTHS_EN[month], day.day()),
        (Lang::En, false) => format!("{} {}, {}", MONTHS_EN[month], day.day(), day.year()),
    }
}

/// The hour in each language's style: `14:05` / `2:05 PM`.
fn clock(hour: u8, minute: u8, lang: Lang) -> String {
    match lang {
        Lang::Fr => format!("{hour:02}:{minute:02}"),
        Lang::En => {
            let (h12, half) = match hour {
                0 => (12, "AM"),
                1..=11 => (hour, "AM"),
                12 => (12, "PM"),
                _ => (hour - 12, "PM"),
            };
            format!("{h12}:{minute:02}\u{a0}{half}")
        }
    }
}

/// A moment in a dense list, in `tz`: "Dec 6, 2:05 PM" / "6 déc. à 14:05", with the year when it
/// is not the year of `now`.
pub fn short_moment(at: OffsetDateTime, tz: Tz, lang: Lang, now: OffsetDateTime) -> String {
    let this_year = local(now, tz).year();
    let at = local(at, tz);
    let day = short_day(at.date(), lang, this_year);
    let time = clock(at.hour(), at.minute(), lang);
    match lang {
        Lang::Fr => format!("{day} à {time}"),
        Lang::En => format!("{day}, {time}"),
    }
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
    fn compact_forms_read_the_local_way() {
        use time::macros::date;
        assert_eq!(long_day(date!(2026 - 12 - 07), Lang::En), "Monday 7 December 2026");
        assert_eq!(long_day(date!(2026 - 12 - 01), Lang::Fr), "mardi 1er décembre 2026");
        let now = datetime!(2026-12-07 9:00 UTC);
        assert_eq!(short_moment(datetime!(2026-12-06 13:05 UTC), DEFAULT_ZONE, Lang::Fr, now), "6\u{a0}déc. à 14:05");
        assert_eq!(
            short_moment(datetime!(2025-02-06 8:00 UTC), chrono_tz::UTC, Lang::En, now),
            "Feb 6, 2025, 8:00\u{a0}AM"
        );
        assert_eq!(short_day(date!(2026 - 12 - 09), Lang::En, 2026), "Dec 9");
        assert_eq!(short_day(date!(2027 - 02 - 01), Lang::Fr, 2026), "1\u{a0}févr. 2027");
    }

    #[test]
    fn zones_are_iana_names() {
        assert_eq!(zone(" Europe/Paris ").map(|tz| tz.name()), Some("Europe/Paris"));
        assert!(zone("Mars/Olympus").is_none());
        assert!(zone("").is_none());
        assert!(zone_names().contains(&"America/Martinique"));
    }
}
