//! A job's life inside a worker: claim, heartbeat, progress, finish, and
//! the rescue of jobs whose worker died.
//!
//! Every transition is an `UPDATE … WHERE id = ? AND dispatch_seq = ? AND
//! status = ?` plus its `job_events` row, atomically: claims many at a
//! time in one statement (a CTE, [`claim_many`], for the worker's claimer),
//! successes many at a time ([`succeed_many`], for the batch completer),
//! the rest in a transaction each. A transition that
//! matches no row did not happen: the job moved on without us (it was
//! cancelled, rescued or finished), and the caller drops its work.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rand::Rng;
use serde_json::{json, Value};
use uuid::Uuid;

use super::events::record_event;
use super::outbox;
use super::{JobError, JobMessage};
use crate::config::{RetrySettings, Settings};
use crate::db::models::{Job, JobEvent};
use crate::db::prepared::{Bind, Statement};
use crate::db::schema::jobs::dsl as j;
use crate::db::DbPool;
use crate::domain::{JobStatus, Progress};
use crate::kinds::Kind;

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Succeeded(Value),
    Failed(JobError),
    Cancelled,
    /// The worker is shutting down: give the job back without using up the
    /// attempt.
    HandBack,
}

/// A transition that happened: the job as it is now, the event to publish,
/// and how many webhook deliveries it wrote (their queue needs a dispatch).
#[derive(Debug, Clone)]
pub struct Transition {
    pub job: Job,
    pub event: JobEvent,
    pub deliveries: usize,
}

/// Backoff before attempt `attempt + 1`: `base · 2^(attempt−1)`, capped,
/// then jittered into its upper half so retries of many jobs spread out.
pub fn backoff(retry: &RetrySettings, attempt: i32) -> Duration {
    let exp = (attempt.max(1) - 1).min(30) as u32;
    let raw = retry.base_ms.saturating_mul(1u64 << exp).min(retry.max_ms);
    let jittered = raw / 2 + rand::rng().random_range(0..=raw / 2);
    Duration::from_millis(jittered)
}

/// The wait before retrying attempt `attempt` of a job of `kind`: the
/// kind's own schedule, else `retry.*`.
pub fn backoff_for(kind: Option<&Kind>, settings: &Settings, attempt: i32) -> Duration {
    match kind.and_then(|k| k.backoff) {
        Some(f) => f(settings, attempt),
        None => backoff(&settings.retry, attempt),
    }
}

/// What a job's new status writes in its transaction: a delivery job that
/// ended without delivering fails its delivery (see
/// [`outbox::delivery_job_ended`]), the status's webhook events, and, for
/// a final status, what waits for it ([`settle_waiters`]). Returns how
/// many deliveries it wrote.
pub async fn ended(conn: &mut AsyncPgConnection, settings: &Settings, job: &Job) -> QueryResult<usize> {
    outbox::delivery_job_ended(conn, settings, job).await?;
    let mut deliveries = outbox::for_job(conn, settings, job).await?;
    if job.status.is_terminal() {
        deliveries += settle_waiters(conn, settings, std::slice::from_ref(job)).await?;
    }
    Ok(deliveries)
}

/// What waits for `jobs`, which have just ended together: the jobs that
/// depend on them ([`super::dependencies::settle`]) and the batches they
/// may complete ([`super::batches::settle`]), each locked in id order, so
/// two transactions settling overlapping sets cannot deadlock. Returns the
/// deliveries written.
async fn settle_waiters(conn: &mut AsyncPgConnection, settings: &Settings, jobs: &[Job]) -> QueryResult<usize> {
    Ok(super::dependencies::settle(conn, settings, jobs).await? + super::batches::settle(conn, settings, jobs).await?)
}

/// A job and the event of its new state, from one statement that changed
/// both (a claim, a success).
#[derive(QueryableByName)]
struct Changed {
    #[diesel(embed)]
    job: Job,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    event_id: i64,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    event_data: Value,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    event_created_at: DateTime<Utc>,
}

impl Changed {
    /// The transition to `status`, with no deliveries yet.
    fn into_transition(self, status: JobStatus) -> Transition {
        let event = JobEvent {
            id: self.event_id,
            job_id: self.job.id,
            kind: "state".into(),
            status: Some(status.as_str().into()),
            data: self.event_data,
            created_at: self.event_created_at,
        };
        Transition { job: self.job, event, deliveries: 0 }
    }
}

