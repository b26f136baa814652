//! submit → run → succeeded, with progress seen by polling and over SSE.

use std::time::Duration;

use chorus_shared::domain::JobStatus;
use chorus_tests::TestApp;
use serde_json::json;

/// Reads an SSE body into (id, event, data) frames until the stream ends.
pub async fn read_sse(resp: reqwest::Response) -> Vec<(i64, String, serde_json::Value)> {
    chorus_tests::sse::read_all(resp).await.into_iter().map(|f| (f.id, f.event, f.data)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_to_success_with_progress_by_polling_and_sse() {
    let app = TestApp::spawn().await;
    let resp = app
        .post(&app.admin_key, "/v1/jobs")
        .json(&json!({"kind": "diagnostic", "payload": {"sleep_ms": 1200, "steps": 4}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let summary: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(summary["status"], "queued");
    assert_eq!(location, format!("/v1/jobs/{}", summary["id"].as_str().unwrap()));
    let id = summary["id"].as_str().unwrap().parse().unwrap();

    // SSE, opened while the job is young, sees it through to the end.
    let sse = app.get(&app.admin_key, &format!("/v1/jobs/{id}/events")).send().await.unwrap();
    assert_eq!(sse.headers()["content-type"], "text/event-stream");
    let sse = tokio::spawn(read_sse(sse));

    // Polling sees progress part-way.
    let mid = app.wait_for(id, Duration::from_secs(10), |j| j.progress.as_ref().is_some_and(|p| p.done >= 1)).await;
    assert_eq!(mid.progress.as_ref().unwrap().total, Some(4));
    let done = app.wait_for_status(id, JobStatus::Succeeded, Duration::from_secs(10)).await;
    assert_eq!(done.attempts, 1);
    assert_eq!(done.result.as_ref().unwrap()["slept_ms"], 1200);
    assert!(done.started_at.is_some() && done.finished_at.is_some());

    let frames = tokio::time::timeout(Duration::from_secs(10), sse).await.expect("stream ended").unwrap();
    let kinds: Vec<&str> = frames.iter().map(|(_, e, _)| e.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "progress").count(), 4, "{kinds:?}");
    let last = frames.last().unwrap();
    assert_eq!((last.1.as_str(), last.2["status"].as_str()), ("state", Some("succeeded")));
    assert!(frames.windows(2).all(|w| w[0].0 < w[1].0), "event ids increase");

    // Last-Event-ID resumes after the given event.
    let resume_from = frames[2].0;
    let again = app
        .get(&app.admin_key, &format!("/v1/jobs/{id}/events"))
        .header("Last-Event-ID", resume_from.to_string())
        .send()
        .await
        .unwrap();
    let rest = read_sse(again).await;
    assert_eq!(rest.first().unwrap().0, frames[3].0);
    assert_eq!(rest.len(), frames.len() - 3);

    // Resuming after the final event ends the stream at once, empty.
    let last_id = frames.last().unwrap().0;
    let after_end = app
        .get(&app.admin_key, &format!("/v1/jobs/{id}/events"))
        .header("Last-Event-ID", last_id.to_string())
        .send()
        .await
        .unwrap();
    let none = tokio::time::timeout(Duration::from_secs(5), read_sse(after_end)).await.expect("stream ended");
    assert!(none.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_open_streams_are_bounded_and_a_revoked_key_loses_its_stream() {
    use chorus_shared::domain::Role;
    // No worker: the job waits, so its streams stay open.
    let app = TestApp::spawn_with(0, |s| s.api.max_streams_per_tenant = 3).await;
    let id = app.submit(json!({"kind": "diagnostic", "payload": {}})).await;
    let path = format!("/v1/jobs/{id}/events");
    let user = app.key("acme", Role::User).await;
    let _first = app.get(&app.admin_key, &path).send().await.unwrap();
    let _second = app.get(&app.admin_key, &path).send().await.unwrap();
    let users = app.get(&user, &path).send().await.unwrap();
    assert_eq!(users.status(), 200);
    let fourth = app.get(&app.admin_key, &path).send().await.unwrap();
    assert_eq!(fourth.status(), 429);
    let body: serde_json::Value = fourth.json().await.unwrap();
    assert_eq!(body["code"], "too_many_streams");

    // Revoking the user's key ends its stream, which frees its place.
    let keys: serde_json::Value = app.get_json(&app.admin_key, "/v1/keys").await;
    let key_id =
        keys.as_array().unwrap().iter().find(|k| k["role"] == "user").unwrap()["id"].as_str().unwrap().to_string();
    let resp =
        app.client.delete(app.url(&format!("/v1/keys/{key_id}"))).bearer_auth(&app.admin_key).send().await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let ended = tokio::time::timeout(Duration::from_secs(10), read_sse(users)).await;
    assert!(ended.is_ok(), "the stream of a revoked key ends");
    let again = app.get(&app.admin_key, &path).send().await.unwrap();
    assert_eq!(again.status(), 200, "the ended stream's place is free");
}
