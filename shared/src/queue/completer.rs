//! The batch completer. A succeeded attempt waits up to
//! `worker.complete_batch_ms` for others, and they end together in one
//! transaction ([`lifecycle::succeed_many`]): a few statements for many
//! jobs instead of a transaction each. Anything the batch leaves alone (the
//! job was asked to cancel, or is no longer ours) ends through
//! [`lifecycle::finish`], as do failures, cancels and hand-backs, which are
//! rare. A worker killed before a flush loses no final status: its jobs
//! are still `running`, so the rescuer runs them again.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::lifecycle::{self, Outcome, Transition};
use crate::config::Settings;
use crate::db::models::Job;
use crate::db::DbPool;

type Reply = oneshot::Sender<anyhow::Result<Option<Transition>>>;

/// Hands succeeded attempts to the flushing task.
#[derive(Clone)]
pub struct Completer {
    tx: Option<mpsc::Sender<(Job, Value, Reply)>>,
    pool: DbPool,
    settings: Arc<Settings>,
}

impl std::fmt::Debug for Completer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completer").field("batched", &self.tx.is_some()).finish_non_exhaustive()
    }
}

impl Completer {
    /// Starts the flushing task (none when `worker.complete_batch_ms` is 0).
    pub fn start(pool: DbPool, settings: Arc<Settings>) -> Self {
        let window = Duration::from_millis(settings.worker.complete_batch_ms);
        let max = settings.worker.complete_batch_max.max(1);
        if window.is_zero() {
            return Self { tx: None, pool, settings };
        }
        let (tx, rx) = mpsc::channel(max * 4);
        tokio::spawn(flush_loop(rx, pool.clone(), settings.clone(), window, max));
        Self { tx: Some(tx), pool, settings }
    }

    /// Records that `job`'s attempt succeeded with `result`; answers once
    /// it is written (or why not; then the rescuer runs the job again).
    pub async fn succeed(&self, job: Job, result: Value) -> anyhow::Result<Option<Transition>> {
        let Some(tx) = &self.tx else {
            return lifecycle::finish(&self.pool, &job, Outcome::Succeeded(result), &self.settings, Duration::ZERO)
                .await;
        };
        let (reply, answer) = oneshot::channel();
        tx.send((job, result, reply)).await.map_err(|_| anyhow::anyhow!("the completer stopped"))?;
        answer.await.map_err(|_| anyhow::anyhow!("the completer dropped the attempt"))?
    }
}

async fn flush_loop(
    mut rx: mpsc::Receiver<(Job, Value, Reply)>,
    pool: DbPool,
    settings: Arc<Settings>,
    window: Duration,
    max: usize,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + window;
        while batch.len() < max {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(next)) => batch.push(next),
                Ok(None) | Err(_) => break,
            }
        }
        flush(&pool, &settings, batch).await;
    }
}

async fn flush(pool: &DbPool, settings: &Settings, batch: Vec<(Job, Value, Reply)>) {
    let done: Vec<_> = batch.iter().map(|(job, result, _)| (job.id, job.dispatch_seq, result.clone())).collect();
    match lifecycle::succeed_many(pool, settings, &done).await {
        Ok(ended) => {
            for ((job, result, reply), ended) in batch.into_iter().zip(ended) {
                let answer = match ended {
                    Some(t) => Ok(Some(t)),
                    // Asked to cancel, or no longer ours: the single path decides.
                    None => lifecycle::finish(pool, &job, Outcome::Succeeded(result), settings, Duration::ZERO).await,
                };
                let _ = reply.send(answer);
            }
        }
        Err(e) => {
            let message = e.to_string();
            for (_, _, reply) in batch {
                let _ = reply.send(Err(anyhow::anyhow!("batch completion failed: {message}")));
            }
        }
    }
}
