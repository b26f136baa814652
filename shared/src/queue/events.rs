//! A job's history: one `job_events` row per state change or progress
//! report, written in the transaction that made it.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::models::{JobEvent, NewJobEvent};
use crate::db::schema::job_events;
use crate::domain::JobStatus;

/// Appends one entry to a job's history, inside the caller's transaction.
pub async fn record_event(
    conn: &mut AsyncPgConnection,
    job_id: Uuid,
    kind: &'static str,
    status: Option<JobStatus>,
    data: serde_json::Value,
) -> QueryResult<JobEvent> {
    diesel::insert_into(job_events::table)
        .values(NewJobEvent { job_id, kind, status: status.map(|s| s.as_str().to_string()), data })
        .returning(JobEvent::as_returning())
        .get_result(conn)
        .await
}
