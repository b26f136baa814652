//! `mcp_discover` (internal, queue `tool`): runs `tools/list` on one MCP
//! server and stores the tools it declares, replacing the previous list.
//! A failure is stored on the server too (`discovery_error`); the tools
//! found last time stay until a discovery succeeds.
//!
//! Idempotent: it only overwrites the server's list with the answer.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{parse_payload, JobContext, JobError, KindSpec};
use crate::error::ServiceError;

pub const NAME: &str = "mcp_discover";
pub const QUEUE: &str = "tool";

pub const SPEC: KindSpec = KindSpec {
    name: NAME,
    queue: QUEUE,
    default_max_attempts: 2,
    timeout: Duration::from_secs(10 * 60),
    admin_only: true,
    handles_cancel: false,
    internal: true,
    backoff: Some(|_, _| Duration::from_secs(1)),
    validate,
    run: |ctx, payload| Box::pin(run(ctx, payload)),
};

#[derive(Debug, Deserialize)]
struct Payload {
    server_id: Uuid,
}

fn validate(payload: &Value) -> Result<(), ServiceError> {
    parse_payload::<Payload>(payload).map(|_| ())
}

async fn run(ctx: &JobContext, payload: Value) -> Result<Value, JobError> {
    let p: Payload =
        serde_json::from_value(payload).map_err(|e| JobError::permanent("invalid_payload", e.to_string()))?;
    match crate::services::mcp_servers::discover(&ctx.ctx, ctx.tenant_id, p.server_id).await {
        Ok(tools) => Ok(json!({ "server_id": p.server_id, "tools": tools })),
        Err(e) if e.code == "mcp_unavailable" || e.code == "tool_timeout" || e.code == "database" => {
            Err(JobError::retryable(&e.code, e.message))
        }
        Err(e) => Err(JobError::permanent(&e.code, e.message)),
    }
}
