//! Transport-free operations (Qdrant's `do_*` style): HTTP handlers and
//! workers call these; none of them knows about HTTP.

pub mod audit;
pub mod auth;
pub mod bulk;
pub mod documents;
pub mod embeddings;
pub mod events;
pub mod indexing;
pub mod jobs;
pub mod lifecycle;
pub mod search;
pub mod tags;
pub mod webhooks;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::db::models::{JobEvent, NewJobEvent};
use crate::db::schema::job_events;
use crate::domain::JobStatus;

/// Who is calling: the tenant and role of a verified API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub tenant_id: Uuid,
    pub key_id: Uuid,
    pub role: crate::domain::Role,
}

impl Principal {
    /// Refuses (`forbidden`) a caller whose role is below `needed`; `what`
    /// names the action in the message.
    pub fn require(&self, needed: crate::domain::Role, what: &str) -> crate::error::ServiceResult<()> {
        if self.role.allows(needed) {
            return Ok(());
        }
        Err(crate::ServiceError::new(
            crate::ErrorCode::Forbidden,
            format!("{what} needs a key with the {} role", needed.as_str()),
        ))
    }
}

/// Appends one entry to a job's history, inside the caller's transaction.
pub(crate) async fn record_event(
    conn: &mut diesel_async::AsyncPgConnection,
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
