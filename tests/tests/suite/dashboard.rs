//! The dashboard in a real browser: `tests/browser/dashboard.mjs` (Debian's
//! Chromium, playwright-core, axe-core) against a stack this test seeds: a
//! viewer key, a dead job, a running job with progress, a document, and a
//! webhook endpoint with one delivery. With `SCREENSHOTS=1` it saves a screenshot
//! of each page under `bench/results/screens/`.

use std::time::Duration;

use chorus_shared::domain::{JobStatus, Role};
use chorus_tests::TestApp;
use serde_json::{json, Value};
use wiremock::{matchers::method, Mock, MockServer, ResponseTemplate};

use crate::documents::{settled, upload_as};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_works_in_a_real_browser() {
    let modules = std::env::var("CHORUS_TEST_BROWSER").expect("CHORUS_TEST_BROWSER (run `just test`)");
    let app = TestApp::spawn().await;
    let tenant = chorus_shared::services::auth::ensure_tenant(&app.ctx.pool, "acme").await.unwrap();
    let viewer = chorus_shared::services::auth::create_key(&app.ctx.pool, tenant.id, "viewer", Role::Viewer)
        .await
        .unwrap()
        .secret;
    let dead = app.submit(json!({"kind": "diagnostic", "payload": {"fail_attempts": 1}, "max_attempts": 1})).await;
    app.wait_for_status(dead, JobStatus::Dead, Duration::from_secs(15)).await;

    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&receiver).await;
    let body = json!({"url": format!("{}/hook", receiver.uri()), "event_types": ["job.dead"]});
    let endpoint: Value =
        app.post(&app.admin_key, "/v1/webhooks").json(&body).send().await.unwrap().json().await.unwrap();
    let test = app.post(&app.admin_key, &format!("/v1/webhooks/{}/test", endpoint["id"].as_str().unwrap()));
    assert_eq!(test.send().await.unwrap().status(), 202);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while receiver.received_requests().await.unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the test event was delivered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let upload =
        upload_as(&app, &app.admin_key, b"Copper conducts heat well.".to_vec(), "copper.txt", "text/plain", "ops");
    let doc: Value = upload.await.json().await.unwrap();
    settled(&app, doc["document"]["id"].as_str().unwrap()).await;
    let running = app.submit(json!({"kind": "diagnostic", "payload": {"steps": 60, "sleep_ms": 60000}})).await;
    app.wait_for_status(running, JobStatus::Running, Duration::from_secs(15)).await;

    let screens = std::env::var("SCREENSHOTS").ok().filter(|v| v == "1").map(|_| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/results/screens");
        std::fs::create_dir_all(&dir).unwrap();
        dir.canonicalize().unwrap().display().to_string()
    });
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/dashboard.mjs");
    let mut cmd = std::process::Command::new("node");
    cmd.arg(script)
        .env("CHORUS_DASH_URL", &app.address)
        .env("CHORUS_ADMIN_KEY", &app.admin_key)
        .env("CHORUS_VIEWER_KEY", &viewer)
        .env("CHORUS_DEAD_JOB", dead.to_string())
        .env("CHORUS_RUNNING_JOB", running.to_string())
        .env("CHORUS_DOCUMENT", doc["document"]["id"].as_str().unwrap())
        .env("CHORUS_BROWSER_MODULES", &modules)
        .env("CHORUS_CHROMIUM", std::env::var("CHORUS_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()))
        .env("SCREENSHOTS", screens.unwrap_or_default());
    let out = tokio::time::timeout(Duration::from_secs(240), tokio::task::spawn_blocking(move || cmd.output()))
        .await
        .expect("the browser run ended within 240 s")
        .unwrap()
        .expect("node runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("dashboard: all checks passed"), "{stdout}");

    // What the clicks did, seen from the API.
    assert_eq!(app.job(dead).await.status, JobStatus::Succeeded, "the dead job was retried by a click");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while receiver.received_requests().await.unwrap().len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "the redelivery arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cancel = app.post(&app.admin_key, &format!("/v1/jobs/{running}/cancel")).send().await.unwrap();
    assert!(cancel.status().is_success());
    app.wait_for_status(running, JobStatus::Cancelled, Duration::from_secs(15)).await;
}
