//! Waiting for a job to finish, for callers that answer inline (`wait` on
//! embeddings, search and tool calls) and for jobs that hand work to another
//! queue (chat retrieval on a worker without the vector store). It follows
//! the job's event channel, and re-reads the row at least every 250 ms in
//! case a message is lost.

use std::time::Duration;

use uuid::Uuid;

use super::Principal;
use crate::db::models::Job;
use crate::error::{ServiceError, ServiceResult};
use crate::Ctx;

/// Whose job is awaited.
#[derive(Clone, Copy)]
enum Reader<'a> {
    /// A caller: the job as `GET /v1/jobs/{id}` shows it to them.
    Caller(&'a Principal),
    /// A job of the same tenant, which queued it.
    Tenant(Uuid),
}

impl Reader<'_> {
    async fn read(self, ctx: &Ctx, id: Uuid) -> ServiceResult<Job> {
        match self {
            Self::Caller(p) => super::jobs::get(ctx, p, id).await,
            Self::Tenant(t) => super::jobs::of_tenant(ctx, t, id)
                .await?
                .ok_or_else(|| ServiceError::internal(format!("job {id} is gone"))),
        }
    }
}

/// Waits up to `wait` for job `id`; returns it as it is then, finished or
/// not.
async fn until_finished(ctx: &Ctx, id: Uuid, wait: Duration, reader: Reader<'_>) -> ServiceResult<Job> {
    use futures::StreamExt;
    let deadline = tokio::time::Instant::now() + wait;
    let mut events = ctx.broker.subscribe(&ctx.broker.job_channel(id)).await.ok().map(|s| s.boxed());
    loop {
        let job = reader.read(ctx, id).await?;
        let now = tokio::time::Instant::now();
        if job.status.is_terminal() || now >= deadline {
            return Ok(job);
        }
        let pause = (deadline - now).min(Duration::from_millis(250));
        match events.as_mut() {
            Some(events) => {
                let _ = tokio::time::timeout(pause, events.next()).await;
            }
            None => tokio::time::sleep(pause.min(Duration::from_millis(20))).await,
        }
    }
}

/// Waits up to `wait` for a job the caller may see; returns it as it is
/// then, as `GET /v1/jobs/{id}` would show it.
pub async fn wait_for(ctx: &Ctx, p: &Principal, id: Uuid, wait: Duration) -> ServiceResult<Job> {
    until_finished(ctx, id, wait, Reader::Caller(p)).await
}

/// Waits up to `wait` for job `id` of `tenant`, queued by a job of the same
/// tenant.
pub async fn wait_internal(ctx: &Ctx, tenant: Uuid, id: Uuid, wait: Duration) -> ServiceResult<Job> {
    until_finished(ctx, id, wait, Reader::Tenant(tenant)).await
}
