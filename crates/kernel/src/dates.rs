//! Dates as people read them in each language: "Monday 7 December 2026" and "lundi 7 décembre
//! 2026", "7 Dec, 14:05" and "7 déc., 14:05" — never ISO or Rust's `Display`. The names are
//! written here rather than in the message files because they are grammar, not wording. Times are
//! shown in UTC until pages know the member's time zone.

use time::{Date, OffsetDateTime};

use crate::i18n::Lang;

const MONTHS_EN: [&str; 12] = [
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
const MONTHS_FR: [&str; 12] = [
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
const MONTHS_EN_SHORT: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const MONTHS_FR_SHORT: [&str; 12] =
    ["janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."];
const DAYS_EN: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const DAYS_FR: [&str; 7] = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"];

fn month_index(date: Date) -> usize {
    usize::from(u8::from(date.month()) - 1)
}

/// "Monday 7 December 2026" / "lundi 7 décembre 2026".
pub fn long_day(date: Date, lang: Lang) -> String {
    let weekday = usize::from(date.weekday().number_days_from_monday());
    let (days, months) = match lang {
        Lang::En => (DAYS_EN, MONTHS_EN),
        Lang::Fr => (DAYS_FR, MONTHS_FR),
    };
    // French writes the first of the month as an ordinal: « 1er décembre ».
    let day = match (lang, date.day()) {
        (Lang::Fr, 1) => "1er".to_string(),
        (_, day) => day.to_string(),
    };
    format!("{} {day} {} {}", days[weekday], months[month_index(date)], date.year())
}

/// "7 Dec" / "7 déc.", with the year when it is not `this_year`.
pub fn short_day(date: Date, lang: Lang, this_year: i32) -> String {
    let months = match lang {
        Lang::En => MONTHS_EN_SHORT,
        Lang::Fr => MONTHS_FR_SHORT,
    };
    let mut text = format!("{}\u{a0}{}", date.day(), months[month_index(date)]);
    if date.year() != this_year {
        text.push(' ');
        text.push_str(&date.year().to_string());
    }
    text
}

/// "7 Dec, 14:05" / "7 déc., 14:05" (a 24-hour clock in both languages, as their readers expect
/// of a work tool), with the year when it is not the year of `now`.
pub fn short_moment(at: OffsetDateTime, lang: Lang, now: OffsetDateTime) -> String {
    format!("{}, {:02}:{:02}", short_day(at.date(), lang, now.year()), at.hour(), at.minute())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn dates_read_the_local_way() {
        assert_eq!(long_day(date!(2026 - 12 - 07), Lang::En), "Monday 7 December 2026");
        assert_eq!(long_day(date!(2026 - 12 - 01), Lang::Fr), "mardi 1er décembre 2026");
        let now = datetime!(2026-12-07 9:00 UTC);
        assert_eq!(short_moment(datetime!(2026-12-06 14:05 UTC), Lang::Fr, now), "6\u{a0}déc., 14:05");
        assert_eq!(short_moment(datetime!(2025-02-06 8:00 UTC), Lang::En, now), "6\u{a0}Feb 2025, 08:00");
    }
}
