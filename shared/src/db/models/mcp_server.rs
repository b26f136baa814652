//! `mcp_servers`: a tenant's MCP servers (command or URL, roles, the tools
//! found by discovery, secrets encrypted at rest).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;
use uuid::Uuid;

use crate::db::schema::mcp_servers;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mcp_servers)]
pub struct McpServer {
    pub id: Uuid,
    pub name: String,
    pub transport: String,
    pub command: Option<String>,
    pub url: Option<String>,
    pub timeout_ms: i64,
    pub roles: Vec<String>,
    pub tools: Value,
    pub discovered_at: Option<DateTime<Utc>>,
    pub discovery_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub secrets_encrypted: Option<String>,
    pub env_keys: Vec<String>,
    pub has_bearer_token: bool,
}
