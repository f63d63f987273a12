//! A calendar's slots as its weekly opening hours make them, in Italian civil time: which days
//! are closed (national holidays, the patron day, the ente's days off, one-off closures) and
//! the UTC instants of each slot, across the daylight-saving changes (`domain::calendar`).

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Weekday};
use serde::{Deserialize, Serialize};

use crate::domain::calendar;

/// A day of the week as the bundle writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    fn weekday(self) -> Weekday {
        match self {
            Self::Mon => Weekday::Mon,
            Self::Tue => Weekday::Tue,
            Self::Wed => Weekday::Wed,
            Self::Thu => Weekday::Thu,
            Self::Fri => Weekday::Fri,
            Self::Sat => Weekday::Sat,
            Self::Sun => Weekday::Sun,
        }
    }
}

/// One range of opening hours: on these days, from `from` to `to` (Italian time, `HH:MM`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpeningHours {
    pub days: Vec<Day>,
    pub from: String,
    pub to: String,
}

fn time(s: &str) -> anyhow::Result<NaiveTime> {
    NaiveTime::parse_from_str(s, "%H:%M")
        .map_err(|_| anyhow::anyhow!("`{s}` is not a time of day written HH:MM"))
}

/// The slots a calendar offers.
#[derive(Debug, Clone)]
pub struct Schedule {
    ranges: Vec<(Vec<Weekday>, NaiveTime, NaiveTime)>,
    slot: Duration,
    closures: BTreeSet<NaiveDate>,
    patron_day: Option<(u32, u32)>,
}

/// One slot: its UTC start and end, and the Italian time it starts at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub local_start: NaiveDateTime,
}

impl Schedule {
    /// Checks the hours (each range at least one slot long, ranges of a day not overlapping).
    pub fn new(
        hours: &[OpeningHours],
        slot_minutes: i32,
        closures: impl IntoIterator<Item = NaiveDate>,
        patron_day: Option<&str>,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            (5..=480).contains(&slot_minutes),
            "slot_minutes must be from 5 to 480"
        );
        let slot = Duration::minutes(i64::from(slot_minutes));
        let mut ranges = Vec::with_capacity(hours.len());
        for h in hours {
            let (from, to) = (time(&h.from)?, time(&h.to)?);
            anyhow::ensure!(!h.days.is_empty(), "opening hours without days");
            anyhow::ensure!(
                to - from >= slot,
                "opening hours {}–{} are shorter than one slot",
                h.from,
                h.to
            );
            ranges.push((
                h.days.iter().map(|d| d.weekday()).collect::<Vec<_>>(),
                from,
                to,
            ));
        }
        for (i, (days, from, to)) in ranges.iter().enumerate() {
            for (other_days, f2, t2) in &ranges[i + 1..] {
                if days.iter().any(|d| other_days.contains(d)) && from < t2 && f2 < to {
                    anyhow::bail!("opening hours overlap on the same day");
                }
            }
        }
        Ok(Self {
            ranges,
            slot,
            closures: closures.into_iter().collect(),
            patron_day: patron_day.and_then(crate::domain::terms::parse_patron_day),
        })
    }

    /// Why a day is closed, if it is (in Italian, for the citizen).
    pub fn closed(&self, d: NaiveDate) -> Option<&'static str> {
        if calendar::is_national_holiday(d) {
            Some("festività nazionale")
        } else if self.patron_day == Some((d.month(), d.day())) {
            Some("festa del santo patrono")
        } else if self.closures.contains(&d) {
            Some("chiusura dell'ufficio")
        } else {
            None
        }
    }

    /// The slots of an Italian day, in order (none when the day is closed).
    pub fn slots(&self, d: NaiveDate) -> Vec<Slot> {
        if self.closed(d).is_some() {
            return Vec::new();
        }
        let mut out = Vec::new();
        // On a day of 24 hours (all but the two of the clock changes) one offset holds from
        // midnight to midnight: each slot's instant is a subtraction.
        let midnight = calendar::rome_day_start_utc(d);
        let next = calendar::rome_day_start_utc(d + Duration::days(1));
        let offset =
            (next - midnight == Duration::days(1)).then(|| d.and_time(NaiveTime::MIN) - midnight);
        for (days, from, to) in &self.ranges {
            if !days.contains(&d.weekday()) {
                continue;
            }
            let mut t = d.and_time(*from);
            let end = d.and_time(*to);
            while t + self.slot <= end {
                // A time that does not exist that night (the spring change) has no slot.
                // A slot lasts its length in real time, across a change too.
                let utc = match offset {
                    Some(o) => Some(t - o),
                    None => rome_to_utc(t),
                };
                if let Some(s) = utc {
                    out.push(Slot {
                        starts_at: s,
                        ends_at: s + self.slot,
                        local_start: t,
                    });
                }
                t += self.slot;
            }
        }
        out.sort_by_key(|s| s.starts_at);
        out
    }

    /// The slot starting at `starts_at` (UTC), if the schedule has one.
    pub fn slot_at(&self, starts_at: NaiveDateTime) -> Option<Slot> {
        let d = calendar::rome_date(starts_at);
        self.slots(d).into_iter().find(|s| s.starts_at == starts_at)
    }
}

