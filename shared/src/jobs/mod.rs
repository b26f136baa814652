//! The handlers of the job kinds, one file each, registered in
//! [`HANDLERS`]. This is the top of the library: a handler calls services
//! and repositories; nothing below names a handler. The kinds themselves
//! (arguments, queue, attempts, timeout, uniqueness) are declared in
//! [`crate::kinds`], where services queue them.

pub mod bulk;
pub mod chat;
mod context;
pub mod diagnostic;
pub mod embed_document;
pub mod embed_texts;
pub mod ingest_document;
pub mod mcp_discover;
pub mod openai_batch_finish;
pub mod openai_batch_start;
pub mod purge_vectors;
pub mod reconcile;
pub mod reindex;
pub mod retention;
pub mod search;
pub mod tool_call;
pub mod webhook_delivery;

use futures::future::BoxFuture;
use serde_json::Value;

pub use crate::queue::JobError;
pub use context::{JobContext, ProgressReporter};

use crate::kinds::{self, JobArgs, Kind};

/// Runs one attempt of a job, from its stored payload.
pub type RunFn = for<'a> fn(&'a JobContext, Value) -> BoxFuture<'a, Result<Value, JobError>>;

/// A kind and the function that runs it.
pub struct Handler {
    pub kind: &'static Kind,
    pub run: RunFn,
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler").field("kind", &self.kind.name).finish()
    }
}

/// Decodes a stored payload into a kind's arguments; a payload that does not
/// parse fails the job for good.
pub fn decode<A: JobArgs>(payload: Value) -> Result<A, JobError> {
    serde_json::from_value(payload).map_err(|e| JobError::permanent("invalid_payload", e.to_string()))
}

/// A [`Handler`] for arguments `$args`, run by `$run(&JobContext, $args)`.
macro_rules! handler {
    ($args:ty, $run:path) => {
        Handler {
            kind: &<$args as JobArgs>::KIND,
            run: |ctx, payload| {
                Box::pin(async move {
                    let args: $args = decode(payload)?;
                    $run(ctx, args).await
                })
            },
        }
    };
}

/// The registered handlers, one per declared kind.
pub static HANDLERS: &[Handler] = &[
    handler!(kinds::diagnostic::Diagnostic, diagnostic::run),
    handler!(kinds::ingest_document::IngestDocument, ingest_document::run),
    handler!(kinds::embed_document::EmbedDocument, embed_document::run),
    handler!(kinds::purge_vectors::PurgeVectors, purge_vectors::run),
    handler!(kinds::bulk::BulkPayload, bulk::run),
    handler!(kinds::embed_texts::EmbedTexts, embed_texts::run),
    handler!(kinds::search::SearchRequest, search::run),
    handler!(kinds::reindex::Reindex, reindex::run),
    handler!(kinds::reconcile::Reconcile, reconcile::run),
    handler!(kinds::chat::ChatTurn, chat::run),
    handler!(kinds::tool_call::ToolCall, tool_call::run),
    handler!(kinds::mcp_discover::McpDiscover, mcp_discover::run),
    handler!(kinds::webhook_delivery::DeliverWebhook, webhook_delivery::run),
    handler!(kinds::openai_batch::BatchStart, openai_batch_start::run),
    handler!(kinds::openai_batch::BatchFinish, openai_batch_finish::run),
    handler!(kinds::retention::Retention, retention::run),
];

/// The handler of the kind called `name`, if registered.
pub fn find(name: &str) -> Option<&'static Handler> {
    HANDLERS.iter().find(|h| h.kind.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_kind_has_one_handler() {
        for kind in kinds::ALL {
            let n = HANDLERS.iter().filter(|h| h.kind.name == kind.name).count();
            assert_eq!(n, 1, "{} has {n} handlers", kind.name);
        }
        assert_eq!(HANDLERS.len(), kinds::ALL.len());
    }
}
