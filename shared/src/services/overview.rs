//! What the dashboard's overview shows: per queue, the tenant's waiting and
//! running jobs and the last hour's throughput and failures (in 5-minute
//! buckets), and the workers that announced themselves lately. The ended
//! jobs are read from `job_outcomes`, counters kept as jobs end (successes
//! by the statements that write them, other endings by a trigger; see the
//! migrations); [`fold_outcomes`] keeps that table small.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Integer, Text, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

use super::Principal;
use crate::domain::Queue;
use crate::error::ServiceResult;
use crate::Ctx;

/// Buckets of the last hour.
pub const BUCKETS: usize = 12;
/// Seconds per bucket: `job_outcomes`' buckets, set in its trigger.
pub const BUCKET_SECS: i64 = 300;
/// How long `job_outcomes` keeps a bucket.
const KEEP: &str = "2 hours";

/// One queue of the overview.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QueueStats {
    pub queue: String,
    pub waiting: i64,
    pub running: i64,
    pub succeeded: i64,
    /// Failed or dead in the last hour.
    pub failed: i64,
    /// Jobs that ended per 5-minute bucket, oldest first.
    pub finished: [i64; BUCKETS],
    /// Of those, the failed or dead.
    pub failures: [i64; BUCKETS],
}

impl QueueStats {
    /// Failed share of the jobs that ended in the last hour, 0..=1.
    pub fn failure_rate(&self) -> f64 {
        let ended = self.succeeded + self.failed;
        if ended == 0 {
            0.0
        } else {
            self.failed as f64 / ended as f64
        }
    }
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    queue: String,
    #[diesel(sql_type = Integer)]
    bucket: i32,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The tenant's queues: open jobs by status (`bucket` -1), and the jobs
/// that ended in the last twelve 5-minute buckets on the clock (0 is the
/// current one). One statement: the open jobs come from the covering index
/// `jobs_tenant_open`, the ended ones from the counters in `job_outcomes`
/// (at most a few per bucket, queue, status and database backend), not
/// from the jobs' rows.
pub async fn queues(ctx: &Ctx, p: &Principal) -> ServiceResult<Vec<QueueStats>> {
    let mut conn = ctx.pool.get().await?;
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT queue, -1 AS bucket, status, count(*) AS n FROM jobs \
           WHERE tenant_id = $1 AND status IN ('queued', 'retrying', 'running') GROUP BY queue, status \
         UNION ALL \
         SELECT queue, (extract(epoch FROM date_bin(make_interval(secs => $2), now(), 'epoch') - bucket) / $2)::int, \
                status, sum(n)::bigint FROM job_outcomes \
           WHERE tenant_id = $1 AND bucket > date_bin(make_interval(secs => $2), now(), 'epoch') - make_interval(secs => $2 * $3) \
           GROUP BY queue, bucket, status",
    )
    .bind::<SqlUuid, _>(p.tenant_id)
    .bind::<BigInt, _>(BUCKET_SECS)
    .bind::<BigInt, _>(BUCKETS as i64)
    .load(&mut conn)
    .await?;
    let mut by_queue: BTreeMap<String, QueueStats> =
        Queue::ALL.iter().map(|q| (q.to_string(), QueueStats { queue: q.to_string(), ..Default::default() })).collect();
    for r in rows {
        let s = by_queue
            .entry(r.queue.clone())
            .or_insert_with(|| QueueStats { queue: r.queue.clone(), ..Default::default() });
        let failed = matches!(r.status.as_str(), "failed" | "dead");
        match (r.bucket, r.status.as_str()) {
            (-1, "running") => s.running += r.n,
            (-1, _) => s.waiting += r.n,
            (b, status) if (0..BUCKETS as i32).contains(&b) => {
                let slot = BUCKETS - 1 - b as usize;
                s.finished[slot] += r.n;
                if failed {
                    s.failures[slot] += r.n;
                    s.failed += r.n;
                } else if status == "succeeded" {
                    s.succeeded += r.n;
                }
            }
            _ => {}
        }
    }
    Ok(by_queue.into_values().collect())
}

/// Folds the closed buckets of `job_outcomes` (older than the previous
/// one) into one row per tenant, bucket, queue and status, and drops the
/// buckets older than two hours. Every worker's maintenance loop runs it,
/// one at a time (an advisory lock; the next finds little left). Returns
/// the rows it dropped plus the folded rows it wrote.
pub async fn fold_outcomes(ctx: &Ctx) -> ServiceResult<usize> {
    let mut conn = ctx.pool.get().await?;
    let removed = (*conn)
        .transaction::<_, diesel::result::Error, _>(async |conn: &mut AsyncPgConnection| {
            diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('job_outcomes'))").execute(conn).await?;
            let dropped =
                diesel::sql_query(format!("DELETE FROM job_outcomes WHERE bucket < now() - interval '{KEEP}'"))
                    .execute(conn)
                    .await?;
            let folded = diesel::sql_query(
                "WITH moved AS ( \
                   DELETE FROM job_outcomes WHERE backend <> 0 \
                     AND bucket < date_bin(make_interval(secs => $1), now(), 'epoch') - make_interval(secs => $1) \
                   RETURNING tenant_id, bucket, queue, status, n) \
                 INSERT INTO job_outcomes (tenant_id, bucket, queue, status, backend, n) \
                 SELECT tenant_id, bucket, queue, status, 0, sum(n) FROM moved GROUP BY 1, 2, 3, 4 \
                 ON CONFLICT (tenant_id, bucket, queue, status, backend) DO UPDATE SET n = job_outcomes.n + EXCLUDED.n",
            )
            .bind::<BigInt, _>(BUCKET_SECS)
            .execute(conn)
            .await?;
            Ok(dropped + folded)
        })
        .await?;
    Ok(removed)
}

/// What a worker announces about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerInfo {
    pub name: String,
    pub queues: Vec<String>,
    pub version: String,
    pub at: DateTime<Utc>,
}

fn worker_key(ctx: &Ctx, name: &str) -> String {
    format!("{}:worker:{name}", ctx.broker.namespace())
}

/// A worker's announcement, kept for `ttl_secs` (renew it before then).
pub async fn announce(ctx: &Ctx, info: &WorkerInfo, ttl_secs: u64) -> redis::RedisResult<()> {
    let body = serde_json::to_string(info).expect("worker info serializes");
    ctx.broker.conn().set_ex(worker_key(ctx, &info.name), body, ttl_secs).await
}

/// The workers that announced themselves within their time to live (at
/// most 1,000), by name. Admins only: workers serve every tenant.
pub async fn workers(ctx: &Ctx, p: &Principal) -> ServiceResult<Vec<WorkerInfo>> {
    p.require(crate::domain::Role::Admin, "listing workers")?;
    let mut conn = ctx.broker.conn();
    let pattern = worker_key(ctx, "*");
    let mut keys: Vec<String> = Vec::new();
    {
        let mut iter: redis::AsyncIter<String> = conn.scan_match(&pattern).await?;
        while let Some(k) = futures::StreamExt::next(&mut iter).await {
            keys.push(k?);
            if keys.len() >= 1000 {
                break;
            }
        }
    }
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let bodies: Vec<Option<String>> = conn.mget(&keys).await?;
    let mut out: Vec<WorkerInfo> = bodies.into_iter().flatten().filter_map(|b| serde_json::from_str(&b).ok()).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
