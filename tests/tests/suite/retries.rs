//! Failed attempts retry with backoff; then `dead`; then a manual retry.
//! Panics are failed attempts, and the worker keeps running.

use std::time::Duration;

use chorus_shared::domain::JobStatus;
use chorus_tests::TestApp;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_back_off_then_die_then_a_manual_retry_succeeds() {
    let app = TestApp::spawn().await;
    let id = app.submit(json!({"kind": "diagnostic", "payload": {"fail_attempts": 2}, "max_attempts": 2})).await;
    let dead = app.wait_for_status(id, JobStatus::Dead, Duration::from_secs(15)).await;
    assert_eq!(dead.attempts, 2);
    assert_eq!(dead.error.as_ref().unwrap().code, "diagnostic_failure");

    // The retry waited for its backoff: base 200 ms, jittered into 100–200 ms.
    let events = app.history(id).await;
    let retrying = events.iter().find(|e| e.status == Some(JobStatus::Retrying)).expect("a retrying event");
    let retry_at: chrono::DateTime<chrono::Utc> = serde_json::from_value(retrying.data["retry_at"].clone()).unwrap();
    let backoff = retry_at - retrying.created_at;
    assert!(
        backoff >= chrono::Duration::milliseconds(90) && backoff <= chrono::Duration::milliseconds(250),
        "{backoff}"
    );
    let second_start = events.iter().filter(|e| e.status == Some(JobStatus::Running)).nth(1).expect("second attempt");
    assert!(second_start.created_at >= retry_at, "the second attempt waited for its backoff");

    // Dead jobs are listed for inspection.
    let page: serde_json::Value = app.get_json(&app.admin_key, "/v1/jobs?status=dead").await;
    assert_eq!(page["items"][0]["id"], id.to_string());

    let resp = app.post(&app.admin_key, &format!("/v1/jobs/{id}/retry")).send().await.unwrap();
    assert_eq!(resp.status(), 202);
    let done = app.wait_for_status(id, JobStatus::Succeeded, Duration::from_secs(10)).await;
    assert_eq!(done.attempts, 3, "the manual retry granted one more attempt");
    assert!(done.error.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_failures_and_panics_are_recorded_and_the_worker_survives() {
    let app = TestApp::spawn().await;
    let failed = app.submit(json!({"kind": "diagnostic", "payload": {"fail_permanently": true}})).await;
    let job = app.wait_for_status(failed, JobStatus::Failed, Duration::from_secs(10)).await;
    assert_eq!(job.attempts, 1, "permanent failures do not retry");

    let panicky = app.submit(json!({"kind": "diagnostic", "payload": {"panic": true}, "max_attempts": 1})).await;
    let job = app.wait_for_status(panicky, JobStatus::Dead, Duration::from_secs(10)).await;
    assert_eq!(job.error.as_ref().unwrap().code, "panic");

    // Same worker, next job.
    let after = app.submit(json!({"kind": "diagnostic", "payload": {}})).await;
    app.wait_for_status(after, JobStatus::Succeeded, Duration::from_secs(10)).await;
    let retry_ok = app.post(&app.admin_key, &format!("/v1/jobs/{after}/retry")).send().await.unwrap();
    assert_eq!(retry_ok.status(), 409, "only failed or dead jobs can be retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_needs_what_the_job_needed_and_the_role_it_acts_with() {
    use chorus_shared::domain::Role;
    let app = TestApp::spawn().await;
    let user = app.key("acme", Role::User).await;
    // An admin-only kind.
    let id = app.submit(json!({"kind": "diagnostic", "payload": {"fail_permanently": true}})).await;
    app.wait_for_status(id, JobStatus::Failed, Duration::from_secs(15)).await;
    let resp = app.post(&user, &format!("/v1/jobs/{id}/retry")).send().await.unwrap();
    assert_eq!(resp.status(), 403, "{}", resp.text().await.unwrap());
    // A job that acts as admin (an admin's tool call).
    let resp = app
        .post(&app.admin_key, "/v1/tools/calculator/invoke")
        .json(&json!({"arguments": {"expression": "1/0"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap());
    let call: serde_json::Value = resp.json().await.unwrap();
    let call = call["id"].as_str().unwrap().parse().unwrap();
    app.wait_for_status(call, JobStatus::Failed, Duration::from_secs(15)).await;
    let resp = app.post(&user, &format!("/v1/jobs/{call}/retry")).send().await.unwrap();
    assert_eq!(resp.status(), 403, "{}", resp.text().await.unwrap());
    // The admin may.
    let resp = app.post(&app.admin_key, &format!("/v1/jobs/{call}/retry")).send().await.unwrap();
    assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap());
}
