//! `agents`: a tenant's agent profiles (prompt, model, tools, step limit).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::agents;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = agents)]
pub struct Agent {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub system_prompt: String,
    pub model: String,
    pub temperature: f32,
    pub tools: Vec<String>,
    pub max_steps: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
