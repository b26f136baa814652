//! The Chorus worker: one apalis worker per queue over Redis, running the
//! job kinds registered in `chorus_shared::jobs`.
//!
//! - [`runner`]: one message → claim in Postgres → run with heartbeat,
//!   timeout, panic catching and cancellation → record the outcome.
//! - [`inflight`]: the jobs running in this process, for cancellation and
//!   graceful shutdown.
//! - [`maintenance`]: dispatcher, rescuer, cancel listener and Redis vacuum.
//! - [`server`]: the worker's own `/metrics` and `/healthz`.

pub mod inflight;
pub mod maintenance;
pub mod runner;
pub mod server;

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;
use chorus_shared::domain::Queue;
use chorus_shared::queue::JobMessage;
use chorus_shared::Ctx;
use tokio_util::sync::CancellationToken;

pub use inflight::InFlight;

/// What every handler invocation shares.
pub struct WorkerState {
    pub ctx: Ctx,
    pub name: String,
    pub inflight: InFlight,
    /// Claims messages in batches.
    pub claimer: chorus_shared::queue::claimer::Claimer,
    /// Ends succeeded attempts in batches.
    pub completer: chorus_shared::queue::completer::Completer,
    /// Attempts whose slot is free but whose end is still being written
    /// (successes waiting for the completer's flush); shutdown waits for them.
    pub finishing: tokio_util::task::TaskTracker,
}

/// This process's worker name: the configured one, or host-pid-random.
pub fn worker_name(configured: &str) -> String {
    if !configured.is_empty() {
        return configured.to_string();
    }
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let host = if host.is_empty() { "worker".to_string() } else { host };
    format!("{host}-{}-{:04x}", std::process::id(), rand::random::<u16>())
}

async fn handle(msg: JobMessage, state: Data<Arc<WorkerState>>) -> Result<(), BoxDynError> {
    let state: Arc<WorkerState> = (*state).clone();
    // The attempt runs on its own task, so that apalis dropping this future
    // (e.g. at shutdown) cannot abort a job half-way.
    let task = tokio::spawn(async move { runner::run_message(&state, msg).await });
    match task.await {
        Ok(()) => Ok(()),
        Err(e) => Err(Box::new(e)),
    }
}

