//! Batch callbacks (Sidekiq's batches). A batch of `POST /v1/jobs/batch`
//! that asks for `on_complete` (a job) or `callback_url` is recorded with
//! its jobs as members. When a job ends, [`settle`] runs in the transaction
//! that ended it: for each open batch it belongs to, with the batch's row
//! locked (so two last jobs ending at once cannot both miss the end), it
//! checks whether every member has ended; then it marks the batch complete,
//! once, records `batch.completed` (counts by status) for subscribed
//! endpoints and the batch's `callback_url`, and queues the `on_complete`
//! job.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::{json, Value};
use uuid::Uuid;

use super::outbox::{self, Target};
use crate::config::Settings;
use crate::db::models::{Job, NewJob};
use crate::db::schema::jobs::dsl as j;
use crate::db::schema::{job_batch_members as m, job_batches as b};
use crate::domain::JobStatus;

/// The event a completed batch reports.
pub const EVENT: &str = "batch.completed";

/// What a batch does when its last job has ended.
pub struct NewBatch<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub callback_url: Option<&'a str>,
    /// The job to submit (a checked `JobTemplate`), with its kind's queue.
    pub on_complete: Option<Value>,
    /// Report nothing (no `batch.completed`): the batch serves another
    /// that reports for itself.
    pub quiet: bool,
}

/// Records a batch and its members, in the transaction that inserted them;
/// a batch whose members have all ended already completes at once. Returns
/// the deliveries written.
pub async fn record(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    batch: NewBatch<'_>,
    members: &[Uuid],
) -> QueryResult<usize> {
    // Two items of a batch may name one job (the same idempotency key).
    let members: BTreeSet<&Uuid> = members.iter().collect();
    let id = batch.id;
    open(conn, batch, members.len()).await?;
    add_members(conn, settings, id, &members.into_iter().copied().collect::<Vec<_>>()).await
}

