//! Legal terms of a procedure (L. 241/1990 art. 2): when the ente must have concluded it.
//!
//! One pure function, [`due_date`], is the rule everything else asks (the submission, the back
//! office, the transparency figures): a term of `days` counted from the Italian date of
//! submission, in calendar days or in working days of the ente's [`WorkCalendar`], net of the
//! days it was suspended (the request for integration, art. 2 c. 7). A calendar-day term that
//! ends on a non-working day moves to the next working day (art. 2963 c.c.; art. 155 c.p.c.,
//! which since 2005 treats Saturday like a holiday for the end of a term).

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

use super::calendar;

/// How the days of a term are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TermUnit {
    /// Every day counts; the last day moves to the next working day.
    CalendarDays,
    /// Only the ente's working days count (see [`WorkCalendar::is_working_day`]).
    WorkingDays,
}

impl TermUnit {
    pub const ALL: [Self; 2] = [Self::CalendarDays, Self::WorkingDays];

    /// As stored (`services.legal_term_unit`) and written in a service file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CalendarDays => "calendar_days",
            Self::WorkingDays => "working_days",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|u| u.as_str() == s)
    }

    /// As a citizen reads it ("30 giorni lavorativi").
    pub fn label(self) -> &'static str {
        match self {
            Self::CalendarDays => "giorni",
            Self::WorkingDays => "giorni lavorativi",
        }
    }
}

/// The legal term of a service: so many days of a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermRule {
    pub days: i32,
    pub unit: TermUnit,
}

/// The days an ente's offices work: Monday to Friday, except national holidays
/// ([`calendar::is_national_holiday`], Easter Monday included) and the local patron saint's day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WorkCalendar {
    /// The patron saint's day of the ente's town, (month, day); e.g. (12, 7) for Sant'Ambrogio
    /// in Milan.
    pub patron_day: Option<(u32, u32)>,
}

/// Reads a patron day written `MM-DD` (as in `enti.patron_day` and an ente bundle): a day
/// that exists in some year (`02-29` is allowed, and counts only in leap years).
pub fn parse_patron_day(s: &str) -> Option<(u32, u32)> {
    let (m, d) = s.split_once('-')?;
    if m.len() != 2 || d.len() != 2 || !(m.bytes().chain(d.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (month, day) = (m.parse().ok()?, d.parse().ok()?);
    // 2024 is a leap year: every (month, day) that exists in some year exists in it.
    NaiveDate::from_ymd_opt(2024, month, day).map(|_| (month, day))
}

impl WorkCalendar {
    /// The calendar of an ente whose stored patron day is `patron_day` (`MM-DD`); a value
    /// that does not parse counts as no patron day (the bundle loader refuses such values).
    pub fn for_ente(patron_day: Option<&str>) -> Self {
        Self {
            patron_day: patron_day.and_then(parse_patron_day),
        }
    }

    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
            && !calendar::is_national_holiday(date)
            && self.patron_day != Some((date.month(), date.day()))
    }
}

/// A period in which the term does not run: from `from` (included) to `until` (excluded: the
/// term runs again from the day of the citizen's answer). `until: None` is a suspension still
/// in effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suspension {
    pub from: NaiveDate,
    pub until: Option<NaiveDate>,
}

enum DayKind {
    Running,
    /// Inside a suspension that has ended.
    Suspended,
    /// Inside a suspension still in effect: nothing after it is known yet.
    OpenSuspension,
}

fn day_kind(date: NaiveDate, suspensions: &[Suspension]) -> DayKind {
    let mut kind = DayKind::Running;
    for s in suspensions.iter().filter(|s| date >= s.from) {
        match s.until {
            None => return DayKind::OpenSuspension,
            Some(until) if date < until => kind = DayKind::Suspended,
            Some(_) => {}
        }
    }
    kind
}

