//! Moves committed, due jobs from Postgres into their apalis queues.
//!
//! Runs in every worker on a timer, and wherever a [`Nudger`] is asked (the
//! API after a submission, a worker after a finished job). A per-queue
//! advisory lock serialises dispatchers, so the window is respected across
//! processes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tokio::sync::Notify;
use uuid::Uuid;

use super::{Broker, JobMessage};
use crate::db::schema::jobs::dsl as j;
use crate::db::{DbConn, DbPool};
use crate::domain::JobStatus;

/// Pushes up to `window − in transit` due jobs of `queue`, highest priority
/// first. Returns how many were pushed. Jobs whose push failed stay
/// undispatched and are tried again on the next call.
///
/// Four Postgres round trips whatever the count (`BEGIN`, the queue's
/// lock, one statement that counts what is in transit, picks the due jobs
/// and marks them, `COMMIT`) and one Redis round trip for all the messages.
/// Waiting for the lock (not skipping when another process holds it)
/// means a job committed while that dispatcher was selecting is still
/// dispatched now, by this call.
pub async fn dispatch_queue(
    pool: &DbPool,
    broker: &Broker,
    queue: &str,
    window: i64,
) -> anyhow::Result<usize> {
    let mut conn: DbConn = pool.get().await?;
    let (pushing, name) = (broker.clone(), queue.to_string());
    let result = (*conn)
        .transaction::<usize, anyhow::Error, _>(async move |conn: &mut AsyncPgConnection| {
            diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind::<Text, _>(format!("dispatch:{name}"))
                .execute(conn)
                .await?;
            let due: Vec<Due> = diesel::sql_query(
                "WITH room AS ( \
                   SELECT $2 - count(*) AS n FROM jobs \
                   WHERE queue = $1 AND status IN ('queued', 'retrying') AND dispatched_at IS NOT NULL), \
                 due AS ( \
                   SELECT id FROM jobs \
                   WHERE queue = $1 AND status IN ('queued', 'retrying') AND dispatched_at IS NULL AND run_at <= $3 \
                   ORDER BY priority DESC, run_at, id \
                   LIMIT (SELECT greatest(n, 0) FROM room) \
                   FOR UPDATE SKIP LOCKED), \
                 marked AS ( \
                   UPDATE jobs SET dispatched_at = $3 FROM due WHERE jobs.id = due.id \
                   RETURNING jobs.id, jobs.dispatch_seq, jobs.priority, jobs.run_at) \
                 SELECT id, dispatch_seq FROM marked ORDER BY priority DESC, run_at, id",
            )
            .bind::<Text, _>(&name)
            .bind::<BigInt, _>(window)
            .bind::<Timestamptz, _>(chrono::Utc::now())
            .load(conn)
            .await?;
            if due.is_empty() {
                return Ok(0);
            }
            // One round trip for all of them; all pushed or none. A failed
            // push rolls the marks back.
            let n = due.len();
            let messages = due.into_iter().map(|d| JobMessage { job_id: d.id, dispatch_seq: d.dispatch_seq }).collect();
            pushing.push_many(&name, messages).await.map_err(PushFailed)?;
            Ok(n)
        })
        .await;
    if matches!(result, Ok(1..)) {
        broker.wake(queue).await;
    }
    match result {
        Err(e) if e.is::<PushFailed>() => {
            tracing::warn!(queue, error = %e, "dispatch deferred: redis push failed");
            Ok(0)
        }
        other => other,
    }
}

/// The Redis push of a dispatch failed (the transaction rolled back).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct PushFailed(anyhow::Error);

#[derive(diesel::QueryableByName)]
struct Due {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    dispatch_seq: i32,
}

/// Asks for dispatches without waiting for them, coalescing asks: one
/// task per queue dispatches whenever asked, and any number of asks that
/// arrive while it works make one more dispatch, not one each. A submit
/// or a finished job costs a nudge, not a dispatch transaction.
#[derive(Clone)]
pub struct Nudger {
    inner: Arc<NudgerInner>,
}

struct NudgerInner {
    pool: DbPool,
    broker: Broker,
    window: i64,
    queues: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Nudger {
    pub fn new(pool: DbPool, broker: Broker, window: i64) -> Self {
        Self { inner: Arc::new(NudgerInner { pool, broker, window, queues: Mutex::default() }) }
    }

    /// Asks for a dispatch of `queue` soon. Must be called inside a Tokio
    /// runtime.
    pub fn nudge(&self, queue: &str) {
        let notify = {
            let mut queues = self.inner.queues.lock().unwrap_or_else(|e| e.into_inner());
            match queues.get(queue) {
                Some(n) => n.clone(),
                None => {
                    let n = Arc::new(Notify::new());
                    queues.insert(queue.to_string(), n.clone());
                    tokio::spawn(nudged(Arc::downgrade(&self.inner), queue.to_string(), n.clone()));
                    n
                }
            }
        };
        notify.notify_one();
    }
}

/// One queue's dispatch task; it ends with the last [`Nudger`].
async fn nudged(inner: std::sync::Weak<NudgerInner>, queue: String, notify: Arc<Notify>) {
    loop {
        notify.notified().await;
        let Some(n) = inner.upgrade() else { return };
        if let Err(e) = dispatch_queue(&n.pool, &n.broker, &queue, n.window).await {
            tracing::warn!(queue, error = %e, "dispatch deferred to the workers");
        }
    }
}

/// Dispatches every queue, waiting for each queue's lock; errors are
/// logged, not returned.
pub async fn dispatch_all(pool: &DbPool, broker: &Broker, window: i64) -> usize {
    let mut total = 0;
    for queue in crate::domain::Queue::ALL.map(|q| q.as_str()) {
        match dispatch_queue(pool, broker, queue, window).await {
            Ok(n) => total += n,
            Err(e) => tracing::warn!(queue, error = %e, "dispatch failed"),
        }
    }
    total
}

/// Jobs per queue in `status`, for the queue-depth gauge.
pub async fn depth_by_queue(pool: &DbPool, status: &[JobStatus]) -> anyhow::Result<Vec<(String, i64)>> {
    let mut conn = pool.get().await?;
    let rows = j::jobs
        .filter(j::status.eq_any(status.to_vec()))
        .group_by(j::queue)
        .select((j::queue, diesel::dsl::count_star()))
        .load::<(String, i64)>(&mut conn)
        .await?;
    Ok(rows)
}
