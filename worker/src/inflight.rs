//! The jobs running in this process, each with the token that stops it and
//! the reason it was stopped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Why a running job was told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// A client cancelled it.
    Cancelled,
    /// This worker is shutting down: hand it back.
    Shutdown,
    /// The job is no longer ours (rescued elsewhere): drop it silently.
    Lost,
}

struct Entry {
    token: CancellationToken,
    reason: Option<StopReason>,
}

#[derive(Default, Clone)]
pub struct InFlight {
    jobs: Arc<Mutex<HashMap<Uuid, Entry>>>,
    changed: Arc<Notify>,
}

impl InFlight {
    /// Registers a job; the token is cancelled when it must stop.
    pub fn start(&self, job_id: Uuid) -> CancellationToken {
        let token = CancellationToken::new();
        self.jobs.lock().unwrap().insert(job_id, Entry { token: token.clone(), reason: None });
        token
    }

    /// Removes a job and returns why it was stopped, if it was.
    pub fn finish(&self, job_id: Uuid) -> Option<StopReason> {
        let reason = self.jobs.lock().unwrap().remove(&job_id).and_then(|e| e.reason);
        self.changed.notify_waiters();
        reason
    }

    /// Stops one job, if it runs here. The first reason given wins.
    pub fn stop(&self, job_id: Uuid, reason: StopReason) -> bool {
        let mut jobs = self.jobs.lock().unwrap();
        let Some(entry) = jobs.get_mut(&job_id) else { return false };
        entry.reason.get_or_insert(reason);
        entry.token.cancel();
        true
    }

    /// Stops every job here.
    pub fn cancel_all(&self, reason: StopReason) {
        let ids: Vec<Uuid> = self.jobs.lock().unwrap().keys().copied().collect();
        for id in ids {
            self.stop(id, reason);
        }
    }

    pub fn len(&self) -> usize {
        self.jobs.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves once no job runs here.
    pub async fn drained(&self) {
        loop {
            let notified = self.changed.notified();
            if self.is_empty() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_stop_reason_wins_and_drained_waits_for_the_last_job() {
        let f = InFlight::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let ta = f.start(a);
        f.start(b);
        assert!(f.stop(a, StopReason::Cancelled));
        f.cancel_all(StopReason::Shutdown);
        assert!(ta.is_cancelled());
        assert_eq!(f.finish(a), Some(StopReason::Cancelled));
        let waiter = tokio::spawn({
            let f = f.clone();
            async move { f.drained().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        assert_eq!(f.finish(b), Some(StopReason::Shutdown));
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter).await.unwrap().unwrap();
        assert!(!f.stop(a, StopReason::Cancelled), "finished jobs cannot be stopped");
    }
}
