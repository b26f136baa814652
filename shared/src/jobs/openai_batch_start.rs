//! Handler of `openai_batch_start` ([`crate::kinds::openai_batch`]): reads
//! the batch's input file twice, streamed (never whole in memory): first
//! to validate every line (a malformed file fails the batch, as OpenAI's
//! validation does), then to turn the lines into jobs, a thousand lines per
//! transaction ([`crate::services::batch_lines::start`]).
//!
//! Idempotent: a second run resumes after the last line committed; a batch
//! no longer `validating` or `in_progress` is left alone.

use serde_json::{json, Value};

use super::{JobContext, JobError};
use crate::kinds::openai_batch::BatchStart;

pub async fn run(ctx: &JobContext, p: BatchStart) -> Result<Value, JobError> {
    let started = crate::services::batch_lines::start(&ctx.ctx, ctx.tenant_id, p.batch_id).await?;
    Ok(json!({ "status": started.status, "lines": started.lines }))
}
