//! Group commit for submissions: `POST /v1/jobs` calls that arrive together
//! are inserted together, in one statement ([`super::insert_rows`]: the
//! jobs and their `queued` events), so concurrent clients share a round
//! trip and a commit instead of taking one each. Nothing waits for
//! company: a batch is whatever queued up while the previous insert ran.
//! A statement that fails (one bad row fails all of them) is retried row
//! by row, so only the bad row's caller gets the error.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::batcher::Batcher;
use crate::db::models::{Job, NewJob};
use crate::db::DbPool;
use crate::domain::JobStatus;
use crate::error::ServiceError;

type Answer = Result<Option<Job>, ServiceError>;

/// A job row to insert, owned (it travels to the inserting task).
#[derive(Debug, Clone)]
pub struct Submission {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub kind: &'static str,
    pub queue: &'static str,
    pub priority: i16,
    pub status: JobStatus,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub payload: Value,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
    pub callback_url: Option<String>,
}

impl Submission {
    pub fn row(&self) -> NewJob<'_> {
        NewJob {
            id: self.id,
            tenant_id: self.tenant_id,
            kind: self.kind,
            queue: self.queue,
            priority: self.priority,
            status: self.status,
            max_attempts: self.max_attempts,
            run_at: self.run_at,
            payload: &self.payload,
            idempotency_key: self.idempotency_key.as_deref(),
            request_hash: self.request_hash.as_deref(),
            callback_url: self.callback_url.as_deref(),
        }
    }
}

/// Inserts submissions, many per statement. Cheap to clone; the inserting
/// task starts on first use, in the caller's runtime.
#[derive(Clone)]
pub struct Inserter {
    pool: DbPool,
    max: usize,
    task: Arc<OnceLock<Batcher<Submission, Answer>>>,
}

impl Inserter {
    /// At most `max` rows per statement (`api.submit_batch_max`); 1 inserts
    /// each alone, on the caller's task.
    pub fn new(pool: DbPool, max: usize) -> Self {
        Self { pool, max: max.max(1), task: Arc::default() }
    }

    /// Inserts `job` and its `queued` event. `None`: the tenant already
    /// holds its idempotency key (nothing was written).
    pub async fn insert(&self, job: Submission) -> Answer {
        if self.max == 1 {
            return alone(&self.pool, &job).await;
        }
        let task = self.task.get_or_init(|| {
            let pool = self.pool.clone();
            Batcher::start(Duration::ZERO, self.max, move |batch: Vec<Submission>| {
                let pool = pool.clone();
                async move { together(&pool, &batch).await }
            })
        });
        match task.call(job.clone()).await {
            Ok(answer) => answer,
            // The task's runtime ended (a test's, say): insert here.
            Err(_) => alone(&self.pool, &job).await,
        }
    }
}

async fn alone(pool: &DbPool, job: &Submission) -> Answer {
    let mut conn = pool.get().await?;
    Ok(super::insert_row(&mut conn, &job.row()).await?)
}

async fn together(pool: &DbPool, batch: &[Submission]) -> Vec<Answer> {
    if batch.len() > 1 {
        let rows: Vec<NewJob<'_>> = batch.iter().map(Submission::row).collect();
        let inserted = match pool.get().await {
            Ok(mut conn) => super::insert_rows(&mut conn, &rows).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match inserted {
            Ok(jobs) => return jobs.into_iter().map(Ok).collect(),
            Err(e) => tracing::debug!(error = %e, rows = batch.len(), "group insert failed; inserting each alone"),
        }
    }
    let mut answers = Vec::with_capacity(batch.len());
    for job in batch {
        answers.push(alone(pool, job).await);
    }
    answers
}
