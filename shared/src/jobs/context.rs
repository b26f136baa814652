//! What a running job can see and do: its identity, its attempt, a way to
//! report progress, and the token that says it was cancelled.

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::domain::Progress;

/// Records a job's progress (in Postgres and on its event channel).
pub trait ProgressReporter: Send + Sync {
    fn report(&self, job_id: Uuid, progress: Progress) -> BoxFuture<'_, anyhow::Result<()>>;
}

/// Handed to a job's `run`.
#[derive(Clone)]
pub struct JobContext {
    pub job_id: Uuid,
    pub tenant_id: Uuid,
    /// 1 for the first attempt.
    pub attempt: i32,
    /// The job's last attempt; `attempt == max_attempts` is the last try.
    pub max_attempts: i32,
    /// Postgres, Redis and settings, for kinds that need them.
    pub ctx: crate::Ctx,
    /// Cancelled when the job is cancelled or its worker shuts down.
    pub cancel: CancellationToken,
    pub progress: Arc<dyn ProgressReporter>,
}

impl JobContext {
    /// Reports progress; a failure to record it is logged, not fatal.
    pub async fn report(&self, progress: Progress) {
        if let Err(e) = self.progress.report(self.job_id, progress).await {
            tracing::warn!(job_id = %self.job_id, error = %e, "progress not recorded");
        }
    }
}
