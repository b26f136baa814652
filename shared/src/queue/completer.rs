//! The batch completer. A succeeded attempt is handed in (its worker slot
//! frees at once, as with River's batch completer) and waits up to
//! `worker.complete_batch_ms` for others; they end together in one
//! transaction ([`lifecycle::succeed_many`]): a few statements for many
//! jobs instead of a transaction each, and their events published to Redis
//! in one pipeline. Anything the batch leaves alone (the job was asked to
//! cancel, or is no longer ours) ends through [`lifecycle::finish`], as do
//! failures, cancels and hand-backs, which are rare. A worker killed before
//! a flush loses no final status: its jobs are still `running`, so the
//! rescuer runs them again.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;

use super::batcher::Batcher;
use super::lifecycle::{self, Outcome, Transition};
use super::Broker;
use crate::config::Settings;
use crate::db::models::Job;
use crate::db::DbPool;

type Answer = anyhow::Result<Option<Transition>>;

/// Hands succeeded attempts to the flushing task.
#[derive(Clone)]
pub struct Completer {
    batcher: Option<Batcher<(Job, Value), Answer>>,
    pool: DbPool,
    broker: Broker,
    settings: Arc<Settings>,
}

impl std::fmt::Debug for Completer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completer").field("batched", &self.batcher.is_some()).finish_non_exhaustive()
    }
}

impl Completer {
    /// Starts the flushing task (none when `worker.complete_batch_ms` is 0).
    pub fn start(pool: DbPool, broker: Broker, settings: Arc<Settings>) -> Self {
        let window = Duration::from_millis(settings.worker.complete_batch_ms);
        if window.is_zero() {
            return Self { batcher: None, pool, broker, settings };
        }
        let (p, b, s) = (pool.clone(), broker.clone(), settings.clone());
        let batcher = Batcher::start(window, settings.worker.complete_batch_max, move |batch| {
            let (pool, broker, settings) = (p.clone(), b.clone(), s.clone());
            async move { flush(&pool, &broker, &settings, batch).await }
        });
        Self { batcher: Some(batcher), pool, broker, settings }
    }

    /// Hands `job`'s success (with `result`) to the flushing task and
    /// returns as soon as it is in line (waiting only while
    /// `4 × complete_batch_max` others are), so the attempt's slot frees
    /// before the flush. The answer comes with the flush: the job's new
    /// state with its event published, or why not (then the rescuer runs
    /// the job again). Without batching the job ends before this returns.
    pub async fn hand_off(&self, job: Job, result: Value) -> BoxFuture<'static, Answer> {
        let Some(b) = &self.batcher else {
            let ended = self.finish_alone(job, result).await;
            return Box::pin(std::future::ready(ended));
        };
        match b.submit((job, result)).await {
            Ok(answer) => Box::pin(async move { answer.await? }),
            Err(stopped) => Box::pin(std::future::ready(Err(stopped.into()))),
        }
    }

    async fn finish_alone(&self, job: Job, result: Value) -> Answer {
        let ended =
            lifecycle::finish(&self.pool, &job, Outcome::Succeeded(result), &self.settings, Duration::ZERO).await?;
        if let Some(t) = &ended {
            self.broker.publish_event(&t.event.view()).await;
        }
        Ok(ended)
    }
}

async fn flush(pool: &DbPool, broker: &Broker, settings: &Settings, batch: Vec<(Job, Value)>) -> Vec<Answer> {
    let done: Vec<_> = batch.iter().map(|(job, result)| (job.id, job.dispatch_seq, result.clone())).collect();
    let ended = match lifecycle::succeed_many(pool, settings, &done).await {
        Ok(ended) => ended,
        Err(e) => {
            // The flush wrote nothing (a deadlock, a lost connection): each
            // job ends on its own instead, and only a job whose own end
            // fails is left to the rescuer.
            tracing::warn!(error = %e, jobs = batch.len(), "batch completion failed; ending each job alone");
            batch.iter().map(|_| None).collect()
        }
    };
    let mut answers = Vec::with_capacity(batch.len());
    for ((job, result), ended) in batch.into_iter().zip(ended) {
        answers.push(match ended {
            Some(t) => Ok(Some(t)),
            // Asked to cancel, or no longer ours: the single path decides.
            None => lifecycle::finish(pool, &job, Outcome::Succeeded(result), settings, Duration::ZERO).await,
        });
    }
    let events: Vec<_> = answers.iter().filter_map(|a| a.as_ref().ok()?.as_ref()).map(|t| t.event.view()).collect();
    broker.publish_events(&events).await;
    answers
}