/// The last day of the term: `start` is the Italian date of submission (day 0, not counted);
/// `rule.days` days are counted after it — every day for calendar days, only working days of
/// `cal` for working days — and no day inside a suspension counts. A calendar-day term that
/// ends on a non-working day moves to the next working day (outside any suspension).
///
/// `None` while a suspension still in effect is reached before the term ends: the due date is
/// unknown until the term runs again. A suspension that starts after the term ended changes
/// nothing.
pub fn due_date(
    start: NaiveDate,
    rule: TermRule,
    suspensions: &[Suspension],
    cal: &WorkCalendar,
) -> Option<NaiveDate> {
    let mut day = start;
    let mut counted = 0;
    while counted < rule.days {
        day = day.succ_opt()?;
        match day_kind(day, suspensions) {
            DayKind::OpenSuspension => return None,
            DayKind::Suspended => {}
            DayKind::Running => {
                if rule.unit == TermUnit::CalendarDays || cal.is_working_day(day) {
                    counted += 1;
                }
            }
        }
    }
    // A working-day term always ends on a working day; a calendar-day one moves to one.
    loop {
        match day_kind(day, suspensions) {
            DayKind::OpenSuspension => return None,
            DayKind::Running if cal.is_working_day(day) => return Some(day),
            _ => day = day.succ_opt()?,
        }
    }
}

/// The days the term has been suspended as of `today` (Italian date): each day inside a
/// suspension, counted once; a suspension still in effect counts up to `today` included.
pub fn suspended_days(suspensions: &[Suspension], today: NaiveDate) -> i64 {
    let mut days = std::collections::BTreeSet::new();
    for s in suspensions {
        let end = match s.until {
            Some(until) => until.min(today + Duration::days(1)),
            None => today + Duration::days(1),
        };
        let mut d = s.from;
        while d < end {
            days.insert(d);
            d += Duration::days(1);
        }
    }
    i64::try_from(days.len()).unwrap_or(i64::MAX)
}

