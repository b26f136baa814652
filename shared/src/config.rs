//! Layered configuration (zero2prod style).
//!
//! Sources, later ones win: the built-in defaults below, then the TOML file
//! named by `CHORUS_CONFIG` (if set), then environment variables of the form
//! `CHORUS__SECTION__KEY` (e.g. `CHORUS__DATABASE__URL`). Every default works
//! on one machine with the services `just up` starts.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::Queue;

/// All settings, one typed section per area.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub api: ApiSettings,
    pub worker: WorkerSettings,
    pub dispatch: DispatchSettings,
    pub retry: RetrySettings,
    pub telemetry: TelemetrySettings,
    pub webhooks: WebhookSettings,
    pub knowledge: KnowledgeSettings,
    pub blobs: BlobSettings,
    pub embed: EmbedSettings,
    pub vectors: VectorSettings,
    pub llm: LlmSettings,
    pub secrets: SecretsSettings,
    pub tools: ToolSettings,
    pub schedules: ScheduleSettings,
    pub limits: LimitSettings,
    pub openai: OpenAiSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct EmbedSettings {
    /// The model's id: it names cache entries (and, later, collections).
    pub model_id: String,
    /// Directory with `model.onnx`, `tokenizer.json`, `config.json`,
    /// `special_tokens_map.json` and `tokenizer_config.json`
    /// (`scripts/models.sh` fetches them).
    pub model_dir: String,
    /// The ONNX Runtime shared library (≥ 1.24).
    pub ort_library: String,
    /// Texts per `embed()` call.
    pub batch_size: usize,
    /// Tokens kept per text (sentence-transformers uses 256).
    pub max_length: usize,
    /// Where other models live, one directory per model id
    /// (`<models_dir>/<id>`): what `POST /v1/admin/reindex {model}` loads.
    pub models_dir: String,
}

impl Default for EmbedSettings {
    fn default() -> Self {
        Self {
            model_id: "all-MiniLM-L6-v2".into(),
            model_dir: ".build/models/all-MiniLM-L6-v2".into(),
            ort_library: ".build/models/libonnxruntime.so".into(),
            batch_size: 32,
            max_length: 256,
            models_dir: ".build/models".into(),
        }
    }
}

/// A command line an operator lets stdio MCP servers run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StdioCommand {
    /// The program, e.g. `/usr/bin/node`.
    pub program: String,
    /// Its arguments, all of them: a tenant adds none.
    pub args: Vec<String>,
    /// The variables a tenant may set for it (names); no others.
    pub env: Vec<String>,
}

/// Tools: limits of the built-ins and of MCP servers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ToolSettings {
    /// `http_fetch`: the most bytes read from a response, and its time limit.
    pub http_fetch_max_bytes: usize,
    pub http_fetch_timeout_ms: u64,
    /// A result is stored in the execution log up to this size (then cut,
    /// and marked so).
    pub log_result_max_bytes: usize,
    /// The command lines stdio MCP servers may run, by name: a tenant's
    /// server names one (`command`) and may set only the variables it
    /// lists. Empty: stdio servers are refused, since one runs a program on
    /// the workers.
    pub mcp_stdio: BTreeMap<String, StdioCommand>,
    /// Where the worker runs as root, stdio servers run as this user (its
    /// uid, gid and home), never as root.
    pub mcp_stdio_user: String,
    /// Time limit of one MCP call (and of opening a session), unless the
    /// server sets its own.
    pub mcp_timeout_ms: u64,
    /// An MCP session unused this long is closed (its stdio child ends).
    pub mcp_idle_secs: u64,
    /// `http_fetch` and MCP servers over HTTP may use `http://` URLs.
    pub allow_http: bool,
    /// Internal networks (CIDRs) that `http_fetch` and MCP servers over
    /// HTTP may reach, apart from `webhooks.allow_networks`: any user can
    /// call `http_fetch`, so opening it is a decision of its own.
    pub allow_networks: Vec<String>,
}

impl ToolSettings {
    /// The SSRF guard's policy for tools: this section's `allow_http` and
    /// `allow_networks`, nothing of the webhooks'.
    pub fn guard(&self) -> WebhookSettings {
        WebhookSettings {
            allow_http: self.allow_http,
            allow_networks: self.allow_networks.clone(),
            ..Default::default()
        }
    }
}

