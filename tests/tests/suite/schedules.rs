//! Recurring jobs: `/v1/schedules` checks what it is given, and workers
//! make exactly one job per fire time, however many run and whoever is
//! killed; missed fires follow the misfire policy.

use std::collections::BTreeSet;
use std::time::Duration;

use chorus_shared::db::schema::schedule_fires as f;
use chorus_shared::domain::{JobStatus, Role};
use chorus_tests::TestApp;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};
use uuid::Uuid;

/// Every fire of a schedule: (fire time, job id, misfired), earliest first.
async fn fires(app: &TestApp, schedule: Uuid) -> Vec<(DateTime<Utc>, Uuid, bool)> {
    let mut conn = app.ctx.pool.get().await.unwrap();
    f::table
        .filter(f::schedule_id.eq(schedule))
        .order(f::fire_at)
        .select((f::fire_at, f::job_id, f::misfired))
        .load(&mut conn)
        .await
        .unwrap()
}

async fn create(app: &TestApp, body: Value) -> Value {
    let resp = app.post(&app.admin_key, "/v1/schedules").json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 201, "{body}");
    resp.json().await.unwrap()
}

fn id_of(v: &Value) -> Uuid {
    v["id"].as_str().unwrap().parse().unwrap()
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

/// The whole second at or before `t`.
fn second_of(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_is_checked_like_a_job_and_readable_by_viewers_of_its_tenant_only() {
    let app = TestApp::spawn_with(0, |s| s.schedules.max_per_tenant = 2).await;
    let refused = |body: Value| {
        let app = &app;
        async move {
            let resp = app.post(&app.admin_key, "/v1/schedules").json(&body).send().await.unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap();
            (status, body["code"].as_str().unwrap().to_string(), body["details"]["field"].clone())
        }
    };
    let job = json!({"kind": "diagnostic", "payload": {}});
    let cases = [
        (json!({"cron": "61 * * * * *", "job": job}), 422, "invalid_schedule", json!("cron")),
        (json!({"cron": "* * *", "job": job}), 422, "invalid_schedule", json!("cron")),
        (
            json!({"cron": "* * * * *", "time_zone": "Mars/Olympus", "job": job}),
            422,
            "invalid_schedule",
            json!("time_zone"),
        ),
        (json!({"cron": "0 0 30 2 *", "job": job}), 422, "invalid_schedule", json!("cron")),
        (
            json!({"cron": "* * * * *", "job": job, "ends_at": "2020-01-01T00:00:00Z"}),
            422,
            "invalid_schedule",
            json!("cron"),
        ),
        (json!({"cron": "* * * * *", "job": job, "misfire": "later"}), 422, "invalid_schedule", json!("misfire")),
        (json!({"cron": "* * * * *", "job": job, "misfire_cap": 0}), 422, "invalid_schedule", json!("misfire_cap")),
        (json!({"cron": "x".repeat(201), "job": job}), 422, "invalid_schedule", json!("cron")),
        (json!({"cron": "* * * * *", "job": {"kind": "nope"}}), 422, "unknown_kind", Value::Null),
        (
            json!({"cron": "* * * * *", "job": {"kind": "diagnostic", "payload": {"sleep_ms": "x"}}}),
            422,
            "invalid_payload",
            json!("job.payload"),
        ),
        (
            json!({"cron": "* * * * *", "job": {"kind": "diagnostic", "priority": 500}}),
            422,
            "invalid_payload",
            json!("job.priority"),
        ),
        (json!({"cron": "* * * * *"}), 422, "invalid_payload", json!("job")),
        (json!({"job": job}), 422, "invalid_schedule", json!("cron")),
    ];
    for (body, status, code, field) in cases {
        let got = refused(body.clone()).await;
        assert_eq!((got.0, got.1.as_str()), (status, code), "{body}");
        if !field.is_null() {
            assert_eq!(got.2, field, "{body}");
        }
    }

    // Daily at 03:00 in Paris: 02:00 UTC in winter.
    let daily = create(&app, json!({"cron": "0 3 * * *", "time_zone": "Europe/Paris", "job": job})).await;
    let next: Vec<DateTime<Utc>> = daily["next_fires"].as_array().unwrap().iter().map(time).collect();
    assert_eq!(next.len(), 5, "{daily}");
    for pair in next.windows(2) {
        assert_eq!(pair[1] - pair[0], chrono::Duration::days(1), "{daily}");
    }
    assert!(next.iter().all(|t| t.format("%H:%M:%S").to_string() == "02:00:00"), "{daily}");
    assert_eq!(daily["misfire"], "run_once");
    assert_eq!(daily["last_fires"], json!([]));
    let id = id_of(&daily);

    let viewer = app.key("acme", Role::Viewer).await;
    let seen = app.get_json(&viewer, &format!("/v1/schedules/{id}")).await;
    assert_eq!(seen["cron"], "0 3 * * *", "{seen}");
    let list = app.get_json(&viewer, "/v1/schedules").await;
    assert_eq!(list["items"][0]["id"], daily["id"]);
    let write =
        app.post(&viewer, "/v1/schedules").json(&json!({"cron": "* * * * *", "job": job})).send().await.unwrap();
    assert_eq!(write.status(), 403);
    let pause = app.client.patch(app.url(&format!("/v1/schedules/{id}"))).bearer_auth(&viewer);
    assert_eq!(pause.json(&json!({"enabled": false})).send().await.unwrap().status(), 403);

    let other = app.key("globex", Role::Admin).await;
    let resp = app.get(&other, &format!("/v1/schedules/{id}")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], "schedule_not_found");
    assert_eq!(app.get_json(&other, "/v1/schedules").await["items"], json!([]));
    let gone = app.client.delete(app.url(&format!("/v1/schedules/{id}"))).bearer_auth(&other).send().await.unwrap();
    assert_eq!(gone.status(), 404);

    // Paused: no next fires. A user deletes it.
    let patch = app.client.patch(app.url(&format!("/v1/schedules/{id}"))).bearer_auth(&app.admin_key);
    let paused: Value = patch.json(&json!({"enabled": false})).send().await.unwrap().json().await.unwrap();
    assert_eq!((paused["enabled"].clone(), paused["next_fires"].clone()), (json!(false), json!([])), "{paused}");
    let user = app.key("acme", Role::User).await;
    let del = app.client.delete(app.url(&format!("/v1/schedules/{id}"))).bearer_auth(&user).send().await.unwrap();
    assert_eq!(del.status(), 204);
    assert_eq!(app.get(&user, &format!("/v1/schedules/{id}")).send().await.unwrap().status(), 404);

    // At most `schedules.max_per_tenant` (2 here) per tenant.
    for _ in 0..2 {
        create(&app, json!({"cron": "0 3 * * *", "job": job})).await;
    }
    let third =
        app.post(&app.admin_key, "/v1/schedules").json(&json!({"cron": "0 3 * * *", "job": job})).send().await.unwrap();
    assert_eq!(third.status(), 409);
    assert_eq!(third.json::<Value>().await.unwrap()["code"], "too_many_schedules");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_schedule_fires_nothing_and_deleting_one_leaves_its_jobs() {
    let mut app = TestApp::spawn_with(0, |_| {}).await;
    app.start_worker_with(|s| s.schedules.tick_ms = 200).await;
    let body = json!({"cron": "* * * * * *", "enabled": false, "job": {"kind": "diagnostic", "payload": {}}});
    let schedule = create(&app, body).await;
    let id = id_of(&schedule);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(fires(&app, id).await.is_empty(), "a paused schedule fired");

    let patch = app.client.patch(app.url(&format!("/v1/schedules/{id}"))).bearer_auth(&app.admin_key);
    let resumed = patch.json(&json!({"enabled": true})).send().await.unwrap();
    assert_eq!(resumed.status(), 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while fires(&app, id).await.len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no fires after resuming");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let view = app.get_json(&app.admin_key, &format!("/v1/schedules/{id}")).await;
    let last = view["last_fires"].as_array().unwrap();
    assert!(!last.is_empty() && last.iter().all(|f| f["misfired"] == false), "{view}");

    let del =
        app.client.delete(app.url(&format!("/v1/schedules/{id}"))).bearer_auth(&app.admin_key).send().await.unwrap();
    assert_eq!(del.status(), 204);
    let job: Uuid = last[0]["job_id"].as_str().unwrap().parse().unwrap();
    app.wait_for_status(job, JobStatus::Succeeded, Duration::from_secs(20)).await;
    let mut conn = app.ctx.pool.get().await.unwrap();
    let left: i64 = f::table.filter(f::schedule_id.eq(id)).count().get_result(&mut conn).await.unwrap();
    assert_eq!(left, 0, "the fire records go with the schedule");
    drop(conn);
    // Nothing fires once it is deleted.
    let made = jobs_of_kind(&app).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(jobs_of_kind(&app).await, made);
}

async fn jobs_of_kind(app: &TestApp) -> usize {
    let page = app.get_json(&app.admin_key, "/v1/jobs?kind=diagnostic&limit=200").await;
    page["items"].as_array().unwrap().len()
}

/// A schedule firing every second for 30 s, with three worker processes
/// ticking: exactly one job per fire time, every one run once. With
/// `kill`, one worker is `kill -9`'d a third of the way in.
async fn one_job_per_fire_across_three_processes(kill: bool) {
    let app = TestApp::spawn_with(0, |_| {}).await;
    let env = [("CHORUS__SCHEDULES__TICK_MS", "200".to_string())];
    let mut children: Vec<_> = ["s1", "s2", "s3"].iter().map(|n| app.spawn_worker_process(n, &env)).collect();
    let before = second_of(Utc::now());
    let ends_at = before + chrono::Duration::seconds(30);
    let body = json!({"cron": "* * * * * *", "ends_at": ends_at, "job": {"kind": "diagnostic", "payload": {}}});
    let schedule = create(&app, body).await;
    let (id, created) = (id_of(&schedule), time(&schedule["created_at"]));
    if kill {
        tokio::time::sleep(Duration::from_secs(10)).await;
        children[0].kill().unwrap();
        let _ = children[0].wait();
    }
    let until = (ends_at - Utc::now()).to_std().unwrap_or_default() + Duration::from_secs(3);
    tokio::time::sleep(until).await;

    let made = fires(&app, id).await;
    let expected: Vec<DateTime<Utc>> = (1..=(ends_at - second_of(created)).num_seconds())
        .map(|s| second_of(created) + chrono::Duration::seconds(s))
        .collect();
    // Every second of the 30 s (one less if the create crossed into the next second).
    let crossed = (second_of(created) - before).num_seconds() as usize;
    assert_eq!(expected.len(), 30 - crossed, "the schedule spans 30 s");
    let times: Vec<DateTime<Utc>> = made.iter().map(|m| m.0).collect();
    assert_eq!(times, expected, "one fire per second, none missing, none twice");
    assert!(made.iter().all(|m| !m.2), "no fire was late enough to count as missed");
    let jobs: BTreeSet<Uuid> = made.iter().map(|m| m.1).collect();
    assert_eq!(jobs.len(), expected.len(), "one job per fire");
    for job in &jobs {
        app.wait_for_status(*job, JobStatus::Succeeded, Duration::from_secs(30)).await;
        let ran = app.history(*job).await.iter().filter(|e| e.status == Some(JobStatus::Running)).count();
        assert_eq!(ran, 1, "job {job} ran once");
    }
    let page = app.get_json(&app.admin_key, "/v1/jobs?kind=diagnostic&limit=200").await;
    assert_eq!(page["items"].as_array().unwrap().len(), expected.len(), "no job beyond the fires");
    let view = app.get_json(&app.admin_key, &format!("/v1/schedules/{id}")).await;
    assert_eq!(view["next_fires"], json!([]), "ended: {view}");
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_worker_processes_make_exactly_one_job_per_fire() {
    one_job_per_fire_across_three_processes(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_job_per_fire_while_a_worker_is_killed() {
    one_job_per_fire_across_three_processes(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fires_missed_while_no_worker_ran_follow_each_misfire_policy() {
    let mut app = TestApp::spawn_with(0, |_| {}).await;
    let job = json!({"kind": "diagnostic", "payload": {}});
    let mut ids = Vec::new();
    for policy in ["skip", "run_once", "run_all"] {
        let s = create(&app, json!({"cron": "* * * * * *", "misfire": policy, "job": job})).await;
        ids.push((policy, id_of(&s), time(&s["created_at"])));
    }
    // Ten seconds with no worker at all.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let started = Utc::now();
    app.start_worker_with(|s| {
        s.schedules.tick_ms = 200;
        s.schedules.misfire_grace_ms = 2_000;
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (policy, id, created) in ids {
        let made = fires(&app, id).await;
        let missed: Vec<DateTime<Utc>> = made.iter().filter(|m| m.2).map(|m| m.0).collect();
        let on_time: Vec<DateTime<Utc>> = made.iter().filter(|m| !m.2).map(|m| m.0).collect();
        assert!(!on_time.is_empty(), "{policy}: fires after the worker came");
        // On-time fires are consecutive seconds from within the grace on.
        assert!(on_time[0] >= started - chrono::Duration::milliseconds(2_500), "{policy}: {on_time:?}");
        for pair in on_time.windows(2) {
            assert_eq!(pair[1] - pair[0], chrono::Duration::seconds(1), "{policy}: {on_time:?}");
        }
        let first_missed = second_of(created) + chrono::Duration::seconds(1);
        match policy {
            "skip" => assert!(missed.is_empty(), "skip: {missed:?}"),
            "run_once" => {
                assert_eq!(missed.len(), 1, "run_once: {missed:?}");
                assert_eq!(on_time[0] - missed[0], chrono::Duration::seconds(1), "the latest missed fire");
            }
            _ => {
                // Every missed second, each once, then the on-time ones.
                assert!(missed.len() >= 6, "run_all: {missed:?}");
                assert_eq!(missed[0], first_missed, "run_all starts at the first fire");
                let all: Vec<DateTime<Utc>> = made.iter().map(|m| m.0).collect();
                for pair in all.windows(2) {
                    assert_eq!(pair[1] - pair[0], chrono::Duration::seconds(1), "run_all: {all:?}");
                }
            }
        }
        for (_, job, _) in &made {
            app.wait_for_status(*job, JobStatus::Succeeded, Duration::from_secs(20)).await;
        }
        let _ = app.client.delete(app.url(&format!("/v1/schedules/{id}"))).bearer_auth(&app.admin_key).send().await;
    }
}
