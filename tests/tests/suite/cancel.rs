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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_that_lands_during_a_retry_or_a_hand_back_ends_the_job() {
    use chorus_shared::queue::lifecycle::{self, Outcome};
    use chorus_shared::queue::JobError;
    // No worker: the test plays the worker's part.
    let app = TestApp::spawn_with(0, |_| {}).await;
    for outcome in [Outcome::Failed(JobError::retryable("flaky", "try again")), Outcome::HandBack] {
        let id = app.submit(json!({"kind": "diagnostic", "payload": {"sleep_ms": 10}})).await;
        let msg = app.message_of(id).await;
        let claimed = lifecycle::claim(&app.ctx.pool, &msg, "test-worker").await.unwrap().expect("claimed");
        let resp = app.post(&app.admin_key, &format!("/v1/jobs/{id}/cancel")).send().await.unwrap();
        assert_eq!(resp.status(), 202, "a running job is asked to stop");
        let wait = Duration::from_millis(10);
        let t = lifecycle::finish(&app.ctx.pool, &claimed.job, outcome.clone(), &app.settings, wait)
            .await
            .unwrap()
            .expect("the attempt was still ours");
        assert_eq!(t.job.status, JobStatus::Cancelled, "{outcome:?} with a cancel request");
        assert_eq!(app.job(id).await.status, JobStatus::Cancelled);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_job_left_with_a_cancel_request_is_swept_to_cancelled() {
    use chorus_shared::db::schema::jobs as j;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    let app = TestApp::spawn_with(0, |_| {}).await;
    let id = app.submit(json!({"kind": "diagnostic", "payload": {"sleep_ms": 10}})).await;
    // As a cancel racing a retry left such jobs before finish handled it.
    let mut conn = app.ctx.pool.get().await.unwrap();
    diesel::update(j::table.find(id))
        .set((j::status.eq(JobStatus::Retrying), j::cancel_requested_at.eq(chrono::Utc::now())))
        .execute(&mut conn)
        .await
        .unwrap();
    let ended = chorus_shared::queue::lifecycle::cancel_requested_waiting(&app.ctx.pool, &app.settings).await.unwrap();
    assert_eq!(ended.iter().map(|t| t.job.id).collect::<Vec<_>>(), vec![id]);
    assert_eq!(app.job(id).await.status, JobStatus::Cancelled);
}
