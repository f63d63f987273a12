//! Structured logs with `tracing`: one JSON object per line in production, a compact
//! human-readable line in demo and tests. Every line emitted while serving a request carries
//! that request's id (the `http_request` span opened by the request-context middleware).

use crate::config::{LogFormat, TelemetrySettings};

/// Installs the global subscriber. Safe to call more than once (tests): later calls are no-ops.
pub fn init(settings: &TelemetrySettings) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(true);
    // An Err only means a subscriber is already installed.
    let _ = match settings.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}
