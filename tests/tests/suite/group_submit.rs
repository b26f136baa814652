//! Group commit of `POST /v1/jobs`: submissions that arrive together are
//! inserted in one statement, and each caller still gets its own answer:
//! its job, the job its idempotency key already names, or its own error
//! when its row cannot be stored (the others are stored anyway).

use chorus_shared::domain::JobStatus;
use chorus_shared::queue::inserter::{Inserter, Submission};
use chorus_tests::TestApp;
use serde_json::{json, Value};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submissions_sent_at_once_each_get_their_own_job_and_a_shared_key_one() {
    let app = TestApp::spawn_with(0, |_| {}).await;
    let plain = (0..24).map(|i| {
        let body = json!({"kind": "diagnostic", "payload": {"sleep_ms": i}});
        app.post(&app.admin_key, "/v1/jobs").json(&body).send()
    });
    let keyed = (0..8).map(|_| {
        let body = json!({"kind": "diagnostic", "payload": {"sleep_ms": 1000}});
        app.post(&app.admin_key, "/v1/jobs").header("Idempotency-Key", "shared").json(&body).send()
    });
    let (plain, keyed) = tokio::join!(futures::future::join_all(plain), futures::future::join_all(keyed));
    let mut ids = std::collections::HashSet::new();
    for r in plain {
        let r = r.unwrap();
        assert_eq!(r.status(), 202);
        let job: Value = r.json().await.unwrap();
        assert!(ids.insert(job["id"].as_str().unwrap().to_string()), "a job of its own: {job}");
    }
    let mut shared = std::collections::HashSet::new();
    for r in keyed {
        let r = r.unwrap();
        assert_eq!(r.status(), 202);
        let job: Value = r.json().await.unwrap();
        shared.insert(job["id"].as_str().unwrap().to_string());
    }
    assert_eq!(shared.len(), 1, "one job for the key, whoever came first: {shared:?}");
    assert!(ids.is_disjoint(&shared));
    let page: Value = app.get_json(&app.admin_key, "/v1/jobs?limit=100").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 25, "24 plain jobs and one for the key");
}

fn submission(tenant: Uuid, payload: Value) -> Submission {
    Submission {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        kind: "diagnostic",
        queue: "maintenance",
        priority: 0,
        status: JobStatus::Queued,
        max_attempts: 3,
        run_at: chrono::Utc::now(),
        payload,
        idempotency_key: None,
        request_hash: None,
        callback_url: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_postgres_refuses_fails_alone_and_the_rows_beside_it_are_stored() {
    let app = TestApp::spawn_with(0, |_| {}).await;
    let tenant = chorus_shared::services::auth::ensure_tenant(&app.ctx.pool, "acme").await.unwrap().id;
    // A NUL character cannot be stored in jsonb: a statement with this row
    // fails as a whole.
    let bad = submission(tenant, json!({"note": "a\u{0}b"}));
    let good: Vec<Submission> = (0..6).map(|i| submission(tenant, json!({"sleep_ms": i}))).collect();
    let together: Vec<_> = good.iter().chain(std::iter::once(&bad)).cloned().collect();
    {
        let mut conn = app.ctx.pool.get().await.unwrap();
        let rows: Vec<_> = together.iter().map(|s| s.row()).collect();
        assert!(chorus_shared::queue::insert_rows(&mut conn, &rows).await.is_err(), "one statement, all or none");
    }

    let inserter = Inserter::new(app.ctx.pool.clone(), 100);
    let answers = futures::future::join_all(together.iter().cloned().map(|s| {
        let inserter = inserter.clone();
        async move { inserter.insert(s).await }
    }))
    .await;
    let (stored, refused): (Vec<_>, Vec<_>) = answers.into_iter().partition(|a| a.is_ok());
    assert_eq!(stored.len(), 6, "every good row is stored");
    assert!(stored.iter().all(|a| a.as_ref().unwrap().is_some()));
    let err = refused.into_iter().next().unwrap().unwrap_err();
    assert_eq!(err.code.as_str(), "invalid_payload", "{err:?}");
    let page: Value = app.get_json(&app.admin_key, "/v1/jobs?limit=100").await;
    let listed: Vec<&str> = page["items"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(listed.len(), 6);
    assert!(good.iter().all(|s| listed.contains(&s.id.to_string().as_str())));
}