/// A succeeded job, its event, and whether its tenant has endpoints that
/// subscribe to `job.succeeded`.
#[derive(QueryableByName)]
struct Ended {
    #[diesel(embed)]
    changed: Changed,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    subscribed: bool,
    /// Other jobs depend on it, or it belongs to a batch.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    waited_for: bool,
}

/// Claims the job a message points at; see [`claim_many`].
pub async fn claim(pool: &DbPool, msg: &JobMessage, worker: &str) -> anyhow::Result<Option<Transition>> {
    Ok(claim_many(pool, std::slice::from_ref(msg), worker).await?.pop().flatten())
}

/// The hot statements, by name in the statement cache.
///
/// Both look their jobs up by the primary key, and test the status as
/// `(…) IS TRUE`: the same test in a `WHERE`, but one Postgres cannot match
/// to a partial index on status (`jobs_tenant_open`, `jobs_running`).
/// With a plain `status IN (…)`, statistics from before a burst (few jobs
/// waiting) made the planner read every waiting job through such an index
/// and join them to the ids: 5–10 ms a claim, growing with the backlog,
/// in the queue bench's first seconds.
struct ClaimMany;
struct SucceedMany;

/// Claims the jobs many messages point at, and records their `running`
/// events, in one prepared statement (one round trip, atomic on its own). Answers
/// in order; `None` means the message is stale (the job finished, was
/// cancelled, or was dispatched again since) or repeats an earlier message
/// of the same batch.
pub async fn claim_many(pool: &DbPool, msgs: &[JobMessage], worker: &str) -> anyhow::Result<Vec<Option<Transition>>> {
    use diesel::sql_types::{Array, Int4, Text};
    let ids: Vec<Uuid> = msgs.iter().map(|m| m.job_id).collect();
    let seqs: Vec<i32> = msgs.iter().map(|m| m.dispatch_seq).collect();
    let mut conn = pool.get().await?;
    let claimed: Vec<Changed> = Statement::<ClaimMany>::new(concat!(
        "WITH claimed AS ( \
           UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = now(), \
             heartbeat_at = now(), worker = $3, dispatched_at = NULL \
           FROM unnest($1, $2) AS m(id, seq) \
           WHERE jobs.id = m.id AND jobs.dispatch_seq = m.seq AND (jobs.status IN ('queued', 'retrying')) IS TRUE \
             AND jobs.cancel_requested_at IS NULL \
           RETURNING ",
        crate::job_columns!("jobs."),
        "), \
         event AS ( \
           INSERT INTO job_events (job_id, kind, status, data) \
           SELECT id, 'state', 'running', jsonb_build_object('attempt', attempts, 'worker', $3::text) \
           FROM claimed RETURNING id, job_id, data, created_at) \
         SELECT claimed.*, event.id AS event_id, event.data AS event_data, event.created_at AS event_created_at \
         FROM claimed JOIN event ON event.job_id = claimed.id"
    ))
    .bind::<Array<diesel::sql_types::Uuid>, _>(&ids)
    .bind::<Array<Int4>, _>(&seqs)
    .bind::<Text, _>(worker)
    .load(&mut conn)
    .await?;
    let mut by_id: std::collections::HashMap<(Uuid, i32), Transition> =
        claimed.into_iter().map(|c| ((c.job.id, c.job.dispatch_seq), c.into_transition(JobStatus::Running))).collect();
    // A job is updated once even if two messages of the batch name it (a
    // claim keeps the sequence): the first matching message gets it.
    Ok(msgs.iter().map(|m| by_id.remove(&(m.job_id, m.dispatch_seq))).collect())
}

/// What a heartbeat learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    /// Still ours; keep going.
    Alive,
    /// Still ours, and someone asked to cancel it.
    CancelRequested,
    /// No longer ours (rescued or finished elsewhere): stop without writing.
    Lost,
}

/// Writes a running job's heartbeat and reads whether it was cancelled.
pub async fn heartbeat(pool: &DbPool, job_id: Uuid, seq: i32) -> anyhow::Result<Beat> {
    let mut conn = pool.get().await?;
    let row: Option<Option<DateTime<Utc>>> = diesel::update(
        j::jobs.filter(j::id.eq(job_id)).filter(j::dispatch_seq.eq(seq)).filter(j::status.eq(JobStatus::Running)),
    )
    .set(j::heartbeat_at.eq(Utc::now()))
    .returning(j::cancel_requested_at)
    .get_result(&mut conn)
    .await
    .optional()?;
    Ok(match row {
        None => Beat::Lost,
        Some(Some(_)) => Beat::CancelRequested,
        Some(None) => Beat::Alive,
    })
}

