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
