//! `POST /v1/jobs/batch`: per-item results in order, duplicates by
//! idempotency key, bad items beside good ones, all-or-nothing batches, and
//! every accepted job run once; and the worker's batched claim.

use std::time::Duration;

use chorus_shared::domain::{JobStatus, Role};
use chorus_tests::TestApp;
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};
use uuid::Uuid;

async fn batch(app: &TestApp, key: &str, body: Value) -> (u16, Value) {
    let resp = app.post(key, "/v1/jobs/batch").json(&body).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn jobs_in_db(app: &TestApp) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = app.ctx.pool.get().await.unwrap();
    diesel::sql_query("SELECT count(*) AS n FROM jobs").get_result::<N>(&mut conn).await.unwrap().n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_answers_each_item_in_order_and_runs_every_good_job_once() {
    let app = TestApp::spawn_with(1, |_| {}).await;
    let admin = app.admin_key.clone();
    let ok = |n: u64| json!({"kind": "diagnostic", "payload": {"sleep_ms": n}});
    let body = json!({"jobs": [
        ok(1),
        {"kind": "teleport"},
        {"kind": "diagnostic", "payload": {}, "priority": 500},
        {"kind": "diagnostic", "payload": {"sleep_ms": 2}, "idempotency_key": "k-1"},
        {"kind": "diagnostic", "payload": {"sleep_ms": 2}, "idempotency_key": "k-1"},
        {"kind": "diagnostic", "payload": {"sleep_ms": 3}, "idempotency_key": "k-1"},
        {"kind": "diagnostic", "payload": {}, "callback_url": "http://10.0.0.1/hook"},
        {"kind": "diagnostic", "payload": {"bogus": true}},
        ok(4),
    ]});
    let (status, answer) = batch(&app, &admin, body).await;
    assert_eq!(status, 200, "{answer}");
    let items = answer["items"].as_array().unwrap();
    assert_eq!(items.len(), 9);
    for (i, item) in items.iter().enumerate() {
        assert_eq!(item["index"], i, "{answer}");
    }
    let code = |i: usize| items[i]["error"]["code"].as_str().unwrap_or("").to_string();
    assert_eq!(
        (1..8).map(code).collect::<Vec<_>>(),
        ["unknown_kind", "invalid_payload", "", "", "idempotency_conflict", "url_not_allowed", "invalid_payload"]
    );
    // The same key and body is the same job; the first item made it.
    assert_eq!(items[3]["job"]["id"], items[4]["job"]["id"]);
    assert_eq!((items[3]["replayed"].as_bool(), items[4]["replayed"].as_bool()), (None, Some(true)));
    assert_eq!(items[5]["error"]["details"]["job_id"], items[3]["job"]["id"]);
    assert_eq!(
        (answer["inserted"].as_u64(), answer["replayed"].as_u64(), answer["failed"].as_u64()),
        (Some(3), Some(1), Some(5))
    );
    assert_eq!(jobs_in_db(&app).await, 3);

    // Every accepted job runs, once.
    let ids: Vec<Uuid> = [0, 3, 8].iter().map(|&i| items[i]["job"]["id"].as_str().unwrap().parse().unwrap()).collect();
    for id in &ids {
        let done = app.wait_for_status(*id, JobStatus::Succeeded, Duration::from_secs(30)).await;
        assert_eq!(done.attempts, 1);
    }

    // The same batch again: replayed by key, nothing new for the keyed item.
    let again = json!({"jobs": [{"kind": "diagnostic", "payload": {"sleep_ms": 2}, "idempotency_key": "k-1"}]});
    let (_, answer) = batch(&app, &admin, again).await;
    assert_eq!(
        (answer["items"][0]["job"]["id"].clone(), answer["items"][0]["replayed"].as_bool()),
        (json!(ids[1]), Some(true))
    );
    assert_eq!(jobs_in_db(&app).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_atomic_batch_queues_all_or_nothing() {
    let app = TestApp::spawn_with(0, |_| {}).await;
    let admin = app.admin_key.clone();
    // A bad item: nothing is queued, and each bad item is named.
    let body = json!({"atomic": true, "jobs": [
        {"kind": "diagnostic", "payload": {}},
        {"kind": "diagnostic", "max_attempts": 99},
        {"kind": "diagnostic", "payload": {}},
    ]});
    let (status, answer) = batch(&app, &admin, body).await;
    assert_eq!((status, answer["code"].as_str()), (422, Some("batch_rejected")), "{answer}");
    let bad = answer["details"]["items"].as_array().unwrap();
    assert_eq!((bad.len(), bad[0]["index"].as_u64()), (1, Some(1)));
    assert_eq!(jobs_in_db(&app).await, 0);

    // A key conflict found only at insert time rolls back the rest too.
    app.submit(json!({"kind": "diagnostic", "payload": {"sleep_ms": 1}})).await;
    let (_, first) =
        batch(&app, &admin, json!({"jobs": [{"kind": "diagnostic", "payload": {}, "idempotency_key": "taken"}]})).await;
    assert_eq!(first["inserted"], 1);
    let body = json!({"atomic": true, "jobs": [
        {"kind": "diagnostic", "payload": {"sleep_ms": 7}},
        {"kind": "diagnostic", "payload": {"sleep_ms": 8}, "idempotency_key": "taken"},
    ]});
    let (status, answer) = batch(&app, &admin, body).await;
    assert_eq!((status, answer["code"].as_str()), (422, Some("batch_rejected")), "{answer}");
    assert_eq!(answer["details"]["items"][0]["error"]["code"], "idempotency_conflict");
    assert_eq!(jobs_in_db(&app).await, 2, "the good item was rolled back");

    // All good: all queued.
    let body = json!({"atomic": true, "jobs": (0..50).map(|i| json!({"kind": "diagnostic", "payload": {"sleep_ms": i}})).collect::<Vec<_>>()});
    let (status, answer) = batch(&app, &admin, body).await;
    assert_eq!((status, answer["inserted"].as_u64()), (200, Some(50)), "{answer}");
    assert_eq!(jobs_in_db(&app).await, 52);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_limits_and_roles_hold() {
    let app = TestApp::spawn_with(0, |_| {}).await;
    let admin = app.admin_key.clone();
    let (status, answer) = batch(&app, &admin, json!({"jobs": []})).await;
    assert_eq!((status, answer["code"].as_str()), (422, Some("invalid_payload")));
    let many: Vec<Value> = (0..1001).map(|_| json!({"kind": "diagnostic"})).collect();
    let (status, answer) = batch(&app, &admin, json!({"jobs": many})).await;
    assert_eq!((status, answer["code"].as_str()), (422, Some("invalid_payload")), "{answer}");
    let (status, answer) = batch(&app, &admin, json!({"jobs": [{"kind": "diagnostic", "surprise": 1}]})).await;
    assert_eq!((status, answer["code"].as_str()), (422, Some("invalid_payload")), "{answer}");
    let viewer = app.key("acme", Role::Viewer).await;
    let (status, _) = batch(&app, &viewer, json!({"jobs": [{"kind": "diagnostic", "payload": {}}]})).await;
    assert_eq!(status, 403);
    // An operator kind from a tenant that is not the operator's: that item only.
    // (The suite's operator tenant is `acme`.)
    let other = app.key("globex", Role::Admin).await;
    let body = json!({"jobs": [{"kind": "reconcile", "payload": {}}, {"kind": "diagnostic", "payload": {}}]});
    let (status, answer) = batch(&app, &other, body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["items"][0]["error"]["code"], "forbidden", "{answer}");
    assert!(answer["items"][1]["job"]["id"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_claim_statement_takes_many_messages_once_each_in_order() {
    use chorus_shared::queue::{lifecycle, JobMessage};
    // No worker: the test plays the worker's part.
    let app = TestApp::spawn_with(0, |_| {}).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app.submit(json!({"kind": "diagnostic", "payload": {}})).await);
    }
    let mut msgs = Vec::new();
    for id in &ids {
        msgs.push(app.message_of(*id).await);
    }
    let stale = JobMessage { job_id: ids[2], dispatch_seq: msgs[2].dispatch_seq + 1 };
    // A repeated message, a stale one (another dispatch's), and one for a
    // job that does not exist, among good ones.
    let batch = vec![
        msgs[0].clone(),
        stale,
        msgs[1].clone(),
        msgs[0].clone(),
        JobMessage { job_id: Uuid::now_v7(), dispatch_seq: 0 },
        msgs[2].clone(),
    ];
    let answers = lifecycle::claim_many(&app.ctx.pool, &batch, "test-worker").await.unwrap();
    let claimed: Vec<Option<Uuid>> = answers.iter().map(|a| a.as_ref().map(|t| t.job.id)).collect();
    assert_eq!(claimed, vec![Some(ids[0]), None, Some(ids[1]), None, None, Some(ids[2])]);
    for t in answers.iter().flatten() {
        assert_eq!(t.job.status, JobStatus::Running);
        assert_eq!(t.job.attempts, 1);
        assert_eq!(t.event.job_id, t.job.id, "each answer carries its own job's event");
        assert_eq!(t.event.data["worker"], "test-worker");
    }
    // Claimed once: one `running` event each, and a second claim finds nothing.
    {
        use chorus_shared::db::schema::job_events as e;
        use diesel::{ExpressionMethods, QueryDsl};
        let mut conn = app.ctx.pool.get().await.unwrap();
        for id in &ids {
            let running: i64 = e::table
                .filter(e::job_id.eq(id))
                .filter(e::status.eq("running"))
                .count()
                .get_result(&mut conn)
                .await
                .unwrap();
            assert_eq!(running, 1, "job {id}");
        }
    }
    let again = lifecycle::claim_many(&app.ctx.pool, &msgs, "test-worker").await.unwrap();
    assert!(again.iter().all(Option::is_none), "a running job is not claimed again");
    for t in answers.into_iter().flatten() {
        let done = lifecycle::Outcome::Succeeded(json!({}));
        lifecycle::finish(&app.ctx.pool, &t.job, done, &app.settings, Duration::ZERO).await.unwrap().expect("ours");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_calls_back_once_when_its_last_job_ends_whatever_the_outcomes() {
    use chorus_tests::receiver::Receiver;
    let app = TestApp::spawn_with(1, |s| {
        s.worker.concurrency.insert("maintenance".into(), 8);
    })
    .await;
    let rx = Receiver::start(0).await;
    let mut jobs: Vec<Value> =
        (0..6).map(|i| json!({"kind": "diagnostic", "payload": {"sleep_ms": 300 + i * 50}})).collect();
    jobs.push(json!({"kind": "diagnostic", "payload": {"fail_permanently": true}}));
    jobs.push(json!({"kind": "teleport"}));
    // Two items naming one job (the same key) make one member.
    jobs[0]["idempotency_key"] = json!("twice");
    jobs.push(jobs[0].clone());
    let body = json!({
        "jobs": jobs,
        "callback_url": rx.url("/batch"),
        "on_complete": {"kind": "diagnostic", "payload": {"sleep_ms": 1}},
    });
    let (status, result) = batch(&app, &app.admin_key, body).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!((result["inserted"].as_u64(), result["failed"].as_u64()), (Some(7), Some(1)), "{result}");
    assert_eq!(result["replayed"], 1, "{result}");
    let batch_id = result["batch_id"].as_str().expect("a batch id").to_string();

    let seen = rx.wait_until(Duration::from_secs(30), |s| !s.is_empty()).await;
    let event = seen[0].json();
    assert_eq!(event["type"], "batch.completed", "{event}");
    assert_eq!(event["data"]["batch_id"], batch_id);
    assert_eq!(event["data"]["total"], 7, "the bad item made no job");
    assert_eq!(event["data"]["counts"], json!({"succeeded": 6, "failed": 1}), "{event}");
    // Every job had ended when it was sent.
    for item in result["items"].as_array().unwrap().iter().filter(|i| i["job"].is_object()) {
        let id: Uuid = item["job"]["id"].as_str().unwrap().parse().unwrap();
        assert!(app.job(id).await.status.is_terminal());
    }
    let follow_up: Uuid = event["data"]["on_complete_job_id"].as_str().expect("on_complete ran").parse().unwrap();
    app.wait_for_status(follow_up, JobStatus::Succeeded, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(rx.seen().len(), 1, "one callback");
    let follow_ups = app.get_json(&app.admin_key, "/v1/jobs?kind=diagnostic&limit=200").await;
    assert_eq!(follow_ups["items"].as_array().unwrap().len(), 8, "seven jobs and one on_complete job");

    // Bad follow-ups refuse the whole request.
    let job = json!({"kind": "diagnostic", "payload": {}});
    let (status, body) = batch(&app, &app.admin_key, json!({"jobs": [job], "on_complete": {"kind": "teleport"}})).await;
    assert_eq!((status, body["code"].as_str()), (422, Some("unknown_kind")), "{body}");
    let bad = json!({"jobs": [job], "callback_url": "http://10.0.0.1/hook"});
    let (status, body) = batch(&app, &app.admin_key, bad).await;
    assert_eq!((status, body["code"].as_str()), (422, Some("url_not_allowed")), "{body}");
}
