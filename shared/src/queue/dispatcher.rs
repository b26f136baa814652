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
/// first. Says how many were pushed and whether more were due. Jobs whose
/// push failed stay undispatched and are tried again on the next call.
///
/// Four Postgres round trips whatever the count (`BEGIN`, the queue's
/// lock, one statement that counts what is in transit, picks the due jobs
/// and marks them, `COMMIT`) and one Redis round trip for all the messages.
/// Waiting for the lock (not skipping when another process holds it)
/// means a job committed while that dispatcher was selecting is still
/// dispatched now, by this call.
pub async fn dispatch_queue(pool: &DbPool, broker: &Broker, queue: &str, window: i64) -> anyhow::Result<Dispatched> {
    let mut conn: DbConn = pool.get().await?;
    let (pushing, name) = (broker.clone(), queue.to_string());
    let result = (*conn)
        .transaction::<Dispatched, anyhow::Error, _>(async move |conn: &mut AsyncPgConnection| {
            diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind::<Text, _>(format!("dispatch:{name}"))
                .execute(conn)
                .await?;
            // `due` takes at most a window and one more (to tell a
            // backlog), a limit given as a parameter: raw statements are
            // planned on each call with their values, so the planner knows
            // the count and updates by primary key. With the limit known
            // only at run time (`room`) it hash-joined the whole table
            // (36 ms instead of 1 ms with 100,000 jobs).
            let due: Vec<Due> = diesel::sql_query(
                "WITH room AS ( \
                   SELECT $2 - count(*) AS n FROM jobs \
                   WHERE queue = $1 AND status IN ('queued', 'retrying') AND dispatched_at IS NOT NULL), \
                 due AS ( \
                   SELECT id, priority, run_at FROM jobs \
                   WHERE queue = $1 AND status IN ('queued', 'retrying') AND dispatched_at IS NULL AND run_at <= $3 \
                   ORDER BY priority DESC, run_at, id \
                   LIMIT $2 + 1 \
                   FOR UPDATE SKIP LOCKED), \
                 pick AS ( \
                   SELECT id FROM due ORDER BY priority DESC, run_at, id \
                   LIMIT (SELECT greatest(n, 0) FROM room)), \
                 marked AS ( \
                   UPDATE jobs SET dispatched_at = $3 FROM pick WHERE jobs.id = pick.id \
                   RETURNING jobs.id, jobs.dispatch_seq, jobs.priority, jobs.run_at) \
                 SELECT id, dispatch_seq, (SELECT count(*) FROM due) > (SELECT n FROM room) AS more \
                 FROM marked ORDER BY priority DESC, run_at, id",
            )
            .bind::<Text, _>(&name)
            .bind::<BigInt, _>(window)
            .bind::<Timestamptz, _>(chrono::Utc::now())
            .load(conn)
            .await?;
            let Some(backlog) = due.iter().map(|d| d.more).next() else { return Ok(Dispatched::default()) };
            // One round trip for all of them; all pushed or none. A failed
            // push rolls the marks back.
            let pushed = due.len();
            let messages = due.into_iter().map(|d| JobMessage { job_id: d.id, dispatch_seq: d.dispatch_seq }).collect();
            pushing.push_many(&name, messages).await.map_err(PushFailed)?;
            Ok(Dispatched { pushed, backlog })
        })
        .await;
    if matches!(result, Ok(d) if d.pushed > 0) {
        broker.wake(queue).await;
    }
    match result {
        Err(e) if e.is::<PushFailed>() => {
            tracing::warn!(queue, error = %e, "dispatch deferred: redis push failed");
            Ok(Dispatched::default())
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
    /// More jobs were due than the window had room for.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    more: bool,
}

/// What one dispatch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dispatched {
    /// Messages pushed.
    pub pushed: usize,
    /// The window filled up with jobs still due: the queue has a backlog.
    pub backlog: bool,
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
    backlog_gap: std::time::Duration,
    queues: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Nudger {
    pub fn new(pool: DbPool, broker: Broker, settings: &crate::config::DispatchSettings) -> Self {
        let (window, backlog_gap) = (settings.window, std::time::Duration::from_millis(settings.backlog_gap_ms));
        Self { inner: Arc::new(NudgerInner { pool, broker, window, backlog_gap, queues: Mutex::default() }) }
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

/// One queue's dispatch task; it ends with the last [`Nudger`]. After a
/// dispatch that left jobs due (a backlog: workers, not the dispatcher, set
/// the pace), it waits `backlog_gap` before the next, so that each dispatch
/// refills more of the window instead of one slot per finished job.
async fn nudged(inner: std::sync::Weak<NudgerInner>, queue: String, notify: Arc<Notify>) {
    loop {
        notify.notified().await;
        let Some(n) = inner.upgrade() else { return };
        match dispatch_queue(&n.pool, &n.broker, &queue, n.window).await {
            Ok(d) if d.backlog => tokio::time::sleep(n.backlog_gap).await,
            Ok(_) => {}
            Err(e) => tracing::warn!(queue, error = %e, "dispatch deferred to the workers"),
        }
    }
}

/// Dispatches every queue, waiting for each queue's lock; errors are
/// logged, not returned.
pub async fn dispatch_all(pool: &DbPool, broker: &Broker, window: i64) -> usize {
    let mut total = 0;
    for queue in crate::domain::Queue::ALL.map(|q| q.as_str()) {
        match dispatch_queue(pool, broker, queue, window).await {
            Ok(d) => total += d.pushed,
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
