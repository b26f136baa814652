//! Tools: how models act. Each tool has a name, a description, a JSON
//! Schema for its arguments, a time limit, a result-cache TTL and the roles
//! that may call it ([`ToolSpec`]). The built-ins live one per file; MCP
//! servers' tools ([`mcp`]) join them per tenant as `mcp.<server>.<tool>`.
//! The built-ins here need nothing above this layer; `knowledge_search`,
//! which runs the search service, and the agent's function-calling loop
//! live with [`crate::services::tools`], which also validates, runs,
//! caches and logs calls.

pub mod calculator;
pub mod conversation_history;
pub mod current_time;
pub mod http_fetch;
pub mod mcp;
pub mod mcp_sessions;
pub mod schema;

use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

use crate::domain::Role;
use crate::Ctx;

/// What the registry says about a tool.
#[derive(Debug, Clone)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments (an object).
    pub parameters: Value,
    pub timeout: Duration,
    /// Identical calls within this long are answered from the cache;
    /// `None`: never cached (the answer changes, or the call acts).
    pub cache_ttl: Option<Duration>,
    /// Roles that may call it.
    pub roles: Vec<Role>,
}

impl ToolSpec {
    pub fn allows(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// Every role: for tools that only read the tenant's own data.
pub const ALL_ROLES: &[Role] = &[Role::Viewer, Role::User, Role::Admin];

/// How a tool call failed: a stable code and a message for the caller
/// (and, inside chat, for the model).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ToolError {
    pub code: String,
    pub message: String,
}

impl ToolError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self { code: code.into(), message: message.into() }
    }
}

/// Who a call runs for.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub tenant_id: Uuid,
    pub role: Role,
}

/// One tool.
#[async_trait::async_trait]
pub trait Tool: Send + Sync {
    fn spec(&self) -> &ToolSpec;
    /// Runs with arguments already checked against the schema.
    async fn call(&self, ctx: &Ctx, caller: Caller, args: Value) -> Result<Value, ToolError>;
}

/// A built-in's spec from its parts (every built-in times out in 30 s at
/// most; `http_fetch` has its own, shorter limit too).
pub(crate) fn spec(
    name: &str,
    description: &str,
    parameters: Value,
    cache_ttl: Option<u64>,
    roles: &[Role],
) -> ToolSpec {
    ToolSpec {
        name: name.into(),
        description: description.into(),
        parameters,
        timeout: Duration::from_secs(30),
        cache_ttl: cache_ttl.map(Duration::from_secs),
        roles: roles.to_vec(),
    }
}
