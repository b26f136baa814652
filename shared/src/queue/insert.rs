//! Inserting jobs: one statement for any number of rows and their `queued`
//! events ([`insert_rows`], which submissions, batches and the
//! [`super::inserter`] use), and a job Chorus creates itself, from typed
//! arguments, inside the caller's transaction (so the job commits with the
//! change that asked for it). The dispatcher pushes jobs to Redis after
//! the commit.

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::models::{Job, NewJob};
use crate::db::prepared::{Bind, Statement};
use crate::db::schema::jobs::dsl as j;
use crate::domain::JobStatus;
use crate::kinds::{JobArgs, Kind};

/// Inserts a job of `A` for `tenant`, due now, with the kind's attempts.
pub async fn insert<A: JobArgs>(conn: &mut AsyncPgConnection, tenant: Uuid, args: &A) -> QueryResult<Job> {
    insert_with(conn, tenant, args, A::KIND.max_attempts).await
}

/// Inserts a job of `A` for `tenant`, due now, with `max_attempts`, and its
/// `queued` event. For a unique kind, a job of the kind that is already
/// waiting or running for the tenant is returned instead (the check holds a
/// transaction-scoped lock, so concurrent callers cannot both insert).
pub async fn insert_with<A: JobArgs>(
    conn: &mut AsyncPgConnection,
    tenant: Uuid,
    args: &A,
    max_attempts: i32,
) -> QueryResult<Job> {
    Ok(put(conn, tenant, args, max_attempts).await?.0)
}

/// [`insert_with`], also saying whether a new job was inserted (`false`:
/// a unique kind's waiting or running job was found and returned).
pub async fn put<A: JobArgs>(
    conn: &mut AsyncPgConnection,
    tenant: Uuid,
    args: &A,
    max_attempts: i32,
) -> QueryResult<(Job, bool)> {
    let kind: Kind = A::KIND;
    let payload = args.to_payload();
    if !kind.unique {
        return Ok((insert_new(conn, tenant, &kind, &payload, max_attempts).await?, true));
    }
    // In a transaction (a savepoint inside the caller's), so that the lock
    // is held until the insert commits.
    conn.transaction::<_, diesel::result::Error, _>(async move |conn: &mut AsyncPgConnection| {
        crate::db::prepared::advisory_xact_lock(format!("unique:{}:{tenant}", kind.name)).execute(conn).await?;
        let open = [JobStatus::Queued, JobStatus::Retrying, JobStatus::Running];
        let existing: Option<Job> = j::jobs
            .filter(j::tenant_id.eq(tenant))
            .filter(j::kind.eq(kind.name))
            .filter(j::status.eq_any(open))
            .select(Job::as_select())
            .first(conn)
            .await
            .optional()?;
        if let Some(job) = existing {
            return Ok((job, false));
        }
        Ok((insert_new(conn, tenant, &kind, &payload, max_attempts).await?, true))
    })
    .await
}

/// Inserts one job (no idempotency key) and its `queued` event.
async fn insert_new(
    conn: &mut AsyncPgConnection,
    tenant: Uuid,
    kind: &Kind,
    payload: &serde_json::Value,
    max_attempts: i32,
) -> QueryResult<Job> {
    let new = NewJob { max_attempts, ..queued(tenant, kind, payload) };
    // Without an idempotency key nothing conflicts, so a row comes back.
    insert_row(conn, &new).await?.ok_or(diesel::result::Error::NotFound)
}

/// A job of `kind` for `tenant`, due now, with the kind's attempts,
/// priority 0, no callback and no idempotency key: the row jobs Chorus
/// makes itself start from (`..queued(…)`).
pub fn queued<'a>(tenant: Uuid, kind: &Kind, payload: &'a serde_json::Value) -> NewJob<'a> {
    NewJob {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        kind: kind.name,
        queue: kind.queue.as_str(),
        priority: 0,
        status: JobStatus::Queued,
        max_attempts: kind.max_attempts,
        run_at: Utc::now(),
        payload,
        idempotency_key: None,
        request_hash: None,
        callback_url: None,
    }
}

/// Inserts `new` and its `queued` event in one statement (one round trip,
/// atomic on its own; [`insert_rows`] with one row). `None`: the tenant
/// already has a job with its idempotency key (nothing was written).
pub async fn insert_row(conn: &mut AsyncPgConnection, new: &NewJob<'_>) -> QueryResult<Option<Job>> {
    Ok(insert_rows(conn, std::slice::from_ref(new)).await?.pop().flatten())
}

/// The statement of [`insert_rows`].
struct InsertRows;

/// Inserts `rows` and their `queued` events in one prepared statement
/// (`unnest` of one array per column, so its text is the same for any
/// count, and the events in the same CTE): one round trip for all of them,
/// atomic on its own. Answers in order; `None` for a row whose idempotency key the tenant
/// already holds, or that repeats an earlier row's key (nothing is written
/// for it).
pub async fn insert_rows(conn: &mut AsyncPgConnection, rows: &[NewJob<'_>]) -> QueryResult<Vec<Option<Job>>> {
    use diesel::sql_types::{Array, Int2, Int4, Jsonb, Nullable, Timestamptz, Uuid as SqlUuid};
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let inserted: Vec<Job> = Statement::<InsertRows>::new(concat!(
        "WITH job AS ( \
           INSERT INTO jobs (id, tenant_id, kind, queue, priority, status, max_attempts, run_at, payload, \
             idempotency_key, request_hash, callback_url) \
           SELECT * FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
           ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
           RETURNING ",
        crate::job_columns!(""),
        "), \
         event AS ( \
           INSERT INTO job_events (job_id, kind, status, data) \
           SELECT id, 'state', status, '{}'::jsonb FROM job) \
         SELECT * FROM job"
    ))
    .bind::<Array<SqlUuid>, _>(rows.iter().map(|r| r.id).collect::<Vec<_>>())
    .bind::<Array<SqlUuid>, _>(rows.iter().map(|r| r.tenant_id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.kind).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.queue).collect::<Vec<_>>())
    .bind::<Array<Int2>, _>(rows.iter().map(|r| r.priority).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.status.as_str()).collect::<Vec<_>>())
    .bind::<Array<Int4>, _>(rows.iter().map(|r| r.max_attempts).collect::<Vec<_>>())
    .bind::<Array<Timestamptz>, _>(rows.iter().map(|r| r.run_at).collect::<Vec<_>>())
    .bind::<Array<Jsonb>, _>(rows.iter().map(|r| r.payload).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(rows.iter().map(|r| r.idempotency_key).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(rows.iter().map(|r| r.request_hash).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(rows.iter().map(|r| r.callback_url).collect::<Vec<_>>())
    .load(conn)
    .await?;
    let mut by_id: std::collections::HashMap<Uuid, Job> = inserted.into_iter().map(|j| (j.id, j)).collect();
    Ok(rows.iter().map(|r| by_id.remove(&r.id)).collect())
}

/// [`insert_rows`], keeping only the jobs that were inserted.
pub async fn insert_many(conn: &mut AsyncPgConnection, rows: &[NewJob<'_>]) -> QueryResult<Vec<Job>> {
    Ok(insert_rows(conn, rows).await?.into_iter().flatten().collect())
}
