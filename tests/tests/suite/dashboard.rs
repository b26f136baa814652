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
    let viewer = chorus_shared::services::auth::create_key(&app.ctx.pool, tenant.id, "viewer", Role::Viewer, None)
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

/// The overview's counts of ended jobs come from counters kept as jobs end
/// (on every path: batched successes, failures, retries of dead jobs); the
/// maintenance fold merges closed buckets without losing a count, and drops
/// buckets older than two hours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_counts_jobs_as_they_end() {
    use chorus_shared::services::{overview, Principal};
    use diesel_async::RunQueryDsl;

    let app = TestApp::spawn().await;
    let tenant = chorus_shared::services::auth::ensure_tenant(&app.ctx.pool, "acme").await.unwrap();
    let me = Principal { tenant_id: tenant.id, key_id: uuid::Uuid::nil(), role: Role::Admin };
    let ok: Vec<_> =
        futures::future::join_all((0..3).map(|_| app.submit(json!({"kind": "diagnostic", "payload": {}})))).await;
    let dead = app.submit(json!({"kind": "diagnostic", "payload": {"fail_attempts": 1}, "max_attempts": 1})).await;
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    app.submit(json!({"kind": "diagnostic", "payload": {}, "run_at": later})).await;
    for id in &ok {
        app.wait_for_status(*id, JobStatus::Succeeded, Duration::from_secs(15)).await;
    }
    let queue = app.wait_for_status(dead, JobStatus::Dead, Duration::from_secs(15)).await.queue;
    let stats = |app: &TestApp| {
        let (ctx, queue) = (app.ctx.clone(), queue.clone());
        async move {
            let all = overview::queues(&ctx, &me).await.unwrap();
            let q = all.into_iter().find(|q| q.queue == queue).unwrap();
            (q.waiting, q.succeeded, q.failed, q.finished.iter().sum::<i64>(), q.failures.iter().sum::<i64>())
        }
    };
    assert_eq!(stats(&app).await, (1, 3, 1, 4, 1), "waiting, succeeded, failed, ended, failures");

    // A dead job retried ends again, and counts again.
    let retry = app.post(&app.admin_key, &format!("/v1/jobs/{dead}/retry")).send().await.unwrap();
    assert!(retry.status().is_success(), "{}", retry.status());
    app.wait_for_status(dead, JobStatus::Succeeded, Duration::from_secs(15)).await;
    assert_eq!(stats(&app).await, (1, 4, 1, 5, 1));

    // Ten minutes later (the buckets moved back), the fold leaves one row
    // per bucket, queue and status, and the counts as they were.
    let mut conn = app.ctx.pool.get().await.unwrap();
    let shift = |by: &'static str| format!("UPDATE job_outcomes SET bucket = bucket - interval '{by}'");
    diesel::sql_query(shift("10 minutes")).execute(&mut conn).await.unwrap();
    overview::fold_outcomes(&app.ctx).await.unwrap();
    #[derive(diesel::QueryableByName)]
    struct Rows {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        per_backend: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        folded: i64,
    }
    let rows =
        "SELECT count(*) FILTER (WHERE backend <> 0) AS per_backend, count(*) FILTER (WHERE backend = 0) AS folded \
                FROM job_outcomes";
    let r: Rows = diesel::sql_query(rows).get_result(&mut conn).await.unwrap();
    assert_eq!(r.per_backend, 0, "every closed bucket was folded");
    assert!(r.folded >= 2, "succeeded and dead rows stay apart: {}", r.folded);
    assert_eq!(stats(&app).await, (1, 4, 1, 5, 1), "folding lost no count");

    // Past two hours, a bucket is dropped.
    diesel::sql_query(shift("3 hours")).execute(&mut conn).await.unwrap();
    overview::fold_outcomes(&app.ctx).await.unwrap();
    let r: Rows = diesel::sql_query(rows).get_result(&mut conn).await.unwrap();
    assert_eq!((r.per_backend, r.folded), (0, 0));
    assert_eq!(stats(&app).await, (1, 0, 0, 0, 0));
}

/// Successes are counted by the statements that write them, not by the
/// outcome trigger: one ended alone (no batch completer) counts as a
/// batched one does, and a failure still counts through the trigger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn successes_ended_alone_count_too() {
    use chorus_shared::services::{overview, Principal};

    let app = TestApp::spawn_with(1, |s| s.worker.complete_batch_ms = 0).await;
    let tenant = chorus_shared::services::auth::ensure_tenant(&app.ctx.pool, "acme").await.unwrap();
    let me = Principal { tenant_id: tenant.id, key_id: uuid::Uuid::nil(), role: Role::Admin };
    let ok: Vec<_> =
        futures::future::join_all((0..2).map(|_| app.submit(json!({"kind": "diagnostic", "payload": {}})))).await;
    let failed = app.submit(json!({"kind": "diagnostic", "payload": {"fail_attempts": 1}, "max_attempts": 1})).await;
    for id in &ok {
        app.wait_for_status(*id, JobStatus::Succeeded, Duration::from_secs(15)).await;
    }
    let queue = app.wait_for_status(failed, JobStatus::Dead, Duration::from_secs(15)).await.queue;
    let all = overview::queues(&app.ctx, &me).await.unwrap();
    let q = all.into_iter().find(|q| q.queue == queue).unwrap();
    assert_eq!((q.succeeded, q.failed, q.finished.iter().sum::<i64>()), (2, 1, 3), "succeeded, failed, ended");
}