/// Records progress of a running job (and its throttled `job.progress`
/// deliveries). `None` if the job is no longer ours.
pub async fn progress(
    pool: &DbPool,
    settings: &Settings,
    job_id: Uuid,
    seq: i32,
    p: &Progress,
) -> anyhow::Result<Option<Transition>> {
    let mut conn = pool.get().await?;
    let data = serde_json::to_value(p)?;
    Ok((*conn)
        .transaction::<_, diesel::result::Error, _>(async move |conn: &mut AsyncPgConnection| {
            let job: Option<Job> = diesel::update(
                j::jobs
                    .filter(j::id.eq(job_id))
                    .filter(j::dispatch_seq.eq(seq))
                    .filter(j::status.eq(JobStatus::Running)),
            )
            .set((j::progress.eq(&data), j::heartbeat_at.eq(Utc::now())))
            .returning(Job::as_returning())
            .get_result(conn)
            .await
            .optional()?;
            let Some(job) = job else { return Ok(None) };
            let event = record_event(conn, job_id, "progress", None, data).await?;
            let deliveries = outbox::for_progress(conn, settings, &job).await?;
            Ok(Some(Transition { job, event, deliveries }))
        })
        .await?)
}

/// Ends the attempt of a job this worker claimed, with the status's webhook
/// deliveries in the same transaction. A retry waits `backoff`. `None` if
/// the job is no longer ours (then nothing is written).
pub async fn finish(
    pool: &DbPool,
    job: &Job,
    outcome: Outcome,
    settings: &Settings,
    backoff: Duration,
) -> anyhow::Result<Option<Transition>> {
    let mut conn = pool.get().await?;
    let (id, seq, attempts, max) = (job.id, job.dispatch_seq, job.attempts, job.max_attempts);
    Ok((*conn)
        .transaction::<_, diesel::result::Error, _>(async move |conn: &mut AsyncPgConnection| {
            let mine =
                j::jobs.filter(j::id.eq(id)).filter(j::dispatch_seq.eq(seq)).filter(j::status.eq(JobStatus::Running));
            // A cancel that landed while the attempt ran wins over a retry
            // or a hand-back: a waiting job with a cancel request is never
            // claimed again, so it must end here.
            let cancel_requested: Option<Option<DateTime<Utc>>> =
                mine.select(j::cancel_requested_at).for_update().first(conn).await.optional()?;
            let Some(cancel_requested) = cancel_requested else { return Ok(None) };
            let outcome = match outcome {
                Outcome::HandBack if cancel_requested.is_some() => Outcome::Cancelled,
                Outcome::Failed(e) if e.retryable && attempts < max && cancel_requested.is_some() => Outcome::Cancelled,
                other => other,
            };
            let now = Utc::now();
            let none_ts = None::<DateTime<Utc>>;
            let (status, data, updated) = match outcome {
                Outcome::Succeeded(result) => {
                    let q = diesel::update(mine)
                        .set((j::status.eq(JobStatus::Succeeded), j::result.eq(result), j::finished_at.eq(now)))
                        .returning(Job::as_returning());
                    (JobStatus::Succeeded, json!({"attempt": attempts}), q.get_result(conn).await.optional()?)
                }
                Outcome::Failed(err) if err.retryable && attempts < max => {
                    let retry_at = now + backoff;
                    let q = diesel::update(mine)
                        .set((
                            j::status.eq(JobStatus::Retrying),
                            j::run_at.eq(retry_at),
                            j::dispatch_seq.eq(j::dispatch_seq + 1),
                            j::dispatched_at.eq(none_ts),
                            j::worker.eq(None::<String>),
                            j::error_code.eq(&err.code),
                            j::error_message.eq(&err.message),
                        ))
                        .returning(Job::as_returning());
                    let data =
                        json!({"attempt": attempts, "code": err.code, "message": err.message, "retry_at": retry_at});
                    (JobStatus::Retrying, data, q.get_result(conn).await.optional()?)
                }
                Outcome::Failed(err) => {
                    let status = if err.retryable { JobStatus::Dead } else { JobStatus::Failed };
                    let q = diesel::update(mine)
                        .set((
                            j::status.eq(status),
                            j::finished_at.eq(now),
                            j::error_code.eq(&err.code),
                            j::error_message.eq(&err.message),
                        ))
                        .returning(Job::as_returning());
                    let data = json!({"attempt": attempts, "code": err.code, "message": err.message});
                    (status, data, q.get_result(conn).await.optional()?)
                }
                Outcome::Cancelled => {
                    let q = diesel::update(mine)
                        .set((
                            j::status.eq(JobStatus::Cancelled),
                            j::finished_at.eq(now),
                            j::error_code.eq("cancelled"),
                            j::error_message.eq("cancelled while running"),
                        ))
                        .returning(Job::as_returning());
                    (JobStatus::Cancelled, json!({"attempt": attempts}), q.get_result(conn).await.optional()?)
                }
                Outcome::HandBack => {
                    let q = diesel::update(mine)
                        .set((
                            j::status.eq(JobStatus::Queued),
                            j::attempts.eq(j::attempts - 1),
                            j::run_at.eq(now),
                            j::dispatch_seq.eq(j::dispatch_seq + 1),
                            j::dispatched_at.eq(none_ts),
                            j::worker.eq(None::<String>),
                        ))
                        .returning(Job::as_returning());
                    (JobStatus::Queued, json!({"handed_back": true}), q.get_result(conn).await.optional()?)
                }
            };
            let Some(job) = updated else { return Ok(None) };
            if status == JobStatus::Succeeded {
                count_success(conn, &job).await?;
            }
            let event = record_event(conn, id, "state", Some(status), data).await?;
            let deliveries = ended(conn, settings, &job).await?;
            Ok(Some(Transition { job, event, deliveries }))
        })
        .await?)
}

