//! Background loops of every worker process. Each is safe to run in many
//! processes at once (row locks and advisory locks in Postgres).
//!
//! - dispatcher: pushes due jobs (delayed, retrying, rescued) into Redis;
//! - vector owner only: index upkeep (`VectorStore::maintain`) and a
//!   reconciliation job every `vectors.reconcile_interval_secs`;
//! - rescuer: re-queues running jobs whose worker stopped heartbeating, and
//!   re-dispatches jobs whose message was lost;
//! - cancel listener: stops local jobs the moment a cancel is published;
//! - scheduler: makes the fires of due schedules (`schedules.tick_ms`);
//! - vacuum: deletes finished messages' data from Redis and the files of
//!   expired exports, closes idle MCP sessions, and folds the overview's
//!   counters of ended jobs;
//! - presence: announces the worker to the dashboard's list of workers.

use std::sync::Arc;
use std::time::Duration;

use chorus_shared::domain::JobStatus;
use chorus_shared::queue::dispatcher;
use chorus_shared::queue::lifecycle;
use futures::StreamExt;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::inflight::StopReason;
use crate::WorkerState;

/// Runs `step` every `every` until `stop`.
fn every<F, Fut>(stop: CancellationToken, every: Duration, mut step: F) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => step().await,
            }
        }
    })
}

pub fn spawn(state: Arc<WorkerState>, stop: CancellationToken) -> Vec<JoinHandle<()>> {
    let s = state.ctx.settings.clone();
    let dispatch = {
        let (state, rules) = (state.clone(), Arc::new(dispatcher::Rules::of(&s)));
        every(stop.clone(), Duration::from_millis(s.dispatch.interval_ms), move || {
            let (state, rules) = (state.clone(), rules.clone());
            async move {
                dispatcher::dispatch_all(&state.ctx.pool, &state.ctx.broker, &rules).await;
            }
        })
    };
    let rescue = {
        let state = state.clone();
        every(stop.clone(), Duration::from_millis(s.worker.maintenance_ms), move || {
            let state = state.clone();
            async move { rescue_once(&state).await }
        })
    };
    let vacuum = {
        let state = state.clone();
        every(stop.clone(), Duration::from_millis(s.worker.maintenance_ms * 5), move || {
            let state = state.clone();
            async move {
                for queue in chorus_shared::domain::Queue::ALL.map(|q| q.as_str()) {
                    if let Err(e) = state.ctx.broker.vacuum(queue).await {
                        tracing::warn!(queue, error = %e, "vacuum failed");
                    }
                }
                chorus_shared::queue::gauges::refresh(&state.ctx.metrics, &state.ctx.pool, false).await;
                let idle = Duration::from_secs(state.ctx.settings.tools.mcp_idle_secs);
                let closed = chorus_shared::tools::mcp_sessions::close_idle(idle);
                if closed > 0 {
                    tracing::info!(sessions = closed, "closed idle MCP sessions");
                }
                match chorus_shared::services::bulk::sweep_expired_exports(&state.ctx).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(exports = n, "deleted expired export files"),
                    Err(e) => tracing::warn!(error = %e, "sweeping expired exports failed"),
                }
                if let Err(e) = chorus_shared::services::overview::fold_outcomes(&state.ctx).await {
                    tracing::warn!(error = %e.message, "folding the overview's counters failed");
                }
                match chorus_shared::services::openai_batches::expire_due(&state.ctx).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(batches = n, "expired batches past their completion window"),
                    Err(e) => tracing::warn!(error = %e.message, "expiring batches failed"),
                }
                match chorus_shared::services::retention::sweep(&state.ctx).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(tenants = n, "queued retention jobs"),
                    Err(e) => tracing::warn!(error = %e.message, "the retention sweep failed"),
                }
            }
        })
    };
    let schedules = {
        let state = state.clone();
        every(stop.clone(), Duration::from_millis(s.schedules.tick_ms), move || {
            let state = state.clone();
            async move {
                if let Err(e) = chorus_shared::services::scheduler::fire_due(&state.ctx).await {
                    tracing::warn!(error = %e.message, "schedules not fired this tick");
                }
            }
        })
    };
    let mut loops = vec![dispatch, rescue, vacuum, schedules];
    if let Some(vectors) = state.ctx.vectors.clone() {
        // The vector owner: index upkeep between writes, and reconciliation.
        loops.push(every(stop.clone(), Duration::from_millis(s.worker.maintenance_ms), move || {
            let vectors = vectors.clone();
            async move {
                if let Err(e) = vectors.maintain().await {
                    tracing::warn!(error = %e, "vector index upkeep failed");
                }
            }
        }));
        if s.vectors.reconcile_interval_secs > 0 {
            let state = state.clone();
            loops.push(every(stop.clone(), Duration::from_secs(s.vectors.reconcile_interval_secs), move || {
                let state = state.clone();
                async move {
                    if let Err(e) = chorus_shared::services::indexing::schedule_reconcile(&state.ctx).await {
                        tracing::warn!(error = %e.message, "reconciliation not scheduled");
                    }
                }
            }));
        }
    }
    loops.push(presence(state.clone(), stop.clone()));
    loops.push(tokio::spawn(listen_for_cancels(state, stop)));
    loops
}

