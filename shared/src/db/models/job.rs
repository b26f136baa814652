//! `jobs`: the source of truth of every job.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::jobs;
use crate::domain::{ErrorView, JobStatus, JobSummary, JobView, Progress};

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = jobs)]
pub struct Job {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub kind: String,
    pub queue: String,
    pub priority: i16,
    pub status: JobStatus,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub payload: serde_json::Value,
    pub progress: Option<serde_json::Value>,
    pub result: Option<serde_json::Value>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
    pub callback_url: Option<String>,
    pub dispatch_seq: i32,
    pub dispatched_at: Option<DateTime<Utc>>,
    pub worker: Option<String>,
    pub cancel_requested_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = jobs)]
pub struct NewJob<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub kind: &'a str,
    pub queue: &'a str,
    pub priority: i16,
    pub status: JobStatus,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub payload: &'a serde_json::Value,
    pub idempotency_key: Option<&'a str>,
    pub request_hash: Option<&'a str>,
    pub callback_url: Option<&'a str>,
}

impl Job {
    pub fn summary(&self) -> JobSummary {
        JobSummary {
            id: self.id,
            kind: self.kind.clone(),
            queue: self.queue.clone(),
            status: self.status,
            priority: self.priority,
            run_at: self.run_at,
            created_at: self.created_at,
        }
    }

    pub fn view(&self) -> JobView {
        let error = match (&self.error_code, &self.error_message) {
            (Some(code), msg) => Some(ErrorView { code: code.clone(), message: msg.clone().unwrap_or_default() }),
            _ => None,
        };
        JobView {
            id: self.id,
            kind: self.kind.clone(),
            queue: self.queue.clone(),
            status: self.status,
            priority: self.priority,
            attempts: self.attempts,
            max_attempts: self.max_attempts,
            run_at: self.run_at,
            payload: self.payload.clone(),
            progress: self.progress.clone().and_then(|p| serde_json::from_value::<Progress>(p).ok()),
            result: self.result.clone(),
            error,
            idempotency_key: self.idempotency_key.clone(),
            callback_url: self.callback_url.clone(),
            cancel_requested: self.cancel_requested_at.is_some(),
            created_at: self.created_at,
            started_at: self.started_at,
            heartbeat_at: self.heartbeat_at,
            finished_at: self.finished_at,
            depends_on: None,
            dependents: None,
        }
    }
}
