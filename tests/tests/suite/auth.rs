//! API keys, roles, and tenant isolation.

use std::time::Duration;

use chorus_shared::domain::{JobStatus, Role};
use chorus_tests::TestApp;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_job_is_not_found_on_every_route() {
    let app = TestApp::spawn().await;
    let id = app.submit(json!({"kind": "diagnostic", "payload": {}})).await;
    app.wait_for_status(id, JobStatus::Succeeded, Duration::from_secs(10)).await;
    let stranger = app.key("globex", Role::Admin).await;
    for (method, path) in [
        ("GET", format!("/v1/jobs/{id}")),
        ("GET", format!("/v1/jobs/{id}/events")),
        ("POST", format!("/v1/jobs/{id}/cancel")),
        ("POST", format!("/v1/jobs/{id}/retry")),
    ] {
        let req = if method == "GET" { app.get(&stranger, &path) } else { app.post(&stranger, &path) };
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 404, "{method} {path}");
        assert_eq!(resp.json::<Value>().await.unwrap()["code"], "job_not_found");
    }
    let page: Value = app.get_json(&stranger, "/v1/jobs").await;
    assert!(page["items"].as_array().unwrap().is_empty());
    // Keys are per tenant too.
    let mine: Value = app.get_json(&app.admin_key, "/v1/keys").await;
    let my_key = mine[0]["id"].as_str().unwrap();
    let resp = app.client.delete(app.url(&format!("/v1/keys/{my_key}"))).bearer_auth(&stranger).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    // And webhooks.
    let hook: Value = app
        .post(&app.admin_key, "/v1/webhooks")
        .json(&json!({"url": "http://127.0.0.1:9/x", "event_types": ["job.dead"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hook = hook["id"].as_str().unwrap();
    for (method, path) in [
        ("GET", format!("/v1/webhooks/{hook}")),
        ("GET", format!("/v1/webhooks/{hook}/deliveries")),
        ("POST", format!("/v1/webhooks/{hook}/test")),
        ("POST", format!("/v1/webhooks/{hook}/rotate-secret")),
    ] {
        let req = if method == "GET" { app.get(&stranger, &path) } else { app.post(&stranger, &path) };
        assert_eq!(req.send().await.unwrap().status(), 404, "{method} {path}");
    }
    let theirs: Value = app.get_json(&stranger, "/v1/webhooks").await;
    assert!(theirs.as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_limit_what_a_key_may_do() {
    let app = TestApp::spawn_with(0, |_| {}).await;
    let user = app.key("acme", Role::User).await;
    let viewer = app.key("acme", Role::Viewer).await;
    let diag = json!({"kind": "diagnostic", "payload": {}});

    let r = app.post(&viewer, "/v1/jobs").json(&diag).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = app.post(&user, "/v1/jobs").json(&diag).send().await.unwrap();
    assert_eq!(r.status(), 403, "diagnostic is admin-only");
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "forbidden");
    for key in [&user, &viewer] {
        let r = app.get(key, "/v1/keys").send().await.unwrap();
        assert_eq!(r.status(), 403);
    }
    let id = app.submit(diag.clone()).await;
    let r = app.get(&viewer, &format!("/v1/jobs/{id}")).send().await.unwrap();
    assert_eq!(r.status(), 200, "viewers read");
    let r = app.post(&viewer, &format!("/v1/jobs/{id}/cancel")).send().await.unwrap();
    assert_eq!(r.status(), 403, "viewers do not cancel");
    let r = app.post(&user, &format!("/v1/jobs/{id}/cancel")).send().await.unwrap();
    assert_eq!(r.status(), 200, "users cancel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_create_list_and_revoke_keys() {
    let app = TestApp::spawn_with(0, |_| {}).await;
    let created =
        app.post(&app.admin_key, "/v1/keys").json(&json!({"name": "ci", "role": "viewer"})).send().await.unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with(&format!("chorus_{}_", created["prefix"].as_str().unwrap())));
    assert_eq!(app.get(&secret, "/v1/jobs").send().await.unwrap().status(), 200);

    let list: Value = app.get_json(&app.admin_key, "/v1/keys").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(list.as_array().unwrap().iter().all(|k| k.get("secret").is_none()), "secrets are never listed");

    let id = created["id"].as_str().unwrap();
    let revoked =
        app.client.delete(app.url(&format!("/v1/keys/{id}"))).bearer_auth(&app.admin_key).send().await.unwrap();
    assert_eq!(revoked.status(), 200);
    let r = app.get(&secret, "/v1/jobs").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "invalid_api_key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_with_another_secrets_key_refuses_to_start_and_says_why() {
    // The in-process worker records the deployment's key.
    let app = TestApp::spawn().await;
    let other = chorus_shared::secrets::Cipher::generate_key();
    let mut w = app.spawn_worker_process(
        "other-key",
        &[("CHORUS__SECRETS__KEY", other), ("CHORUS__WORKER__QUEUES", "maintenance".into())],
    );
    let status = chorus_tests::wait_exit(&mut w, std::time::Duration::from_secs(30)).await;
    assert!(!status.success(), "a worker with another key must not run");
    // The same key starts.
    let mut same = app.spawn_worker_process("same-key", &[("CHORUS__WORKER__QUEUES", "maintenance".into())]);
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(same.try_wait().unwrap().is_none(), "a worker with the deployment's key runs");
    let _ = same.kill();
    let _ = same.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_stops_working_on_every_api_process_within_a_second() {
    use diesel_async::RunQueryDsl;
    // Keys are trusted from memory for a minute: only the announcement can
    // make the second process refuse in time.
    let app = TestApp::spawn_with(0, |s| s.api.key_cache_ms = 60_000).await;
    let second = chorus_api::startup::Application::build(app.ctx.clone()).unwrap();
    let b = format!("http://127.0.0.1:{}", second.port);
    tokio::spawn(second.server);
    let admin = app.key("acme", Role::Admin).await;
    let resp = app.post(&admin, "/v1/keys").json(&json!({"name": "doomed", "role": "user"})).send().await.unwrap();
    let created: Value = resp.json().await.unwrap();
    let (id, secret) = (created["id"].as_str().unwrap().to_string(), created["secret"].as_str().unwrap().to_string());
    let status = |base: String, key: String| {
        let client = app.client.clone();
        async move { client.get(format!("{base}/v1/jobs")).bearer_auth(key).send().await.unwrap().status().as_u16() }
    };
    // Both processes verify the key, and keep it.
    assert_eq!(status(app.address.clone(), secret.clone()).await, 200);
    assert_eq!(status(b.clone(), secret.clone()).await, 200);
    // The cache is real: a revocation written behind its back goes unseen.
    let mut conn = app.ctx.pool.get().await.unwrap();
    diesel::sql_query("UPDATE api_keys SET revoked_at = now() WHERE name = 'doomed'").execute(&mut conn).await.unwrap();
    assert_eq!(status(b.clone(), secret.clone()).await, 200, "served from memory");
    diesel::sql_query("UPDATE api_keys SET revoked_at = NULL WHERE name = 'doomed'").execute(&mut conn).await.unwrap();
    drop(conn);

    // Revoked through the first process: both refuse within a second.
    let started = std::time::Instant::now();
    let resp = app.client.delete(app.url(&format!("/v1/keys/{id}"))).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(status(app.address.clone(), secret.clone()).await, 401, "at once where it was revoked");
    loop {
        if status(b.clone(), secret.clone()).await == 401 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(1), "the second process still accepts the revoked key");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
