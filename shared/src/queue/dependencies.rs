//! Job dependencies. A job submitted with `depends_on` waits as
//! `waiting_dependencies` until every job it names has succeeded. When a
//! job ends, [`settle`] runs in the transaction that ended it (from
//! [`super::lifecycle::ended`] and the batch completer): each waiting
//! dependent is queued once its last dependency has ended, or cancelled
//! with `dependency_failed` when a dependency failed, died or was cancelled
//! (unless it asked `run_on_failure`). A cancelled dependent settles its own
//! dependents in turn. A dependent's row is locked while it is settled, so
//! two dependencies ending at once cannot both miss the last one.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use super::record_event;
use crate::config::Settings;
use crate::db::models::Job;
use crate::db::schema::job_dependencies as d;
use crate::db::schema::jobs::dsl as j;
use crate::domain::JobStatus;

/// The most jobs one job may depend on.
pub const MAX_DEPENDENCIES: usize = 100;

/// Records that `job` depends on each of `on`, inside the transaction that
/// inserts it.
pub async fn record(conn: &mut AsyncPgConnection, job: Uuid, on: &[Uuid], run_on_failure: bool) -> QueryResult<()> {
    let rows: Vec<_> = on
        .iter()
        .map(|dep| (d::job_id.eq(job), d::depends_on.eq(*dep), d::run_on_failure.eq(run_on_failure)))
        .collect();
    diesel::insert_into(d::table).values(rows).on_conflict_do_nothing().execute(conn).await?;
    Ok(())
}

/// What `job` depends on and what depends on it.
pub async fn of(conn: &mut AsyncPgConnection, job: Uuid) -> QueryResult<(Vec<Uuid>, Vec<Uuid>)> {
    let on = d::table.filter(d::job_id.eq(job)).select(d::depends_on).order(d::depends_on).load(conn).await?;
    let by = d::table.filter(d::depends_on.eq(job)).select(d::job_id).order(d::job_id).load(conn).await?;
    Ok((on, by))
}

/// Settles the waiting dependents of `jobs`, which have just ended. A
/// dependent cancelled here has ended too, so its own dependents are
/// settled in the next round: a loop, not recursion, so a chain of any
/// length cannot exhaust the stack. Returns how many webhook deliveries the
/// cancelled dependents wrote.
pub async fn settle(conn: &mut AsyncPgConnection, settings: &Settings, jobs: &[Job]) -> QueryResult<usize> {
    let (mut ended, mut deliveries) = (jobs.to_vec(), 0);
    while !ended.is_empty() {
        let (cancelled, written) = settle_round(conn, settings, &ended).await?;
        deliveries += written;
        ended = cancelled;
    }
    Ok(deliveries)
}

/// One round: locks every waiting dependent of `ended` at once, in id
/// order, then queues those whose dependencies have all ended and cancels
/// those a failed dependency sinks. Returns the cancelled ones.
async fn settle_round(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    ended: &[Job],
) -> QueryResult<(Vec<Job>, usize)> {
    let ids: Vec<Uuid> = ended.iter().map(|j| j.id).collect();
    let waiting: Vec<(Uuid, Uuid, bool)> = d::table
        .inner_join(j::jobs.on(j::id.eq(d::job_id)))
        .filter(d::depends_on.eq_any(&ids))
        .filter(j::status.eq(JobStatus::WaitingDependencies))
        .select((d::job_id, d::depends_on, d::run_on_failure))
        .order((d::job_id, d::depends_on))
        .for_update()
        .load(conn)
        .await?;
    let (mut cancelled, mut deliveries) = (Vec::new(), 0);
    for rows in waiting.chunk_by(|a, b| a.0 == b.0) {
        let dependent = rows[0].0;
        let failed = rows.iter().find_map(|(_, dep, run_on_failure)| {
            let dep = ended.iter().find(|j| j.id == *dep)?;
            (dep.status != JobStatus::Succeeded && !run_on_failure).then_some(dep)
        });
        if let Some(dependency) = failed {
            let (job, written) = cancel(conn, settings, dependent, dependency).await?;
            deliveries += written;
            cancelled.push(job);
            continue;
        }
        let open: i64 = d::table
            .inner_join(j::jobs.on(j::id.eq(d::depends_on)))
            .filter(d::job_id.eq(dependent))
            .filter(j::status.ne_all(JobStatus::TERMINAL))
            .count()
            .get_result(conn)
            .await?;
        if open == 0 {
            diesel::update(j::jobs.find(dependent))
                .set((
                    j::status.eq(JobStatus::Queued),
                    j::run_at.eq(diesel::dsl::sql::<diesel::sql_types::Timestamptz>("greatest(run_at, now())")),
                ))
                .execute(conn)
                .await?;
            record_event(conn, dependent, "state", Some(JobStatus::Queued), json!({"dependencies": "met"})).await?;
        }
    }
    Ok((cancelled, deliveries))
}

/// Cancels `dependent` because `dependency` ended without success, with
/// its event, its webhook events and the batches it may complete. Returns
/// it, and the deliveries written.
async fn cancel(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    dependent: Uuid,
    dependency: &Job,
) -> QueryResult<(Job, usize)> {
    let message = format!("dependency {} ended {}", dependency.id, dependency.status);
    let cancelled: Job = diesel::update(j::jobs.find(dependent))
        .set((
            j::status.eq(JobStatus::Cancelled),
            j::finished_at.eq(Utc::now()),
            j::error_code.eq("dependency_failed"),
            j::error_message.eq(message),
        ))
        .returning(Job::as_returning())
        .get_result(conn)
        .await?;
    let data = json!({"dependency": dependency.id, "dependency_status": dependency.status});
    record_event(conn, dependent, "state", Some(JobStatus::Cancelled), data).await?;
    let written = super::outbox::for_job(conn, settings, &cancelled).await?
        + super::batches::settle(conn, settings, std::slice::from_ref(&cancelled)).await?;
    Ok((cancelled, written))
}
