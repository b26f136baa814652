//! One place that sets up `tracing`: plain or JSON lines, filtered by
//! `telemetry.level` (or `RUST_LOG`). Handlers carry the request id and jobs
//! the job id as span fields, so they appear on every line.

use tracing_subscriber::{fmt, EnvFilter};

use crate::config::TelemetrySettings;

/// Installs the global subscriber; a second call is a no-op.
pub fn init(settings: &TelemetrySettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let builder = fmt().with_env_filter(filter).with_target(false);
    let _ = if settings.json {
        builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init()
    } else {
        builder.try_init()
    };
}
