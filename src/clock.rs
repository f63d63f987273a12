//! The service's clock. Everything that depends on the date (legal terms, the integration's
//! days, automatic closure, the daily digest) takes the time from here, through `AppState`, so
//! tests move time forward without sleeping. In production the offset is always zero.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{Duration, NaiveDate, NaiveDateTime};

use crate::domain::calendar;

#[derive(Debug, Default)]
pub struct Clock {
    offset_secs: AtomicI64,
}

impl Clock {
    /// Now, UTC, with microsecond precision (as stored).
    pub fn now(&self) -> NaiveDateTime {
        crate::db::now() + Duration::seconds(self.offset_secs.load(Ordering::Relaxed))
    }

    /// Today in Italy.
    pub fn today(&self) -> NaiveDate {
        calendar::rome_date(self.now())
    }

    /// Moves the clock forward (tests only; nothing in the service calls it).
    pub fn advance(&self, by: Duration) {
        self.offset_secs
            .fetch_add(by.num_seconds(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_moves_only_when_told() {
        let c = Clock::default();
        let before = c.now();
        c.advance(Duration::days(3));
        let after = c.now();
        assert!(after - before >= Duration::days(3));
        assert!(after - before < Duration::days(3) + Duration::minutes(1));
    }
}
