//! Job dependencies: a job waits as `waiting_dependencies` until the jobs
//! it names have succeeded; a failure cancels it (and what waits for it)
//! with `dependency_failed`, unless it runs on failure.

use std::time::Duration;

use chorus_shared::domain::{JobStatus, Role};
use chorus_tests::sse::read_all;
use chorus_tests::TestApp;
use serde_json::{json, Value};
use uuid::Uuid;

async fn submit(app: &TestApp, body: Value) -> (u16, Value) {
    let resp = app.post(&app.admin_key, "/v1/jobs").json(&body).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

fn id(v: &Value) -> Uuid {
    v["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_waits_until_every_dependency_has_succeeded_and_then_runs_once() {
    let mut app = TestApp::spawn_with(1, |s| {
        s.worker.concurrency.insert("maintenance".into(), 8);
    })
    .await;
    // A second worker beside the vector owner.
    app.start_worker_with(|s| s.worker.queues = vec!["maintenance".into()]).await;
    // Twelve dependencies that end at about the same moment, on two workers.
    let mut deps = Vec::new();
    for i in 0..12 {
        deps.push(app.submit(json!({"kind": "diagnostic", "payload": {"sleep_ms": 1200 + (i % 3) * 10}})).await);
    }
    let (status, waiting) = submit(&app, json!({"kind": "diagnostic", "payload": {}, "depends_on": deps})).await;
    assert_eq!(status, 202, "{waiting}");
    assert_eq!(waiting["status"], "waiting_dependencies");
    let job = id(&waiting);
    let view = app.get_json(&app.admin_key, &format!("/v1/jobs/{job}")).await;
    let mut want: Vec<Value> = deps.iter().map(|d| json!(d)).collect();
    want.sort_by_key(|v| v.as_str().unwrap().to_string());
    assert_eq!(view["depends_on"], json!(want), "{view}");
    assert_eq!(view["dependents"], json!([]));
    let first = app.get_json(&app.admin_key, &format!("/v1/jobs/{}", deps[0])).await;
    assert_eq!(first["dependents"], json!([job]), "{first}");

    let stream = app.get(&app.admin_key, &format!("/v1/jobs/{job}/events")).send().await.unwrap();
    let frames = tokio::time::timeout(Duration::from_secs(30), read_all(stream)).await.expect("the job ends");
    let states: Vec<&str> =
        frames.iter().filter(|f| f.event == "state").filter_map(|f| f.data["status"].as_str()).collect();
    assert_eq!(states, ["waiting_dependencies", "queued", "running", "succeeded"], "{frames:?}");

    let done = app.job(job).await;
    for d in &deps {
        let dep = app.job(*d).await;
        assert_eq!(dep.status, JobStatus::Succeeded);
        assert!(done.started_at.unwrap() >= dep.finished_at.unwrap(), "started before {d} ended");
    }
    let ran = app.history(job).await.iter().filter(|e| e.status == Some(JobStatus::Running)).count();
    assert_eq!(ran, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_dependency_cancels_the_chain_that_waits_for_it_unless_it_runs_on_failure() {
    let app = TestApp::spawn().await;
    let root = app.submit(json!({"kind": "diagnostic", "payload": {"sleep_ms": 800, "fail_permanently": true}})).await;
    let (_, b) = submit(&app, json!({"kind": "diagnostic", "payload": {}, "depends_on": [root]})).await;
    let (_, c) = submit(&app, json!({"kind": "diagnostic", "payload": {}, "depends_on": [id(&b)]})).await;
    let body = json!({"kind": "diagnostic", "payload": {}, "depends_on": [root], "run_on_failure": true});
    let (_, anyway) = submit(&app, body).await;
    assert_eq!(app.wait_for_status(root, JobStatus::Failed, Duration::from_secs(20)).await.status, JobStatus::Failed);
    for (job, why) in [(id(&b), root), (id(&c), id(&b))] {
        let v = app.wait_for_status(job, JobStatus::Cancelled, Duration::from_secs(10)).await;
        let error = v.error.unwrap();
        assert_eq!(error.code, "dependency_failed");
        assert!(error.message.contains(&why.to_string()), "{}", error.message);
        assert_eq!(v.attempts, 0, "never ran");
    }
    app.wait_for_status(id(&anyway), JobStatus::Succeeded, Duration::from_secs(20)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependencies_are_checked_when_the_job_is_submitted() {
    let app = TestApp::spawn().await;
    let unknown = Uuid::now_v7();
    let (status, body) = submit(&app, json!({"kind": "diagnostic", "payload": {}, "depends_on": [unknown]})).await;
    assert_eq!((status, body["code"].as_str()), (422, Some("unknown_dependency")), "{body}");
    assert_eq!(body["details"]["missing"], json!([unknown]));

    // Another tenant's job is unknown here.
    let other = app.key("globex", Role::Admin).await;
    let theirs = app.post_json(&other, "/v1/jobs", &json!({"kind": "diagnostic", "payload": {}})).await;
    let (status, body) = submit(&app, json!({"kind": "diagnostic", "payload": {}, "depends_on": [theirs["id"]]})).await;
    assert_eq!((status, body["code"].as_str()), (422, Some("unknown_dependency")), "{body}");

    let too_many: Vec<Uuid> = (0..101).map(|_| Uuid::now_v7()).collect();
    let (status, body) = submit(&app, json!({"kind": "diagnostic", "payload": {}, "depends_on": too_many})).await;
    assert_eq!((status, body["code"].as_str()), (422, Some("invalid_payload")), "{body}");

    // Dependencies that already ended: success queues at once, a failure is
    // refused unless the job runs on failure.
    let ok = app.submit(json!({"kind": "diagnostic", "payload": {}})).await;
    let bad = app.submit(json!({"kind": "diagnostic", "payload": {"fail_permanently": true}})).await;
    app.wait_for_status(ok, JobStatus::Succeeded, Duration::from_secs(20)).await;
    app.wait_for_status(bad, JobStatus::Failed, Duration::from_secs(20)).await;
    let (status, body) = submit(&app, json!({"kind": "diagnostic", "payload": {}, "depends_on": [ok]})).await;
    assert_eq!((status, body["status"].as_str()), (202, Some("queued")), "{body}");
    let (status, body) = submit(&app, json!({"kind": "diagnostic", "payload": {}, "depends_on": [ok, bad]})).await;
    assert_eq!((status, body["code"].as_str()), (422, Some("dependency_failed")), "{body}");
    assert_eq!(body["details"]["dependency"], json!(bad));
    let body = json!({"kind": "diagnostic", "payload": {}, "depends_on": [ok, bad], "run_on_failure": true});
    let (status, queued) = submit(&app, body).await;
    assert_eq!((status, queued["status"].as_str()), (202, Some("queued")), "{queued}");
    app.wait_for_status(id(&queued), JobStatus::Succeeded, Duration::from_secs(20)).await;

    // A waiting job can be cancelled, and is never run.
    let slow = app.submit(json!({"kind": "diagnostic", "payload": {"sleep_ms": 1500}})).await;
    let (_, waiting) = submit(&app, json!({"kind": "diagnostic", "payload": {}, "depends_on": [slow]})).await;
    let resp = app.post(&app.admin_key, &format!("/v1/jobs/{}/cancel", id(&waiting))).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    app.wait_for_status(slow, JobStatus::Succeeded, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let v = app.job(id(&waiting)).await;
    assert_eq!((v.status, v.attempts), (JobStatus::Cancelled, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_chain_is_cancelled_to_its_end_in_one_go_when_its_root_is() {
    let app = TestApp::spawn().await;
    let root = app.submit(json!({"kind": "diagnostic", "payload": {"sleep_ms": 60000}})).await;
    app.wait_for_status(root, JobStatus::Running, Duration::from_secs(20)).await;
    let mut last = root;
    for _ in 0..400 {
        let (status, body) = submit(&app, json!({"kind": "diagnostic", "payload": {}, "depends_on": [last]})).await;
        assert_eq!(status, 202, "{body}");
        last = id(&body);
    }
    let resp = app.post(&app.admin_key, &format!("/v1/jobs/{root}/cancel")).send().await.unwrap();
    assert_eq!(resp.status(), 202, "the root was running");
    app.wait_for_status(root, JobStatus::Cancelled, Duration::from_secs(20)).await;
    let end = app.wait_for_status(last, JobStatus::Cancelled, Duration::from_secs(20)).await;
    assert_eq!(end.error.unwrap().code, "dependency_failed");
    let page = app.get_json(&app.admin_key, "/v1/jobs?status=waiting_dependencies&limit=10").await;
    assert_eq!(page["items"], json!([]), "none of the 400 is left waiting");
}
