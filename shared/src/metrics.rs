//! Prometheus metrics, one registry per process (so tests can run many
//! processes' worth side by side). Names start with `chorus_`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Seconds buckets from 1 ms to 10 min.
const BUCKETS: &[f64] =
    &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0];

#[derive(Clone, Debug)]
pub struct Metrics {
    pub registry: Registry,
    /// Jobs accepted by the API, by kind.
    pub jobs_submitted: IntCounterVec,
    /// Attempts that ended, by kind and resulting status.
    pub jobs_finished: IntCounterVec,
    /// Run time of one attempt, by kind.
    pub job_run_seconds: HistogramVec,
    /// From due (`run_at`) to started, by kind.
    pub job_queue_wait_seconds: HistogramVec,
    /// Jobs waiting, per queue (refreshed from Postgres on scrape).
    pub queue_depth: IntGaugeVec,
    /// Jobs running in this process (workers) or everywhere (API, from Postgres).
    pub jobs_in_flight: IntGauge,
    /// Attempts that failed and will be retried, by kind.
    pub job_retries: IntCounterVec,
    /// Jobs that ran out of attempts, by kind.
    pub jobs_dead: IntCounterVec,
    /// HTTP requests, by method, route pattern and status.
    pub http_requests: IntCounterVec,
    /// HTTP latency, by method and route pattern.
    pub http_request_seconds: HistogramVec,
    /// Webhook delivery attempts, by outcome (success, failure, gone, refused).
    pub webhook_deliveries: IntCounterVec,
    /// Latency of webhook delivery attempts.
    pub webhook_delivery_seconds: prometheus::Histogram,
    /// Webhook deliveries not yet delivered (refreshed from Postgres on scrape).
    pub webhook_pending: IntGauge,
    /// Endpoints disabled after repeated failures or a 410.
    pub webhook_endpoints_disabled: IntCounterVec,
    /// Reconciliation findings: `side` is `store` (points without a chunk)
    /// or `postgres` (chunks without a point); `action` found or repaired.
    pub vector_orphans: IntCounterVec,
    /// Vector searches, by mode.
    pub searches: IntCounterVec,
    /// Searches asked from inside jobs (chat retrieval, `knowledge_search`),
    /// by path: `direct` in a process with the vector store, `job` through
    /// a `search` job on the owner (the hop's cost is the difference).
    pub search_seconds: HistogramVec,
    /// Language-model calls: tokens by direction (`prompt`, `completion`),
    /// cost, latency, time to first token, errors by kind, cache results,
    /// and each provider's circuit (0 closed, 1 open, 2 half-open).
    pub llm_tokens: IntCounterVec,
    pub llm_cost_usd: prometheus::Counter,
    pub llm_request_seconds: HistogramVec,
    pub llm_ttft_seconds: HistogramVec,
    pub llm_errors: IntCounterVec,
    pub llm_cache: IntCounterVec,
    pub llm_circuit: IntGaugeVec,
    /// Tool executions, by tool and outcome (`ok` or the error code).
    pub tool_executions: IntCounterVec,
    /// Tool run time, by tool (cache hits included).
    pub tool_seconds: HistogramVec,
    /// Tool result cache lookups, by result (`hit`, `miss`).
    pub tool_cache: IntCounterVec,
    /// Jobs made by schedules, by `timing` (`on_time`, `misfired`).
    pub schedule_fires: IntCounterVec,
    /// The label values tenants name, capped.
    named: std::sync::Arc<Named>,
}

/// Distinct label values of one kind that tenants name (providers, models,
/// tools) that get a series of their own; later ones share [`OTHER`].
pub const MAX_NAMED: usize = 100;
/// The label value past [`MAX_NAMED`].
pub const OTHER: &str = "other";

