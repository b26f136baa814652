//! Job kinds, one file each, registered in [`KINDS`].
//!
//! A kind declares its name, queue, attempts, timeout and who may submit it
//! next to its payload type (crates.io style). A kind's name is stored with
//! every job: never rename one without keeping the old name as an alias.

pub mod bulk;
pub mod chat;
mod context;
pub mod diagnostic;
pub mod embed_document;
pub mod embed_texts;
pub mod ingest_document;
pub mod mcp_discover;
pub mod purge_vectors;
pub mod reconcile;
pub mod reindex;
pub mod search;
pub mod tool_call;
pub mod webhook_delivery;

use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;

pub use context::{JobContext, ProgressReporter};

use crate::error::ServiceError;

/// Every queue, one per kind of work. Workers consume all of them unless
/// `worker.queues` says otherwise (see [`crate::vectors::VECTOR_QUEUES`]).
pub const QUEUES: &[&str] = &["chat", "knowledge", "embed", "search", "tool", "webhook", "maintenance"];

/// A job kind: what the API validates and what the worker runs.
pub struct KindSpec {
    /// The kind's stable name, as clients send it.
    pub name: &'static str,
    /// The queue its jobs go to.
    pub queue: &'static str,
    /// Attempts of a job that names none.
    pub default_max_attempts: i32,
    /// One attempt is cut off after this long (error code `timeout`).
    pub timeout: Duration,
    /// Only admin keys may submit it.
    pub admin_only: bool,
    /// Created by Chorus itself, never submitted through the API, and
    /// reporting no webhook events of its own.
    pub internal: bool,
    /// The kind watches `JobContext::cancel` itself and stops at a clean
    /// point; otherwise the runner drops the attempt when it is cancelled.
    pub handles_cancel: bool,
    /// The wait before the retry after attempt `n`, if the kind has its own
    /// schedule; `None` uses `retry.*`.
    pub backoff: Option<fn(&crate::config::Settings, i32) -> Duration>,
    /// Checks a payload before the job is accepted.
    pub validate: fn(&Value) -> Result<(), ServiceError>,
    /// Runs one attempt.
    pub run: for<'a> fn(&'a JobContext, Value) -> BoxFuture<'a, Result<Value, JobError>>,
}

impl std::fmt::Debug for KindSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KindSpec").field("name", &self.name).field("queue", &self.queue).finish()
    }
}

/// The registered kinds.
pub static KINDS: &[&KindSpec] = &[
    &diagnostic::SPEC,
    &ingest_document::SPEC,
    &embed_document::SPEC,
    &purge_vectors::SPEC,
    &bulk::SPEC,
    &embed_texts::SPEC,
    &search::SPEC,
    &reindex::SPEC,
    &reconcile::SPEC,
    &chat::SPEC,
    &tool_call::SPEC,
    &mcp_discover::SPEC,
    &webhook_delivery::SPEC,
];

/// The wait before retrying attempt `attempt` of a job of `spec`.
pub fn backoff_for(spec: Option<&KindSpec>, settings: &crate::config::Settings, attempt: i32) -> Duration {
    match spec.and_then(|s| s.backoff) {
        Some(f) => f(settings, attempt),
        None => crate::services::lifecycle::backoff(&settings.retry, attempt),
    }
}

/// Kinds that act on every tenant's data (the shared vector collections):
/// only admins of `api.operator_tenant` may submit them.
pub const OPERATOR_KINDS: &[&str] = &[reindex::NAME, reconcile::NAME];

/// The kind called `name`, if registered.
pub fn find(name: &str) -> Option<&'static KindSpec> {
    KINDS.iter().copied().find(|k| k.name == name)
}

/// How one attempt of a job failed.
#[derive(Debug, Clone, PartialEq)]
pub struct JobError {
    /// A stable code, stored on the job.
    pub code: String,
    pub message: String,
    /// Whether another attempt may succeed. `false` fails the job at once.
    pub retryable: bool,
}

impl JobError {
    /// A failure that another attempt may not repeat.
    pub fn retryable(code: &str, message: impl Into<String>) -> Self {
        Self { code: code.into(), message: message.into(), retryable: true }
    }
    /// A database or pool error: worth another attempt.
    pub fn database(e: impl std::fmt::Display) -> Self {
        Self::retryable("database", e.to_string())
    }
    /// A failure no retry can fix, such as bad input.
    pub fn permanent(code: &str, message: impl Into<String>) -> Self {
        Self { code: code.into(), message: message.into(), retryable: false }
    }
}

impl From<anyhow::Error> for JobError {
    fn from(e: anyhow::Error) -> Self {
        Self::retryable("job_error", format!("{e:#}"))
    }
}

/// A service failure inside a job: bad input is permanent, the rest
/// (stores unavailable, internal) worth another attempt.
impl From<ServiceError> for JobError {
    fn from(e: ServiceError) -> Self {
        let status = e.code.http_status();
        let code = e.code.as_str();
        if (400..500).contains(&status) {
            Self::permanent(code, e.message)
        } else {
            Self::retryable(code, e.message)
        }
    }
}

/// A vector store failure: worth another attempt.
impl From<crate::vectors::VectorError> for JobError {
    fn from(e: crate::vectors::VectorError) -> Self {
        Self::retryable("vector_store", e.to_string())
    }
}

/// Deserializes a payload into a kind's type, naming the failing field.
pub fn parse_payload<T: serde::de::DeserializeOwned>(payload: &Value) -> Result<T, ServiceError> {
    serde_json::from_value(payload.clone())
        .map_err(|e| ServiceError::new(crate::ErrorCode::InvalidPayload, format!("invalid payload: {e}")))
}
