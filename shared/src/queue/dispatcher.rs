//! Moves committed, due jobs from Postgres into their apalis queues.
//!
//! Runs in the API after each submission and in every worker on a timer and
//! after each finished job. A per-queue advisory lock serialises dispatchers,
//! so the window is respected across processes.

use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{Broker, JobMessage};
use crate::db::schema::jobs::dsl as j;
use crate::db::{DbConn, DbPool};
use crate::domain::JobStatus;

const WAITING: [JobStatus; 2] = [JobStatus::Queued, JobStatus::Retrying];

/// Whether a dispatcher waits for the queue's lock or leaves the work to
/// whoever holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// Wait for the lock (the periodic tick: it must not skip a round).
    Wait,
    /// Skip if another dispatcher is at work (hot paths: after a submit or a
    /// finished job). A job committed while the holder was already selecting
    /// is picked up by the next dispatch, at worst the next tick.
    Try,
}

/// Pushes up to `window − in transit` due jobs of `queue`, highest priority
/// first. Returns how many were pushed. Jobs whose push failed stay
/// undispatched and are tried again on the next call.
pub async fn dispatch_queue(
    pool: &DbPool,
    broker: &Broker,
    queue: &str,
    window: i64,
    lock: Lock,
) -> anyhow::Result<usize> {
    let mut conn: DbConn = pool.get().await?;
    let broker = broker.clone();
    let queue = queue.to_string();
    (*conn)
        .transaction::<usize, anyhow::Error, _>(async move |conn: &mut AsyncPgConnection| {
            let key = format!("dispatch:{queue}");
            match lock {
                Lock::Wait => {
                    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1))")
                        .bind::<Text, _>(key)
                        .execute(conn)
                        .await?;
                }
                Lock::Try => {
                    let got: Locked = diesel::sql_query("SELECT pg_try_advisory_xact_lock(hashtext($1)) AS locked")
                        .bind::<Text, _>(key)
                        .get_result(conn)
                        .await?;
                    if !got.locked {
                        return Ok(0);
                    }
                }
            }
            let in_transit: i64 = j::jobs
                .filter(j::queue.eq(&queue))
                .filter(j::status.eq_any(WAITING))
                .filter(j::dispatched_at.is_not_null())
                .count()
                .get_result(conn)
                .await?;
            let room = window - in_transit;
            if room <= 0 {
                return Ok(0);
            }
            let due: Vec<(Uuid, i32)> = j::jobs
                .filter(j::queue.eq(&queue))
                .filter(j::status.eq_any(WAITING))
                .filter(j::dispatched_at.is_null())
                .filter(j::run_at.le(chrono::Utc::now()))
                .order((j::priority.desc(), j::run_at.asc(), j::id.asc()))
                .limit(room)
                .select((j::id, j::dispatch_seq))
                .for_update()
                .skip_locked()
                .load(conn)
                .await?;
            // One round trip for all of them; all pushed or none.
            let pushed: Vec<Uuid> = due.iter().map(|(id, _)| *id).collect();
            let messages = due.into_iter().map(|(job_id, dispatch_seq)| JobMessage { job_id, dispatch_seq }).collect();
            if let Err(e) = broker.push_many(&queue, messages).await {
                tracing::warn!(queue, error = %e, jobs = pushed.len(), "dispatch deferred: redis push failed");
                return Ok(0);
            }
            if !pushed.is_empty() {
                diesel::update(j::jobs.filter(j::id.eq_any(&pushed)))
                    .set(j::dispatched_at.eq(chrono::Utc::now()))
                    .execute(conn)
                    .await?;
                broker.wake(&queue).await;
            }
            Ok(pushed.len())
        })
        .await
}

#[derive(diesel::QueryableByName)]
struct Locked {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    locked: bool,
}

/// Dispatches every queue, waiting for each queue's lock; errors are
/// logged, not returned.
pub async fn dispatch_all(pool: &DbPool, broker: &Broker, window: i64) -> usize {
    let mut total = 0;
    for queue in crate::domain::Queue::ALL.map(|q| q.as_str()) {
        match dispatch_queue(pool, broker, queue, window, Lock::Wait).await {
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