/// Calendar days from `today` to the due date: 0 on the last day, negative once overdue.
pub fn days_left(due: NaiveDate, today: NaiveDate) -> i64 {
    (due - today).num_days()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn calendar_days(days: i32) -> TermRule {
        TermRule {
            days,
            unit: TermUnit::CalendarDays,
        }
    }

    fn working_days(days: i32) -> TermRule {
        TermRule {
            days,
            unit: TermUnit::WorkingDays,
        }
    }

    const NO_PATRON: WorkCalendar = WorkCalendar { patron_day: None };
    /// Milan: Sant'Ambrogio, 7 December.
    const MILAN: WorkCalendar = WorkCalendar {
        patron_day: Some((12, 7)),
    };

    fn due(start: &str, rule: TermRule, s: &[Suspension], cal: &WorkCalendar) -> NaiveDate {
        due_date(date(start), rule, s, cal).expect("a due date")
    }

    #[test]
    fn units_are_stored_as_snake_case_text() {
        for u in TermUnit::ALL {
            assert_eq!(TermUnit::parse(u.as_str()), Some(u));
            assert_eq!(
                serde_json::to_value(u).unwrap(),
                serde_json::Value::from(u.as_str())
            );
        }
        assert_eq!(TermUnit::parse("working_days"), Some(TermUnit::WorkingDays));
        assert_eq!(TermUnit::parse("giorni"), None);
        assert_eq!(TermUnit::parse("Calendar_Days"), None);
    }

    #[test]
    fn patron_days_are_month_and_day() {
        assert_eq!(parse_patron_day("12-07"), Some((12, 7)));
        assert_eq!(parse_patron_day("06-24"), Some((6, 24)));
        assert_eq!(parse_patron_day("02-29"), Some((2, 29)));
        for bad in [
            "", "12-7", "1207", "13-01", "02-30", "00-10", "12-00", "ab-cd", "+1-07",
        ] {
            assert_eq!(parse_patron_day(bad), None, "{bad}");
        }
        assert_eq!(WorkCalendar::for_ente(Some("12-07")), MILAN);
        assert_eq!(WorkCalendar::for_ente(None), NO_PATRON);
        assert_eq!(WorkCalendar::for_ente(Some("nonsense")), NO_PATRON);
    }

    #[test]
    fn working_days_are_weekdays_that_are_not_holidays() {
        assert!(NO_PATRON.is_working_day(date("2026-12-04"))); // Friday
        assert!(!NO_PATRON.is_working_day(date("2026-12-05"))); // Saturday
        assert!(!NO_PATRON.is_working_day(date("2026-12-06"))); // Sunday
        assert!(!NO_PATRON.is_working_day(date("2026-12-08"))); // Immacolata, a Tuesday
        assert!(!NO_PATRON.is_working_day(date("2026-06-02"))); // Festa della Repubblica
        assert!(!NO_PATRON.is_working_day(date("2026-04-06"))); // Easter Monday 2026
        assert!(!NO_PATRON.is_working_day(date("2027-03-29"))); // Easter Monday 2027
        assert!(NO_PATRON.is_working_day(date("2026-04-07")));
        // The patron day is the ente's own.
        assert!(NO_PATRON.is_working_day(date("2026-12-07")));
        assert!(!MILAN.is_working_day(date("2026-12-07")));
        assert!(!MILAN.is_working_day(date("2027-12-07")));
        let feb29 = WorkCalendar {
            patron_day: Some((2, 29)),
        };
        assert!(!feb29.is_working_day(date("2028-02-29")));
        assert!(feb29.is_working_day(date("2027-03-01")));
    }

    #[test]
    fn calendar_days_count_every_day_and_end_on_a_working_day() {
        // Submitted Monday 23 Nov 2026; 30 days → Wednesday 23 Dec.
        assert_eq!(
            due("2026-11-23", calendar_days(30), &[], &NO_PATRON),
            date("2026-12-23")
        );
        // 32 days → Friday 25 Dec (Christmas) → 26 (St Stephen, Saturday) → 27 (Sunday) →
        // Monday 28.
        assert_eq!(
            due("2026-11-23", calendar_days(32), &[], &NO_PATRON),
            date("2026-12-28")
        );
        // 1 Jan 2027 + 1 → Saturday 2 Jan → Monday 4 Jan.
        assert_eq!(
            due("2027-01-01", calendar_days(1), &[], &NO_PATRON),
            date("2027-01-04")
        );
        // Ending on a Sunday → Monday; on Saturday → Monday.
        assert_eq!(
            due("2026-11-16", calendar_days(6), &[], &NO_PATRON),
            date("2026-11-23")
        );
        assert_eq!(
            due("2026-11-16", calendar_days(5), &[], &NO_PATRON),
            date("2026-11-23")
        );
        // Day 0 is not counted: 1 day from a Monday is the Tuesday.
        assert_eq!(
            due("2026-11-23", calendar_days(1), &[], &NO_PATRON),
            date("2026-11-24")
        );
    }

    #[test]
    fn a_term_ending_on_a_holiday_moves_on() {
        // Ends on Tuesday 8 Dec 2026 (Immacolata) → Wednesday 9.
        assert_eq!(
            due("2026-11-08", calendar_days(30), &[], &NO_PATRON),
            date("2026-12-09")
        );
        // Ends on Easter Monday 2026 (6 April) → Tuesday 7.
        assert_eq!(
            due("2026-03-07", calendar_days(30), &[], &NO_PATRON),
            date("2026-04-07")
        );
        // Ends on 2 June 2026 (a Tuesday) → Wednesday 3.
        assert_eq!(
            due("2026-05-03", calendar_days(30), &[], &NO_PATRON),
            date("2026-06-03")
        );
    }

    #[test]
    fn the_patron_day_comes_from_the_ente() {
        // Ends on Monday 7 Dec 2026: a working day elsewhere, Sant'Ambrogio in Milan, where
        // it moves past the Immacolata (8) to Wednesday 9.
        assert_eq!(
            due("2026-11-07", calendar_days(30), &[], &NO_PATRON),
            date("2026-12-07")
        );
        assert_eq!(
            due("2026-11-07", calendar_days(30), &[], &MILAN),
            date("2026-12-09")
        );
        // Working days: Friday 4 Dec 2026 + 2 → Monday 7 and Wednesday 9 in Milan.
        assert_eq!(
            due("2026-12-04", working_days(2), &[], &NO_PATRON),
            date("2026-12-09")
        );
        assert_eq!(
            due("2026-12-04", working_days(2), &[], &MILAN),
            date("2026-12-10")
        );
    }

    #[test]
    fn working_days_skip_weekends_and_holidays() {
        // Registration of a residence: 2 working days from Friday 20 Nov 2026 → Tuesday 24.
        assert_eq!(
            due("2026-11-20", working_days(2), &[], &NO_PATRON),
            date("2026-11-24")
        );
        // From a Saturday: Monday is the first.
        assert_eq!(
            due("2026-11-21", working_days(1), &[], &NO_PATRON),
            date("2026-11-23")
        );
        // Around Christmas 2026: from Wednesday 23 Dec, 3 working days → 24, 28, 29.
        assert_eq!(
            due("2026-12-23", working_days(3), &[], &NO_PATRON),
            date("2026-12-29")
        );
        // 10 working days from Monday 23 Nov 2026 → Monday 7 Dec (2 weekends).
        assert_eq!(
            due("2026-11-23", working_days(10), &[], &NO_PATRON),
            date("2026-12-07")
        );
    }

    #[test]
    fn working_days_across_easter() {
        // Easter 2026 is Sunday 5 April, Easter Monday 6 April. From Thursday 2 April, 3
        // working days: Friday 3, Tuesday 7, Wednesday 8.
        assert_eq!(
            due("2026-04-02", working_days(3), &[], &NO_PATRON),
            date("2026-04-08")
        );
        // The example of docs/catalog.md: 5 working days → Friday 10 April.
        assert_eq!(
            due("2026-04-02", working_days(5), &[], &NO_PATRON),
            date("2026-04-10")
        );
        // 2027: Easter Monday 29 March. From Friday 26 March, 2 working days → 30, 31.
        assert_eq!(
            due("2027-03-26", working_days(2), &[], &NO_PATRON),
            date("2027-03-31")
        );
        // 2025: Easter Monday 21 April and Liberation Day Friday 25 April. From Thursday 17
        // April, 5 working days: 18, 22, 23, 24, 28.
        assert_eq!(
            due("2025-04-17", working_days(5), &[], &NO_PATRON),
            date("2025-04-28")
        );
    }

    #[test]
    fn suspensions_move_the_due_date() {
        // 30 calendar days from Monday 2 Nov 2026 → Wednesday 2 Dec. Suspended from 10 Nov to
        // 20 Nov (excluded): 10 days that do not count → Saturday 12 Dec → Monday 14.
        let s = [Suspension {
            from: date("2026-11-10"),
            until: Some(date("2026-11-20")),
        }];
        assert_eq!(
            due("2026-11-02", calendar_days(30), &[], &NO_PATRON),
            date("2026-12-02")
        );
        assert_eq!(
            due("2026-11-02", calendar_days(30), &s, &NO_PATRON),
            date("2026-12-14")
        );
        assert_eq!(suspended_days(&s, date("2026-12-31")), 10);
        // Working days: a suspension over a weekend costs only its working days. From Monday
        // 2 Nov, 5 working days → Monday 9; suspended Friday 6 to Tuesday 10 (excluded):
        // Friday 6 and Monday 9 do not count → 3, 4, 5, 10, 11 → Wednesday 11.
        let s = [Suspension {
            from: date("2026-11-06"),
            until: Some(date("2026-11-10")),
        }];
        assert_eq!(
            due("2026-11-02", working_days(5), &[], &NO_PATRON),
            date("2026-11-09")
        );
        assert_eq!(
            due("2026-11-02", working_days(5), &s, &NO_PATRON),
            date("2026-11-11")
        );
        // Two suspensions add up; one that begins after the term ended changes nothing.
        let two = [
            Suspension {
                from: date("2026-11-03"),
                until: Some(date("2026-11-05")),
            },
            Suspension {
                from: date("2026-11-10"),
                until: Some(date("2026-11-13")),
            },
        ];
        assert_eq!(
            due("2026-11-02", calendar_days(10), &two, &NO_PATRON),
            date("2026-11-17")
        );
        let late = [Suspension {
            from: date("2027-01-10"),
            until: None,
        }];
        assert_eq!(
            due("2026-11-02", calendar_days(30), &late, &NO_PATRON),
            date("2026-12-02")
        );
    }

    #[test]
    fn the_last_day_never_falls_inside_a_suspension() {
        // 5 calendar days from Monday 16 Nov 2026 end on Saturday 21 → Monday 23, but 23 and
        // 24 are suspended (until 25 excluded): Wednesday 25.
        let s = [Suspension {
            from: date("2026-11-23"),
            until: Some(date("2026-11-25")),
        }];
        assert_eq!(
            due("2026-11-16", calendar_days(5), &s, &NO_PATRON),
            date("2026-11-25")
        );
    }

    #[test]
    fn an_open_suspension_leaves_the_due_date_unknown() {
        let open = [Suspension {
            from: date("2026-11-10"),
            until: None,
        }];
        assert_eq!(
            due_date(date("2026-11-02"), calendar_days(30), &open, &NO_PATRON),
            None
        );
        assert_eq!(
            due_date(date("2026-11-02"), working_days(30), &open, &NO_PATRON),
            None
        );
        // As of Friday 20 Nov it has lasted 11 days (10 to 20 included).
        assert_eq!(suspended_days(&open, date("2026-11-20")), 11);
        // Once answered (on 20 Nov) it has lasted 10 and the date is known again.
        let answered = [Suspension {
            from: date("2026-11-10"),
            until: Some(date("2026-11-20")),
        }];
        assert_eq!(
            due_date(date("2026-11-02"), calendar_days(30), &answered, &NO_PATRON),
            Some(date("2026-12-14"))
        );
    }

    #[test]
    fn suspended_days_as_of_a_day() {
        let s = [
            Suspension {
                from: date("2026-11-10"),
                until: Some(date("2026-11-20")),
            },
            // Overlapping days count once.
            Suspension {
                from: date("2026-11-18"),
                until: Some(date("2026-11-22")),
            },
        ];
        assert_eq!(suspended_days(&s, date("2026-12-01")), 12);
        // Only what has passed: as of 12 Nov, 10, 11 and 12.
        assert_eq!(suspended_days(&s, date("2026-11-12")), 3);
        assert_eq!(suspended_days(&s, date("2026-11-09")), 0);
        assert_eq!(suspended_days(&[], date("2026-11-09")), 0);
    }

    #[test]
    fn days_left_are_calendar_days_and_negative_when_overdue() {
        assert_eq!(days_left(date("2026-12-23"), date("2026-12-02")), 21);
        assert_eq!(days_left(date("2026-12-23"), date("2026-12-23")), 0);
        assert_eq!(days_left(date("2026-12-23"), date("2027-01-02")), -10);
    }

    #[test]
    fn a_term_of_no_days_is_the_next_working_day() {
        assert_eq!(
            due("2026-11-23", calendar_days(0), &[], &NO_PATRON),
            date("2026-11-23")
        );
        assert_eq!(
            due("2026-11-22", calendar_days(0), &[], &NO_PATRON),
            date("2026-11-23")
        );
    }
}
