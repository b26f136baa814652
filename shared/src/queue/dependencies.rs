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

/// Settles the waiting dependents of `job`, which has just ended. Returns
/// how many webhook deliveries the dependents it cancelled wrote.
pub fn settle<'a>(
    conn: &'a mut AsyncPgConnection,
    settings: &'a Settings,
    job: &'a Job,
) -> futures::future::BoxFuture<'a, QueryResult<usize>> {
    Box::pin(async move {
        let waiting: Vec<(Uuid, bool)> = d::table
            .inner_join(j::jobs.on(j::id.eq(d::job_id)))
            .filter(d::depends_on.eq(job.id))
            .filter(j::status.eq(JobStatus::WaitingDependencies))
            .select((d::job_id, d::run_on_failure))
            .order(d::job_id)
            .for_update()
            .load(conn)
            .await?;
        let mut deliveries = 0;
        for (dependent, run_on_failure) in waiting {
            if job.status != JobStatus::Succeeded && !run_on_failure {
                deliveries += cancel(conn, settings, dependent, job).await?;
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
        Ok(deliveries)
    })
}

/// Cancels `dependent` because `dependency` ended without success, and
/// settles what depends on it.
async fn cancel(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    dependent: Uuid,
    dependency: &Job,
) -> QueryResult<usize> {
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
    super::lifecycle::ended(conn, settings, &cancelled).await
}
