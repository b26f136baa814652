//! `search` (internal, queue `search`): one `POST /v1/search`, run by the
//! process that owns the vector store; the answer is the job's result.
//!
//! Idempotent: it reads and writes nothing but the embedding cache.

use std::time::Duration;

use serde_json::Value;

use super::{parse_payload, JobContext, JobError, KindSpec};
use crate::error::ServiceError;
use crate::services::search::{self, SearchRequest};

pub const NAME: &str = "search";
pub const QUEUE: &str = "search";

pub const SPEC: KindSpec = KindSpec {
    name: NAME,
    queue: QUEUE,
    default_max_attempts: 2,
    timeout: Duration::from_secs(60),
    admin_only: true,
    handles_cancel: false,
    internal: true,
    backoff: Some(|_, _| Duration::from_millis(100)),
    validate,
    run: |ctx, payload| Box::pin(run(ctx, payload)),
};

fn validate(payload: &Value) -> Result<(), ServiceError> {
    search::validate(&parse_payload::<SearchRequest>(payload)?)
}

async fn run(ctx: &JobContext, payload: Value) -> Result<Value, JobError> {
    let req: SearchRequest =
        serde_json::from_value(payload).map_err(|e| JobError::permanent("invalid_payload", e.to_string()))?;
    let vectors = ctx.ctx.vectors()?;
    let response = search::run(&ctx.ctx, vectors, ctx.tenant_id, &req).await?;
    serde_json::to_value(response).map_err(|e| JobError::permanent("internal", e.to_string()))
}
