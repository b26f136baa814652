//! What the chaos run checks at the end, from Postgres (the source of
//! truth) and from what the webhook receiver saw.

use std::collections::{BTreeMap, HashMap};

use diesel::sql_types::{Array, BigInt, Double, Nullable, Text, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use uuid::Uuid;

use super::stack::Kill;
use crate::receiver::Captured;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct ByStatus {
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct StateEvent {
    #[diesel(sql_type = SqlUuid)]
    job_id: Uuid,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<Text>)]
    worker: Option<String>,
    #[diesel(sql_type = Double)]
    at: f64,
}

async fn count(conn: &mut AsyncPgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Count>(conn).await.map(|c| c.n).unwrap_or(-1)
}

/// Rows of `table` (of the run's ids when `ids` is given) by status.
pub async fn try_by_status(
    conn: &mut AsyncPgConnection,
    table: &str,
    ids: Option<&[Uuid]>,
) -> diesel::QueryResult<BTreeMap<String, i64>> {
    let rows: Vec<ByStatus> = match ids {
        Some(ids) => {
            diesel::sql_query(format!("SELECT status, count(*) AS n FROM {table} WHERE id = ANY($1) GROUP BY status"))
                .bind::<Array<SqlUuid>, _>(ids)
                .load(conn)
                .await?
        }
        None => {
            diesel::sql_query(format!("SELECT status, count(*) AS n FROM {table} GROUP BY status")).load(conn).await?
        }
    };
    Ok(rows.into_iter().map(|r| (r.status, r.n)).collect())
}

/// [`try_by_status`], empty when Postgres does not answer.
pub async fn by_status(conn: &mut AsyncPgConnection, table: &str, ids: Option<&[Uuid]>) -> BTreeMap<String, i64> {
    try_by_status(conn, table, ids).await.unwrap_or_default()
}

/// Deliveries that did not succeed, one line each (for the report).
pub async fn stragglers(conn: &mut AsyncPgConnection) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = Text)]
        line: String,
    }
    let lines: Vec<Line> = diesel::sql_query(
        "SELECT d.status || ' ' || d.event_type || ' attempts=' || d.attempts || ' created=' || d.created_at \
           || ' error=' || coalesce(d.last_error, '') || ' job=' || coalesce(( \
             SELECT j.status || '/' || coalesce(j.error_code, '') FROM jobs j \
             WHERE j.kind = 'webhook_delivery' AND j.payload->>'delivery_id' = d.id::text \
             ORDER BY j.created_at DESC LIMIT 1), 'none') AS line \
         FROM webhook_deliveries d WHERE d.status <> 'succeeded' LIMIT 20",
    )
    .load(conn)
    .await
    .unwrap_or_default();
    lines.into_iter().map(|l| l.line).collect()
}

/// Effects that happened twice (goal: all zero).
#[derive(Debug, Default, Serialize)]
pub struct Duplicates {
    /// Jobs with more than one `succeeded` event.
    pub job_successes: i64,
    /// Chunks sharing a document and position.
    pub chunks: i64,
    /// User messages with more than one answer.
    pub messages: i64,
    /// Outbox rows for the same endpoint, event and subject (progress aside).
    pub deliveries: i64,
    /// `webhook-id`s the receiver got more than once (a receiver that
    /// de-duplicates, as Standard Webhooks asks, processes each once).
    pub receipts: i64,
    /// The repeated outbox rows, as `event_type ×count` (to tell why).
    pub repeated_events: Vec<String>,
}

pub async fn duplicates(conn: &mut AsyncPgConnection, seen: &[Captured]) -> Duplicates {
    let mut per_id: HashMap<&str, i64> = HashMap::new();
    for c in seen {
        *per_id.entry(c.id.as_str()).or_default() += 1;
    }
    Duplicates {
        job_successes: count(
            conn,
            "SELECT count(*) AS n FROM (SELECT job_id FROM job_events WHERE status = 'succeeded' \
             GROUP BY job_id HAVING count(*) > 1) x",
        )
        .await,
        chunks: count(conn, "SELECT count(*) - count(DISTINCT (document_id, ordinal)) AS n FROM chunks").await,
        messages: count(
            conn,
            "SELECT count(*) AS n FROM (SELECT reply_to FROM messages WHERE role = 'assistant' \
             AND reply_to IS NOT NULL GROUP BY reply_to HAVING count(*) > 1) x",
        )
        .await,
        deliveries: count(
            conn,
            "SELECT count(*) AS n FROM (SELECT 1 FROM webhook_deliveries WHERE event_type <> 'job.progress' \
             GROUP BY endpoint_id, event_type, subject_id HAVING count(*) > 1) x",
        )
        .await,
        receipts: per_id.values().filter(|n| **n > 1).count() as i64,
        repeated_events: {
            #[derive(QueryableByName)]
            struct Line {
                #[diesel(sql_type = Text)]
                line: String,
            }
            let lines: Vec<Line> = diesel::sql_query(
                "SELECT event_type || ' x' || count(*) AS line FROM webhook_deliveries \
                 WHERE event_type <> 'job.progress' GROUP BY endpoint_id, event_type, subject_id \
                 HAVING count(*) > 1 LIMIT 20",
            )
            .load(conn)
            .await
            .unwrap_or_default();
            lines.into_iter().map(|l| l.line).collect()
        },
    }
}

