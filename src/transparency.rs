//! What an ente publishes about how it works, from the data it already holds (no login):
//!
//! - **procedure times** (D.Lgs. 33/2013 art. 24 c. 2 and art. 35 c. 1 lett. f–g): per
//!   service, how many instances were decided in a period, the median and mean days to the
//!   decision net of the days the term was suspended, and the share decided within the term;
//! - **satisfaction ratings**: per service and month, how many ratings, the mean stars, the
//!   count of each star and of each reason. Comments are never published.
//!
//! Both as typed views (JSON) and as CSV (one header row, one row per line of the view),
//! written with the `csv` crate.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;

use crate::catalog::EnteRef;
use crate::db::schema::{instances as inst, service_ratings as sr, services};
use crate::db::{DbConn, DbError};
use crate::domain::calendar;
use crate::domain::rating::Reason;
use crate::domain::terms::TermUnit;

#[derive(Debug, thiserror::Error)]
pub enum TransparencyError {
    /// A period that cannot be read; the message says why, in Italian.
    #[error("invalid period: {0}")]
    InvalidPeriod(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<diesel::result::Error> for TransparencyError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

// --- Periods ------------------------------------------------------------------------------

/// Days, both included, as Italian dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayPeriod {
    from: NaiveDate,
    to: NaiveDate,
}

fn parse_day(name: &str, s: &str) -> Result<NaiveDate, TransparencyError> {
    let bad = || {
        TransparencyError::InvalidPeriod(format!(
            "Il parametro «{name}» deve essere una data nel formato AAAA-MM-GG (ad esempio \
             2026-01-31)."
        ))
    };
    if s.len() != 10 {
        return Err(bad());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad())
}

impl DayPeriod {
    /// `from` and `to` as `YYYY-MM-DD`; by default the 365 days that end `today`.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        today: NaiveDate,
    ) -> Result<Self, TransparencyError> {
        let to = match to {
            Some(s) => parse_day("to", s)?,
            None => today,
        };
        let from = match from {
            Some(s) => parse_day("from", s)?,
            None => to - Duration::days(364),
        };
        if from > to {
            return Err(TransparencyError::InvalidPeriod(
                "La data «from» non può essere successiva alla data «to».".into(),
            ));
        }
        Ok(Self { from, to })
    }

    pub fn from(&self) -> NaiveDate {
        self.from
    }

    pub fn to(&self) -> NaiveDate {
        self.to
    }
}

/// Months, both included, written `YYYY-MM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthPeriod {
    from: String,
    to: String,
}

fn parse_month(name: &str, s: &str) -> Result<String, TransparencyError> {
    let ok = s.len() == 7
        && s.as_bytes()[4] == b'-'
        && NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").is_ok();
    if ok {
        Ok(s.to_owned())
    } else {
        Err(TransparencyError::InvalidPeriod(format!(
            "Il parametro «{name}» deve essere un mese nel formato AAAA-MM (ad esempio 2026-01)."
        )))
    }
}

impl MonthPeriod {
    /// `from` and `to` as `YYYY-MM`; by default the 12 months that end with this one.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        today: NaiveDate,
    ) -> Result<Self, TransparencyError> {
        let to = match to {
            Some(s) => parse_month("to", s)?,
            None => today.format("%Y-%m").to_string(),
        };
        let from = match from {
            Some(s) => parse_month("from", s)?,
            None => {
                let (y, m) = (today.year(), today.month0());
                let back = y * 12 + i32::try_from(m).unwrap_or(0) - 11;
                format!("{:04}-{:02}", back.div_euclid(12), back.rem_euclid(12) + 1)
            }
        };
        // `YYYY-MM` texts order as the months do.
        if from > to {
            return Err(TransparencyError::InvalidPeriod(
                "Il mese «from» non può essere successivo al mese «to».".into(),
            ));
        }
        Ok(Self { from, to })
    }

    pub fn from(&self) -> &str {
        &self.from
    }

    pub fn to(&self) -> &str {
        &self.to
    }
}

// --- Procedure times ----------------------------------------------------------------------

/// The procedure times of an ente's services in a period.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ProcedureTimes {
    pub ente: EnteRef,
    /// First day of the period (Italian date of the decision), included.
    pub from: NaiveDate,
    /// Last day of the period, included.
    pub to: NaiveDate,
    /// The ente's published services with a procedure (not the booking-only ones), and any
    /// other with decisions in the period, by slug.
    pub services: Vec<ServiceTimes>,
}

