//! Cancellation before a job starts and while it runs.

use std::time::Duration;

use chorus_shared::domain::JobStatus;
use chorus_tests::TestApp;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_job_is_cancelled_at_once_and_never_runs() {
    let app = TestApp::spawn().await;
    let run_at = chrono::Utc::now() + chrono::Duration::seconds(2);
    let id = app.submit(json!({"kind": "diagnostic", "payload": {}, "run_at": run_at})).await;
    let resp = app.post(&app.admin_key, &format!("/v1/jobs/{id}/cancel")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let job: Value = resp.json().await.unwrap();
    assert_eq!(job["status"], "cancelled");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let job = app.job(id).await;
    assert_eq!(job.status, JobStatus::Cancelled);
    assert_eq!(job.attempts, 0, "it never ran");
    assert!(job.started_at.is_none());
    // A finished job cannot be cancelled again.
    let again = app.post(&app.admin_key, &format!("/v1/jobs/{id}/cancel")).send().await.unwrap();
    assert_eq!(again.status(), 409);
    assert_eq!(again.json::<Value>().await.unwrap()["code"], "job_not_cancellable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_stops_soon_after_cancel() {
    let app = TestApp::spawn().await;
    let id = app.submit(json!({"kind": "diagnostic", "payload": {"sleep_ms": 60000, "steps": 60}})).await;
    app.wait_for_status(id, JobStatus::Running, Duration::from_secs(10)).await;
    let resp = app.post(&app.admin_key, &format!("/v1/jobs/{id}/cancel")).send().await.unwrap();
    assert_eq!(resp.status(), 202);
    assert_eq!(resp.json::<Value>().await.unwrap()["cancel_requested"], true);
    let job = app.wait_for_status(id, JobStatus::Cancelled, Duration::from_secs(5)).await;
    assert_eq!(job.error.unwrap().code, "cancelled");
    assert!(job.progress.map_or(0, |p| p.done) < 60);
}
