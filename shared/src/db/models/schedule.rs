//! `schedules` and `schedule_fires`: a tenant's recurring jobs, and the job
//! each fire made.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::{schedule_fires, schedules};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = schedules)]
pub struct Schedule {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub cron: String,
    pub time_zone: String,
    pub kind: String,
    pub payload: serde_json::Value,
    pub priority: i16,
    pub max_attempts: Option<i32>,
    pub callback_url: Option<String>,
    pub enabled: bool,
    pub misfire: String,
    pub misfire_cap: i32,
    pub ends_at: Option<DateTime<Utc>>,
    pub next_fire_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = schedule_fires)]
pub struct ScheduleFire {
    pub schedule_id: Uuid,
    pub fire_at: DateTime<Utc>,
    pub job_id: Uuid,
    pub misfired: bool,
    pub created_at: DateTime<Utc>,
}
