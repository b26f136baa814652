//! Redis does not grow with the number of finished jobs.

use std::time::Duration;

use chorus_shared::domain::JobStatus;
use chorus_tests::TestApp;
use redis::AsyncCommands;
use serde_json::json;

async fn namespace_keys(app: &TestApp) -> Vec<String> {
    let mut conn = app.ctx.broker.conn();
    conn.keys(format!("{}:*", app.settings.redis.namespace)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_messages_are_vacuumed_from_redis() {
    let app = TestApp::spawn_with(1, |s| s.worker.maintenance_ms = 200).await;
    let mut ids = Vec::new();
    for _ in 0..150 {
        ids.push(app.submit(json!({"kind": "diagnostic", "payload": {}})).await);
    }
    for id in &ids {
        app.wait_for_status(*id, JobStatus::Succeeded, Duration::from_secs(60)).await;
    }
    let storage = app.ctx.broker.storage("maintenance");
    let cfg = storage.get_config();
    let mut conn = app.ctx.broker.conn();
    // Vacuum runs every 5 maintenance ticks (1 s here); give it a few.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let data: usize = conn.hlen(cfg.job_data_hash()).await.unwrap();
        let done: usize = conn.scard(cfg.done_jobs_set()).await.unwrap();
        if data == 0 && done == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "after vacuum: {data} payloads, {done} done ids left");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let keys = namespace_keys(&app).await;
    // Per-queue bookkeeping only (workers, metadata, signal lists): not per job.
    assert!(keys.len() < 40, "{} keys: {keys:?}", keys.len());
}