/// A stream that yields whenever the dispatcher announces new messages in
/// `queue`. It ends quietly if Redis drops the subscription; the interval
/// poll carries on alone until the consumer is rebuilt.
fn wake_signals(
    state: &Arc<WorkerState>,
    queue: &'static str,
    stop: CancellationToken,
) -> futures::channel::mpsc::UnboundedReceiver<()> {
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let broker = state.ctx.broker.clone();
    tokio::spawn(async move {
        let Ok(wakes) = broker.subscribe(&broker.wake_channel(queue)).await else { return };
        let mut wakes = Box::pin(wakes);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                msg = futures::StreamExt::next(&mut wakes) => {
                    if msg.is_none() || tx.unbounded_send(()).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// Consumes one queue until `stop`. apalis ends a worker whose backend
/// failed (e.g. Redis went away), so the consumer is rebuilt after a pause.
async fn consume(state: Arc<WorkerState>, q: Queue, stop: CancellationToken) {
    let queue = q.as_str();
    let settings = state.ctx.settings.clone();
    let concurrency = settings.worker.concurrency_of(q);
    let poll = Duration::from_millis(settings.worker.poll_ms);
    while !stop.is_cancelled() {
        let strategy = Strategy::new().stream(wake_signals(&state, queue, stop.clone())).interval(poll);
        let storage = state.ctx.broker.storage_with_batch(queue, concurrency).poll_with_strategy(strategy);
        let worker = WorkerBuilder::new(format!("{}:{queue}", state.name))
            .backend(storage)
            .concurrency(concurrency)
            .data(state.clone())
            .build(handle);
        let signal = {
            let stop = stop.clone();
            async move {
                stop.cancelled().await;
                Ok::<(), std::io::Error>(())
            }
        };
        match worker.run_until(signal).await {
            Ok(()) if stop.is_cancelled() => return,
            Ok(()) => tracing::warn!(queue, "queue consumer ended; restarting"),
            Err(e) => tracing::error!(queue, error = %e, "queue consumer failed; restarting"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// The live collection, created if missing. Workers that start together
/// on an empty server create it at once, and the engine may refuse a call
/// while a peer's creation is under way, so a failure is tried again four
/// times (0.5, 1, 1.5, 2 s apart) before the worker gives up.
async fn live_collection(
    ctx: &Ctx,
    v: &chorus_shared::vectors::Vectors,
) -> anyhow::Result<chorus_shared::vectors::catalog::Collection> {
    let mut tries = 0u32;
    loop {
        match chorus_shared::vectors::catalog::ensure_live(&ctx.pool, &ctx.settings.embed, v).await {
            Ok(c) => return Ok(c),
            Err(e) if tries < 4 => {
                tries += 1;
                tracing::warn!(error = %e.message, tries, "vector store not ready; trying again");
                tokio::time::sleep(Duration::from_millis(500 * u64::from(tries))).await;
            }
            Err(e) => return Err(anyhow::anyhow!("vector store not ready: {}", e.message)),
        }
    }
}

/// Runs the worker until `shutdown` fires, then stops taking jobs, lets the
/// running ones finish within `worker.shutdown_grace_ms`, hands back the
/// rest, and returns. Returns the port of its metrics server via `on_ready`.
pub async fn run(
    ctx: Ctx,
    shutdown: CancellationToken,
    on_ready: Option<tokio::sync::oneshot::Sender<u16>>,
) -> anyhow::Result<()> {
    let settings = ctx.settings.clone();
    let name = worker_name(&settings.worker.name);
    if settings.worker.takes(Queue::Embed) {
        // Refuse to start without the model rather than fail every job.
        let embed = settings.embed.clone();
        let model = tokio::task::spawn_blocking(move || chorus_shared::embed::load(&embed)).await?;
        let model = model.map_err(|e| anyhow::anyhow!("embedding model unavailable: {e}"))?;
        tracing::info!(model = %model.model_id, dimension = model.dimension, "embedding model loaded");
    }
    // A worker with another secrets key than the deployment's stops here.
    chorus_shared::services::deployment::check_secrets_key(&ctx).await.map_err(|e| anyhow::anyhow!(e.message))?;
    // The vector store this worker may use; a broken topology stops it here.
    let vectors = chorus_shared::vectors::open_for_worker(&settings).await?;
    if let Some(v) = &vectors {
        let c = live_collection(&ctx, v).await?;
        tracing::info!(engine = v.engine(), collection = %c.name, "vector store open");
    }
    let ctx = ctx.with_vectors(vectors);
    // The claimer and the batch completer each run one statement at a time,
    // on connections that plan every execution (see `Plans::Custom`).
    // Without batching (`worker.complete_batch_ms` 0) every job ends on its
    // own task, so the completer keeps the main pool.
    let hot = chorus_shared::db::pool_with(&settings.database.url, 2, chorus_shared::db::Plans::Custom)?;
    let completing = if settings.worker.complete_batch_ms > 0 { hot.clone() } else { ctx.pool.clone() };
    let completer =
        chorus_shared::queue::completer::Completer::start(completing, ctx.broker.clone(), ctx.settings.clone());
    let claimer = chorus_shared::queue::claimer::Claimer::start(
        hot,
        ctx.broker.clone(),
        name.clone(),
        settings.worker.complete_batch_max,
    );
    let state = Arc::new(WorkerState {
        ctx: ctx.clone(),
        name: name.clone(),
        inflight: InFlight::default(),
        claimer,
        completer,
        finishing: tokio_util::task::TaskTracker::new(),
    });
    tracing::info!(worker = %name, "worker starting");

    let (server, port) = server::start(state.clone(), settings.worker.metrics_port)?;
    let server_handle = server.handle();
    let server_task = tokio::spawn(server);
    if let Some(tx) = on_ready {
        let _ = tx.send(port);
    }

    let stop_taking = CancellationToken::new();
    let consumers: Vec<_> = Queue::ALL
        .into_iter()
        .filter(|q| settings.worker.takes(*q))
        .map(|queue| tokio::spawn(consume(state.clone(), queue, stop_taking.clone())))
        .collect();
    let maintenance_stop = CancellationToken::new();
    let maintenance = maintenance::spawn(state.clone(), maintenance_stop.clone());

    shutdown.cancelled().await;
    tracing::info!(worker = %name, running = state.inflight.len(), "shutting down: no new jobs");
    stop_taking.cancel();
    let grace = Duration::from_millis(settings.worker.shutdown_grace_ms);
    if tokio::time::timeout(grace, state.inflight.drained()).await.is_err() {
        tracing::warn!(running = state.inflight.len(), "grace period over: handing back running jobs");
        state.inflight.cancel_all(inflight::StopReason::Shutdown);
        let _ = tokio::time::timeout(Duration::from_secs(10), state.inflight.drained()).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), futures::future::join_all(consumers)).await;
    state.finishing.close();
    if tokio::time::timeout(Duration::from_secs(10), state.finishing.wait()).await.is_err() {
        tracing::warn!("some ends were not written in time; the rescuer will run those jobs again");
    }
    maintenance_stop.cancel();
    for m in maintenance {
        let _ = m.await;
    }
    chorus_shared::tools::mcp_sessions::close_all();
    server_handle.stop(true).await;
    let _ = server_task.await;
    tracing::info!(worker = %name, "worker stopped");
    Ok(())
}
