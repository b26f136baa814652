//! A job's history, read from Postgres and followed live.
//!
//! Live following subscribes to the job's Redis channel first, then reads
//! what Postgres already has, so nothing falls between the two. It also
//! re-reads Postgres every second, so a lost pub/sub message only delays an
//! event. A published event is only a cue: what is sent is always read
//! from Postgres, in id order. Events carry their `job_events.id`, which is what `Last-Event-ID`
//! resumes from.

use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use futures::StreamExt;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::db::models::JobEvent;
use crate::db::schema::job_events;
use crate::db::DbPool;
use crate::domain::JobEventView;
use crate::error::ServiceResult;
use crate::Ctx;

/// Events of `job_id` with an id above `after`, oldest first.
pub async fn after(pool: &DbPool, job_id: Uuid, after: i64) -> ServiceResult<Vec<JobEventView>> {
    let mut conn = pool.get().await?;
    let rows: Vec<JobEvent> = job_events::table
        .filter(job_events::job_id.eq(job_id))
        .filter(job_events::id.gt(after))
        .order(job_events::id.asc())
        .select(JobEvent::as_select())
        .load(&mut conn)
        .await?;
    Ok(rows.iter().map(JobEvent::view).collect())
}

/// The last `limit` events of `job_id`, oldest first, and whether older
/// ones were left out (a page shows a bounded timeline of any job).
pub async fn latest(pool: &DbPool, job_id: Uuid, limit: i64) -> ServiceResult<(Vec<JobEventView>, bool)> {
    let mut conn = pool.get().await?;
    let mut rows: Vec<JobEvent> = job_events::table
        .filter(job_events::job_id.eq(job_id))
        .order(job_events::id.desc())
        .limit(limit + 1)
        .select(JobEvent::as_select())
        .load(&mut conn)
        .await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    rows.reverse();
    Ok((rows.iter().map(JobEvent::view).collect(), more))
}

/// Whether the job is in a final state (false if it cannot be read).
async fn finished(pool: &DbPool, job_id: Uuid) -> bool {
    use crate::db::schema::jobs;
    let Ok(mut conn) = pool.get().await else { return false };
    let status: Option<crate::domain::JobStatus> =
        jobs::table.find(job_id).select(jobs::status).first(&mut conn).await.optional().ok().flatten();
    status.is_some_and(|s| s.is_terminal())
}

fn is_final(ev: &JobEventView) -> bool {
    ev.kind == "state" && ev.status.is_some_and(|s| s.is_terminal())
}

/// Whether API key `key_id` was revoked (or deleted).
async fn revoked(pool: &DbPool, key_id: Uuid) -> bool {
    use crate::db::schema::api_keys as k;
    let Ok(mut conn) = pool.get().await else { return false };
    let row: Option<Option<chrono::DateTime<chrono::Utc>>> =
        k::table.find(key_id).select(k::revoked_at).first(&mut conn).await.optional().unwrap_or(Some(None));
    !matches!(row, Some(None))
}

/// Follows a job's events from after `last_event_id` until the job
/// finishes, or until the caller's key `key_id` is revoked (checked every
/// second). The caller has already checked that the job is theirs.
pub async fn follow(
    ctx: &Ctx,
    job_id: Uuid,
    last_event_id: i64,
    key_id: Uuid,
) -> ServiceResult<mpsc::Receiver<JobEventView>> {
    let mut live = ctx.broker.subscribe(&ctx.broker.job_channel(job_id)).await?.boxed();
    let (tx, rx) = mpsc::channel(64);
    let pool = ctx.pool.clone();
    tokio::spawn(async move {
        let mut last = last_event_id;
        let mut live_open = true;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            // Postgres first: it has everything that committed.
            let batch = after(&pool, job_id, last).await.unwrap_or_default();
            if batch.is_empty() && finished(&pool, job_id).await {
                // Resumed after the final event: nothing more will come.
                return;
            }
            for ev in batch {
                last = ev.id;
                let done = is_final(&ev);
                if tx.send(ev).await.is_err() || done {
                    return;
                }
            }
            // Wait for a published event (a cue to read Postgres again) or
            // the next tick; events are only ever sent in Postgres order.
            tokio::select! {
                _ = tick.tick() => {
                    if revoked(&pool, key_id).await {
                        return;
                    }
                }
                msg = live.next(), if live_open => {
                    live_open = msg.is_some();
                    // Streamed tokens are live only: pass them straight on.
                    let token = msg.and_then(|m| serde_json::from_str::<JobEventView>(&m).ok()).filter(|e| e.kind == "token");
                    if let Some(ev) = token {
                        if tx.send(ev).await.is_err() {
                            return;
                        }
                    }
                }
                _ = tx.closed() => return,
            }
        }
    });
    Ok(rx)
}