/// One service's figures. The days to a decision are the Italian date of the decision minus
/// the Italian date of submission minus the days the term was suspended.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ServiceTimes {
    pub slug: String,
    pub title: String,
    pub legal_term_days: i32,
    pub legal_term_unit: TermUnit,
    /// Instances decided in the period.
    pub decided: i64,
    /// Median days to the decision (null without decisions).
    pub median_days: Option<f64>,
    /// Mean days to the decision, to two decimals (null without decisions).
    pub mean_days: Option<f64>,
    /// Share (0–1, to four decimals) of the decisions made by the due date (null without
    /// decisions).
    pub within_term_share: Option<f64>,
}

fn round_to(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

/// Median of sorted values.
fn median(sorted: &[i64]) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    #[expect(clippy::cast_precision_loss, reason = "days are small integers")]
    let mid = |i: usize| sorted[i] as f64;
    Some(if n % 2 == 1 {
        mid(n / 2)
    } else {
        (mid(n / 2 - 1) + mid(n / 2)) / 2.0
    })
}

/// The figures of one service from its decisions: (days to the decision, within the term).
fn figures(mut decisions: Vec<(i64, bool)>) -> (i64, Option<f64>, Option<f64>, Option<f64>) {
    decisions.sort_unstable();
    let n = i64::try_from(decisions.len()).unwrap_or(i64::MAX);
    if n == 0 {
        return (0, None, None, None);
    }
    let days: Vec<i64> = decisions.iter().map(|(d, _)| *d).collect();
    let within = decisions.iter().filter(|(_, w)| *w).count();
    #[expect(
        clippy::cast_precision_loss,
        reason = "counts and days are small integers"
    )]
    let (sum, n_f, within_f) = (days.iter().sum::<i64>() as f64, n as f64, within as f64);
    (
        n,
        median(&days),
        Some(round_to(sum / n_f, 2)),
        Some(round_to(within_f / n_f, 4)),
    )
}

/// The earliest UTC instant that can be on Italian day `d` (and a little before).
fn utc_floor(d: NaiveDate) -> NaiveDateTime {
    d.pred_opt().unwrap_or(d).and_time(chrono::NaiveTime::MIN)
}

/// Past every UTC instant of Italian day `d`.
fn utc_ceiling(d: NaiveDate) -> NaiveDateTime {
    d.succ_opt()
        .and_then(|n| n.succ_opt())
        .unwrap_or(d)
        .and_time(chrono::NaiveTime::MIN)
}

type ServiceInfo = (i64, String, String, i32, String, bool);

/// service, submitted at, decided at, days suspended, due date.
type DecisionRow = (
    i64,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
    i32,
    Option<NaiveDate>,
);

/// (service slug, month) → (service title, [(stars, reason)]).
type RatingGroups = BTreeMap<(String, String), (String, Vec<(i32, String)>)>;

fn ente_services(conn: &mut DbConn, ente_id: i64) -> QueryResult<Vec<ServiceInfo>> {
    services::table
        .filter(services::ente_id.eq(ente_id))
        // Booking-only services (calendars, no procedure) have no procedure times.
        .filter(services::booking.is_null())
        .order(services::slug)
        .select((
            services::id,
            services::slug,
            services::title,
            services::legal_term_days,
            services::legal_term_unit,
            services::published,
        ))
        .load(conn)
}

/// Procedure times of the ente's services over the instances decided in `period` (by the
/// Italian date of the decision).
pub fn procedure_times(
    conn: &mut DbConn,
    ente: EnteRef,
    ente_id: i64,
    period: DayPeriod,
) -> Result<ProcedureTimes, TransparencyError> {
    let rows: Vec<DecisionRow> = inst::table
        .filter(inst::ente_id.eq(ente_id))
        .filter(inst::decided_at.ge(utc_floor(period.from)))
        .filter(inst::decided_at.lt(utc_ceiling(period.to)))
        .select((
            inst::service_id,
            inst::submitted_at,
            inst::decided_at,
            inst::suspended_days,
            inst::due_date,
        ))
        .load(conn)?;
    let mut by_service: BTreeMap<i64, Vec<(i64, bool)>> = BTreeMap::new();
    for (service_id, submitted_at, decided_at, suspended, due) in rows {
        let (Some(submitted_at), Some(decided_at)) = (submitted_at, decided_at) else {
            continue;
        };
        let decided_on = calendar::rome_date(decided_at);
        if decided_on < period.from || decided_on > period.to {
            continue;
        }
        let days =
            (decided_on - calendar::rome_date(submitted_at)).num_days() - i64::from(suspended);
        let within = due.is_some_and(|due| decided_on <= due);
        by_service
            .entry(service_id)
            .or_default()
            .push((days.max(0), within));
    }
    let mut services = Vec::new();
    for (id, slug, title, legal_term_days, unit, published) in ente_services(conn, ente_id)? {
        let decisions = by_service.remove(&id).unwrap_or_default();
        if !published && decisions.is_empty() {
            continue;
        }
        let (decided, median_days, mean_days, within_term_share) = figures(decisions);
        services.push(ServiceTimes {
            slug,
            title,
            legal_term_days,
            // The database allows only the two units (CHECK constraint).
            legal_term_unit: TermUnit::parse(&unit).unwrap_or(TermUnit::CalendarDays),
            decided,
            median_days,
            mean_days,
            within_term_share,
        });
    }
    Ok(ProcedureTimes {
        ente,
        from: period.from,
        to: period.to,
        services,
    })
}

