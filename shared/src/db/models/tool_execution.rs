//! `tool_executions`: the log of tool calls (arguments, result or error,
//! duration, cache hit), one row per call.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;
use uuid::Uuid;

use crate::db::schema::tool_executions;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tool_executions)]
pub struct ToolExecution {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub job_id: Option<Uuid>,
    pub tool: String,
    pub arguments: Value,
    pub result: Option<Value>,
    pub result_truncated: bool,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub duration_ms: i32,
    pub cache_hit: bool,
    pub created_at: DateTime<Utc>,
}