/// Records a batch that will have `total` members, added later (in any
/// number of transactions) by [`add_members`]: it cannot complete before
/// all of them are in.
pub async fn open(conn: &mut AsyncPgConnection, batch: NewBatch<'_>, total: usize) -> QueryResult<()> {
    diesel::insert_into(b::table)
        .values((
            b::id.eq(batch.id),
            b::tenant_id.eq(batch.tenant_id),
            b::callback_url.eq(batch.callback_url),
            b::on_complete.eq(&batch.on_complete),
            b::total.eq(total as i32),
            b::quiet.eq(batch.quiet),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

/// Adds jobs to an open batch, in the transaction that inserted them; the
/// batch completes at once if they were its last and all have ended.
/// Returns the deliveries written.
pub async fn add_members(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    batch: Uuid,
    members: &[Uuid],
) -> QueryResult<usize> {
    let rows: Vec<_> = members.iter().map(|job| (m::batch_id.eq(batch), m::job_id.eq(*job))).collect();
    if !rows.is_empty() {
        diesel::insert_into(m::table).values(rows).on_conflict_do_nothing().execute(conn).await?;
    }
    complete_if_done(conn, settings, batch).await
}

/// Ends an open batch at the members it has (its other members will not
/// come); it completes at once if they have all ended.
pub async fn close_at_members(conn: &mut AsyncPgConnection, settings: &Settings, batch: Uuid) -> QueryResult<usize> {
    let n: i64 = m::table.filter(m::batch_id.eq(batch)).count().get_result(conn).await?;
    diesel::update(b::table.find(batch)).set(b::total.eq(n as i32)).execute(conn).await?;
    complete_if_done(conn, settings, batch).await
}

/// Completes every open batch `jobs` belong to whose members have all
/// ended, taking the batches in id order. Returns the deliveries written.
pub async fn settle(conn: &mut AsyncPgConnection, settings: &Settings, jobs: &[Job]) -> QueryResult<usize> {
    if jobs.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = jobs.iter().map(|j| j.id).collect();
    let batches: Vec<Uuid> =
        m::table.filter(m::job_id.eq_any(&ids)).select(m::batch_id).distinct().order(m::batch_id).load(conn).await?;
    let mut deliveries = 0;
    for batch in batches {
        deliveries += complete_if_done(conn, settings, batch).await?;
    }
    Ok(deliveries)
}

async fn complete_if_done(conn: &mut AsyncPgConnection, settings: &Settings, batch: Uuid) -> QueryResult<usize> {
    // Its tenant, callback URL, follow-up job, member count and quietness.
    type Open = (Uuid, Option<String>, Option<Value>, i32, bool);
    let open: Option<Open> = b::table
        .find(batch)
        .filter(b::completed_at.is_null())
        .select((b::tenant_id, b::callback_url, b::on_complete, b::total, b::quiet))
        .for_update()
        .first(conn)
        .await
        .optional()?;
    let Some((tenant, callback_url, on_complete, total, quiet)) = open else { return Ok(0) };
    // Most calls find a member still open: stop at the first.
    let still_open: bool = diesel::select(diesel::dsl::exists(
        m::table
            .inner_join(j::jobs.on(j::id.eq(m::job_id)))
            .filter(m::batch_id.eq(batch))
            .filter(j::status.ne_all(JobStatus::TERMINAL)),
    ))
    .get_result(conn)
    .await?;
    if still_open {
        return Ok(0);
    }
    // A batch filled in several transactions waits for all its members.
    let members: i64 = m::table.filter(m::batch_id.eq(batch)).count().get_result(conn).await?;
    if members < i64::from(total) {
        return Ok(0);
    }
    let statuses: Vec<(JobStatus, i64)> = m::table
        .inner_join(j::jobs.on(j::id.eq(m::job_id)))
        .filter(m::batch_id.eq(batch))
        .group_by(j::status)
        .select((j::status, diesel::dsl::count_star()))
        .load(conn)
        .await?;
    let counts: BTreeMap<&str, i64> = statuses.iter().map(|(st, n)| (st.as_str(), *n)).collect();
    let follow_up = match on_complete {
        Some(template) => queue_follow_up(conn, tenant, &template).await?,
        None => None,
    };
    diesel::update(b::table.find(batch))
        .set((b::completed_at.eq(Utc::now()), b::counts.eq(json!(counts)), b::on_complete_job_id.eq(follow_up)))
        .execute(conn)
        .await?;
    if quiet {
        return Ok(0);
    }
    let data = json!({"batch_id": batch, "total": total, "counts": counts, "on_complete_job_id": follow_up});
    let mut n = outbox::record(conn, settings, tenant, EVENT, Some(batch), &data).await?;
    if let Some(url) = &callback_url {
        outbox::record_one(
            conn,
            settings,
            tenant,
            Target::Callback(url),
            EVENT,
            Some(batch),
            outbox::body(EVENT, &data),
        )
        .await?;
        n += 1;
    }
    Ok(n)
}

/// Queues the batch's `on_complete` job (checked when the batch was
/// submitted); the dispatch loop pushes it.
async fn queue_follow_up(conn: &mut AsyncPgConnection, tenant: Uuid, template: &Value) -> QueryResult<Option<Uuid>> {
    let kind = template.get("kind").and_then(Value::as_str).and_then(crate::kinds::find);
    let Some(kind) = kind else {
        tracing::error!(%tenant, "a batch's on_complete names a kind this version does not know");
        return Ok(None);
    };
    let int = |field: &str| template.get(field).and_then(Value::as_i64);
    let payload = template.get("payload").cloned().unwrap_or_else(|| json!({}));
    let job = NewJob {
        priority: int("priority").unwrap_or(0) as i16,
        max_attempts: int("max_attempts").map_or(kind.max_attempts, |n| n as i32),
        callback_url: template.get("callback_url").and_then(Value::as_str),
        ..super::queued(tenant, kind, &payload)
    };
    Ok(super::insert_row(conn, &job).await?.map(|j| j.id))
}
