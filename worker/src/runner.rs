//! One message, one attempt: claim the job in Postgres (through the
//! process's claimer, batched with the messages that came with it), run it
//! with a heartbeat, a timeout, panic catching and cancellation, record how
//! it ended (successes through the batch completer), publish the events
//! and nudge the dispatcher to refill the queue.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use chorus_shared::db::models::Job;
use chorus_shared::db::DbPool;
use chorus_shared::domain::{JobStatus, Progress};
use chorus_shared::jobs::{self, JobContext, ProgressReporter};
use chorus_shared::queue::lifecycle::{self, Beat, Outcome};
use chorus_shared::queue::{JobError, JobMessage};
use chorus_shared::services::jobs as jobs_service;
use chorus_shared::Ctx;
use futures::future::BoxFuture;
use futures::FutureExt;
use tracing::Instrument;
use uuid::Uuid;

use crate::inflight::StopReason;
use crate::WorkerState;

/// Writes progress for the attempt holding `dispatch_seq`.
struct Reporter {
    ctx: Ctx,
    dispatch_seq: i32,
}

impl ProgressReporter for Reporter {
    fn report(&self, job_id: Uuid, progress: Progress) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let ctx = &self.ctx;
            if let Some(t) = lifecycle::progress(&ctx.pool, &ctx.settings, job_id, self.dispatch_seq, &progress).await?
            {
                ctx.broker.publish_event(&t.event.view()).await;
                if t.deliveries > 0 {
                    jobs_service::dispatch_webhooks(ctx);
                }
            }
            Ok(())
        })
    }
}

/// Handles one queue message. Never panics and never returns an error:
/// whatever happens is recorded on the job.
pub async fn run_message(state: &Arc<WorkerState>, msg: JobMessage) {
    let claimed = match state.claimer.claim(msg.clone()).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            tracing::debug!(job_id = %msg.job_id, seq = msg.dispatch_seq, "stale message dropped");
            return;
        }
        Err(e) => {
            // The job stays dispatched; the rescuer's redispatch picks it up.
            tracing::error!(job_id = %msg.job_id, error = %e, "claim failed");
            return;
        }
    };
    let job = claimed.job;
    let span = tracing::info_span!("job", job_id = %job.id, kind = %job.kind, attempt = job.attempts);
    run_attempt(state, job).instrument(span).await;
}

async fn run_attempt(state: &Arc<WorkerState>, job: Job) {
    let ctx = &state.ctx;
    let m = &state.ctx.metrics;
    if let Some(started) = job.started_at {
        let wait = (started - job.run_at).to_std().unwrap_or_default();
        m.job_queue_wait_seconds.with_label_values(&[&job.kind]).observe(wait.as_secs_f64());
    }
    m.jobs_in_flight.inc();
    let token = state.inflight.start(job.id);
    let heartbeat = tokio::spawn(heartbeat_loop(
        state.ctx.pool.clone(),
        state.inflight.clone(),
        job.id,
        job.dispatch_seq,
        ctx.settings.worker.heartbeat(),
        give_up_after(&ctx.settings.worker),
    ));
    let started = Instant::now();
    let handler = jobs::find(&job.kind);
    let result = match handler {
        None => {
            Some(Outcome::Failed(JobError::permanent("unknown_kind", format!("no kind {:?} in this worker", job.kind))))
        }
        Some(handler) => {
            let spec = handler.kind;
            let jctx = JobContext {
                job_id: job.id,
                tenant_id: job.tenant_id,
                attempt: job.attempts,
                max_attempts: job.max_attempts,
                ctx: ctx.clone(),
                cancel: token.clone(),
                progress: Arc::new(Reporter { ctx: ctx.clone(), dispatch_seq: job.dispatch_seq }),
            };
            let attempt = AssertUnwindSafe((handler.run)(&jctx, job.payload.clone())).catch_unwind();
            let ended = |r: Result<Result<Result<_, JobError>, _>, _>| match r {
                Err(_) => {
                    Outcome::Failed(JobError::retryable("timeout", format!("attempt exceeded {:?}", spec.timeout)))
                }
                Ok(Err(panic)) => Outcome::Failed(JobError::retryable("panic", panic_message(&panic))),
                Ok(Ok(Ok(value))) => Outcome::Succeeded(value),
                Ok(Ok(Err(e))) => Outcome::Failed(e),
            };
            if spec.handles_cancel {
                // The job stops itself at a clean point; its own outcome
                // stands unless it stopped because it was told to.
                let outcome = ended(tokio::time::timeout(spec.timeout, attempt).await);
                if token.is_cancelled() && !matches!(outcome, Outcome::Succeeded(_)) {
                    None
                } else {
                    Some(outcome)
                }
            } else {
                tokio::select! {
                    r = tokio::time::timeout(spec.timeout, attempt) => Some(ended(r)),
                    _ = token.cancelled() => None,
                }
            }
        }
    };
    heartbeat.abort();
    let reason = state.inflight.finish(job.id);
    m.jobs_in_flight.dec();
    let outcome = match (result, reason) {
        (Some(outcome), _) => outcome,
        (None, Some(StopReason::Cancelled)) => Outcome::Cancelled,
        (None, Some(StopReason::Shutdown)) => Outcome::HandBack,
        (None, _) => {
            tracing::warn!("job was taken over elsewhere; dropping this attempt");
            return;
        }
    };
    m.job_run_seconds.with_label_values(&[&job.kind]).observe(started.elapsed().as_secs_f64());
    if let Outcome::Failed(e) = &outcome {
        tracing::warn!(code = %e.code, message = %e.message, "attempt failed");
    }
    let backoff = lifecycle::backoff_for(handler.map(|h| h.kind), &ctx.settings, job.attempts);
    // Both paths publish the event they write.
    match outcome {
        Outcome::Succeeded(result) => {
            // The slot frees now; the completer writes the status with others'.
            let written = state.completer.hand_off(job.clone(), result).await;
            let state = state.clone();
            let span = tracing::Span::current();
            state.finishing.clone().spawn(async move { recorded(&state, &job, written.await) }.instrument(span));
        }
        other => {
            let written = lifecycle::finish(&ctx.pool, &job, other, &ctx.settings, backoff).await;
            if let Ok(Some(t)) = &written {
                ctx.broker.publish_event(&t.event.view()).await;
            }
            recorded(state, &job, written);
        }
    }
}