fn csv_text(w: csv::Writer<Vec<u8>>) -> Result<String, TransparencyError> {
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("CSV: {e}"))?;
    String::from_utf8(bytes).map_err(|e| anyhow::Error::from(e).into())
}

fn cell<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

impl ProcedureTimes {
    /// The columns of [`Self::to_csv`].
    pub const CSV_HEADER: [&'static str; 8] = [
        "service",
        "title",
        "legal_term_days",
        "legal_term_unit",
        "decided",
        "median_days",
        "mean_days",
        "within_term_share",
    ];

    /// One header row, one row per service; empty cells where the view has null.
    pub fn to_csv(&self) -> Result<String, TransparencyError> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let io = |e: csv::Error| TransparencyError::Other(anyhow::anyhow!("CSV: {e}"));
        w.write_record(Self::CSV_HEADER).map_err(io)?;
        for s in &self.services {
            w.write_record([
                s.slug.clone(),
                s.title.clone(),
                s.legal_term_days.to_string(),
                s.legal_term_unit.as_str().to_owned(),
                s.decided.to_string(),
                cell(s.median_days),
                cell(s.mean_days),
                cell(s.within_term_share),
            ])
            .map_err(io)?;
        }
        csv_text(w)
    }
}

// --- Ratings ------------------------------------------------------------------------------

