//! `tool_call` (internal, queue `tool`): one `POST /v1/tools/{name}/invoke`.
//! The result is the execution (`result` or `error`, cache hit, duration,
//! execution id); a tool error fails the job with the tool's code.
//!
//! Idempotent: a job run twice finds its logged execution and returns it
//! instead of calling the tool again (tools may act on the world).

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{parse_payload, JobContext, JobError, KindSpec};
use crate::domain::Role;
use crate::error::ServiceError;
use crate::services::tools;
use crate::tools::Caller;

pub const NAME: &str = "tool_call";
pub const QUEUE: &str = "tool";

pub const SPEC: KindSpec = KindSpec {
    name: NAME,
    queue: QUEUE,
    // A tool may act: one attempt, unless the worker is lost before it ran.
    default_max_attempts: 1,
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
    tool: String,
    arguments: Value,
    role: Role,
}

fn validate(payload: &Value) -> Result<(), ServiceError> {
    parse_payload::<Payload>(payload).map(|_| ())
}

async fn run(ctx: &JobContext, payload: Value) -> Result<Value, JobError> {
    let p: Payload =
        serde_json::from_value(payload).map_err(|e| JobError::permanent("invalid_payload", e.to_string()))?;
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