/// Counts how `job`'s attempt ended once its state is written, starts
/// the webhooks it queued, and nudges the dispatcher to refill the queue.
fn recorded(state: &WorkerState, job: &Job, written: anyhow::Result<Option<lifecycle::Transition>>) {
    let (ctx, m) = (&state.ctx, &state.ctx.metrics);
    match written {
        Ok(Some(t)) => {
            let after = t.job;
            if t.deliveries > 0 {
                jobs_service::dispatch_webhooks(ctx);
            }
            m.jobs_finished.with_label_values(&[&job.kind, after.status.as_str()]).inc();
            match after.status {
                JobStatus::Retrying => m.job_retries.with_label_values(&[&job.kind]).inc(),
                JobStatus::Dead => m.jobs_dead.with_label_values(&[&job.kind]).inc(),
                _ => {}
            }
            tracing::info!(status = %after.status, "attempt ended");
        }
        Ok(None) => tracing::warn!("job changed under us; outcome not recorded"),
        Err(e) => tracing::error!(error = %e, "outcome not recorded; the rescuer will retry the job"),
    }
    jobs_service::nudge(ctx, &job.queue);
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".into());
    format!("the job panicked: {text}")
}

/// Writes the heartbeat until aborted; stops the job when it was cancelled
/// or taken over.
/// How long an attempt may go without a written heartbeat before this
/// worker stops it itself: `rescue_after` less a margin (a quarter of it,
/// and at least two beats), so the attempt is gone before any rescuer may
/// hand the job to another worker. Two copies never run at once.
pub fn give_up_after(worker: &chorus_shared::config::WorkerSettings) -> std::time::Duration {
    let rescue = worker.rescue_after();
    let margin = (rescue / 4).max(worker.heartbeat() * 2);
    rescue.saturating_sub(margin).max(worker.heartbeat())
}

async fn heartbeat_loop(
    pool: DbPool,
    inflight: crate::InFlight,
    job_id: Uuid,
    seq: i32,
    every: std::time::Duration,
    give_up: std::time::Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    let mut last_written = Instant::now();
    loop {
        tick.tick().await;
        // A beat that hangs (Postgres unreachable) counts as not written.
        match tokio::time::timeout(every, lifecycle::heartbeat(&pool, job_id, seq)).await {
            Ok(Ok(Beat::Alive)) => last_written = Instant::now(),
            Ok(Ok(Beat::CancelRequested)) => {
                inflight.stop(job_id, StopReason::Cancelled);
            }
            Ok(Ok(Beat::Lost)) => {
                inflight.stop(job_id, StopReason::Lost);
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "heartbeat not written"),
            Err(_) => tracing::warn!("heartbeat timed out"),
        }
        if last_written.elapsed() >= give_up {
            tracing::error!(job_id = %job_id, "no heartbeat written for {give_up:?}: stopping the attempt before it is rescued elsewhere");
            inflight.stop(job_id, StopReason::Lost);
            return;
        }
    }
}
