//! Moves committed, due jobs from Postgres into their apalis queues.
//!
//! Runs in every worker on a timer, and wherever a [`Nudger`] is asked (the
//! API after a submission, a worker after a finished job). A per-queue
//! advisory lock serialises dispatchers, so the window is respected across
//! processes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tokio::sync::Notify;
use uuid::Uuid;

use super::dispatch_sql::{DISPATCH, LOOK, ONE_TENANT};
use super::{Broker, JobMessage};
use crate::db::prepared::{Bind, Statement};
use crate::db::schema::jobs::dsl as j;
use crate::db::{DbConn, DbPool};
use crate::domain::JobStatus;

/// How a dispatch shares a queue: its window, whether tenants take turns,
/// and the default per-tenant caps by queue (`limits.concurrency`; a
/// tenant's own, in `tenant_limits`, win).
#[derive(Debug, Clone)]
pub struct Rules {
    pub window: i64,
    pub fair_share: bool,
    pub caps: std::collections::BTreeMap<String, u32>,
}

impl Rules {
    pub fn of(settings: &crate::config::Settings) -> Self {
        let (window, fair_share) = (settings.dispatch.window, settings.dispatch.fair_share);
        Self { window, fair_share, caps: settings.limits.concurrency.clone() }
    }

    fn cap(&self, queue: &str) -> i32 {
        self.caps.get(queue).map_or(0, |c| (*c).min(i32::MAX as u32) as i32)
    }
}

/// Pushes up to `window − in transit` due jobs of `queue`, shared between
/// tenants as [`Rules`] say. Says how many were pushed and whether more
/// were due. Jobs whose push failed stay undispatched and are tried again
/// on the next call.
///
/// Five Postgres round trips whatever the count (`BEGIN`, the queue's
/// lock, what to do ([`LOOK`]: the room left in the window, the waiting
/// tenants), one statement that picks the due jobs and marks them
/// ([`ONE_TENANT`] when one tenant without a cap waits, else [`DISPATCH`]),
/// `COMMIT`; an idle queue or a full window stops after the look) and one
/// Redis round trip for all the messages. Waiting for the lock (not skipping when another
/// process holds it) means a job committed while that dispatcher was
/// selecting is still dispatched now, by this call; and since dispatches
/// of a queue take turns, a tenant's cap holds across processes.
pub async fn dispatch_queue(pool: &DbPool, broker: &Broker, queue: &str, rules: &Rules) -> anyhow::Result<Dispatched> {
    let mut conn: DbConn = pool.get().await?;
    let (pushing, name) = (broker.clone(), queue.to_string());
    let (window, cap, fair_share) = (rules.window, rules.cap(queue), rules.fair_share);
    let result = (*conn)
        .transaction::<Dispatched, anyhow::Error, _>(async move |conn: &mut AsyncPgConnection| {
            crate::db::prepared::advisory_xact_lock(format!("dispatch:{name}")).execute(conn).await?;
            let look: Vec<Look> = Statement::<Looked>::new(LOOK)
                .bind::<Text, _>(&name)
                .bind::<BigInt, _>(window)
                .bind::<Integer, _>(cap)
                .load(conn)
                .await?;
            let Some(first) = look.iter().next() else { return Ok(Dispatched::default()) };
            if first.room <= 0 {
                // The window is full: workers, not this dispatch, set the pace.
                return Ok(Dispatched { pushed: 0, backlog: true });
            }
            let (room, now) = (first.room, chrono::Utc::now());
            let due: Vec<Due> = if look.len() == 1 && first.cap <= 0 {
                Statement::<OneTenant>::new(ONE_TENANT)
                    .bind::<Text, _>(&name)
                    .bind::<BigInt, _>(room)
                    .bind::<Timestamptz, _>(now)
                    .bind::<diesel::sql_types::Uuid, _>(first.tenant_id)
                    .load(conn)
                    .await?
            } else {
                Statement::<FairShare>::new(DISPATCH)
                    .bind::<Text, _>(&name)
                    .bind::<BigInt, _>(room)
                    .bind::<Timestamptz, _>(now)
                    .bind::<Integer, _>(cap)
                    .bind::<Bool, _>(fair_share)
                    .load(conn)
                    .await?
            };
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

/// The statements of a dispatch, by name in the statement cache.
struct Looked;
struct OneTenant;
struct FairShare;

/// What [`LOOK`] read: the room left, and a waiting tenant with its cap.
#[derive(diesel::QueryableByName)]
struct Look {
    #[diesel(sql_type = BigInt)]
    room: i64,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    tenant_id: Uuid,
    #[diesel(sql_type = Integer)]
    cap: i32,
}

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
    rules: Rules,
    backlog_gap: std::time::Duration,
    queues: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Nudger {
    pub fn new(pool: DbPool, broker: Broker, settings: &crate::config::Settings) -> Self {
        let (rules, backlog_gap) =
            (Rules::of(settings), std::time::Duration::from_millis(settings.dispatch.backlog_gap_ms));
        Self { inner: Arc::new(NudgerInner { pool, broker, rules, backlog_gap, queues: Mutex::default() }) }
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
        match dispatch_queue(&n.pool, &n.broker, &queue, &n.rules).await {
            Ok(d) if d.backlog => tokio::time::sleep(n.backlog_gap).await,
            Ok(_) => {}
            Err(e) => tracing::warn!(queue, error = %e, "dispatch deferred to the workers"),
        }
    }
}

/// Dispatches every queue, waiting for each queue's lock; errors are
/// logged, not returned.
pub async fn dispatch_all(pool: &DbPool, broker: &Broker, rules: &Rules) -> usize {
    let mut total = 0;
    for queue in crate::domain::Queue::ALL.map(|q| q.as_str()) {
        match dispatch_queue(pool, broker, queue, rules).await {
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