/// Deliveries that succeeded in Postgres but never reached the receiver
/// (goal: zero), and how many did.
pub async fn unreceived(conn: &mut AsyncPgConnection, seen: &[Captured]) -> (i64, i64) {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
    }
    let ids: Vec<Id> = diesel::sql_query("SELECT id FROM webhook_deliveries WHERE status = 'succeeded'")
        .load(conn)
        .await
        .unwrap_or_default();
    let got: std::collections::HashSet<&str> = seen.iter().map(|c| c.id.as_str()).collect();
    let missing = ids.iter().filter(|d| !got.contains(format!("msg_{}", d.id.simple()).as_str())).count();
    (missing as i64, ids.len() as i64)
}

/// What became of the jobs a killed worker was running.
#[derive(Debug, Default)]
pub struct Reruns {
    /// Seconds from the kill to the job's next `running` event (on another
    /// worker), sorted.
    pub latencies: Vec<f64>,
    /// Jobs that lost their worker `rescued_max` times and ended `dead` as
    /// poison instead (by design: never handed to another worker).
    pub poisoned: usize,
    /// Jobs never run again and not poisoned (goal: zero).
    pub never: usize,
}

/// For each kill, each job its worker was running then: when it ran again.
pub async fn rerun_latencies(conn: &mut AsyncPgConnection, kills: &[Kill]) -> Reruns {
    let names: Vec<String> = kills.iter().map(|k| k.worker.clone()).collect();
    let events: Vec<StateEvent> = diesel::sql_query(
        "SELECT e.job_id, e.status, e.data->>'worker' AS worker, extract(epoch FROM e.created_at)::float8 AS at \
         FROM job_events e WHERE e.job_id IN \
           (SELECT job_id FROM job_events WHERE status = 'running' AND data->>'worker' = ANY($1)) \
         AND e.status IS NOT NULL ORDER BY e.job_id, e.id",
    )
    .bind::<Array<Text>, _>(&names)
    .load(conn)
    .await
    .unwrap_or_default();
    let mut per_job: BTreeMap<Uuid, Vec<&StateEvent>> = BTreeMap::new();
    for e in &events {
        per_job.entry(e.job_id).or_default().push(e);
    }
    let mut out = Reruns::default();
    for k in kills {
        for evs in per_job.values() {
            // Running on the killed incarnation at the kill: its `running`
            // event came before, and the next state event after.
            let Some(i) = evs.iter().position(|e| e.status == "running" && e.worker.as_deref() == Some(&k.worker))
            else {
                continue;
            };
            let was_running = evs[i].at <= k.at && evs.get(i + 1).is_none_or(|next| next.at >= k.at);
            if !was_running {
                continue;
            }
            match evs[i + 1..].iter().find(|e| e.status == "running") {
                Some(again) => out.latencies.push(again.at - k.at),
                None if evs.last().is_some_and(|e| e.status == "dead") => out.poisoned += 1,
                None => out.never += 1,
            }
        }
    }
    out.latencies.sort_by(f64::total_cmp);
    out
}

/// When the last delivery created before `back` (the receiver's return)
/// was delivered, as seconds since the epoch.
pub async fn backlog_drained(conn: &mut AsyncPgConnection, back: f64) -> f64 {
    #[derive(QueryableByName)]
    struct At {
        #[diesel(sql_type = Nullable<Double>)]
        at: Option<f64>,
    }
    let at: Option<At> = diesel::sql_query(
        "SELECT max(extract(epoch FROM delivered_at))::float8 AS at FROM webhook_deliveries \
         WHERE created_at <= to_timestamp($1)",
    )
    .bind::<Double, _>(back)
    .get_result(conn)
    .await
    .ok();
    at.and_then(|a| a.at).unwrap_or(back)
}

/// Jobs of any kind left `running` (goal: zero).
pub async fn stuck_running(conn: &mut AsyncPgConnection) -> i64 {
    count(conn, "SELECT count(*) AS n FROM jobs WHERE status = 'running'").await
}

/// The `q` quantile of sorted `xs`.
pub fn quantile(xs: &[f64], q: f64) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs[((xs.len() - 1) as f64 * q).round() as usize]
}
