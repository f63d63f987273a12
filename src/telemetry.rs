//! Structured logs with `tracing`: one JSON object per line in production, a compact
//! human-readable line in demo and tests. Every line emitted while serving a request carries
//! that request's id (the `http_request` span opened by the request-context middleware).
//!
//! ERROR is kept for faults of the service. actix-http reports a request it could not parse,
//! or a client that went away mid-request, as ERROR (`stream error: …`) from its connection
//! task; anyone could fill the error log with those. They are the client's problem: they are
//! written as INFO lines, `malformed or interrupted HTTP request` (target
//! `sportello::http::edge`), and left out when the filter hides INFO. Such a request never reached the application,
//! so it has no request id; requests that did are logged with theirs by the middleware.

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, Filter, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::config::{LogFormat, TelemetrySettings};

/// Installs the global subscriber. Safe to call more than once (tests): later calls are no-ops.
pub fn init(settings: &TelemetrySettings) {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // An Err only means a subscriber is already installed.
    let _ = subscriber(settings, std::io::stderr, ansi).try_init();
}

/// The subscriber [`init`] installs, writing to `writer`.
pub fn subscriber<W>(
    settings: &TelemetrySettings,
    writer: W,
    ansi: bool,
) -> impl Subscriber + Send + Sync + for<'a> tracing_subscriber::registry::LookupSpan<'a>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Client faults are written at INFO: only when the filter lets INFO through somewhere.
    let faults = ClientFaults {
        shown: filter
            .max_level_hint()
            .is_none_or(|max| max >= tracing::level_filters::LevelFilter::INFO),
        json: settings.format == LogFormat::Json,
    };
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(ansi);
    let layer = match settings.format {
        LogFormat::Json => layer
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(Edge {
                inner: tracing_subscriber::fmt::format()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(true)
                    .with_target(true),
                faults,
            })
            .with_filter(faults)
            .boxed(),
        LogFormat::Pretty => layer
            .event_format(Edge {
                inner: tracing_subscriber::fmt::format()
                    .compact()
                    .with_target(true),
                faults,
            })
            .with_filter(faults)
            .boxed(),
    };
    tracing_subscriber::registry().with(filter).with(layer)
}

/// True for actix-http's ERROR events about a client's malformed or interrupted request.
/// Its one ERROR that can be the service's own fault (a response body stream failing) stays.
pub fn is_client_fault(event: &Event<'_>) -> bool {
    let meta = event.metadata();
    if *meta.level() != Level::ERROR || !meta.target().starts_with("actix_http::h1") {
        return false;
    }
    !message(event).starts_with("Response payload stream error")
}

fn message(event: &Event<'_>) -> String {
    struct Message(String);
    impl Visit for Message {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}");
            }
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "message" {
                self.0 = value.to_owned();
            }
        }
    }
    let mut m = Message(String::new());
    event.record(&mut m);
    m.0
}

const EDGE_TARGET: &str = "sportello::http::edge";
const EDGE_MESSAGE: &str = "malformed or interrupted HTTP request";

/// How client faults are treated: shown (at INFO) or not, and in which format.
#[derive(Debug, Clone, Copy)]
struct ClientFaults {
    shown: bool,
    json: bool,
}

impl<S: Subscriber> Filter<S> for ClientFaults {
    fn enabled(&self, _: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        true
    }
    fn event_enabled(&self, event: &Event<'_>, _: &Context<'_, S>) -> bool {
        self.shown || !is_client_fault(event)
    }
}

/// The event format, except that a client fault is written as the INFO line it should have
/// been (a subscriber cannot emit a new event while handling one: tracing drops it).
struct Edge<F> {
    inner: F,
    faults: ClientFaults,
}

impl<S, N, F> FormatEvent<S, N> for Edge<F>
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        if !is_client_fault(event) {
            return self.inner.format_event(ctx, writer, event);
        }
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let error = message(event);
        if self.faults.json {
            let line = serde_json::json!({
                "timestamp": now,
                "level": "INFO",
                "message": EDGE_MESSAGE,
                "error": error,
                "target": EDGE_TARGET,
            });
            writeln!(writer, "{line}")
        } else {
            writeln!(
                writer,
                "{now}  INFO {EDGE_TARGET}: {EDGE_MESSAGE} error={error:?}"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    #[test]
    fn a_clients_malformed_request_is_not_an_error_of_the_service() {
        let buf = Buffer::default();
        let settings = TelemetrySettings {
            format: LogFormat::Json,
            filter: "info".into(),
        };
        tracing::subscriber::with_default(subscriber(&settings, buf.clone(), false), || {
            // What actix-http's connection task logs for a request line it cannot parse…
            tracing::error!(target: "actix_http::h1::dispatcher", "stream error: {}", "Parse(Method)");
            // …and for a response body that fails, which is the service's fault.
            tracing::error!(target: "actix_http::h1::dispatcher", "Response payload stream error: {:?}", "x");
            tracing::error!(target: "sportello::db", "the database is gone");
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let errors: Vec<&str> = lines
            .iter()
            .filter(|l| l["level"] == "ERROR")
            .map(|l| l["message"].as_str().unwrap())
            .collect();
        assert_eq!(
            errors,
            [
                "Response payload stream error: \"x\"",
                "the database is gone"
            ],
            "{out}"
        );
        let fault = lines
            .iter()
            .find(|l| l["target"] == "sportello::http::edge")
            .unwrap_or_else(|| panic!("{out}"));
        assert_eq!(fault["level"], "INFO");
        assert_eq!(fault["message"], "malformed or interrupted HTTP request");
        assert_eq!(fault["error"], "stream error: Parse(Method)");
    }
}
