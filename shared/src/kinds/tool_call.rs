//! `tool_call` (internal, queue `tool`): one `POST /v1/tools/{name}/invoke`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{JobArgs, Kind};
use crate::domain::{Queue, Role};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolCall {
    pub tool: String,
    pub arguments: Value,
    /// The caller's role: the tool runs with it.
    pub role: Role,
}

impl JobArgs for ToolCall {
    // A tool may act: one attempt, unless the worker is lost before it ran.
    const KIND: Kind = Kind::internal::<Self>("tool_call", Queue::Tool, 1, Duration::from_secs(10 * 60));

    fn runs_as(&self) -> Option<Role> {
        Some(self.role)
    }
}
