//! `purge_vectors` (internal, queue `embed`): removes deleted documents'
//! vectors. Written in the same transaction that deletes the documents'
//! rows (so it cannot be lost), and run by the process that owns the
//! vector store. Searches stop returning a deleted document at once: every
//! hit is read back from Postgres, where its chunks are gone.
//!
//! Idempotent: deleting by document filter twice deletes nothing the
//! second time.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{parse_payload, JobContext, JobError, KindSpec};
use crate::error::ServiceError;

pub const NAME: &str = "purge_vectors";
pub const QUEUE: &str = "embed";

pub const SPEC: KindSpec = KindSpec {
    name: NAME,
    queue: QUEUE,
    default_max_attempts: 10,
    timeout: Duration::from_secs(10 * 60),
    admin_only: true,
    handles_cancel: false,
    internal: true,
    backoff: None,
    validate,
    run: |ctx, payload| Box::pin(run(ctx, payload)),
};

#[derive(Debug, Deserialize)]
struct Payload {
    document_ids: Vec<Uuid>,
}

fn validate(payload: &Value) -> Result<(), ServiceError> {
    parse_payload::<Payload>(payload).map(|_| ())
}

async fn run(ctx: &JobContext, payload: Value) -> Result<Value, JobError> {
    let p: Payload =
        serde_json::from_value(payload).map_err(|e| JobError::permanent("invalid_payload", e.to_string()))?;
    let vectors = ctx.ctx.vectors()?;
    let n = p.document_ids.len();
    crate::services::indexing::purge_documents(&ctx.ctx, vectors, ctx.tenant_id, p.document_ids).await?;
    Ok(json!({ "documents": n }))
}