/// How long a worker's announcement outlives its last renewal.
const PRESENCE_TTL_SECS: u64 = 30;

/// Announces this worker (name, queues, version) every 10 s, for the
/// dashboard's list of workers; it lapses 30 s after the worker stops.
fn presence(state: Arc<WorkerState>, stop: CancellationToken) -> JoinHandle<()> {
    every(stop, Duration::from_secs(10), move || {
        let state = state.clone();
        async move {
            let info = chorus_shared::services::overview::WorkerInfo {
                name: state.name.clone(),
                queues: state.ctx.settings.worker.queues.clone(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                at: chrono::Utc::now(),
            };
            if let Err(e) = chorus_shared::services::overview::announce(&state.ctx, &info, PRESENCE_TTL_SECS).await {
                tracing::debug!(error = %e, "presence not announced");
            }
        }
    })
}

async fn rescue_once(state: &WorkerState) {
    let ctx = &state.ctx;
    let stale = Duration::from_millis(ctx.settings.worker.rescue_after_ms);
    match lifecycle::rescue(&ctx.pool, &ctx.settings, stale).await {
        Ok(rescued) => {
            publish(ctx, &rescued).await;
            for lifecycle::Transition { job, .. } in rescued {
                tracing::warn!(job_id = %job.id, status = %job.status, "rescued a job whose worker died");
                if job.status == JobStatus::Dead {
                    state.ctx.metrics.jobs_dead.with_label_values(&[&job.kind]).inc();
                } else {
                    state.ctx.metrics.job_retries.with_label_values(&[&job.kind]).inc();
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "rescue failed"),
    }
    match lifecycle::cancel_requested_waiting(&ctx.pool, &ctx.settings).await {
        Ok(ended) => {
            publish(ctx, &ended).await;
            for t in ended {
                tracing::warn!(job_id = %t.job.id, "cancelled a waiting job that carried a cancel request");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cancel sweep failed"),
    }
    match chorus_shared::services::ingestion::fail_abandoned(ctx).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(documents = n, "marked documents failed whose ingestion job ended without them"),
        Err(e) => tracing::warn!(error = %e.message, "document sweep failed"),
    }
    // Messages unclaimed for `redispatch_after_ms` were lost; when Redis
    // itself lost its data, every message in transit was, at once.
    let lost_after = match ctx.broker.lost_data().await {
        Ok(true) => Duration::ZERO,
        _ => Duration::from_millis(ctx.settings.dispatch.redispatch_after_ms),
    };
    match lifecycle::redispatch_lost(&ctx.pool, lost_after).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(jobs = n, "re-dispatched jobs whose message was not consumed"),
        Err(e) => tracing::warn!(error = %e, "redispatch failed"),
    }
}

/// Announces transitions the maintenance made: their events on the jobs'
/// channels, and a dispatch of the deliveries they wrote.
async fn publish(ctx: &chorus_shared::Ctx, transitions: &[lifecycle::Transition]) {
    if transitions.iter().any(|t| t.deliveries > 0) {
        chorus_shared::services::jobs::dispatch_webhooks(ctx);
    }
    let events: Vec<_> = transitions.iter().map(|t| t.event.view()).collect();
    ctx.broker.publish_events(&events).await;
}

/// Follows the cancel channel, reconnecting after Redis outages.
async fn listen_for_cancels(state: Arc<WorkerState>, stop: CancellationToken) {
    let channel = state.ctx.broker.cancel_channel();
    loop {
        match state.ctx.broker.subscribe(&channel).await {
            Ok(stream) => {
                let mut stream = stream.boxed();
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        msg = stream.next() => match msg {
                            Some(id) => {
                                if let Ok(id) = Uuid::parse_str(&id) {
                                    if state.inflight.stop(id, StopReason::Cancelled) {
                                        tracing::info!(job_id = %id, "cancel requested");
                                    }
                                }
                            }
                            None => break,
                        },
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot subscribe to cancellations; heartbeats still carry them"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}
