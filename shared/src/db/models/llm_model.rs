//! `llm_models`: a tenant's own model aliases.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::llm_models;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = llm_models)]
pub struct LlmModel {
    pub alias: String,
    pub provider: String,
    pub name: String,
    pub context_tokens: i32,
    pub input_usd_per_mtok: f64,
    pub output_usd_per_mtok: f64,
    pub fallbacks: Vec<String>,
    pub updated_at: DateTime<Utc>,
}
