//! Webhooks: signed per Standard Webhooks, held behind one probe while the
//! receiver is down and released in order when it is back, delivered once
//! per `webhook-id`, disabled on 410, rotated with an overlap, refused for
//! internal addresses, and never lost to a crash.

use std::time::Duration;

use chorus_shared::domain::JobStatus;
use chorus_tests::receiver::{verify, Receiver};
use chorus_tests::TestApp;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};

const TOLERANCE: Duration = Duration::from_secs(300);

async fn register(app: &TestApp, url: &str, types: &[&str]) -> (String, String) {
    let resp =
        app.post(&app.admin_key, "/v1/webhooks").json(&json!({"url": url, "event_types": types})).send().await.unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let v: Value = resp.json().await.unwrap();
    (v["id"].as_str().unwrap().to_string(), v["secret"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_signed_logged_and_callbacks_use_the_tenant_secret() {
    let app = TestApp::spawn().await;
    let rx = Receiver::start(0).await;
    let (endpoint, secret) = register(&app, &rx.url("/hooks"), &["job.succeeded", "job.dead"]).await;
    let callback: Value = app.get_json(&app.admin_key, "/v1/webhooks/callback-secret").await;
    let callback_secret = callback["secret"].as_str().unwrap().to_string();

    let id = app.submit(json!({"kind": "diagnostic", "payload": {}, "callback_url": rx.url("/callback")})).await;
    let seen = rx.wait_until(Duration::from_secs(15), |s| s.len() >= 2).await;
    let hook = seen.iter().find(|c| c.path == "/hooks").expect("endpoint delivery");
    let cb = seen.iter().find(|c| c.path == "/callback").expect("callback delivery");
    for (c, secret) in [(hook, &secret), (cb, &callback_secret)] {
        verify(secret, c, TOLERANCE).unwrap();
        let body = c.json();
        assert_eq!(body["type"], "job.succeeded");
        assert_eq!(body["data"]["id"], id.to_string());
        assert_eq!(body["data"]["status"], "succeeded");
        assert!(body["timestamp"].is_string());
        assert!(c.id.starts_with("msg_"));
    }
    assert_ne!(hook.id, cb.id);
    // The verifier is not a rubber stamp.
    let mut tampered = hook.clone();
    tampered.body = tampered.body.replace("succeeded", "failed");
    assert!(verify(&secret, &tampered, TOLERANCE).is_err());
    let mut stale = hook.clone();
    stale.timestamp = (hook.timestamp.parse::<i64>().unwrap() - 3600).to_string();
    assert!(verify(&secret, &stale, TOLERANCE).is_err());
    assert!(verify(&callback_secret, hook, TOLERANCE).is_err(), "each destination has its own secret");

    // The delivery log (the worker records the success just after the
    // receiver answered).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let log: Value = loop {
        let log: Value = app.get_json(&app.admin_key, &format!("/v1/webhooks/{endpoint}/deliveries")).await;
        if log[0]["status"] == "succeeded" || tokio::time::Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let first = &log[0];
    assert_eq!(first["status"], "succeeded");
    assert_eq!(first["webhook_id"], hook.id);
    assert_eq!(first["log"][0]["status_code"], 200);
    assert_eq!(first["log"][0]["response"], "received, thanks");
    let none: Value = app.get_json(&app.admin_key, &format!("/v1/webhooks/{endpoint}/deliveries?status=failed")).await;
    assert!(none.as_array().unwrap().is_empty());

    // A test event goes to the endpoint whatever it subscribes to.
    let resp = app.post(&app.admin_key, &format!("/v1/webhooks/{endpoint}/test")).send().await.unwrap();
    assert_eq!(resp.status(), 202);
    let seen = rx.wait_until(Duration::from_secs(10), |s| s.iter().any(|c| c.json()["type"] == "webhook.test")).await;
    let test = seen.iter().find(|c| c.json()["type"] == "webhook.test").unwrap();
    verify(&secret, test, TOLERANCE).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_was_down_gets_every_delivery_exactly_once() {
    let app = TestApp::spawn_with(1, |s| s.webhooks.retry_schedule_ms = vec![300; 40]).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (endpoint, secret) = register(&app, &format!("http://127.0.0.1:{port}/down"), &["job.succeeded"]).await;
    let mut jobs = Vec::new();
    for _ in 0..5 {
        jobs.push(app.submit(json!({"kind": "diagnostic", "payload": {}})).await);
    }
    // The endpoint's circuit opens: one delivery probes on the retry
    // schedule, the others wait `held`, with one attempt at most (those
    // already sending when the first failure came back).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let probe = loop {
        let log: Value = app.get_json(&app.admin_key, &format!("/v1/webhooks/{endpoint}/deliveries")).await;
        let items = log.as_array().unwrap();
        let held = items.iter().filter(|d| d["status"] == "held").count();
        let probing: Vec<&Value> =
            items.iter().filter(|d| d["status"] == "pending" && d["attempts"].as_i64().unwrap() >= 3).collect();
        if items.len() == 5 && held == 4 && probing.len() == 1 {
            assert!(probing[0]["log"][0]["error"].as_str().unwrap().contains("connection"), "{log}");
            break probing[0]["id"].as_str().unwrap().to_string();
        }
        assert!(tokio::time::Instant::now() < deadline, "no probe behind an open circuit: {log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // While the probe keeps failing, the held deliveries are not retried.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log: Value = app.get_json(&app.admin_key, &format!("/v1/webhooks/{endpoint}/deliveries")).await;
    for d in log.as_array().unwrap().iter().filter(|d| d["id"] != probe.as_str()) {
        assert!(d["status"] == "held" && d["attempts"].as_i64().unwrap() <= 1, "{d}");
    }
    let rx = Receiver::start(port).await;
    rx.wait_until(Duration::from_secs(20), |s| {
        s.iter().map(|c| &c.id).collect::<std::collections::BTreeSet<_>>().len() == 5
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The probe's success released the held ones, oldest first.
    let delivered: Vec<String> = rx.seen().iter().map(|c| c.id.clone()).collect();
    let log: Value = app.get_json(&app.admin_key, &format!("/v1/webhooks/{endpoint}/deliveries")).await;
    let mut released: Vec<(String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["id"] != probe.as_str())
        .map(|d| (d["id"].as_str().unwrap().to_string(), d["webhook_id"].as_str().unwrap().to_string()))
        .collect();
    released.sort();
    let order: Vec<&String> = released.iter().map(|(_, w)| w).collect();
    assert_eq!(delivered[1..].iter().collect::<Vec<_>>(), order, "released in order after the probe");
    assert!(log.as_array().unwrap().iter().all(|d| d["status"] == "succeeded"), "{log}");
    let seen = rx.seen();
    let mut reported: Vec<String> = seen.iter().map(|c| c.json()["data"]["id"].as_str().unwrap().to_string()).collect();
    reported.sort();
    reported.dedup();
    let mut expected: Vec<String> = jobs.iter().map(|j| j.to_string()).collect();
    expected.sort();
    assert_eq!(reported, expected, "each job's event arrived");
    assert_eq!(rx.unique_ids().len(), 5, "one webhook-id per event");
    for c in &seen {
        verify(&secret, c, TOLERANCE).unwrap();
    }

    // A manual redelivery repeats the same webhook-id, which the receiver de-duplicates.
    let log: Value = app.get_json(&app.admin_key, &format!("/v1/webhooks/{endpoint}/deliveries")).await;
    let delivery = log[0]["id"].as_str().unwrap();
    let resp = app.post(&app.admin_key, &format!("/v1/webhooks/deliveries/{delivery}/redeliver")).send().await.unwrap();
    assert_eq!(resp.status(), 202);
    let before = seen.len();
    rx.wait_until(Duration::from_secs(10), |s| s.len() > before).await;
    assert_eq!(rx.unique_ids().len(), 5);
    assert_eq!(rx.seen().last().unwrap().id, log[0]["webhook_id"].as_str().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_disables_the_endpoint_and_rotation_signs_with_both_secrets() {
    let app = TestApp::spawn().await;
    let rx = Receiver::start(0).await;
    let (gone, _) = register(&app, &rx.url("/gone"), &["job.succeeded"]).await;
    rx.answer(410);
    app.submit(json!({"kind": "diagnostic", "payload": {}})).await;
    rx.wait_until(Duration::from_secs(10), |s| !s.is_empty()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let ep = loop {
        let ep: Value = app.get_json(&app.admin_key, &format!("/v1/webhooks/{gone}")).await;
        if ep["enabled"] == false {
            break ep;
        }
        assert!(tokio::time::Instant::now() < deadline, "endpoint still enabled: {ep}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(ep["disabled_reason"].as_str().unwrap().contains("410"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.seen().len(), 1, "a 410 is not retried");
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("chorus_webhook_pending 0"), "{metrics}");

    // Rotation: during the overlap both the old and the new secret sign.
    rx.answer(200);
    let (id, old) = register(&app, &rx.url("/rotated"), &["job.succeeded"]).await;
    let rotated: Value = app
        .post(&app.admin_key, &format!("/v1/webhooks/{id}/rotate-secret"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert!(rotated["previous_secret_expires_at"].is_string());
    app.submit(json!({"kind": "diagnostic", "payload": {}})).await;
    let seen = rx.wait_until(Duration::from_secs(10), |s| s.iter().any(|c| c.path == "/rotated")).await;
    let c = seen.iter().find(|c| c.path == "/rotated").unwrap();
    assert_eq!(c.signature.split(' ').count(), 2);
    verify(&old, c, TOLERANCE).unwrap();
    verify(&new, c, TOLERANCE).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_addresses_are_refused_at_registration_and_at_delivery() {
    // Default webhook settings: https only, no allowlist.
    let app = TestApp::spawn_with(0, |s| s.webhooks = Default::default()).await;
    for url in [
        "https://10.0.0.7/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://127.0.0.1/x",
        "https://localhost/x",
        "https://[::1]/x",
        "http://93.184.216.34/plain-http",
        "ftp://example.com/",
    ] {
        let resp = app
            .post(&app.admin_key, "/v1/webhooks")
            .json(&json!({"url": url, "event_types": ["job.succeeded"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 422, "{url}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["code"], "url_not_allowed", "{url}: {body}");
        assert_eq!(body["details"]["field"], "url");
    }
    let resp = app
        .post(&app.admin_key, "/v1/jobs")
        .json(&json!({"kind": "diagnostic", "payload": {}, "callback_url": "https://192.168.1.10/cb"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], "url_not_allowed");
    let resp = app
        .post(&app.admin_key, "/v1/webhooks")
        .json(&json!({"url": "https://example.com/x", "event_types": ["job.nope"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], "invalid_payload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_re_checks_the_address_with_the_workers_policy() {
    // The API allows loopback (as registered), the worker does not: the
    // delivery is refused when it is sent, and logged with the reason.
    let app = TestApp::spawn_with(0, |_| {}).await;
    let rx = Receiver::start(0).await;
    let (endpoint, _) = register(&app, &rx.url("/x"), &["job.succeeded"]).await;
    let mut w = app.spawn_worker_process("strict", &[("CHORUS__WEBHOOKS__ALLOW_NETWORKS", String::new())]);
    app.submit(json!({"kind": "diagnostic", "payload": {}})).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let log = loop {
        let log: Value = app.get_json(&app.admin_key, &format!("/v1/webhooks/{endpoint}/deliveries")).await;
        if log[0]["status"] == "failed" {
            break log;
        }
        assert!(tokio::time::Instant::now() < deadline, "{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(log[0]["last_error"].as_str().unwrap().starts_with("url_not_allowed"));
    assert!(rx.seen().is_empty());
    // Stopped gracefully, it records the job's end: none is left running.
    kill(Pid::from_raw(w.id() as i32), Signal::SIGTERM).unwrap();
    chorus_tests::wait_exit(&mut w, Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_after_the_state_change_loses_no_delivery() {
    let mut app = TestApp::spawn_with(0, |_| {}).await;
    let rx = Receiver::start(0).await;
    register(&app, &rx.url("/x"), &["job.succeeded"]).await;
    // This worker runs jobs but does not deliver webhooks.
    let mut w = app.spawn_worker_process("no-webhooks", &[("CHORUS__WORKER__QUEUES", "maintenance".into())]);
    let id = app.submit(json!({"kind": "diagnostic", "payload": {}})).await;
    app.wait_for_status(id, JobStatus::Succeeded, Duration::from_secs(20)).await;
    kill(Pid::from_raw(w.id() as i32), Signal::SIGKILL).unwrap();
    let _ = w.wait();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(rx.seen().is_empty(), "nothing was delivered yet");
    app.start_worker().await;
    let seen = rx.wait_until(Duration::from_secs(15), |s| !s.is_empty()).await;
    assert_eq!(seen[0].json()["data"]["id"], id.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_implementation_verifies_a_captured_delivery() {
    let Ok(python) = std::env::var("CHORUS_TEST_PYTHON") else {
        eprintln!("CHORUS_TEST_PYTHON is not set (no python3): reference check not run");
        return;
    };
    let app = TestApp::spawn().await;
    let rx = Receiver::start(0).await;
    let (_, secret) = register(&app, &rx.url("/ref"), &["job.succeeded"]).await;
    app.submit(json!({"kind": "diagnostic", "payload": {}})).await;
    let c = rx.wait_until(Duration::from_secs(15), |s| !s.is_empty()).await.remove(0);
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
case = json.load(sys.stdin)
wh = Webhook(case["secret"])
print(json.dumps(wh.verify(case["body"], case["headers"])["type"]))
try:
    wh.verify(case["body"].replace("succeeded", "failed"), case["headers"])
    sys.exit("tampered body accepted")
except WebhookVerificationError:
    pass
"#;
    let case = json!({
        "secret": secret,
        "body": c.body,
        "headers": {"webhook-id": c.id, "webhook-timestamp": c.timestamp, "webhook-signature": c.signature},
    });
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(case.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "standardwebhooks refused the delivery");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "\"job.succeeded\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_disable_an_endpoint_and_progress_is_opt_in_and_throttled() {
    let app = TestApp::spawn_with(1, |s| {
        s.webhooks.retry_schedule_ms = vec![]; // one attempt per delivery
        s.webhooks.disable_after_failures = 2;
        s.webhooks.progress_throttle_ms = 300;
    })
    .await;
    let bad = Receiver::start(0).await;
    bad.answer(500);
    let watcher = Receiver::start(0).await;
    let (failing, _) = register(&app, &bad.url("/bad"), &["job.succeeded"]).await;
    register(&app, &watcher.url("/watch"), &["webhook.endpoint.disabled", "job.progress"]).await;

    for _ in 0..2 {
        let id = app.submit(json!({"kind": "diagnostic", "payload": {}})).await;
        app.wait_for_status(id, JobStatus::Succeeded, Duration::from_secs(10)).await;
    }
    let seen = watcher
        .wait_until(Duration::from_secs(15), |s| s.iter().any(|c| c.json()["type"] == "webhook.endpoint.disabled"))
        .await;
    let event = seen.iter().find(|c| c.json()["type"] == "webhook.endpoint.disabled").unwrap().json();
    assert_eq!(event["data"]["endpoint_id"], failing);
    let ep: Value = app.get_json(&app.admin_key, &format!("/v1/webhooks/{failing}")).await;
    assert_eq!(ep["enabled"], false);
    assert_eq!(ep["disabled_reason"], "2 deliveries in a row failed");
    let port = app.workers[0].metrics_port;
    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"chorus_webhook_endpoints_disabled_total{reason="failures"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"chorus_webhook_deliveries_total{outcome="failure"} 2"#));
    assert!(metrics.contains("chorus_webhook_delivery_seconds_count"));

    // Re-enabling clears the failure count.
    let ep: Value = app
        .client
        .patch(app.url(&format!("/v1/webhooks/{failing}")))
        .bearer_auth(&app.admin_key)
        .json(&json!({"enabled": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((ep["enabled"].as_bool(), ep["consecutive_failures"].as_i64()), (Some(true), Some(0)));
    assert!(ep["disabled_reason"].is_null());

    // Progress: 20 reports over 2 s, throttled to at most one per 300 ms.
    let before = watcher.seen().len();
    let id = app.submit(json!({"kind": "diagnostic", "payload": {"sleep_ms": 2000, "steps": 20}})).await;
    let done = app.wait_for_status(id, JobStatus::Succeeded, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let progress: Vec<_> =
        watcher.seen()[before..].iter().filter(|c| c.json()["type"] == "job.progress").cloned().collect();
    // At most one per 300 ms of the run (which a loaded machine stretches).
    let ran = (done.finished_at.unwrap() - done.started_at.unwrap()).num_milliseconds();
    let most = (ran / 300 + 2) as usize;
    assert!((2..=most.min(19)).contains(&progress.len()), "{} progress deliveries in {ran} ms", progress.len());
    assert!(progress.iter().all(|c| c.json()["data"]["id"] == id.to_string()));

    // Deleting an endpoint removes it.
    let resp = app
        .client
        .delete(app.url(&format!("/v1/webhooks/{failing}")))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let resp = app.get(&app.admin_key, &format!("/v1/webhooks/{failing}")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], "webhook_not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_whose_job_is_cancelled_fails_and_counts_toward_disabling() {
    // A minute between attempts: the delivery job waits in `retrying`.
    let app = TestApp::spawn_with(1, |s| s.webhooks.retry_schedule_ms = vec![60_000]).await;
    let down = Receiver::start(0).await;
    down.answer(500);
    let (endpoint, _) = register(&app, &down.url("/down"), &["job.succeeded"]).await;
    let id = app.submit(json!({"kind": "diagnostic", "payload": {}})).await;
    app.wait_for_status(id, JobStatus::Succeeded, Duration::from_secs(10)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let delivery_job = loop {
        let page: Value = app.get_json(&app.admin_key, "/v1/jobs?kind=webhook_delivery").await;
        if let Some(job) = page["items"].as_array().unwrap().iter().find(|j| j["status"] == "retrying") {
            break job["id"].as_str().unwrap().to_string();
        }
        assert!(tokio::time::Instant::now() < deadline, "no delivery job retrying: {page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let resp = app.post(&app.admin_key, &format!("/v1/jobs/{delivery_job}/cancel")).send().await.unwrap();
    assert_eq!(resp.status(), 200);

    let log: Value = app.get_json(&app.admin_key, &format!("/v1/webhooks/{endpoint}/deliveries")).await;
    assert_eq!(log[0]["status"], "failed", "{log}");
    let ep: Value = app.get_json(&app.admin_key, &format!("/v1/webhooks/{endpoint}")).await;
    assert_eq!(ep["consecutive_failures"], 1, "{ep}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_secrets_are_sealed_at_rest_and_plain_rows_get_sealed() {
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Stored {
        #[diesel(sql_type = diesel::sql_types::Text)]
        secret: String,
    }
    let app = TestApp::spawn().await;
    let rx = Receiver::start(0).await;
    let (endpoint, secret) = register(&app, &rx.url("/hooks"), &["job.succeeded"]).await;
    let callback: Value = app.get_json(&app.admin_key, "/v1/webhooks/callback-secret").await;
    let callback_secret = callback["secret"].as_str().unwrap().to_string();
    let stored = |sql: &'static str| {
        let pool = app.ctx.pool.clone();
        async move {
            let mut conn = pool.get().await.unwrap();
            diesel::sql_query(sql)
                .load::<Stored>(&mut conn)
                .await
                .unwrap()
                .into_iter()
                .map(|s| s.secret)
                .collect::<Vec<_>>()
        }
    };
    let at_rest = [
        stored("SELECT secret FROM webhook_endpoints").await,
        stored("SELECT callback_secret AS secret FROM tenants WHERE callback_secret IS NOT NULL").await,
    ]
    .concat();
    assert_eq!(at_rest.len(), 2);
    for s in &at_rest {
        assert!(s.starts_with("v1:") && !s.contains(&secret) && !s.contains(&callback_secret), "{s}");
    }

    // A row from before secrets were sealed holds the secret plainly; the
    // startup pass seals it, and deliveries still sign with it.
    let mut conn = app.ctx.pool.get().await.unwrap();
    diesel::sql_query("UPDATE webhook_endpoints SET secret = $1")
        .bind::<diesel::sql_types::Text, _>(&secret)
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    assert_eq!(chorus_shared::services::webhooks::seal_plain_secrets(&app.ctx).await.unwrap(), 1);
    assert_eq!(chorus_shared::services::webhooks::seal_plain_secrets(&app.ctx).await.unwrap(), 0);
    assert!(stored("SELECT secret FROM webhook_endpoints").await[0].starts_with("v1:"));
    let resp = app.post(&app.admin_key, &format!("/v1/webhooks/{endpoint}/test")).send().await.unwrap();
    assert_eq!(resp.status(), 202);
    let seen = rx.wait_until(Duration::from_secs(15), |s| !s.is_empty()).await;
    verify(&secret, &seen[0], TOLERANCE).unwrap();
    let id = app.submit(json!({"kind": "diagnostic", "payload": {}, "callback_url": rx.url("/callback")})).await;
    let seen = rx.wait_until(Duration::from_secs(15), |s| s.iter().any(|c| c.path == "/callback")).await;
    let cb = seen.iter().find(|c| c.path == "/callback").unwrap();
    verify(&callback_secret, cb, TOLERANCE).unwrap();
    assert_eq!(cb.json()["data"]["id"], id.to_string());
}
