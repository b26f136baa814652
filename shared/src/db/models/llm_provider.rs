//! `llm_providers`: a tenant's own model providers (key encrypted at rest).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::llm_providers;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = llm_providers)]
pub struct LlmProvider {
    pub name: String,
    pub kind: String,
    pub base_url: String,
    pub api_key_encrypted: Option<String>,
    pub api_key_hint: Option<String>,
    pub timeout_ms: i64,
    pub updated_at: DateTime<Utc>,
}