impl Default for ToolSettings {
    fn default() -> Self {
        Self {
            http_fetch_max_bytes: 1 << 20,
            http_fetch_timeout_ms: 10_000,
            log_result_max_bytes: 16 * 1024,
            mcp_stdio: BTreeMap::new(),
            mcp_stdio_user: "nobody".into(),
            mcp_timeout_ms: 30_000,
            mcp_idle_secs: 300,
            allow_http: false,
            allow_networks: Vec::new(),
        }
    }
}

/// The key that encrypts secrets at rest (providers' API keys).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SecretsSettings {
    /// 32 bytes, base64. Empty: the key in `key_file`, created there on
    /// first use, so every process on one machine shares it. Set it (the
    /// same everywhere) when the API and workers run on several hosts.
    pub key: String,
    pub key_file: String,
}

impl Default for SecretsSettings {
    fn default() -> Self {
        Self { key: String::new(), key_file: ".build/secrets.key".into() }
    }
}

/// Language models: providers (wire format, URL, key), model aliases
/// (provider, name, context, prices, fallbacks), and resilience.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LlmSettings {
    /// The alias used when a conversation names none.
    pub default_model: String,
    pub providers: BTreeMap<String, ProviderSettings>,
    pub models: BTreeMap<String, ModelSettings>,
    /// Retries of one provider on 429, 5xx, timeouts and transport errors.
    pub retries: u32,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// Failures in a row that open a provider's circuit, and how long it
    /// stays open before one trial call.
    pub breaker_failures: u32,
    pub breaker_cooldown_ms: u64,
    /// Responses to deterministic requests (temperature 0) are cached in
    /// Redis this long; 0 disables the cache.
    pub cache_ttl_secs: u64,
    /// The judge of `consensus` and `debate` when a message names none
    /// (empty: the default model).
    pub judge_model: String,
    /// The model that writes `summary` context summaries (empty: the
    /// conversation's model).
    pub summary_model: String,
    pub router: RouterSettings,
}

/// The `router` mode's rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RouterSettings {
    /// Aliases preferred for code, creative and general prompts.
    pub code: String,
    pub creative: String,
    pub general: String,
    /// Past this much spend today (per tenant), the cheapest model; 0: no cap.
    pub daily_cost_cap_usd: f64,
    /// A model whose average latency over the last hour is above this is
    /// passed over for the fastest candidate; 0: no target.
    pub latency_target_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProviderSettings {
    /// `openai` (any OpenAI-compatible server), `anthropic` or `gemini`.
    pub kind: String,
    pub base_url: String,
    pub api_key: String,
    /// One request's time limit (a stream's too).
    pub timeout_ms: u64,
    /// Registered by a tenant, not configured: every connection resolves
    /// the host through the SSRF guard. Never read from configuration.
    #[serde(skip)]
    pub pinned: bool,
}

