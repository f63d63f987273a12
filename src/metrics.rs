//! Prometheus metrics: what an ente's IT office charts to see how the service runs.
//!
//! Two kinds. Counted in this process, per application (tests run many in one process):
//! HTTP requests and their latency by route pattern, method and status; logins by method
//! and outcome. Read from the database at each scrape, so that every instance of a cluster
//! reports the same totals and a restart loses nothing: submissions and protocol
//! registrations (neither is ever deleted, so their counts only grow), the outbox by state,
//! and the connection pool. Written in the OpenMetrics text format by `prometheus-client`.

use diesel::prelude::*;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::db::schema::{instances as inst, outbox, protocol_registrations as pr};
use crate::db::{Db, DbConn};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    /// The route's pattern with its parameters as `:name` (`/api/v1/staff/instances/:id`),
    /// never the raw path: a bounded set of values. Requests no route matched: `unmatched`.
    pub route: String,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LoginLabels {
    /// `spid`, `cie`, `staff_sso`, `dev`.
    pub method: String,
    /// `success` or `failure`.
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms … ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// The counters of one application.
#[derive(Debug)]
pub struct Metrics {
    requests: Family<HttpLabels, Counter>,
    latency: Family<HttpLabels, Histogram, fn() -> Histogram>,
    logins: Family<LoginLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            logins: Family::default(),
        }
    }
}

impl Metrics {
    /// One request served (the metrics listener's own are not counted).
    pub fn request(&self, method: &str, route: Option<&str>, status: u16, seconds: f64) {
        let labels = HttpLabels {
            method: method.to_owned(),
            route: route.map(route_label).unwrap_or_else(|| "unmatched".into()),
            status,
        };
        self.requests.get_or_create(&labels).inc();
        self.latency.get_or_create(&labels).observe(seconds);
    }

    /// One login's last step answered.
    pub fn login(&self, method: &str, success: bool) {
        self.logins
            .get_or_create(&LoginLabels {
                method: method.to_owned(),
                outcome: if success { "success" } else { "failure" }.to_owned(),
            })
            .inc();
    }

    /// The text a scrape answers: the counters of this process and the figures of the
    /// database now.
    pub fn render(&self, db: &Db, conn: &mut DbConn) -> anyhow::Result<String> {
        let mut registry = Registry::with_prefix("sportello");
        registry.register(
            "http_requests",
            "HTTP requests served, by route pattern, method and status",
            self.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route pattern, method and status",
            self.latency.clone(),
        );
        registry.register(
            "logins",
            "Logins by method and outcome (the last step of each: the provider's answer)",
            self.logins.clone(),
        );

        let submitted: i64 = inst::table
            .filter(inst::submitted_at.is_not_null())
            .count()
            .get_result(conn)?;
        let submissions = Counter::<u64>::default();
        submissions.inc_by(u64::try_from(submitted).unwrap_or(0));
        registry.register(
            "submissions",
            "Instances submitted, every ente (from the database)",
            submissions,
        );
        let registered: i64 = pr::table.count().get_result(conn)?;
        let registrations = Counter::<u64>::default();
        registrations.inc_by(u64::try_from(registered).unwrap_or(0));
        registry.register(
            "protocol_registrations",
            "Protocol registrations made, every ente and direction (from the database)",
            registrations,
        );

        let by_status: Family<StatusLabel, Gauge> = Family::default();
        for s in ["pending", "sent", "dead"] {
            by_status
                .get_or_create(&StatusLabel { status: s.into() })
                .set(0);
        }
        let rows: Vec<(String, i64)> = outbox::table
            .group_by(outbox::status)
            .select((outbox::status, diesel::dsl::count_star()))
            .load(conn)?;
        for (status, n) in rows {
            by_status.get_or_create(&StatusLabel { status }).set(n);
        }
        registry.register(
            "outbox_messages",
            "Outbox messages (e-mails, protocol requests) by state: pending is the backlog, dead gave up",
            by_status,
        );
        let retrying: i64 = outbox::table
            .filter(outbox::status.eq("pending"))
            .filter(outbox::attempts.gt(0))
            .count()
            .get_result(conn)?;
        let failing = Gauge::<i64>::default();
        failing.set(retrying);
        registry.register(
            "outbox_retrying_messages",
            "Pending outbox messages whose delivery failed at least once",
            failing,
        );

        let (connections, idle, max) = db.pool_state();
        let pool: Family<StatusLabel, Gauge> = Family::default();
        pool.get_or_create(&StatusLabel {
            status: "idle".into(),
        })
        .set(i64::from(idle));
        pool.get_or_create(&StatusLabel {
            status: "in_use".into(),
        })
        .set(i64::from(connections.saturating_sub(idle)));
        registry.register(
            "db_pool_connections",
            "Database pool connections of this process, idle or in use",
            pool,
        );
        let size = Gauge::<i64>::default();
        size.set(i64::from(max));
        registry.register("db_pool_max_connections", "The pool's largest size", size);

        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry)?;
        Ok(out)
    }
}

/// `/a/{id}/b` → `/a/:id/b`: braces inside label values trip some text-format parsers.
fn route_label(pattern: &str) -> String {
    pattern.replace('{', ":").replace('}', "")
}

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    #[test]
    fn route_labels_name_their_parameters() {
        assert_eq!(
            super::route_label("/api/v1/instances/{id}/attachments/{attachment}"),
            "/api/v1/instances/:id/attachments/:attachment"
        );
        assert_eq!(super::route_label("/health/live"), "/health/live");
    }
}
