//! Prometheus metrics on their own listener: requests by route pattern and status, latency,
//! logins by method and outcome, submissions and registrations, the outbox and the pool,
//! read back with a Prometheus text-format parser.

use crate::helpers::*;
use serde_json::json;

/// Scrapes the app's metrics listener and parses the text.
async fn scrape(app: &TestApp) -> prometheus_parse::Scrape {
    let port = app.metrics_port.expect("metrics listener");
    let res = new_client()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = res.text().await.unwrap();
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    prometheus_parse::Scrape::parse(lines).expect("Prometheus text format")
}

/// The value of one sample, by name and labels.
fn value(s: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&prometheus_parse::Sample> = s
        .samples
        .iter()
        .filter(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{name} {labels:?}: {found:?} among {:?}",
        s.samples
            .iter()
            .map(|x| (&x.metric, &x.labels))
            .collect::<Vec<_>>()
    );
    match &found[0].value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => *v,
        other => panic!("{name}: {other:?}"),
    }
}

#[tokio::test]
async fn the_metrics_listener_counts_requests_logins_submissions_and_the_outbox() {
    let app = spawn_app_with(|s| s.server.metrics_listen = "127.0.0.1:0".into()).await;
    let before = scrape(&app).await;
    assert_eq!(value(&before, "sportello_submissions_total", &[]), 0.0);

    app.login_citizen(CITIZEN_CF).await;
    let res = new_client()
        .post(app.url("/auth/dev/login"))
        .json(&json!({ "staff_username": "nessuno" }))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error());
    app.submit_valid("cambio-di-residenza").await;
    for _ in 0..3 {
        assert_eq!(
            app.get("/api/v1/services/cambio-di-residenza")
                .await
                .status(),
            200
        );
    }
    assert_eq!(app.get("/nowhere").await.status(), 404);

    let s = scrape(&app).await;
    let card = [
        ("route", "/api/v1/services/:slug"),
        ("method", "GET"),
        ("status", "200"),
    ];
    assert_eq!(value(&s, "sportello_http_requests_total", &card), 3.0);
    assert_eq!(
        value(&s, "sportello_http_request_duration_seconds_count", &card),
        3.0
    );
    // The parser folds the `_bucket` lines into one histogram sample.
    let histogram: Vec<_> = s
        .samples
        .iter()
        .filter(|x| {
            x.metric == "sportello_http_request_duration_seconds"
                && card.iter().all(|(k, v)| x.labels.get(k) == Some(*v))
        })
        .collect();
    assert_eq!(histogram.len(), 1, "{histogram:?}");
    match &histogram[0].value {
        prometheus_parse::Value::Histogram(buckets) => {
            let last = buckets.last().expect("buckets");
            assert!(last.less_than.is_infinite(), "{buckets:?}");
            assert_eq!(last.count, 3.0);
            assert!(buckets.windows(2).all(|w| w[0].count <= w[1].count));
        }
        other => panic!("histogram expected: {other:?}"),
    }
    let unmatched = [("route", "unmatched"), ("status", "404")];
    assert_eq!(value(&s, "sportello_http_requests_total", &unmatched), 1.0);
    assert_eq!(
        value(
            &s,
            "sportello_logins_total",
            &[("method", "dev"), ("outcome", "success")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &s,
            "sportello_logins_total",
            &[("method", "dev"), ("outcome", "failure")]
        ),
        1.0
    );
    assert_eq!(value(&s, "sportello_submissions_total", &[]), 1.0);
    assert_eq!(
        value(&s, "sportello_protocol_registrations_total", &[]),
        1.0
    );
    // The receipt and the office's notice wait in the outbox (no mail server here).
    assert!(value(&s, "sportello_outbox_messages", &[("status", "pending")]) >= 1.0);
    assert_eq!(
        value(&s, "sportello_outbox_messages", &[("status", "dead")]),
        0.0
    );
    assert!(value(&s, "sportello_db_pool_max_connections", &[]) >= 1.0);
    assert!(value(&s, "sportello_db_pool_connections", &[("status", "idle")]) >= 0.0);

    // The public port does not serve it.
    assert_eq!(app.get("/metrics").await.status(), 404);
}
