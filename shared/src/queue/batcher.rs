//! Group commit for the worker's hot path: callers hand in one item each
//! and wait for its answer; one task takes everything that is waiting (up
//! to `max`, and for up to `window` after the first) and handles it in one
//! call, so many jobs share one round trip. With a zero window nothing
//! waits: a batch is whatever queued up while the previous call ran.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::{mpsc, oneshot};

type Request<I, O> = (I, oneshot::Sender<O>);

/// The caller's side of one batching task.
pub struct Batcher<I, O> {
    tx: mpsc::Sender<Request<I, O>>,
}

impl<I, O> Clone for Batcher<I, O> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone() }
    }
}

/// The batching task stopped (its runtime is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the batching task stopped")]
pub struct Stopped;

impl<I: Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// Starts the task. `handle` answers a batch with one output per item,
    /// in order. At most `4 × max` callers wait in line.
    pub fn start<F, Fut>(window: Duration, max: usize, handle: F) -> Self
    where
        F: Fn(Vec<I>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<O>> + Send + 'static,
    {
        let max = max.max(1);
        let (tx, rx) = mpsc::channel(max * 4);
        tokio::spawn(run(rx, window, max, handle));
        Self { tx }
    }

    /// Hands `item` in and waits for its answer.
    pub async fn call(&self, item: I) -> Result<O, Stopped> {
        self.submit(item).await?.await
    }

    /// Hands `item` in, waiting only while the line is full, and returns
    /// the answer to come.
    pub async fn submit(&self, item: I) -> Result<impl Future<Output = Result<O, Stopped>> + use<I, O>, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((item, reply)).await.map_err(|_| Stopped)?;
        Ok(async move { answer.await.map_err(|_| Stopped) })
    }
}

async fn run<I, O, F, Fut>(mut rx: mpsc::Receiver<Request<I, O>>, window: Duration, max: usize, handle: F)
where
    F: Fn(Vec<I>) -> Fut,
    Fut: Future<Output = Vec<O>>,
{
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + window;
        while batch.len() < max {
            let next = if window.is_zero() {
                rx.try_recv().ok()
            } else {
                tokio::time::timeout_at(deadline, rx.recv()).await.ok().flatten()
            };
            match next {
                Some(next) => batch.push(next),
                None => break,
            }
        }
        let (items, replies): (Vec<I>, Vec<_>) = batch.into_iter().unzip();
        let n = items.len();
        // A panicking batch answers its callers `Stopped` (their replies
        // drop) and the task goes on with the next one.
        let Ok(answers) = AssertUnwindSafe(handle(items)).catch_unwind().await else {
            tracing::error!(items = n, "a batch panicked; its callers get an error");
            continue;
        };
        debug_assert_eq!(answers.len(), n, "one answer per item");
        for (reply, answer) in replies.into_iter().zip(answers) {
            let _ = reply.send(answer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn waiting_callers_share_one_call_and_get_their_own_answers() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let b: Batcher<u32, u32> = Batcher::start(Duration::from_millis(50), 100, move |items: Vec<u32>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move { items.into_iter().map(|i| i * 2).collect() }
        });
        let answers = futures::future::join_all((0..10).map(|i| {
            let b = b.clone();
            async move { b.call(i).await.unwrap() }
        }))
        .await;
        assert_eq!(answers, (0..10).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(calls.load(Ordering::SeqCst), 1, "ten callers within the window make one call");
    }

    #[tokio::test]
    async fn a_panicking_batch_fails_its_callers_and_the_next_batch_still_runs() {
        let b: Batcher<u32, u32> = Batcher::start(Duration::ZERO, 10, |items: Vec<u32>| async move {
            assert!(!items.contains(&13), "unlucky");
            items
        });
        assert!(b.call(13).await.is_err(), "the panicking batch's caller gets an error");
        assert_eq!(b.call(7).await.unwrap(), 7, "the task survived");
    }

    #[tokio::test]
    async fn a_batch_holds_at_most_max_items() {
        let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let b: Batcher<u32, ()> = Batcher::start(Duration::from_millis(50), 3, move |items: Vec<u32>| {
            seen.lock().unwrap().push(items.len());
            async move { items.iter().map(|_| ()).collect() }
        });
        futures::future::join_all((0..7).map(|i| {
            let b = b.clone();
            async move { b.call(i).await.unwrap() }
        }))
        .await;
        let sizes = sizes.lock().unwrap().clone();
        assert!(sizes.iter().all(|&n| n <= 3), "{sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), 7);
    }
}
