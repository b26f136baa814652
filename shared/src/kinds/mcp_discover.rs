//! `mcp_discover` (internal, queue `tool`): runs `tools/list` on one MCP
//! server and stores the tools it declares.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{JobArgs, Kind};
use crate::domain::Queue;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct McpDiscover {
    pub server_id: Uuid,
}

impl JobArgs for McpDiscover {
    const KIND: Kind = Kind {
        backoff: Some(|_, _| Duration::from_secs(1)),
        ..Kind::internal::<Self>("mcp_discover", Queue::Tool, 2, Duration::from_secs(10 * 60))
    };
}
