//! Handler of `search` ([`crate::kinds::search`]): one `POST /v1/search`,
//! run by the process that owns the vector store; the answer is the job's
//! result.
//!
//! Idempotent: it reads and writes nothing but the embedding cache.

use serde_json::Value;

use super::{JobContext, JobError};
use crate::services::search::{self, SearchRequest};

pub async fn run(ctx: &JobContext, req: SearchRequest) -> Result<Value, JobError> {
    let vectors = ctx.ctx.vectors()?;
    let response = search::run(&ctx.ctx, vectors, ctx.tenant_id, &req).await?;
    serde_json::to_value(response).map_err(|e| JobError::permanent("internal", e.to_string()))
}
