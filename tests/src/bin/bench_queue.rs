//! `just bench queue`, the Chorus side: submits no-op diagnostic jobs over
//! HTTP to a running API, waits until Postgres shows every one succeeded,
//! and prints one JSON line: throughput, submit rate, enqueue→start
//! latency, and the run's window (epoch seconds) for the CPU sampler.
//!
//! Usage: bench_queue <api-url> <database-url> <api-key> <jobs> <clients> <mode> [pace-ms]
//!
//! Modes: `single` (each producer posts `/v1/jobs` one job at a time),
//! `batch` (each producer posts `/v1/jobs/batch` with 1,000 jobs), and
//! `latency` (one producer, one single submit every `pace-ms`: no backlog,
//! so the wait is the pipeline's own).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use diesel::sql_types::{Double, Nullable, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::{json, Value};

/// Jobs in one batch request (the API's most).
const BATCH: usize = 1_000;

#[derive(QueryableByName)]
struct Num {
    #[diesel(sql_type = Nullable<Double>)]
    n: Option<f64>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN)
}

fn epoch() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

/// One number from `sql`, which reads jobs created since `$1`.
async fn scalar(conn: &mut AsyncPgConnection, sql: &str, since: chrono::DateTime<chrono::Utc>) -> anyhow::Result<f64> {
    let row: Num = diesel::sql_query(sql).bind::<Timestamptz, _>(since).get_result(conn).await?;
    Ok(row.n.unwrap_or(f64::NAN))
}

/// Posts `count` jobs, one request each or in batches, pausing `pace`
/// after each request.
async fn produce(
    client: reqwest::Client,
    api: String,
    key: String,
    count: usize,
    batch: bool,
    pace: Option<Duration>,
) -> anyhow::Result<()> {
    let job = json!({"kind": "diagnostic", "payload": {}});
    let mut left = count;
    while left > 0 {
        let n = if batch { left.min(BATCH) } else { 1 };
        let (url, body) = if batch {
            (format!("{api}/v1/jobs/batch"), json!({"jobs": vec![job.clone(); n]}))
        } else {
            (format!("{api}/v1/jobs"), job.clone())
        };
        let resp = client.post(url).bearer_auth(&key).json(&body).send().await?;
        let status = resp.status();
        anyhow::ensure!(status.is_success(), "submit failed: {status}");
        if batch {
            let answer: Value = resp.json().await?;
            let jobs = answer["items"].as_array().map(|items| items.iter().filter(|i| i.get("job").is_some()).count());
            anyhow::ensure!(jobs == Some(n), "batch of {n} answered {answer}");
        }
        left -= n;
        if let Some(pace) = pace {
            tokio::time::sleep(pace).await;
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, api, db, key, jobs, clients, mode, rest @ ..] = args.as_slice() else {
        anyhow::bail!(
            "usage: bench_queue <api-url> <database-url> <api-key> <jobs> <clients> single|batch|latency [pace-ms]"
        );
    };
    let (jobs, mut clients): (usize, usize) = (jobs.parse()?, clients.parse()?);
    let pace = match (mode.as_str(), rest) {
        ("latency", [pace]) => Some(Duration::from_millis(pace.parse()?)),
        ("single" | "batch", []) => None,
        _ => anyhow::bail!("mode is single, batch, or latency <pace-ms>"),
    };
    if pace.is_some() {
        clients = 1;
    }
    let mut conn = AsyncPgConnection::establish(db).await?;
    let since = chrono::Utc::now();
    let (t0, started) = (epoch(), Instant::now());
    let client = reqwest::Client::new();
    let per_client = jobs / clients;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let batch = mode == "batch";
        tasks.push(tokio::spawn(produce(client.clone(), api.clone(), key.clone(), per_client, batch, pace)));
    }
    for t in tasks {
        t.await??;
    }
    let submitted = started.elapsed().as_secs_f64();
    let total = per_client * clients;
    // The jobs not yet finished (the benchmark's database holds only its
    // own jobs), counted through the partial indexes of waiting and running
    // jobs, so polling costs Postgres little while a backlog drains.
    let left_sql =
        "SELECT ((SELECT count(*) FROM jobs WHERE status IN ('queued', 'retrying') AND dispatched_at IS NULL) \
        + (SELECT count(*) FROM jobs WHERE status IN ('queued', 'retrying') AND dispatched_at IS NOT NULL) \
        + (SELECT count(*) FROM jobs WHERE status = 'running'))::float8 AS n";
    let (mut left, mut moved) = (usize::MAX, Instant::now());
    while left > 0 {
        let row: Num = diesel::sql_query(left_sql).get_result(&mut conn).await?;
        let now = row.n.unwrap_or(f64::NAN) as usize;
        if now < left {
            (left, moved) = (now, Instant::now());
        }
        anyhow::ensure!(moved.elapsed() < Duration::from_secs(60), "stalled: {left} jobs left, none finished for 60 s");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let done_sql = "SELECT count(*)::float8 AS n FROM jobs WHERE status = 'succeeded' AND created_at >= $1";
    let done = scalar(&mut conn, done_sql, since).await? as usize;
    anyhow::ensure!(done == total, "{done} of {total} jobs succeeded");
    let last = "SELECT EXTRACT(EPOCH FROM max(finished_at))::float8 AS n FROM jobs WHERE created_at >= $1";
    let t1 = scalar(&mut conn, last, since).await?;
    let waits: Vec<Num> = diesel::sql_query(
        "SELECT EXTRACT(EPOCH FROM started_at - created_at)::float8 * 1000 AS n FROM jobs WHERE created_at >= $1",
    )
    .bind::<Timestamptz, _>(since)
    .load(&mut conn)
    .await?;
    let mut waits: Vec<f64> = waits.into_iter().filter_map(|r| r.n).collect();
    waits.sort_by(|a, b| a.total_cmp(b));
    let seconds = t1 - t0;
    println!(
        "{}",
        json!({
            "system": "chorus",
            "mode": mode,
            "jobs": total,
            "t0": t0,
            "t1": t1,
            "seconds": seconds,
            "jobs_per_s": total as f64 / seconds,
            "submit_seconds": submitted,
            "submitted_per_s": total as f64 / submitted,
            "latency_p50_ms": percentile(&waits, 0.50),
            "latency_p99_ms": percentile(&waits, 0.99),
        })
    );
    Ok(())
}
