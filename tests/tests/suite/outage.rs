//! A `202` means the job will run, even if Redis was down when it was
//! accepted: the row is committed first and dispatched once Redis is back.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chorus_shared::domain::JobStatus;
use chorus_tests::TestApp;
use serde_json::json;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn redis_on(port: u16) -> Child {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_accepted_while_redis_is_down_runs_when_it_returns() {
    let port = free_port();
    let mut redis = redis_on(port);
    let mut app = TestApp::spawn_with(0, |s| s.redis.url = format!("redis://127.0.0.1:{port}")).await;
    redis.kill().unwrap();
    redis.wait().unwrap();

    let id = app.submit(json!({"kind": "diagnostic", "payload": {}})).await;
    let job = app.job(id).await;
    assert_eq!(job.status, JobStatus::Queued);

    let mut redis = redis_on(port);
    app.start_worker().await;
    app.wait_for_status(id, JobStatus::Succeeded, Duration::from_secs(20)).await;
    redis.kill().unwrap();
    let _ = redis.wait();
}

/// Redis restarts empty while a message waits in it: the workers notice
/// the data loss and dispatch it again at once, not after
/// `dispatch.redispatch_after_ms` (a minute here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_lost_when_redis_restarts_empty_is_dispatched_again_at_once() {
    let port = free_port();
    let mut redis = redis_on(port);
    let mut app = TestApp::spawn_with(0, |s| {
        s.redis.url = format!("redis://127.0.0.1:{port}");
        s.dispatch.redispatch_after_ms = 60_000;
    })
    .await;
    // A worker that does not run diagnostics marks this Redis as known.
    app.start_worker_with(|s| s.worker.queues = vec!["webhook".into()]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let id = app.submit(json!({"kind": "diagnostic", "payload": {}})).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        use chorus_shared::db::schema::jobs as j;
        use diesel::QueryDsl;
        use diesel_async::RunQueryDsl;
        let mut conn = app.ctx.pool.get().await.unwrap();
        let at: Option<chrono::DateTime<chrono::Utc>> =
            j::table.find(id).select(j::dispatched_at).first(&mut conn).await.unwrap();
        if at.is_some() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never dispatched");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.kill().unwrap();
    redis.wait().unwrap();
    let mut redis = redis_on(port);

    app.start_worker_with(|s| s.worker.queues = vec!["maintenance".into()]).await;
    app.wait_for_status(id, JobStatus::Succeeded, Duration::from_secs(15)).await;
    redis.kill().unwrap();
    let _ = redis.wait();
}
