//! Handler of `openai_batch_finish` ([`crate::kinds::openai_batch`]): once
//! every job of the batch has ended, writes the output and error files (a
//! thousand lines per read, through scratch files, never whole in memory)
//! and ends the batch, with its `batch.completed` event, in one
//! transaction ([`crate::services::batch_lines::finish`]).
//!
//! Idempotent: a batch already ended is left alone; a second run after a
//! crash rewrites the same blobs before the ending commits.

use serde_json::{json, Value};

use super::{JobContext, JobError};
use crate::kinds::openai_batch::BatchFinish;

pub async fn run(ctx: &JobContext, p: BatchFinish) -> Result<Value, JobError> {
    let status = crate::services::batch_lines::finish(&ctx.ctx, ctx.tenant_id, p.batch_id).await?;
    Ok(json!({ "status": status }))
}
