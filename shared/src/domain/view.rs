//! What clients see of a job: the summary answered on submit, the full
//! view, events and pages.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::JobStatus;

/// How far a running job has come.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Progress {
    /// The stage the job is in, e.g. `extracting`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    pub done: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A job's error: a stable code and a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorView {
    pub code: String,
    pub message: String,
}

/// The answer to a submission: enough to poll.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobSummary {
    pub id: Uuid,
    pub kind: String,
    pub queue: String,
    pub status: JobStatus,
    pub priority: i16,
    pub run_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// The full view of a job.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    pub id: Uuid,
    pub kind: String,
    pub queue: String,
    pub status: JobStatus,
    pub priority: i16,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub payload: serde_json::Value,
    pub progress: Option<Progress>,
    pub result: Option<serde_json::Value>,
    pub error: Option<ErrorView>,
    pub idempotency_key: Option<String>,
    pub callback_url: Option<String>,
    pub cancel_requested: bool,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The jobs this one waits for (on `GET /v1/jobs/{id}` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<Uuid>>,
    /// The jobs that wait for this one (on `GET /v1/jobs/{id}` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependents: Option<Vec<Uuid>>,
}

/// One entry of a job's history.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobEventView {
    pub id: i64,
    pub job_id: Uuid,
    /// `state`, `progress` or `error`.
    pub kind: String,
    pub status: Option<JobStatus>,
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// A page of jobs, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobPage {
    pub items: Vec<JobView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}
