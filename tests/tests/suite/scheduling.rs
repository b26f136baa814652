//! Delayed jobs wait for `run_at`; priorities order waiting jobs.

use std::time::Duration;

use chorus_shared::domain::JobStatus;
use chorus_tests::TestApp;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_job_starts_no_earlier_than_run_at() {
    let app = TestApp::spawn().await;
    let run_at = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let id = app.submit(json!({"kind": "diagnostic", "payload": {}, "run_at": run_at})).await;
    let job = app.job(id).await;
    assert_eq!(job.status, JobStatus::Queued);
    let done = app.wait_for_status(id, JobStatus::Succeeded, Duration::from_secs(10)).await;
    assert!(done.started_at.unwrap() >= run_at, "started {:?} before {run_at}", done.started_at);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn higher_priority_jobs_overtake_waiting_ones() {
    let app = TestApp::spawn_with(1, |s| {
        s.worker.concurrency.insert("maintenance".into(), 1);
        s.dispatch.window = 1;
    })
    .await;
    let blocker = app.submit(json!({"kind": "diagnostic", "payload": {"sleep_ms": 1000}})).await;
    app.wait_for_status(blocker, JobStatus::Running, Duration::from_secs(10)).await;
    let mut low = Vec::new();
    for _ in 0..5 {
        low.push(app.submit(json!({"kind": "diagnostic", "payload": {"sleep_ms": 50}, "priority": -10})).await);
    }
    let high = app.submit(json!({"kind": "diagnostic", "payload": {"sleep_ms": 50}, "priority": 50})).await;
    let high = app.wait_for_status(high, JobStatus::Succeeded, Duration::from_secs(20)).await;
    let mut overtaken = 0;
    for id in low {
        let job = app.wait_for_status(id, JobStatus::Succeeded, Duration::from_secs(20)).await;
        if job.started_at > high.started_at {
            overtaken += 1;
        }
    }
    // At most one low job was already in Redis (window 1) when `high` came.
    assert!(overtaken >= 4, "high priority overtook only {overtaken} of 5");
}