/// Counts one success in `job_outcomes` (the outcome trigger counts every
/// other ending; [`succeed_many`] counts its own in its statement).
async fn count_success(conn: &mut AsyncPgConnection, job: &Job) -> QueryResult<usize> {
    use diesel::sql_types::{Text, Timestamptz};
    diesel::sql_query(
        "INSERT INTO job_outcomes (tenant_id, bucket, queue, status, backend, n) \
         VALUES ($1, outcome_bucket($2), $3, 'succeeded', pg_backend_pid(), 1) \
         ON CONFLICT (tenant_id, bucket, queue, status, backend) DO UPDATE SET n = job_outcomes.n + 1",
    )
    .bind::<diesel::sql_types::Uuid, _>(job.tenant_id)
    .bind::<Timestamptz, _>(job.finished_at.unwrap_or_else(Utc::now))
    .bind::<Text, _>(&job.queue)
    .execute(conn)
    .await
}

/// Ends many succeeded attempts in one transaction: one statement (a CTE)
/// updates the jobs from `unnest(…)`, inserts their events, counts them in
/// `job_outcomes` (one row per tenant and queue; the outcome trigger leaves
/// successes to their writers) and says which
/// tenants have endpoints subscribed to `job.succeeded`; then the outbox
/// rows of the jobs that need them (a callback, or subscribers). A job that
/// is no longer running under that dispatch, or that was asked to cancel,
/// is left alone and answered `None`: the caller ends it through
/// [`finish`], which knows what to do with it.
pub async fn succeed_many(
    pool: &DbPool,
    settings: &Settings,
    done: &[(Uuid, i32, Value)],
) -> anyhow::Result<Vec<Option<Transition>>> {
    use diesel::sql_types::{Array, Int4, Jsonb};
    let mut conn = pool.get().await?;
    let ids: Vec<Uuid> = done.iter().map(|d| d.0).collect();
    let seqs: Vec<i32> = done.iter().map(|d| d.1).collect();
    let results: Vec<Value> = done.iter().map(|d| d.2.clone()).collect();
    let event_type = outbox::job_event_type(JobStatus::Succeeded).expect("a success is reported");
    let mut ended: std::collections::HashMap<Uuid, Transition> = (*conn)
        .transaction::<_, diesel::result::Error, _>(async move |conn: &mut AsyncPgConnection| {
            let rows: Vec<Ended> = Statement::<SucceedMany>::new(concat!(
                "WITH done AS ( \
                   UPDATE jobs SET status = 'succeeded', result = v.result, finished_at = now() \
                   FROM unnest($1, $2, $3) AS v(id, seq, result) \
                   WHERE jobs.id = v.id AND jobs.dispatch_seq = v.seq AND (jobs.status = 'running') IS TRUE \
                     AND jobs.cancel_requested_at IS NULL \
                   RETURNING ",
                crate::job_columns!("jobs."),
                "), \
                 event AS ( \
                   INSERT INTO job_events (job_id, kind, status, data) \
                   SELECT id, 'state', 'succeeded', jsonb_build_object('attempt', attempts) FROM done \
                   RETURNING id, job_id, data, created_at), \
                 counted AS ( \
                   INSERT INTO job_outcomes (tenant_id, bucket, queue, status, backend, n) \
                   SELECT tenant_id, outcome_bucket(finished_at), queue, 'succeeded', pg_backend_pid(), count(*) \
                   FROM done GROUP BY 1, 2, 3 \
                   ON CONFLICT (tenant_id, bucket, queue, status, backend) \
                   DO UPDATE SET n = job_outcomes.n + excluded.n) \
                 SELECT done.*, event.id AS event_id, event.data AS event_data, \
                   event.created_at AS event_created_at, \
                   EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.tenant_id = done.tenant_id \
                     AND e.enabled AND e.event_types @> ARRAY[$4]) AS subscribed, \
                   (EXISTS (SELECT 1 FROM job_dependencies d WHERE d.depends_on = done.id) \
                     OR EXISTS (SELECT 1 FROM job_batch_members m WHERE m.job_id = done.id)) AS waited_for \
                 FROM done JOIN event ON event.job_id = done.id"
            ))
            .bind::<Array<diesel::sql_types::Uuid>, _>(&ids)
            .bind::<Array<Int4>, _>(&seqs)
            .bind::<Array<Jsonb>, _>(&results)
            .bind::<diesel::sql_types::Text, _>(event_type)
            .load(conn)
            .await?;
            let mut out = std::collections::HashMap::with_capacity(rows.len());
            let mut waited_for = Vec::new();
            for row in rows {
                let mut t = row.changed.into_transition(JobStatus::Succeeded);
                // A success ends no delivery; only a callback or
                // subscribers make outbox rows, and only some jobs have
                // dependents or a batch.
                if t.job.callback_url.is_some() || row.subscribed {
                    t.deliveries = outbox::for_job(conn, settings, &t.job).await?;
                }
                if row.waited_for {
                    waited_for.push(t.job.clone());
                }
                out.insert(t.job.id, t);
            }
            let settled = settle_waiters(conn, settings, &waited_for).await?;
            if let Some(t) = waited_for.as_slice().first().and_then(|j| out.get_mut(&j.id)) {
                // What settling wrote counts once, on any of the jobs.
                t.deliveries += settled;
            }
            Ok(out)
        })
        .await?;
    Ok(done.iter().map(|(id, _, _)| ended.remove(id)).collect())
}

