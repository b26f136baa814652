//! Handler of `mcp_discover` ([`crate::kinds::mcp_discover`]): runs
//! `tools/list` on one MCP server and stores the tools it declares,
//! replacing the previous list. A failure is stored on the server too
//! (`discovery_error`); the tools found last time stay until a discovery
//! succeeds.
//!
//! Idempotent: it only overwrites the server's list with the answer.

use serde_json::{json, Value};

use super::{JobContext, JobError};
use crate::kinds::mcp_discover::McpDiscover;

pub async fn run(ctx: &JobContext, p: McpDiscover) -> Result<Value, JobError> {
    match crate::services::mcp_servers::discover(&ctx.ctx, ctx.tenant_id, p.server_id).await {
        Ok(tools) => Ok(json!({ "server_id": p.server_id, "tools": tools })),
        Err(e) if e.code == "mcp_unavailable" || e.code == "tool_timeout" || e.code == "database" => {
            Err(JobError::retryable(&e.code, e.message))
        }
        Err(e) => Err(JobError::permanent(&e.code, e.message)),
    }
}