impl Default for ProviderSettings {
    fn default() -> Self {
        Self {
            kind: "openai".into(),
            base_url: String::new(),
            api_key: String::new(),
            timeout_ms: 120_000,
            pinned: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelSettings {
    pub provider: String,
    /// The provider's name for the model.
    pub name: String,
    /// Context window, in tokens.
    pub context_tokens: u32,
    /// Prices in USD per million tokens.
    pub input_usd_per_mtok: f64,
    pub output_usd_per_mtok: f64,
    /// Aliases tried in order when this one fails.
    pub fallbacks: Vec<String>,
    /// The model's Hugging Face `tokenizer.json`, for counting tokens;
    /// empty: the estimate `max(words, chars / 4)`.
    pub tokenizer: String,
}

impl Default for ModelSettings {
    fn default() -> Self {
        Self {
            provider: String::new(),
            name: String::new(),
            context_tokens: 4096,
            input_usd_per_mtok: 0.0,
            output_usd_per_mtok: 0.0,
            fallbacks: Vec::new(),
            tokenizer: String::new(),
        }
    }
}

impl Default for LlmSettings {
    fn default() -> Self {
        let local = ProviderSettings { base_url: "http://127.0.0.1:8181/v1".into(), ..ProviderSettings::default() };
        let smollm2 = ModelSettings {
            provider: "local".into(),
            name: "smollm2".into(),
            context_tokens: 2048,
            ..Default::default()
        };
        Self {
            default_model: "smollm2".into(),
            providers: [("local".to_string(), local)].into(),
            models: [("smollm2".to_string(), smollm2)].into(),
            retries: 2,
            retry_base_ms: 500,
            retry_max_ms: 10_000,
            breaker_failures: 5,
            breaker_cooldown_ms: 30_000,
            cache_ttl_secs: 3_600,
            judge_model: String::new(),
            summary_model: String::new(),
            router: RouterSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct VectorSettings {
    /// A Qdrant server's URL (also read from `QDRANT_URL`). Empty: the
    /// embedded engine, owned by the one worker that consumes the vector
    /// queues.
    pub url: String,
    /// API key of the Qdrant server, if it needs one.
    pub api_key: String,
    /// Put before every collection and alias name on the Qdrant server, so
    /// that several deployments can share one server.
    pub prefix: String,
    /// Data directory of the embedded engine (one subdirectory per collection).
    pub path: String,
    /// How often the vector owner schedules a reconciliation; 0 never.
    pub reconcile_interval_secs: u64,
    /// The embedded engine builds its HNSW index once this many points were
    /// written and writes have paused for `optimize_idle_ms`.
    pub optimize_min_points: usize,
    pub optimize_idle_ms: u64,
    /// Reciprocal Rank Fusion constant of hybrid search.
    pub rrf_k: f32,
    /// Candidates a search with `rerank` re-ranks (at least its `top_k`).
    pub rerank_depth: usize,
    /// Words per window a re-ranked candidate is cut into (windows overlap
    /// by half).
    pub rerank_window_words: usize,
    /// How long `POST /v1/search` waits for its job before answering 202.
    pub search_wait_ms: u64,
}

impl Default for VectorSettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            api_key: String::new(),
            prefix: String::new(),
            path: ".build/vectors".into(),
            reconcile_interval_secs: 3600,
            optimize_min_points: 1_000,
            optimize_idle_ms: 5_000,
            rrf_k: 60.0,
            rerank_depth: 30,
            rerank_window_words: 24,
            search_wait_ms: 10_000,
        }
    }
}

impl VectorSettings {
    /// Whether vectors live in a Qdrant server (any worker may use them).
    pub fn is_server(&self) -> bool {
        !self.url.is_empty()
    }
}

/// Where originals and export zips are kept ([`crate::knowledge::blob`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BlobSettings {
    /// Empty: `knowledge.blob_dir` on local disk (one host, or a shared
    /// filesystem). `s3://bucket[/prefix]`: an S3-compatible store, which
    /// workers on every host reach without a shared disk.
    pub url: String,
    /// The S3 endpoint of a store that is not AWS (MinIO, R2, Ceph, moto).
    /// This and the keys below fall back to the `AWS_*` variables.
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Plain HTTP to the endpoint (local stores only).
    pub allow_http: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct KnowledgeSettings {
    /// Where originals are stored when `blobs.url` is empty, and the local
    /// scratch space (`tmp/`) of uploads in progress either way.
    pub blob_dir: String,
    /// Largest upload; bigger ones answer 413.
    pub max_upload_bytes: u64,
    /// Chunk size and overlap, in the embedding model's tokens (capped at
    /// its window, `embed.max_length` less two special tokens).
    pub chunk_tokens: usize,
    pub chunk_overlap_tokens: usize,
    /// Documents with more pages or PDF objects are refused.
    pub max_pages: usize,
    pub max_pdf_objects: usize,
    /// Most documents one bulk operation may touch.
    pub bulk_max_items: i64,
    /// How long an export zip can be downloaded.
    pub export_ttl_secs: u64,
    /// The most bytes of originals one export zip holds; documents past it
    /// get the item outcome `export_too_large`.
    pub export_max_bytes: u64,
}

impl Default for KnowledgeSettings {
    fn default() -> Self {
        Self {
            blob_dir: ".build/blobs".into(),
            max_upload_bytes: 50 * 1024 * 1024,
            chunk_tokens: 256,
            chunk_overlap_tokens: 32,
            max_pages: 5_000,
            max_pdf_objects: 1_000_000,
            bulk_max_items: 10_000,
            export_ttl_secs: 24 * 3600,
            export_max_bytes: 2 * 1024 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookSettings {
    /// Waits before each retry of a failed delivery; its length + 1 is the
    /// number of attempts. Default: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    pub retry_schedule_ms: Vec<u64>,
    /// Time limit of one delivery attempt.
    pub timeout_ms: u64,
    /// How much of a response body is read and logged.
    pub max_response_bytes: usize,
    /// How long the old secret keeps signing after a rotation.
    pub secret_overlap_secs: u64,
    /// An endpoint is disabled after this many deliveries in a row failed.
    pub disable_after_failures: i32,
    /// Allow `http://` URLs (default: only `https://`).
    pub allow_http: bool,
    /// Networks (CIDR) that may be targeted even though they are loopback,
    /// private or link-local, e.g. `127.0.0.0/8` for tests and on-premises.
    pub allow_networks: Vec<String>,
    /// Least time between two `job.progress` deliveries of one job to one
    /// endpoint.
    pub progress_throttle_ms: u64,
    /// Deliveries a second that a recovered endpoint's circuit releases,
    /// oldest first.
    pub release_per_sec: u32,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            retry_schedule_ms: vec![5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000],
            timeout_ms: 10_000,
            max_response_bytes: 1024,
            secret_overlap_secs: 24 * 3600,
            disable_after_failures: 5,
            allow_http: false,
            allow_networks: Vec::new(),
            progress_throttle_ms: 1_000,
            release_per_sec: 50,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseSettings {
    /// Postgres URL.
    pub url: String,
    /// Connections in the pool of each process.
    pub pool_size: usize,
}

impl DatabaseSettings {
    /// Connections a worker needs: one per job it may run at once, plus
    /// room for heartbeats, dispatch and maintenance; never fewer than
    /// `pool_size`.
    pub fn worker_pool_size(&self, worker: &WorkerSettings) -> usize {
        self.pool_size.max(worker.total_concurrency() + 4)
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self { url: "postgres://postgres@127.0.0.1:55432/chorus".into(), pool_size: 10 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RedisSettings {
    /// Redis URL.
    pub url: String,
    /// Prefix of every key and channel Chorus uses, so that several
    /// deployments (or test runs) can share one Redis.
    pub namespace: String,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self { url: "redis://127.0.0.1:56379".into(), namespace: "chorus".into() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiSettings {
    pub host: String,
    pub port: u16,
    /// Largest accepted JSON body, in bytes.
    pub max_body_bytes: usize,
    /// Page size of list routes when the client gives none (max 200).
    pub default_page_size: i64,
    /// The tenant whose admins operate the deployment: only they may run
    /// the kinds that act on every tenant's data (`reindex`, `reconcile`).
    /// `just up`'s bootstrap key belongs to `default`.
    pub operator_tenant: String,
    /// Event streams (SSE) one tenant may hold open on one API process.
    pub max_streams_per_tenant: usize,
    /// How long a verified API key is trusted from memory, in ms (0: every
    /// request reads Postgres). Revocations reach every process at once
    /// over Redis; this bounds staleness when that message is lost.
    pub key_cache_ms: u64,
    /// The most keys one API process keeps in memory.
    pub key_cache_max: usize,
    /// The most `POST /v1/jobs` submissions one statement inserts: those
    /// that arrive while the previous insert runs go in together (1: each
    /// alone).
    pub submit_batch_max: usize,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8080,
            max_body_bytes: 1 << 20,
            default_page_size: 50,
            operator_tenant: "default".into(),
            max_streams_per_tenant: 100,
            key_cache_ms: 10_000,
            key_cache_max: 10_000,
            submit_batch_max: 100,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerSettings {
    /// Unique name of this worker process; empty means `<host>-<pid>-<random>`.
    pub name: String,
    /// The queues this worker consumes (default: all). Lets you run, say,
    /// dedicated webhook workers.
    pub queues: Vec<String>,
    /// Jobs run at once, per queue.
    pub concurrency: BTreeMap<String, usize>,
    /// Port of the worker's own `/metrics` and `/healthz`; 0 picks a free one.
    pub metrics_port: u16,
    /// On SIGTERM, how long running jobs may take before they are handed back.
    pub shutdown_grace_ms: u64,
    /// How often a running job's heartbeat is written.
    pub heartbeat_ms: u64,
    /// A running job whose heartbeat is older than this is rescued.
    pub rescue_after_ms: u64,
    /// How often maintenance (rescue, Redis vacuum) runs.
    pub maintenance_ms: u64,
    /// How often an idle queue consumer asks Redis for messages.
    pub poll_ms: u64,
    /// Succeeded attempts wait up to this long (ms) for others, then end
    /// together in one transaction (the batch completer). Keep it far
    /// below `rescue_after_ms`; 0 ends each alone.
    pub complete_batch_ms: u64,
    /// The most attempts one completer flush ends, and the most messages
    /// one claim statement takes.
    pub complete_batch_max: usize,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        let concurrency = Queue::ALL.iter().map(|q| (q.to_string(), 4)).collect();
        Self {
            name: String::new(),
            queues: Queue::ALL.iter().map(|q| q.to_string()).collect(),
            concurrency,
            metrics_port: 9101,
            shutdown_grace_ms: 20_000,
            heartbeat_ms: 1_000,
            rescue_after_ms: 10_000,
            maintenance_ms: 2_000,
            poll_ms: 50,
            complete_batch_ms: 2,
            complete_batch_max: 100,
        }
    }
}

impl WorkerSettings {
    /// Concurrency of `queue`, 4 when the queue is not listed.
    pub fn concurrency_of(&self, queue: Queue) -> usize {
        self.concurrency.get(queue.as_str()).copied().unwrap_or(4).max(1)
    }
    /// Whether this worker consumes `queue`.
    pub fn takes(&self, queue: Queue) -> bool {
        self.queues.iter().any(|q| q == queue.as_str())
    }
    /// Jobs this worker may run at once: the concurrency of each queue it
    /// takes, added up.
    pub fn total_concurrency(&self) -> usize {
        Queue::ALL.into_iter().filter(|q| self.takes(*q)).map(|q| self.concurrency_of(q)).sum()
    }
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms)
    }
    pub fn rescue_after(&self) -> Duration {
        Duration::from_millis(self.rescue_after_ms)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DispatchSettings {
    /// Most jobs per queue that sit in Redis waiting for a worker. Jobs beyond
    /// it wait in Postgres, where priority orders them.
    pub window: i64,
    /// How often each process's dispatcher looks for due jobs.
    pub interval_ms: u64,
    /// A dispatched job no worker claimed within this long is dispatched
    /// again (its message was lost); the old message becomes stale.
    pub redispatch_after_ms: u64,
    /// After a dispatch that filled the window with jobs still due, a
    /// process waits this long (ms) before its next dispatch of that
    /// queue, so each one moves more jobs. Workers starve only if they
    /// drain a whole window faster than this.
    pub backlog_gap_ms: u64,
    /// Share each queue between the tenants with waiting work: a dispatch
    /// takes one job from each tenant in turn (by priority inside a
    /// tenant). Off: by priority and age alone, whoever submitted them.
    pub fair_share: bool,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        Self { window: 16, interval_ms: 250, redispatch_after_ms: 10_000, backlog_gap_ms: 5, fair_share: true }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ScheduleSettings {
    /// How often each worker looks for due schedules (ms). A fire is made
    /// at most about this long after its time.
    pub tick_ms: u64,
    /// A fire older than this when a worker gets to it was missed (no
    /// worker ran): the schedule's misfire policy decides what it becomes.
    pub misfire_grace_ms: u64,
    /// The most schedules one tenant may have.
    pub max_per_tenant: i64,
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        Self { tick_ms: 500, misfire_grace_ms: 5_000, max_per_tenant: 1_000 }
    }
}

/// Rate limits and cost caps, the defaults of every tenant (an operator
/// sets a tenant's own with `PUT /v1/admin/tenants/{tenant}/limits`). A rate
/// is a quota per window, and a burst may spend a whole window's quota at
/// once. 0: no limit.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitSettings {
    /// Requests per second one API key may make.
    pub key_requests_per_sec: u32,
    /// Requests per second all of a tenant's keys together may make.
    pub tenant_requests_per_sec: u32,
    /// Jobs per minute a tenant may submit, by kind; a kind not named has
    /// no limit.
    pub jobs_per_min: BTreeMap<String, u32>,
    /// How much (USD) a tenant's model calls may cost per UTC day and per
    /// UTC month: a chat job that would pass it fails with
    /// `cost_cap_reached`, and a `usage.threshold` event goes out once a
    /// period at 80%.
    pub cost_per_day_usd: f64,
    pub cost_per_month_usd: f64,
    /// Most of one tenant's jobs running (or on their way to a worker) at
    /// once, by queue, across all workers; a queue not named has no cap.
    pub concurrency: BTreeMap<String, u32>,
    /// A tenant's conversations, documents (with their vectors), finished
    /// jobs, files and ended batches older than this many days are deleted
    /// by its `retention` job (0: kept for good).
    pub retention_days: u32,
    /// Write an export of what retention deletes first (a file of the
    /// tenant's, purpose `retention_export`).
    pub retention_export: bool,
    /// How often each tenant's retention job is queued (seconds).
    pub retention_interval_secs: u64,
    /// How long an API process keeps a tenant's limits before reading them
    /// again (ms): an operator's change takes at most this long to apply.
    pub cache_ms: u64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            key_requests_per_sec: 1_000,
            tenant_requests_per_sec: 2_000,
            jobs_per_min: BTreeMap::new(),
            cost_per_day_usd: 0.0,
            cost_per_month_usd: 0.0,
            concurrency: BTreeMap::new(),
            retention_days: 0,
            retention_export: false,
            retention_interval_secs: 3_600,
            cache_ms: 5_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RetrySettings {
    /// Backoff before the second attempt; doubles for each attempt after.
    pub base_ms: u64,
    /// Upper bound of one backoff.
    pub max_ms: u64,
    /// Attempts of a job that names none.
    pub default_max_attempts: i32,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self { base_ms: 1_000, max_ms: 600_000, default_max_attempts: 3 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetrySettings {
    /// `tracing` filter, as in `RUST_LOG`.
    pub level: String,
    /// Log lines as JSON.
    pub json: bool,
    /// When set, `/metrics` of the API and of every worker answers only
    /// `Authorization: Bearer <this>`. Empty: open (one machine, loopback).
    pub metrics_token: String,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self { level: "info".into(), json: false, metrics_token: String::new() }
    }
}

impl Settings {
    /// Loads defaults, then `CHORUS_CONFIG`'s file, then `CHORUS__*` variables.
    pub fn load() -> Result<Self, config::ConfigError> {
        let mut builder = config::Config::builder().add_source(config::Config::try_from(&Settings::default())?);
        if let Ok(path) = std::env::var("CHORUS_CONFIG") {
            builder = builder.add_source(config::File::with_name(&path));
        }
        builder
            .add_source(
                config::Environment::with_prefix("CHORUS")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    .list_separator(",")
                    .with_list_parse_key("webhooks.retry_schedule_ms")
                    .with_list_parse_key("webhooks.allow_networks")
                    .with_list_parse_key("worker.queues")
                    .with_list_parse_key("tools.allow_networks"),
            )
            .build()?
            .try_deserialize()
            .map(|mut s: Settings| {
                // Qdrant's own variable, as its clients read it.
                if s.vectors.url.is_empty() {
                    s.vectors.url = std::env::var("QDRANT_URL").unwrap_or_default();
                }
                s
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workers_pool_holds_a_connection_for_every_job_it_may_run() {
        let s = Settings::default();
        assert_eq!(s.worker.total_concurrency(), 4 * Queue::ALL.len());
        assert_eq!(s.database.worker_pool_size(&s.worker), 4 * Queue::ALL.len() + 4);
        let narrow = WorkerSettings { queues: vec!["webhook".into()], ..Default::default() };
        assert_eq!(s.database.worker_pool_size(&narrow), s.database.pool_size);
    }
}

/// The OpenAI-compatible Files and Batch APIs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct OpenAiSettings {
    /// Largest file `POST /v1/files` takes (bytes; OpenAI's limit is 200 MB).
    pub max_file_bytes: u64,
    /// Most requests (lines) in one batch's input file (OpenAI's: 50,000).
    pub max_batch_lines: usize,
    /// Longest line of a batch's input file (bytes).
    pub max_line_bytes: usize,
}

impl Default for OpenAiSettings {
    fn default() -> Self {
        Self { max_file_bytes: 200 * 1024 * 1024, max_batch_lines: 50_000, max_line_bytes: 1024 * 1024 }
    }
}