/// Rescues running jobs whose heartbeat is older than `stale`: they go
/// back to `retrying` or, with no attempts left, to `dead`, with code
/// `worker_lost`; one that was asked to cancel goes to `cancelled`. A
/// rescued job keeps its `run_at`: its turn came already, so it runs again
/// at once, ahead of the jobs queued after it, not behind a backlog.
/// Returns the transitions made.
pub async fn rescue(pool: &DbPool, settings: &Settings, stale: Duration) -> anyhow::Result<Vec<Transition>> {
    let mut conn = pool.get().await?;
    let cutoff = Utc::now() - stale;
    Ok((*conn)
        .transaction::<_, diesel::result::Error, _>(async move |conn: &mut AsyncPgConnection| {
            let stuck: Vec<Job> = j::jobs
                .filter(j::status.eq(JobStatus::Running))
                .filter(j::heartbeat_at.lt(cutoff))
                .select(Job::as_select())
                .limit(100)
                .for_update()
                .skip_locked()
                .load(conn)
                .await?;
            let mut out = Vec::with_capacity(stuck.len());
            for job in stuck {
                let mut message = format!("worker {} stopped heartbeating", job.worker.as_deref().unwrap_or("?"));
                let mut code = "worker_lost";
                // A job whose attempts keep taking their worker down is
                // poison: after its kind's `rescued_max` such rescues it is
                // not handed to the next worker.
                let rescued_before: i64 = crate::db::schema::job_events::table
                    .filter(crate::db::schema::job_events::job_id.eq(job.id))
                    .filter(diesel::dsl::sql::<diesel::sql_types::Bool>("data->>'code' = 'worker_lost'"))
                    .count()
                    .get_result(conn)
                    .await?;
                let rescued_max = crate::kinds::find(&job.kind).map_or(Kind::RESCUED_MAX, |k| k.rescued_max);
                let poison = rescued_before + 1 >= i64::from(rescued_max);
                if poison {
                    code = "poison_job";
                    message =
                        format!("{message}: its worker was lost {} times, so it is not run again", rescued_before + 1);
                }
                // A job someone asked to cancel is not run again.
                let status = if job.cancel_requested_at.is_some() {
                    JobStatus::Cancelled
                } else if poison || job.attempts >= job.max_attempts {
                    JobStatus::Dead
                } else {
                    JobStatus::Retrying
                };
                let finished = status.is_terminal().then(Utc::now);
                let updated: Job = diesel::update(j::jobs.find(job.id))
                    .set((
                        j::status.eq(status),
                        j::finished_at.eq(finished),
                        j::dispatch_seq.eq(j::dispatch_seq + 1),
                        j::dispatched_at.eq(None::<DateTime<Utc>>),
                        j::worker.eq(None::<String>),
                        j::error_code.eq(code),
                        j::error_message.eq(&message),
                    ))
                    .returning(Job::as_returning())
                    .get_result(conn)
                    .await?;
                let data = json!({"attempt": job.attempts, "code": code, "message": message});
                let event = record_event(conn, job.id, "state", Some(status), data).await?;
                let deliveries = ended(conn, settings, &updated).await?;
                out.push(Transition { job: updated, event, deliveries });
            }
            Ok(out)
        })
        .await?)
}

