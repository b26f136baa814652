//! Job declarations: one typed argument struct per kind, with the kind's
//! name, queue, attempts, timeout and uniqueness beside it (River's
//! `JobArgs`, crates.io's `BackgroundJob`).
//!
//! Anyone may build and queue these: services queue typed arguments through
//! [`crate::queue`], and never name a handler. The handlers that run them
//! sit at the top, in [`crate::jobs`]. A kind's name is stored with every
//! job: never rename one without keeping the old name as an alias.

pub mod bulk;
pub mod chat;
pub mod diagnostic;
pub mod embed_document;
pub mod embed_texts;
pub mod ingest_document;
pub mod mcp_discover;
pub mod openai_batch;
pub mod purge_vectors;
pub mod reconcile;
pub mod reindex;
pub mod retention;
pub mod search;
pub mod tool_call;
pub mod webhook_delivery;

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::config::Settings;
use crate::domain::{Queue, Role};
use crate::error::{ErrorCode, ServiceError, ServiceResult};

/// The typed arguments of one job kind.
pub trait JobArgs: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The kind these arguments belong to.
    const KIND: Kind;

    /// Checks the arguments before a job is accepted; the default accepts
    /// anything that parses.
    fn check(&self) -> ServiceResult<()> {
        Ok(())
    }

    /// The role the job acts with, when its arguments carry one (a chat
    /// turn's agent tools, a tool call, a bulk operation over a filter):
    /// retrying it needs a caller at least as privileged.
    fn runs_as(&self) -> Option<Role> {
        None
    }

    /// The arguments as stored in the job row.
    fn to_payload(&self) -> Value {
        serde_json::to_value(self).expect("job arguments serialize")
    }
}

/// What the queue machinery and the API need to know about a kind, without
/// its handler.
#[derive(Clone, Copy)]
pub struct Kind {
    /// The stable name, as clients send it and as job rows store it.
    pub name: &'static str,
    /// The queue its jobs go to.
    pub queue: Queue,
    /// Attempts of a job that names none.
    pub max_attempts: i32,
    /// One attempt is cut off after this long (error code `timeout`).
    pub timeout: Duration,
    /// Only admin keys may submit it.
    pub admin_only: bool,
    /// It acts on every tenant's data (the shared vector collections): only
    /// admins of `api.operator_tenant` may submit it.
    pub operator: bool,
    /// Created by Chorus itself, never submitted through the API, and
    /// reporting no webhook events of its own.
    pub internal: bool,
    /// At most one job of the kind per tenant is open at a time: queueing
    /// another while one is `queued`, `retrying` or `running` returns that
    /// one (jobs Chorus queues itself; a client's submit is not deduplicated
    /// but by its idempotency key).
    pub unique: bool,
    /// The handler watches its cancel token itself and stops at a clean
    /// point; otherwise the runner drops the attempt when it is cancelled.
    pub handles_cancel: bool,
    /// The wait before the retry after attempt `n`, if the kind has its own
    /// schedule; `None` uses `retry.*`.
    pub backoff: Option<fn(&Settings, i32) -> Duration>,
    /// After this many rescues from a lost worker (`worker_lost`), the job
    /// is `dead` with `poison_job` instead of handed to the next worker: a
    /// job that crashes its process must not take the cluster down one
    /// retry at a time.
    pub rescued_max: i32,
    /// Parses and checks a payload before the job is accepted.
    pub validate: fn(&Value) -> ServiceResult<()>,
    /// The role a stored payload acts with ([`JobArgs::runs_as`]).
    pub runs_as: fn(&Value) -> Option<Role>,
}

impl Kind {
    /// Rescues from a lost worker a job gets unless its kind says otherwise.
    pub const RESCUED_MAX: i32 = 3;

    /// An internal kind of `A` on `queue`: admin-only, not unique, no
    /// cancel handling, the default backoff. Override fields with `..`.
    pub const fn internal<A: JobArgs>(name: &'static str, queue: Queue, max_attempts: i32, timeout: Duration) -> Self {
        Self {
            name,
            queue,
            max_attempts,
            timeout,
            admin_only: true,
            operator: false,
            internal: true,
            unique: false,
            handles_cancel: false,
            backoff: None,
            rescued_max: Self::RESCUED_MAX,
            validate: validate_as::<A>,
            runs_as: runs_as::<A>,
        }
    }
}

impl std::fmt::Debug for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kind").field("name", &self.name).field("queue", &self.queue).finish()
    }
}

/// Every declared kind.
pub static ALL: &[&Kind] = &[
    &diagnostic::Diagnostic::KIND,
    &ingest_document::IngestDocument::KIND,
    &embed_document::EmbedDocument::KIND,
    &purge_vectors::PurgeVectors::KIND,
    &bulk::BulkPayload::KIND,
    &embed_texts::EmbedTexts::KIND,
    &search::SearchRequest::KIND,
    &reindex::Reindex::KIND,
    &reconcile::Reconcile::KIND,
    &chat::ChatTurn::KIND,
    &tool_call::ToolCall::KIND,
    &mcp_discover::McpDiscover::KIND,
    &webhook_delivery::DeliverWebhook::KIND,
    &openai_batch::BatchStart::KIND,
    &openai_batch::BatchFinish::KIND,
    &retention::Retention::KIND,
];

/// The kind called `name`, if declared.
pub fn find(name: &str) -> Option<&'static Kind> {
    ALL.iter().copied().find(|k| k.name == name)
}

/// Deserializes a payload into `T`, naming the failing field.
pub fn parse<T: DeserializeOwned>(payload: &Value) -> ServiceResult<T> {
    serde_json::from_value(payload.clone())
        .map_err(|e| ServiceError::new(ErrorCode::InvalidPayload, format!("invalid payload: {e}")))
}

/// The role a payload of `A` acts with; none when it does not parse.
pub fn runs_as<A: JobArgs>(payload: &Value) -> Option<Role> {
    serde_json::from_value::<A>(payload.clone()).ok().and_then(|a| a.runs_as())
}

/// Parses a payload as `A` and checks it.
pub fn validate_as<A: JobArgs>(payload: &Value) -> ServiceResult<()> {
    parse::<A>(payload)?.check()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        for (i, k) in ALL.iter().enumerate() {
            assert!(ALL[..i].iter().all(|o| o.name != k.name), "{} declared twice", k.name);
            assert_eq!(find(k.name).map(|f| f.name), Some(k.name));
        }
        assert!(find("nope").is_none());
    }
}
