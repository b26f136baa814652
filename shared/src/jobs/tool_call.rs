//! Handler of `tool_call` ([`crate::kinds::tool_call`]): one
//! `POST /v1/tools/{name}/invoke`. The result is the execution (`result`
//! or `error`, cache hit, duration, execution id); a tool error fails the
//! job with the tool's code.
//!
//! Idempotent: a job run twice finds its logged execution and returns it
//! instead of calling the tool again (tools may act on the world).

use serde_json::{json, Value};

use super::{JobContext, JobError};
use crate::kinds::tool_call::ToolCall;
use crate::services::tools;
use crate::tools::Caller;

pub async fn run(ctx: &JobContext, p: ToolCall) -> Result<Value, JobError> {
    let app = &ctx.ctx;
    if let Some(done) = tools::logged_for_job(app, ctx.job_id).await? {
        return match done.error_code {
            None => Ok(json!({ "execution_id": done.id, "tool": done.tool, "result": done.result,
                "cache_hit": done.cache_hit, "duration_ms": done.duration_ms })),
            Some(code) => Err(JobError::permanent(&code, done.error_message.unwrap_or_default())),
        };
    }
    let tool = tools::find(app, ctx.tenant_id, &p.tool).await?;
    let caller = Caller { tenant_id: ctx.tenant_id, role: p.role };
    let execution = tools::execute(app, caller, Some(ctx.job_id), tool.as_ref(), p.arguments).await?;
    match &execution.result {
        Ok(_) => Ok(execution.to_json(&p.tool)),
        Err(e) => Err(JobError::permanent(&e.code, e.message.clone())),
    }
}
