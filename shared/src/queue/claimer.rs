//! The worker's claimer: the messages apalis hands to a worker's tasks
//! arrive together (one fetch brings up to the queue's concurrency), and
//! their claims go to Postgres together, in one statement
//! ([`lifecycle::claim_many`]), with their `running` events published to
//! Redis in one pipeline. Nothing waits for company: a batch is whatever
//! queued up while the previous claim ran.

use std::time::Duration;

use super::batcher::Batcher;
use super::lifecycle::{self, Transition};
use super::{Broker, JobMessage};
use crate::db::DbPool;

type Answer = Result<Option<Transition>, String>;

/// Claims messages for one worker process.
#[derive(Clone)]
pub struct Claimer {
    batcher: Batcher<JobMessage, Answer>,
}

impl Claimer {
    /// Starts the claiming task for the worker named `worker`; a claim
    /// holds at most `max` messages.
    pub fn start(pool: DbPool, broker: Broker, worker: String, max: usize) -> Self {
        let batcher = Batcher::start(Duration::ZERO, max, move |msgs: Vec<JobMessage>| {
            let (pool, broker, worker) = (pool.clone(), broker.clone(), worker.clone());
            async move {
                match lifecycle::claim_many(&pool, &msgs, &worker).await {
                    Ok(claimed) => {
                        let events: Vec<_> = claimed.iter().flatten().map(|t| t.event.view()).collect();
                        broker.publish_events(&events).await;
                        claimed.into_iter().map(Ok).collect()
                    }
                    Err(e) => msgs.iter().map(|_| Err(e.to_string())).collect(),
                }
            }
        });
        Self { batcher }
    }

    /// Claims the job `msg` points at; its `running` event is published.
    /// `None`: the message is stale.
    pub async fn claim(&self, msg: JobMessage) -> anyhow::Result<Option<Transition>> {
        self.batcher.call(msg).await?.map_err(|e| anyhow::anyhow!("claim failed: {e}"))
    }
}
