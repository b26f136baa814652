//! The Idempotency-Key header: same key and body → same job; same key and
//! another body → 409; keys are per tenant.

use chorus_shared::domain::Role;
use chorus_tests::TestApp;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_returns_the_same_job_and_a_different_body_conflicts() {
    let app = TestApp::spawn_with(0, |_| {}).await;
    let body = json!({"kind": "diagnostic", "payload": {"sleep_ms": 10}});
    let send = |b: Value, key: &'static str| {
        app.post(&app.admin_key, "/v1/jobs").header("Idempotency-Key", key).json(&b).send()
    };
    let first = send(body.clone(), "order-1").await.unwrap();
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let again = send(body.clone(), "order-1").await.unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);

    let other = send(json!({"kind": "diagnostic", "payload": {"sleep_ms": 20}}), "order-1").await.unwrap();
    assert_eq!(other.status(), 409);
    let err: Value = other.json().await.unwrap();
    assert_eq!(err["code"], "idempotency_conflict");

    // Another tenant may use the same key for its own job.
    let other_admin = app.key("globex", Role::Admin).await;
    let theirs: Value = app
        .post(&other_admin, "/v1/jobs")
        .header("Idempotency-Key", "order-1")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(theirs["id"], first["id"]);

    let page: Value = app.get_json(&app.admin_key, "/v1/jobs").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "one job for the key");
}