/// Ends waiting (`queued`/`retrying`) jobs that carry a cancel request as
/// `cancelled`, with their events and deliveries. `claim` refuses such a
/// job, so left alone it would hold a dispatch slot for good. Returns the
/// transitions made.
pub async fn cancel_requested_waiting(pool: &DbPool, settings: &Settings) -> anyhow::Result<Vec<Transition>> {
    let mut conn = pool.get().await?;
    Ok((*conn)
        .transaction::<_, diesel::result::Error, _>(async move |conn: &mut AsyncPgConnection| {
            let now = Utc::now();
            let swept: Vec<Job> = diesel::update(
                j::jobs
                    .filter(j::status.eq_any([JobStatus::Queued, JobStatus::Retrying]))
                    .filter(j::cancel_requested_at.is_not_null()),
            )
            .set((
                j::status.eq(JobStatus::Cancelled),
                j::finished_at.eq(now),
                j::dispatch_seq.eq(j::dispatch_seq + 1),
                j::dispatched_at.eq(None::<DateTime<Utc>>),
            ))
            .returning(Job::as_returning())
            .get_results(conn)
            .await?;
            let mut out = Vec::with_capacity(swept.len());
            for job in swept {
                let event =
                    record_event(conn, job.id, "state", Some(JobStatus::Cancelled), json!({"by": "sweep"})).await?;
                let deliveries = ended(conn, settings, &job).await?;
                out.push(Transition { job, event, deliveries });
            }
            Ok(out)
        })
        .await?)
}

/// Makes dispatched jobs that no worker claimed within `older_than`
/// dispatchable again (their message was lost, e.g. Redis lost data). The
/// old message, if it still exists, becomes stale.
pub async fn redispatch_lost(pool: &DbPool, older_than: Duration) -> anyhow::Result<usize> {
    let mut conn = pool.get().await?;
    let cutoff = Utc::now() - older_than;
    Ok(diesel::update(
        j::jobs.filter(j::status.eq_any([JobStatus::Queued, JobStatus::Retrying])).filter(j::dispatched_at.lt(cutoff)),
    )
    .set((j::dispatch_seq.eq(j::dispatch_seq + 1), j::dispatched_at.eq(None::<DateTime<Utc>>)))
    .execute(&mut conn)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let r = RetrySettings { base_ms: 1000, max_ms: 5000, default_max_attempts: 3 };
        for _ in 0..50 {
            let b1 = backoff(&r, 1).as_millis();
            assert!((500..=1000).contains(&b1), "{b1}");
            let b2 = backoff(&r, 2).as_millis();
            assert!((1000..=2000).contains(&b2), "{b2}");
            let b9 = backoff(&r, 9).as_millis();
            assert!((2500..=5000).contains(&b9), "{b9}");
        }
    }
}
