//! Italian civil time and calendar, without a time-zone database: Italy follows the EU rule
//! (CET, UTC+1; CEST, UTC+2 from the last Sunday of March to the last Sunday of October, both
//! at 01:00 UTC), fixed since 1996.
//!
//! Why it matters: a protocol registration made at 00:30 on 1 January in Rome is 23:30 UTC
//! of 31 December, and belongs to the new year's register. Legal terms count from the Italian
//! date of submission: see [`super::terms`].

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Weekday};

fn last_sunday(year: i32, month: u32) -> Option<NaiveDate> {
    let first_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    let last = first_next.pred_opt()?;
    let back = last.weekday().num_days_from_sunday();
    Some(last - Duration::days(i64::from(back)))
}

/// Offset of Italian civil time from UTC at a UTC instant, in hours (1 or 2).
pub fn rome_offset_hours(utc: NaiveDateTime) -> i64 {
    let year = utc.year();
    let (Some(start), Some(end)) = (last_sunday(year, 3), last_sunday(year, 10)) else {
        return 1;
    };
    let (Some(start), Some(end)) = (start.and_hms_opt(1, 0, 0), end.and_hms_opt(1, 0, 0)) else {
        return 1;
    };
    if utc >= start && utc < end {
        2
    } else {
        1
    }
}

/// Italian civil time of a UTC instant.
pub fn to_rome(utc: NaiveDateTime) -> NaiveDateTime {
    utc + Duration::hours(rome_offset_hours(utc))
}

/// The Italian calendar date of a UTC instant.
pub fn rome_date(utc: NaiveDateTime) -> NaiveDate {
    to_rome(utc).date()
}

/// 00:00 of an Italian day, in UTC.
pub fn rome_day_start_utc(d: NaiveDate) -> NaiveDateTime {
    let local = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    // The offset at that instant (1 or 2 hours): try the later one first.
    let guess = local - chrono::Duration::hours(2);
    if to_rome(guess) == local {
        guess
    } else {
        local - chrono::Duration::hours(1)
    }
}

/// Easter Sunday (Gregorian calendar), by the anonymous Gregorian algorithm.
pub fn easter(year: i32) -> Option<NaiveDate> {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

/// National public holidays (L. 260/1949 and later): New Year, Epiphany, Easter Monday,
/// Liberation Day, Labour Day, Republic Day, Assumption, All Saints, Immaculate Conception,
/// Christmas, St Stephen. Local patron saints' days are the ente's own and not included.
pub fn is_national_holiday(date: NaiveDate) -> bool {
    let fixed = [
        (1, 1),
        (1, 6),
        (4, 25),
        (5, 1),
        (6, 2),
        (8, 15),
        (11, 1),
        (12, 8),
        (12, 25),
        (12, 26),
    ];
    if fixed.contains(&(date.month(), date.day())) {
        return true;
    }
    easter(date.year()).is_some_and(|e| date == e + Duration::days(1))
}

/// Not a Sunday nor a national holiday (the civil-code reading, art. 2963 c.c.). Legal terms
/// use the ente's [`super::terms::WorkCalendar`], which also rests on Saturdays and the patron
/// saint's day.
pub fn is_working_day(date: NaiveDate) -> bool {
    date.weekday() != Weekday::Sun && !is_national_holiday(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn summer_and_winter_time() {
        assert_eq!(rome_offset_hours(utc("2026-01-15 12:00")), 1);
        assert_eq!(rome_offset_hours(utc("2026-07-15 12:00")), 2);
        // 2026: CEST from 29 March 01:00 UTC to 25 October 01:00 UTC.
        assert_eq!(rome_offset_hours(utc("2026-03-29 00:59")), 1);
        assert_eq!(rome_offset_hours(utc("2026-03-29 01:00")), 2);
        assert_eq!(rome_offset_hours(utc("2026-10-25 00:59")), 2);
        assert_eq!(rome_offset_hours(utc("2026-10-25 01:00")), 1);
    }

    #[test]
    fn new_year_in_rome_comes_before_new_year_in_utc() {
        assert_eq!(rome_date(utc("2026-12-31 23:30")), date("2027-01-01"));
        assert_eq!(rome_date(utc("2026-12-31 22:59")), date("2026-12-31"));
    }

    #[test]
    fn easter_dates() {
        assert_eq!(easter(2024), Some(date("2024-03-31")));
        assert_eq!(easter(2025), Some(date("2025-04-20")));
        assert_eq!(easter(2026), Some(date("2026-04-05")));
        assert_eq!(easter(2027), Some(date("2027-03-28")));
    }

    #[test]
    fn holidays_and_working_days() {
        assert!(is_national_holiday(date("2026-06-02")));
        assert!(is_national_holiday(date("2026-04-06"))); // Easter Monday 2026
        assert!(!is_national_holiday(date("2026-04-07")));
        assert!(!is_working_day(date("2026-11-22"))); // Sunday
        assert!(is_working_day(date("2026-11-23")));
    }
}
