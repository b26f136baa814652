//! `llm_usage`: one row per model call (tokens, cost, latency, cache hit,
//! or the error code of a failed call).

use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::llm_usage;

/// A call that answered.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = llm_usage)]
pub struct NewLlmUsage {
    pub tenant_id: Uuid,
    pub job_id: Option<Uuid>,
    pub message_id: Option<Uuid>,
    pub provider: String,
    pub model: String,
    pub prompt_tokens: i32,
    pub completion_tokens: i32,
    pub cost_usd: f64,
    pub latency_ms: i32,
    pub ttft_ms: Option<i32>,
    pub cache_hit: bool,
}
