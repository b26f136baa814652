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

/// Whether a request with this `Authorization` header may read `/metrics`:
/// always when no `telemetry.metrics_token` is set, else only with
/// `Bearer <token>` (compared through hashes, so timing tells nothing).
pub fn metrics_allowed(settings: &TelemetrySettings, authorization: Option<&str>) -> bool {
    use sha2::{Digest, Sha256};
    if settings.metrics_token.is_empty() {
        return true;
    }
    let given = authorization.and_then(|h| h.strip_prefix("Bearer ")).unwrap_or_default();
    Sha256::digest(given.as_bytes()) == Sha256::digest(settings.metrics_token.as_bytes())
}