/// The UTC instant of an Italian civil time; None for a time skipped by the spring change.
/// An autumn time that happens twice is the first (summer time).
pub fn rome_to_utc(local: NaiveDateTime) -> Option<NaiveDateTime> {
    [2, 1]
        .into_iter()
        .map(|h| local - Duration::hours(h))
        .find(|utc| calendar::to_rome(*utc) == local)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn weekdays_morning() -> Vec<OpeningHours> {
        vec![OpeningHours {
            days: vec![
                Day::Mon,
                Day::Tue,
                Day::Wed,
                Day::Thu,
                Day::Fri,
                Day::Sat,
                Day::Sun,
            ],
            from: "08:30".into(),
            to: "10:00".into(),
        }]
    }

    #[test]
    fn slots_follow_italian_time_across_daylight_saving_changes() {
        let s = Schedule::new(&weekdays_morning(), 30, [], None).unwrap();
        // Saturday 28 March 2026, winter time: 08:30 is 07:30 UTC.
        let before = s.slots(d(2026, 3, 28));
        assert_eq!(before.len(), 3);
        assert_eq!(
            before[0].starts_at,
            d(2026, 3, 28).and_hms_opt(7, 30, 0).unwrap()
        );
        // Sunday 29 March 2026, summer time from 02:00: 08:30 is 06:30 UTC.
        let after = s.slots(d(2026, 3, 29));
        assert_eq!(
            after[0].starts_at,
            d(2026, 3, 29).and_hms_opt(6, 30, 0).unwrap()
        );
        assert_eq!(
            after[2].ends_at,
            d(2026, 3, 29).and_hms_opt(8, 0, 0).unwrap()
        );
        // Sunday 25 October 2026 back to winter time.
        let autumn = s.slots(d(2026, 10, 25));
        assert_eq!(
            autumn[0].starts_at,
            d(2026, 10, 25).and_hms_opt(7, 30, 0).unwrap()
        );
        assert_eq!(
            s.slot_at(d(2026, 10, 25).and_hms_opt(7, 30, 0).unwrap()),
            Some(autumn[0])
        );
        assert_eq!(
            s.slot_at(d(2026, 10, 25).and_hms_opt(7, 40, 0).unwrap()),
            None
        );
    }

    #[test]
    fn a_night_desk_loses_the_hour_that_does_not_exist() {
        let night = vec![OpeningHours {
            days: vec![Day::Sun],
            from: "01:00".into(),
            to: "04:00".into(),
        }];
        let s = Schedule::new(&night, 60, [], None).unwrap();
        // 29 March 2026: 02:00–03:00 does not exist in Italy.
        let slots: Vec<_> = s
            .slots(d(2026, 3, 29))
            .iter()
            .map(|s| s.local_start.time().format("%H:%M").to_string())
            .collect();
        assert_eq!(slots, vec!["01:00", "03:00"]);
        assert_eq!(
            rome_to_utc(d(2026, 3, 29).and_hms_opt(2, 30, 0).unwrap()),
            None
        );
    }

    #[test]
    fn holidays_the_patron_day_and_closures_have_no_slots() {
        let s = Schedule::new(&weekdays_morning(), 30, [d(2026, 12, 24)], Some("12-07")).unwrap();
        assert!(s.slots(d(2026, 12, 8)).is_empty(), "Immacolata");
        assert_eq!(s.closed(d(2026, 12, 8)), Some("festività nazionale"));
        assert!(s.slots(d(2026, 4, 6)).is_empty(), "Easter Monday 2026");
        assert!(s.slots(d(2026, 12, 7)).is_empty(), "patron day");
        assert!(s.slots(d(2026, 12, 24)).is_empty(), "the office's day off");
        assert_eq!(s.slots(d(2026, 12, 23)).len(), 3);
    }

    #[test]
    fn several_ranges_a_day_and_the_checks_on_hours() {
        let hours = vec![
            OpeningHours {
                days: vec![Day::Tue],
                from: "15:00".into(),
                to: "16:00".into(),
            },
            OpeningHours {
                days: vec![Day::Tue, Day::Wed],
                from: "09:00".into(),
                to: "10:00".into(),
            },
        ];
        let s = Schedule::new(&hours, 20, [], None).unwrap();
        // Tuesday 1 December 2026: 3 in the morning and 3 in the afternoon, in order.
        let tue = s.slots(d(2026, 12, 1));
        assert_eq!(tue.len(), 6);
        assert!(tue.windows(2).all(|w| w[0].starts_at < w[1].starts_at));
        assert_eq!(s.slots(d(2026, 12, 2)).len(), 3);
        assert!(s.slots(d(2026, 12, 3)).is_empty());
        let overlapping = vec![hours[1].clone(), hours[1].clone()];
        assert!(Schedule::new(&overlapping, 20, [], None).is_err());
        let short = vec![OpeningHours {
            days: vec![Day::Mon],
            from: "09:00".into(),
            to: "09:10".into(),
        }];
        assert!(Schedule::new(&short, 20, [], None).is_err());
        let bad = vec![OpeningHours {
            days: vec![Day::Mon],
            from: "9".into(),
            to: "10:00".into(),
        }];
        assert!(Schedule::new(&bad, 20, [], None).is_err());
    }
}
