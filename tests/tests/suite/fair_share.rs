//! Fair share and concurrency caps: a tenant's flood of jobs does not make
//! another tenant's jobs wait behind it (with fair share off, they do:
//! the control), and a tenant's cap on a queue holds across workers.

use std::time::Duration;

use chorus_shared::domain::{JobStatus, Role};
use chorus_tests::TestApp;
use serde_json::{json, Value};
use uuid::Uuid;

/// Submits `n` diagnostic jobs of `sleep_ms` each as `key`, in one batch.
async fn flood(app: &TestApp, key: &str, n: usize, sleep_ms: u64) -> Vec<Uuid> {
    let jobs: Vec<Value> = (0..n).map(|_| json!({"kind": "diagnostic", "payload": {"sleep_ms": sleep_ms}})).collect();
    let resp = app.post(key, "/v1/jobs/batch").json(&json!({"jobs": jobs})).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["items"].as_array().unwrap().iter().map(|i| i["job"]["id"].as_str().unwrap().parse().unwrap()).collect()
}

/// Jobs of `tenant` not started before the last job of `other` started
/// (all of them not yet started while `other` has started none).
async fn not_started(app: &TestApp, tenant: &str, other: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = app.ctx.pool.get().await.unwrap();
    let sql = "SELECT count(*) AS n FROM jobs JOIN tenants t ON t.id = jobs.tenant_id \
               WHERE t.name = $1 AND (jobs.started_at IS NULL OR jobs.started_at > ( \
                 SELECT coalesce(max(o.started_at), 'infinity') FROM jobs o \
                 JOIN tenants ot ON ot.id = o.tenant_id WHERE ot.name = $2))";
    let query =
        diesel::sql_query(sql).bind::<diesel::sql_types::Text, _>(tenant).bind::<diesel::sql_types::Text, _>(other);
    diesel_async::RunQueryDsl::get_result::<N>(query, &mut conn).await.unwrap().n
}

/// Tenant `flood` submits 100 jobs of 50 ms on a queue two workers' slots
/// wide (five seconds of work); then tenant `chat` submits three jobs.
/// Says how many of the flood's jobs had not started when the last of
/// `chat`'s started.
async fn flood_then_three(fair_share: bool) -> i64 {
    let app = TestApp::spawn_with(1, |s| {
        s.worker.queues = vec!["maintenance".into()];
        s.worker.concurrency.insert("maintenance".into(), 2);
        s.dispatch.window = 2;
        s.dispatch.fair_share = fair_share;
    })
    .await;
    let (flooder, other) = (app.key("flood", Role::Admin).await, app.key("chat", Role::Admin).await);
    flood(&app, &flooder, 100, 50).await;
    while not_started(&app, "flood", "chat").await == 100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut mine = Vec::new();
    for _ in 0..3 {
        mine.push(app.post_json(&other, "/v1/jobs", &json!({"kind": "diagnostic", "payload": {}})).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for job in &mine {
        let id: Uuid = job["id"].as_str().unwrap().parse().unwrap();
        app.wait_for_status_as(&other, id, JobStatus::Succeeded).await;
    }
    // Measured when `chat`'s last job started, not when it ended: fair
    // share decides when a job starts, and how long its end takes to be
    // written (on a loaded machine, while the flood runs on) is not its
    // business.
    not_started(&app, "flood", "chat").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenants_flood_does_not_starve_another() {
    // Fair share: each dispatch gives `chat` a turn before `flood`'s next
    // job, so its jobs wait behind at most a window of the flood's.
    let waiting = flood_then_three(true).await;
    assert!(waiting >= 50, "only {waiting} of the flood's 100 jobs were still waiting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_fair_share_a_flood_goes_first() {
    // The control: by age alone, `chat`'s jobs wait for the whole flood.
    let waiting = flood_then_three(false).await;
    assert!(waiting <= 2, "{waiting} of the flood's jobs were still waiting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_cap_holds_across_workers() {
    // Two workers with four slots each; the tenant may run two at once.
    let mut app = TestApp::spawn_with(1, |s| {
        s.worker.queues = vec!["maintenance".into()];
        s.worker.concurrency.insert("maintenance".into(), 4);
        s.dispatch.window = 8;
    })
    .await;
    app.start_worker().await;
    let capped = app.key("capped", Role::Admin).await;
    let path = "/v1/admin/tenants/capped/limits";
    let put = |body: Value| app.client.put(app.url(path)).bearer_auth(&app.admin_key).json(&body).send();
    let bad = put(json!({"concurrency": {"no_such_queue": 1}})).await.unwrap();
    assert_eq!(bad.status(), 422);
    let set: Value = put(json!({"concurrency": {"maintenance": 2}})).await.unwrap().json().await.unwrap();
    assert_eq!(set["effective"]["concurrency"]["maintenance"], 2);

    let ids = flood(&app, &capped, 10, 300).await;
    // Another tenant, uncapped, runs beside it.
    let free = app.key("free", Role::Admin).await;
    let theirs = flood(&app, &free, 6, 1_000).await;
    let mut spans = Vec::new();
    for id in ids {
        spans.push(span(&app, &capped, id).await);
    }
    // At no job's start were more than two of the tenant's running.
    for (start, _) in &spans {
        let running = spans.iter().filter(|(s, f)| s <= start && f > start).count();
        assert!(running <= 2, "{running} of the capped tenant's jobs ran at once");
    }
    // The uncapped tenant's six ran at once (two workers, eight slots).
    let mut starts = Vec::new();
    for id in theirs {
        starts.push(span(&app, &free, id).await.0);
    }
    let spread = *starts.iter().max().unwrap() - *starts.iter().min().unwrap();
    assert!(spread < chrono::Duration::milliseconds(700), "the uncapped tenant's jobs started {spread} apart");
}

type Time = chrono::DateTime<chrono::FixedOffset>;

/// When the job started and finished, once it has succeeded.
async fn span(app: &TestApp, key: &str, id: Uuid) -> (Time, Time) {
    app.wait_for_status_as(key, id, JobStatus::Succeeded).await;
    let view: Value = app.get(key, &format!("/v1/jobs/{id}")).send().await.unwrap().json().await.unwrap();
    let at = |f: &str| chrono::DateTime::parse_from_rfc3339(view[f].as_str().unwrap()).unwrap();
    (at("started_at"), at("finished_at"))
}