/// Label values that tenants choose: the first [`MAX_NAMED`] of each kind
/// are kept, so no tenant can grow `/metrics` without bound.
#[derive(Debug, Default)]
struct Named(std::sync::Mutex<std::collections::HashMap<&'static str, std::collections::HashSet<String>>>);

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("unique metric");
            c
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(BUCKETS.to_vec()), labels)
                .expect("valid metric");
            registry.register(Box::new(h.clone())).expect("unique metric");
            h
        };
        let queue_depth = IntGaugeVec::new(Opts::new("chorus_queue_depth", "Jobs waiting, per queue"), &["queue"])
            .expect("valid metric");
        registry.register(Box::new(queue_depth.clone())).expect("unique metric");
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry.register(Box::new(g.clone())).expect("unique metric");
            g
        };
        let jobs_in_flight = gauge("chorus_jobs_in_flight", "Jobs running");
        let webhook_pending = gauge("chorus_webhook_pending", "Webhook deliveries not yet delivered");
        let webhook_delivery_seconds = prometheus::Histogram::with_opts(
            HistogramOpts::new("chorus_webhook_delivery_seconds", "Latency of webhook delivery attempts")
                .buckets(BUCKETS.to_vec()),
        )
        .expect("valid metric");
        registry.register(Box::new(webhook_delivery_seconds.clone())).expect("unique metric");
        Self {
            jobs_submitted: counter("chorus_jobs_submitted_total", "Jobs accepted", &["kind"]),
            jobs_finished: counter(
                "chorus_jobs_finished_total",
                "Attempts ended, by resulting status",
                &["kind", "status"],
            ),
            job_run_seconds: histogram("chorus_job_run_seconds", "Run time of one attempt", &["kind"]),
            job_queue_wait_seconds: histogram("chorus_job_queue_wait_seconds", "Time from due to started", &["kind"]),
            job_retries: counter("chorus_job_retries_total", "Failed attempts that will be retried", &["kind"]),
            jobs_dead: counter("chorus_jobs_dead_total", "Jobs that ran out of attempts", &["kind"]),
            http_requests: counter("chorus_http_requests_total", "HTTP requests", &["method", "route", "status"]),
            http_request_seconds: histogram("chorus_http_request_seconds", "HTTP latency", &["method", "route"]),
            webhook_deliveries: counter("chorus_webhook_deliveries_total", "Webhook delivery attempts", &["outcome"]),
            webhook_endpoints_disabled: counter(
                "chorus_webhook_endpoints_disabled_total",
                "Endpoints disabled",
                &["reason"],
            ),
            vector_orphans: counter(
                "chorus_vector_orphans_total",
                "Orphans the reconciler found and repaired",
                &["side", "action"],
            ),
            searches: counter("chorus_searches_total", "Searches run", &["mode"]),
            search_seconds: histogram("chorus_search_seconds", "Searches from jobs, by path", &["path"]),
            llm_tokens: counter("chorus_llm_tokens_total", "Model tokens", &["provider", "model", "direction"]),
            llm_cost_usd: {
                let c =
                    prometheus::Counter::new("chorus_llm_cost_usd_total", "Model cost in USD").expect("valid metric");
                registry.register(Box::new(c.clone())).expect("unique metric");
                c
            },
            llm_request_seconds: histogram("chorus_llm_request_seconds", "Model call duration", &["provider", "model"]),
            llm_ttft_seconds: histogram("chorus_llm_ttft_seconds", "Time to first token", &["provider", "model"]),
            llm_errors: counter("chorus_llm_errors_total", "Failed model calls", &["provider", "kind"]),
            llm_cache: counter("chorus_llm_cache_total", "Response cache lookups", &["result"]),
            llm_circuit: {
                let g = IntGaugeVec::new(
                    Opts::new("chorus_llm_circuit_state", "0 closed, 1 open, 2 half-open"),
                    &["provider"],
                )
                .expect("valid metric");
                registry.register(Box::new(g.clone())).expect("unique metric");
                g
            },
            tool_executions: counter("chorus_tool_executions_total", "Tool executions", &["tool", "outcome"]),
            tool_seconds: histogram("chorus_tool_seconds", "Tool execution time", &["tool"]),
            tool_cache: counter("chorus_tool_cache_total", "Tool result cache lookups", &["result"]),
            schedule_fires: counter("chorus_schedule_fires_total", "Jobs made by schedules", &["timing"]),
            webhook_delivery_seconds,
            webhook_pending,
            queue_depth,
            jobs_in_flight,
            registry,
            named: Default::default(),
        }
    }

    /// The text exposition of every metric.
    /// `value` as a label of `kind` (`provider`, `model`, `tool`, …): itself
    /// while fewer than [`MAX_NAMED`] values of that kind were seen, else
    /// [`OTHER`].
    pub fn named(&self, kind: &'static str, value: &str) -> String {
        let mut seen = self.named.0.lock().unwrap_or_else(|e| e.into_inner());
        let values = seen.entry(kind).or_default();
        if values.contains(value) {
            return value.to_string();
        }
        if values.len() < MAX_NAMED {
            values.insert(value.to_string());
            return value.to_string();
        }
        OTHER.to_string()
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf).expect("text encoding");
        String::from_utf8(buf).expect("utf-8 metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_named_labels_are_capped_per_kind() {
        let m = Metrics::new();
        for i in 0..MAX_NAMED {
            assert_eq!(m.named("tool", &format!("mcp.t.{i}")), format!("mcp.t.{i}"));
        }
        assert_eq!(m.named("tool", "mcp.t.one-too-many"), OTHER);
        assert_eq!(m.named("tool", "mcp.t.7"), "mcp.t.7", "a value seen before keeps its series");
        assert_eq!(m.named("model", "gpt"), "gpt", "each kind has its own cap");
        for i in 0..1000 {
            let label = m.named("tool", &format!("flood-{i}"));
            m.tool_executions.with_label_values(&[&label, "ok"]).inc();
        }
        let series = m.render().lines().filter(|l| l.starts_with("chorus_tool_executions_total{")).count();
        assert_eq!(series, 1, "a thousand new names share one series");
    }
}
