//! `job_events`: each job's history of state changes, progress and errors.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::job_events;
use crate::domain::{JobEventView, JobStatus};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = job_events)]
pub struct JobEvent {
    pub id: i64,
    pub job_id: Uuid,
    pub kind: String,
    pub status: Option<String>,
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = job_events)]
pub struct NewJobEvent {
    pub job_id: Uuid,
    pub kind: &'static str,
    pub status: Option<String>,
    pub data: serde_json::Value,
}

impl JobEvent {
    pub fn view(&self) -> JobEventView {
        JobEventView {
            id: self.id,
            job_id: self.job_id,
            kind: self.kind.clone(),
            status: self.status.as_deref().and_then(JobStatus::parse),
            data: self.data.clone(),
            created_at: self.created_at,
        }
    }
}
