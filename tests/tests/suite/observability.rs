//! `/healthz`, `/readyz`, `/metrics` (API and worker) and `/openapi.json`.

use std::time::Duration;

use chorus_shared::domain::JobStatus;
use chorus_tests::TestApp;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_metrics_and_the_openapi_document() {
    let app = TestApp::spawn().await;
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200);
    let ready: Value = app.client.get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready, json!({"postgres": "ok", "redis": "ok"}));

    let id = app.submit(json!({"kind": "diagnostic", "payload": {"fail_attempts": 1}})).await;
    app.wait_for_status(id, JobStatus::Succeeded, Duration::from_secs(10)).await;
    let api = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(api.contains(r#"chorus_jobs_submitted_total{kind="diagnostic"} 1"#), "{api}");
    assert!(api.contains(r#"chorus_queue_depth{queue="maintenance"} 0"#));
    assert!(api.contains("chorus_http_requests_total{method=\"POST\",route=\"/v1/jobs\",status=\"202\"} 1"));
    let port = app.workers[0].metrics_port;
    let worker = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap().text().await.unwrap();
    assert!(worker.contains(r#"chorus_jobs_finished_total{kind="diagnostic",status="succeeded"} 1"#), "{worker}");
    assert!(worker.contains(r#"chorus_job_retries_total{kind="diagnostic"} 1"#));
    assert!(worker.contains("chorus_job_run_seconds_bucket"));
    assert!(worker.contains("chorus_job_queue_wait_seconds_bucket"));

    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    for path in [
        "/v1/jobs",
        "/v1/jobs/{id}",
        "/v1/jobs/{id}/cancel",
        "/v1/jobs/{id}/retry",
        "/v1/jobs/{id}/events",
        "/v1/keys",
        "/v1/keys/{id}",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing from the OpenAPI document");
    }
    let docs = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_names_the_failing_dependency() {
    let mut settings = chorus_tests::test_settings().await;
    settings.database.url = format!("{}/no_such_database", chorus_tests::pg_server());
    let ctx = chorus_shared::Ctx::connect(settings).await.unwrap();
    let api = chorus_api::startup::Application::build(ctx).unwrap();
    let url = format!("http://127.0.0.1:{}/readyz", api.port);
    tokio::spawn(api.server);
    let resp = reqwest::get(url).await.unwrap();
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert!(body["postgres"].as_str().unwrap().starts_with("error"), "{body}");
    assert_eq!(body["redis"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_metrics_token_metrics_answer_only_its_bearer() {
    let app = TestApp::spawn_with(1, |s| s.telemetry.metrics_token = "m-token".into()).await;
    let worker = format!("http://127.0.0.1:{}/metrics", app.workers[0].metrics_port);
    for url in [app.url("/metrics"), worker] {
        let open = app.client.get(&url).send().await.unwrap();
        assert_eq!(open.status(), 401, "{url}");
        let wrong = app.client.get(&url).bearer_auth("other").send().await.unwrap();
        assert_eq!(wrong.status(), 401, "{url}");
        let right = app.client.get(&url).bearer_auth("m-token").send().await.unwrap();
        assert_eq!(right.status(), 200, "{url}");
        assert!(right.text().await.unwrap().contains("chorus_"), "{url}");
    }
}
