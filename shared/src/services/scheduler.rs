//! Makes the fires of due schedules. Every worker runs it on a timer
//! (`schedules.tick_ms`), and none needs to be a leader: a tick locks the
//! due schedules it takes (`FOR UPDATE SKIP LOCKED`, so workers share them
//! out), and each fire is a row `(schedule, fire time)` inserted in the same
//! transaction as its job. A fire that exists already is skipped, so a fire
//! makes one job however many workers tick and whoever is killed mid-way
//! (its transaction rolls back, and the next tick makes the fire).

use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schedules::cron_of;
use crate::db::models::{NewJob, Schedule};
use crate::db::schema::{schedule_fires as f, schedules as s};
use crate::domain::cron::Misfire;
use crate::error::ServiceResult;
use crate::Ctx;

/// Schedules one tick takes at most; the rest wait for the next tick.
const PER_TICK: i64 = 100;

/// What one tick made.
#[derive(Debug, Default)]
struct Made {
    on_time: u64,
    misfired: u64,
    queues: BTreeSet<&'static str>,
}

/// Makes every due fire of up to [`PER_TICK`] schedules, in one
/// transaction, then nudges the queues that got jobs. Answers the jobs made.
pub async fn fire_due(ctx: &Ctx) -> ServiceResult<u64> {
    let now = Utc::now();
    let grace = Duration::milliseconds(ctx.settings.schedules.misfire_grace_ms as i64);
    let mut conn = ctx.pool.get().await?;
    let made = (*conn)
        .transaction::<Made, diesel::result::Error, _>(async move |conn: &mut AsyncPgConnection| {
            let due: Vec<Schedule> = s::table
                .filter(s::enabled)
                .filter(s::next_fire_at.le(now))
                .order(s::next_fire_at)
                .limit(PER_TICK)
                .for_update()
                .skip_locked()
                .select(Schedule::as_select())
                .load(conn)
                .await?;
            let mut made = Made::default();
            for row in due {
                let next = fire(conn, &row, now, grace, &mut made).await?;
                diesel::update(s::table.find(row.id)).set(s::next_fire_at.eq(next)).execute(conn).await?;
            }
            Ok(made)
        })
        .await?;
    drop(conn);
    for queue in &made.queues {
        super::jobs::nudge(ctx, queue);
    }
    ctx.metrics.schedule_fires.with_label_values(&["on_time"]).inc_by(made.on_time);
    ctx.metrics.schedule_fires.with_label_values(&["misfired"]).inc_by(made.misfired);
    Ok(made.on_time + made.misfired)
}

/// Makes the due fires of one locked schedule; answers its next fire time.
async fn fire(
    conn: &mut AsyncPgConnection,
    row: &Schedule,
    now: chrono::DateTime<Utc>,
    grace: Duration,
    made: &mut Made,
) -> QueryResult<Option<chrono::DateTime<Utc>>> {
    // Both were checked when the schedule was written; a kind or zone that
    // a later version no longer knows ends the schedule, loudly.
    let (Ok(cron), Some(kind)) = (cron_of(row), crate::kinds::find(&row.kind)) else {
        tracing::error!(schedule_id = %row.id, kind = row.kind, "schedule can no longer fire; it is ended");
        return Ok(None);
    };
    let Some(next) = row.next_fire_at else { return Ok(None) };
    let policy = Misfire::parse(&row.misfire).unwrap_or(Misfire::RunOnce);
    let due = cron.due(next, now, grace, policy, row.misfire_cap.max(1) as usize, row.ends_at);
    for fire in due.fires {
        let job_id = Uuid::now_v7();
        let new_fire = diesel::insert_into(f::table)
            .values((
                f::schedule_id.eq(row.id),
                f::fire_at.eq(fire.at),
                f::job_id.eq(job_id),
                f::misfired.eq(fire.misfired),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        if new_fire == 0 {
            continue;
        }
        let job = NewJob {
            id: job_id,
            priority: row.priority,
            max_attempts: row.max_attempts.unwrap_or(kind.max_attempts),
            callback_url: row.callback_url.as_deref(),
            ..crate::queue::queued(row.tenant_id, kind, &row.payload)
        };
        crate::queue::insert_row(conn, &job).await?;
        made.queues.insert(kind.queue.as_str());
        if fire.misfired {
            made.misfired += 1;
        } else {
            made.on_time += 1;
        }
    }
    Ok(due.next)
}