/// The satisfaction ratings of an ente's services, per month. Comments are not published.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct RatingsReport {
    pub ente: EnteRef,
    /// First month, `YYYY-MM`, included.
    pub from: String,
    /// Last month, `YYYY-MM`, included.
    pub to: String,
    /// One item per service and month with ratings, by service slug then month.
    pub items: Vec<ServiceMonthRatings>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ServiceMonthRatings {
    /// The service's slug.
    pub service: String,
    pub title: String,
    /// `YYYY-MM` (Italian month of the rating).
    pub month: String,
    pub count: i64,
    /// Mean stars, to two decimals.
    pub mean_stars: f64,
    /// How many ratings gave 1, 2, 3, 4 and 5 stars (always five entries).
    pub by_stars: Vec<StarCount>,
    /// How many ratings gave each reason (every reason, zeros included).
    pub by_reason: Vec<ReasonCount>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct StarCount {
    pub stars: i32,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ReasonCount {
    pub reason: Reason,
    /// The reason as the citizen read it.
    pub label: String,
    pub count: i64,
}

/// Ratings of the ente's services in the months of `period`.
pub fn ratings(
    conn: &mut DbConn,
    ente: EnteRef,
    ente_id: i64,
    period: &MonthPeriod,
) -> Result<RatingsReport, TransparencyError> {
    let rows: Vec<(String, String, String, i32, String)> = sr::table
        .inner_join(services::table)
        .filter(sr::ente_id.eq(ente_id))
        .filter(sr::month.ge(&period.from))
        .filter(sr::month.le(&period.to))
        .select((
            services::slug,
            services::title,
            sr::month,
            sr::stars,
            sr::reason,
        ))
        .load(conn)?;
    let mut groups = RatingGroups::new();
    for (slug, title, month, stars, reason) in rows {
        groups
            .entry((slug, month))
            .or_insert_with(|| (title, Vec::new()))
            .1
            .push((stars, reason));
    }
    let items = groups
        .into_iter()
        .map(|((service, month), (title, ratings))| {
            let count = i64::try_from(ratings.len()).unwrap_or(i64::MAX);
            let sum: i64 = ratings.iter().map(|(s, _)| i64::from(*s)).sum();
            #[expect(clippy::cast_precision_loss, reason = "small counts")]
            let mean_stars = round_to(sum as f64 / count.max(1) as f64, 2);
            let count_where = |f: &dyn Fn(&(i32, String)) -> bool| {
                i64::try_from(ratings.iter().filter(|r| f(r)).count()).unwrap_or(i64::MAX)
            };
            ServiceMonthRatings {
                service,
                title,
                month,
                count,
                mean_stars,
                by_stars: (1..=5)
                    .map(|stars| StarCount {
                        stars,
                        count: count_where(&|r| r.0 == stars),
                    })
                    .collect(),
                by_reason: Reason::ALL
                    .into_iter()
                    .map(|reason| ReasonCount {
                        reason,
                        label: reason.label().to_owned(),
                        count: count_where(&|r| r.1 == reason.as_str()),
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(RatingsReport {
        ente,
        from: period.from.clone(),
        to: period.to.clone(),
        items,
    })
}

impl RatingsReport {
    /// The columns of [`Self::to_csv`]: service, title, month, count, mean_stars, stars_1 …
    /// stars_5, then one `reason_<slug>` per reason.
    pub fn csv_header() -> Vec<String> {
        let mut h: Vec<String> = ["service", "title", "month", "count", "mean_stars"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        h.extend((1..=5).map(|s| format!("stars_{s}")));
        h.extend(Reason::ALL.iter().map(|r| format!("reason_{}", r.as_str())));
        h
    }

    /// One header row, one row per service and month.
    pub fn to_csv(&self) -> Result<String, TransparencyError> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let io = |e: csv::Error| TransparencyError::Other(anyhow::anyhow!("CSV: {e}"));
        w.write_record(Self::csv_header()).map_err(io)?;
        for i in &self.items {
            let mut row = vec![
                i.service.clone(),
                i.title.clone(),
                i.month.clone(),
                i.count.to_string(),
                i.mean_stars.to_string(),
            ];
            row.extend(i.by_stars.iter().map(|s| s.count.to_string()));
            row.extend(i.by_reason.iter().map(|r| r.count.to_string()));
            w.write_record(row).map_err(io)?;
        }
        csv_text(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn day_periods() {
        let today = date("2026-12-02");
        let p = DayPeriod::parse(None, None, today).unwrap();
        assert_eq!((p.from(), p.to()), (date("2025-12-03"), today));
        let p = DayPeriod::parse(Some("2026-01-01"), Some("2026-01-01"), today).unwrap();
        assert_eq!((p.from(), p.to()), (date("2026-01-01"), date("2026-01-01")));
        for (from, to) in [
            (Some("2026-02-30"), None),
            (Some("2026-1-01"), None),
            (None, Some("ieri")),
            (Some("2026-03-02"), Some("2026-03-01")),
            (Some("+12026-03-02"), None),
        ] {
            assert!(
                matches!(
                    DayPeriod::parse(from, to, today),
                    Err(TransparencyError::InvalidPeriod(_))
                ),
                "{from:?} {to:?}"
            );
        }
    }

    #[test]
    fn month_periods() {
        let p = MonthPeriod::parse(None, None, date("2026-12-02")).unwrap();
        assert_eq!((p.from(), p.to()), ("2026-01", "2026-12"));
        let p = MonthPeriod::parse(None, None, date("2027-01-31")).unwrap();
        assert_eq!((p.from(), p.to()), ("2026-02", "2027-01"));
        let p = MonthPeriod::parse(Some("2026-03"), Some("2026-03"), date("2027-01-31")).unwrap();
        assert_eq!((p.from(), p.to()), ("2026-03", "2026-03"));
        for (from, to) in [
            (Some("2026-13"), None),
            (Some("2026-1"), None),
            (None, Some("2026/01")),
            (Some("2026-04"), Some("2026-03")),
        ] {
            assert!(
                MonthPeriod::parse(from, to, date("2026-12-02")).is_err(),
                "{from:?} {to:?}"
            );
        }
    }

    #[test]
    fn medians_means_and_shares() {
        assert_eq!(figures(vec![]), (0, None, None, None));
        assert_eq!(
            figures(vec![(10, true), (2, true), (7, false)]),
            (3, Some(7.0), Some(6.33), Some(0.6667))
        );
        assert_eq!(
            figures(vec![(10, true), (2, true), (7, false), (3, false)]),
            (4, Some(5.0), Some(5.5), Some(0.5))
        );
    }

    #[test]
    fn utc_bounds_cover_the_italian_days() {
        let d = date("2026-07-01");
        // 1 July in Rome starts at 30 June 22:00 UTC and ends at 1 July 22:00 UTC.
        assert!(utc_floor(d) <= date("2026-06-30").and_hms_opt(22, 0, 0).unwrap());
        assert!(utc_ceiling(d) > date("2026-07-01").and_hms_opt(22, 0, 0).unwrap());
    }
}
