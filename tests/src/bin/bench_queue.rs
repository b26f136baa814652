//! `just bench queue`, the Chorus side: submits no-op diagnostic jobs over
//! HTTP to a running API, waits until Postgres shows them all succeeded,
//! and prints one JSON line: throughput and enqueue→start latency.
//!
//! Usage: bench_queue <api-url> <database-url> <api-key> <jobs> <clients> [pace-ms]
//!
//! Without a pace, `clients` producers submit as fast as they can (the
//! throughput run). With one, a single producer submits a job every
//! `pace-ms` (the latency run: no backlog, so the wait is the pipeline's).

use std::time::{Duration, Instant};

use diesel::sql_types::{Double, Nullable};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Nullable<Double>)]
    wait: Option<f64>,
}

#[derive(QueryableByName)]
struct Span {
    #[diesel(sql_type = Nullable<Double>)]
    seconds: Option<f64>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (api, db, key, jobs, clients, pace) = match args.as_slice() {
        [_, api, db, key, jobs, clients] => (api, db, key, jobs, clients, None),
        [_, api, db, key, jobs, clients, pace] => {
            (api, db, key, jobs, clients, Some(Duration::from_millis(pace.parse()?)))
        }
        _ => anyhow::bail!("usage: bench_queue <api-url> <database-url> <api-key> <jobs> <clients> [pace-ms]"),
    };
    let (jobs, mut clients): (usize, usize) = (jobs.parse()?, clients.parse()?);
    if pace.is_some() {
        clients = 1;
    }
    let since = chrono::Utc::now();
    let client = reqwest::Client::new();
    let started = Instant::now();
    let per_client = jobs / clients;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, api, key) = (client.clone(), api.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..per_client {
                let resp = client
                    .post(format!("{api}/v1/jobs"))
                    .bearer_auth(&key)
                    .json(&json!({"kind": "diagnostic", "payload": {}}))
                    .send()
                    .await?;
                anyhow::ensure!(resp.status() == 202, "submit failed: {}", resp.status());
                if let Some(pace) = pace {
                    tokio::time::sleep(pace).await;
                }
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let submitted = started.elapsed();
    let total = per_client * clients;
    let mut conn = AsyncPgConnection::establish(db).await?;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let done: Vec<Span> = diesel::sql_query(
            "SELECT count(*)::float8 AS seconds FROM jobs WHERE status = 'succeeded' AND created_at >= $1",
        )
        .bind::<diesel::sql_types::Timestamptz, _>(since)
        .load(&mut conn)
        .await?;
        if done[0].seconds.unwrap_or(0.0) as usize >= total {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "jobs did not finish in 10 minutes");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let span: Vec<Span> = diesel::sql_query(
        "SELECT EXTRACT(EPOCH FROM max(finished_at) - min(created_at))::float8 AS seconds FROM jobs WHERE created_at >= $1",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(since)
    .load(&mut conn)
    .await?;
    let seconds = span[0].seconds.unwrap_or(f64::NAN);
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT EXTRACT(EPOCH FROM started_at - created_at)::float8 * 1000 AS wait FROM jobs WHERE created_at >= $1",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(since)
    .load(&mut conn)
    .await?;
    let mut waits: Vec<f64> = rows.into_iter().filter_map(|r| r.wait).collect();
    waits.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{}",
        json!({
            "system": "chorus",
            "mode": if pace.is_some() { "latency" } else { "throughput" },
            "jobs": total,
            "seconds": seconds,
            "jobs_per_s": total as f64 / seconds,
            "submit_seconds": submitted.as_secs_f64(),
            "latency_p50_ms": percentile(&waits, 0.50),
            "latency_p99_ms": percentile(&waits, 0.99),
        })
    );
    Ok(())
}
