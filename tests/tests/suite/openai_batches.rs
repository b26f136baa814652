//! OpenAI's Files and Batch APIs, driven by the official `openai` Python
//! SDK: a chat batch with one bad line run to `completed` (every
//! `custom_id` in its output or error file, each line a `chat` job, a
//! `batch.completed` webhook), an embeddings batch, a cancelled batch,
//! listing and deleting; and, over plain HTTP, a malformed input file that
//! fails validation, the upload limits, files and batches that stay in
//! their tenant, a batch past its completion window that expires, and a
//! batch larger than a chunk.

use std::time::Duration;

use chorus_shared::domain::Role;
use chorus_tests::TestApp;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

use super::openai::sdk;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_sdk_runs_cancels_and_lists_batches() {
    use wiremock::{matchers::method, Mock, MockServer, ResponseTemplate};
    let app = TestApp::spawn().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&receiver).await;
    let hook = json!({"url": format!("{}/hook", receiver.uri()), "event_types": ["batch.completed"]});
    assert_eq!(app.post(&app.admin_key, "/v1/webhooks").json(&hook).send().await.unwrap().status(), 201);

    let seen = sdk(&app, "batch.py").await;
    assert_eq!(seen["file"]["object"], "file");
    assert_eq!(seen["file"]["purpose"], "batch");
    let batch = &seen["batch"];
    assert_eq!(batch["status"], "completed", "{seen}");
    assert_eq!(batch["statuses"][0], "validating", "{seen}");
    assert_eq!(batch["counts"], json!({"total": 21, "completed": 20, "failed": 1}), "{seen}");
    assert_eq!(batch["metadata"], json!({"suite": "sdk"}));
    // Every custom_id once: twenty answers, and the unknown model refused.
    let mut answered: Vec<String> =
        seen["output"].as_array().unwrap().iter().map(|o| o["custom_id"].as_str().unwrap().to_string()).collect();
    answered.sort();
    let mut asked: Vec<String> = (0..20).map(|i| format!("q-{i}")).collect();
    asked.sort();
    assert_eq!(answered, asked, "{seen}");
    for o in seen["output"].as_array().unwrap() {
        assert_eq!((o["status_code"].as_u64(), o["object"].as_str()), (Some(200), Some("chat.completion")), "{o}");
        assert!(o["error"].is_null() && !o["content"].as_str().unwrap().is_empty(), "{o}");
    }
    // The local model answered (most with a number).
    let numbers = seen["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["content"].as_str().unwrap().chars().any(|c| c.is_ascii_digit()));
    assert!(numbers.count() >= 10, "{seen}");
    assert_eq!(seen["errors"], json!([{"custom_id": "bad-model", "response": null, "code": "unknown_model"}]));
    assert_eq!(seen["output_file"]["purpose"], "batch_output");

    assert_eq!(seen["embedded"]["status"], "completed", "{seen}");
    assert_eq!(seen["embedded"]["custom_ids"], json!(["e-0", "e-1"]));
    assert_eq!(seen["embedded"]["dims"], json!([384, 384]));

    let cancelled = &seen["cancelled"];
    assert_eq!(cancelled["status"], "cancelled", "{seen}");
    assert!(cancelled["statuses"].as_array().unwrap().contains(&json!("cancelling")), "{seen}");
    assert_eq!(cancelled["statuses"][1], "in_progress", "{seen}");
    // Every line accounted for: what ran in the output, the rest cancelled.
    let counts = &cancelled["counts"];
    assert_eq!(counts["total"], 30, "{seen}");
    assert_eq!(counts["completed"].as_u64().unwrap() + counts["failed"].as_u64().unwrap(), 30, "{seen}");
    let mut ids: Vec<String> = (0..30).map(|i| format!("c-{i}")).collect();
    ids.sort();
    assert_eq!(cancelled["custom_ids"], json!(ids), "{seen}");
    assert!(counts["failed"].as_u64().unwrap() > 0, "some were cancelled before they ran: {seen}");

    // Listed newest first, one per page, every batch.
    assert_eq!(seen["page"]["has_more"], true);
    assert_eq!(seen["listed"].as_array().unwrap().len(), 3, "{seen}");
    assert_eq!(seen["listed"][2], batch["id"]);
    assert_eq!(
        (seen["deleted"].as_bool(), &seen["gone"]),
        (Some(true), &json!({"status": 404, "code": "file_not_found"}))
    );

    // Each answered line ran as a `chat` job, at a batch's priority.
    let jobs = app.get_json(&app.admin_key, "/v1/jobs?kind=chat&limit=100").await;
    let chat_jobs = jobs["items"].as_array().unwrap();
    assert!(chat_jobs.len() >= 20, "{jobs}");
    assert!(chat_jobs.iter().all(|j| j["priority"] == -10), "{jobs}");
    // One `batch.completed` per batch (the job batches under them are quiet).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let events = loop {
        let got = receiver.received_requests().await.unwrap();
        if got.len() >= 3 || tokio::time::Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let events: Vec<Value> = events.iter().map(|r| r.body_json().unwrap()).collect();
    assert_eq!(events.len(), 3, "{events:?}");
    let done = events.iter().find(|e| e["data"]["id"] == batch["id"]).expect("the chat batch's event");
    assert_eq!((done["type"].as_str(), done["data"]["status"].as_str()), (Some("batch.completed"), Some("completed")));
    assert_eq!(done["data"]["request_counts"]["failed"], 1);
}

async fn upload(app: &TestApp, key: &str, text: &str) -> reqwest::Response {
    let form =
        Form::new().text("purpose", "batch").part("file", Part::bytes(text.as_bytes().to_vec()).file_name("in.jsonl"));
    app.post(key, "/v1/files").multipart(form).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_batch_fails_and_files_stay_in_their_tenant() {
    let app = TestApp::spawn_with(1, |s| {
        s.worker.queues = vec!["maintenance".into()];
        s.openai.max_file_bytes = 4096;
    })
    .await;
    let good = json!({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
        "body": {"model": "smollm2", "messages": [{"role": "user", "content": "hi"}]}});
    let text = format!(
        "{good}\nnot json\n{}\n{good}\n",
        json!({"custom_id": "b", "method": "GET", "url": "/v1/embeddings", "body": {}})
    );
    let resp = upload(&app, &app.admin_key, &text).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let file: Value = resp.json().await.unwrap();
    let id = file["id"].as_str().unwrap();
    assert!(id.starts_with("file-"), "{file}");
    let body = json!({"input_file_id": id, "endpoint": "/v1/chat/completions", "completion_window": "24h"});
    let batch = app.post_json(&app.admin_key, "/v1/batches", &body).await;
    let path = format!("/v1/batches/{}", batch["id"].as_str().unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let failed = loop {
        let b = app.get_json(&app.admin_key, &path).await;
        if b["status"] == "failed" {
            break b;
        }
        assert!(tokio::time::Instant::now() < deadline, "{b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let codes: Vec<(&str, u64)> = failed["errors"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["code"].as_str().unwrap(), e["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(codes, [("invalid_json_line", 2), ("invalid_method", 3), ("duplicate_custom_id", 4)], "{failed}");
    assert!(failed["failed_at"].is_number() && failed["output_file_id"].is_null(), "{failed}");
    // An ended batch cannot be cancelled.
    let resp = app.post(&app.admin_key, &format!("{path}/cancel")).send().await.unwrap();
    assert_eq!(resp.status(), 409);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["code"], "batch_not_cancellable");

    // Bad requests, in OpenAI's envelope.
    let wrong = json!({"input_file_id": id, "endpoint": "/v1/completions", "completion_window": "24h"});
    let resp = app.post(&app.admin_key, "/v1/batches").json(&wrong).send().await.unwrap();
    assert_eq!(resp.status(), 422);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["param"], "endpoint");
    let resp = upload(&app, &app.admin_key, &"x".repeat(5000)).await;
    assert_eq!(resp.status(), 413);
    let form = Form::new().text("purpose", "fine-tune").part("file", Part::bytes(b"{}".to_vec()).file_name("a.jsonl"));
    let resp = app.post(&app.admin_key, "/v1/files").multipart(form).send().await.unwrap();
    assert_eq!(resp.status(), 422);

    // Another tenant sees neither the file nor the batch.
    let other = app.key("globex", Role::Admin).await;
    for path in [format!("/v1/files/{id}"), format!("/v1/files/{id}/content"), path.clone()] {
        let resp = app.get(&other, &path).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
    }
    let theirs = json!({"input_file_id": id, "endpoint": "/v1/chat/completions", "completion_window": "24h"});
    let resp = app.post(&other, "/v1/batches").json(&theirs).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(app.get_json(&other, "/v1/batches").await["data"], json!([]));
    // The owner reads its bytes back as uploaded.
    let bytes = app.get(&app.admin_key, &format!("/v1/files/{id}/content")).send().await.unwrap().text().await.unwrap();
    assert_eq!(bytes, text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_past_its_window_expires() {
    // No worker takes the chat queue: the batch's jobs wait until it expires.
    let app = TestApp::spawn_with(1, |s| {
        s.worker.queues = vec!["maintenance".into()];
        s.worker.maintenance_ms = 200;
    })
    .await;
    let line = |i: usize| {
        json!({"custom_id": format!("x-{i}"), "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "smollm2", "messages": [{"role": "user", "content": "hi"}]}})
    };
    let text: String = (0..3).map(|i| format!("{}\n", line(i))).collect();
    let file: Value = upload(&app, &app.admin_key, &text).await.json().await.unwrap();
    let body = json!({"input_file_id": file["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"});
    let batch = app.post_json(&app.admin_key, "/v1/batches", &body).await;
    let id = batch["id"].as_str().unwrap().to_string();
    let path = format!("/v1/batches/{id}");
    let until = |status: &'static str| {
        let (app, path) = (&app, path.clone());
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            loop {
                let b = app.get_json(&app.admin_key, &path).await;
                if b["status"] == status {
                    return b;
                }
                assert!(tokio::time::Instant::now() < deadline, "never {status}: {b}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    until("in_progress").await;
    let mut conn = app.ctx.pool.get().await.unwrap();
    let sql = "UPDATE openai_batches SET expires_at = now() - interval '1 second' WHERE id = $1::uuid";
    let hex = id.trim_start_matches("batch_").to_string();
    diesel_async::RunQueryDsl::execute(diesel::sql_query(sql).bind::<diesel::sql_types::Text, _>(hex), &mut conn)
        .await
        .unwrap();
    let expired = until("expired").await;
    assert!(expired["expired_at"].is_number() && expired["cancelled_at"].is_null(), "{expired}");
    assert_eq!(expired["request_counts"], json!({"total": 3, "completed": 0, "failed": 3}), "{expired}");
    assert!(expired["output_file_id"].is_null(), "{expired}");
    let errors = app.get(&app.admin_key, &format!("/v1/files/{}/content", expired["error_file_id"].as_str().unwrap()));
    let errors = errors.send().await.unwrap().text().await.unwrap();
    let codes: Vec<String> = errors
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|l| format!("{} {}", l["custom_id"].as_str().unwrap(), l["error"]["code"].as_str().unwrap()))
        .collect();
    assert_eq!(codes, ["x-0 batch_expired", "x-1 batch_expired", "x-2 batch_expired"], "{errors}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_batch_is_taken_and_written_a_chunk_at_a_time() {
    // 2,500 lines, past two chunks of a thousand both ways: every line names
    // a model the tenant may not use, so each is refused as it is taken and
    // lands in the error file, in order.
    let app = TestApp::spawn_with(1, |s| s.worker.queues = vec!["maintenance".into()]).await;
    let text: String = (0..2_500)
        .map(|i| {
            let body = json!({"model": "nope", "messages": [{"role": "user", "content": "hi"}]});
            format!(
                "{}\n",
                json!({"custom_id": format!("r-{i}"), "method": "POST", "url": "/v1/chat/completions", "body": body})
            )
        })
        .collect();
    let file: Value = upload(&app, &app.admin_key, &text).await.json().await.unwrap();
    let body = json!({"input_file_id": file["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"});
    let batch = app.post_json(&app.admin_key, "/v1/batches", &body).await;
    let path = format!("/v1/batches/{}", batch["id"].as_str().unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let done = loop {
        let b = app.get_json(&app.admin_key, &path).await;
        if b["status"] == "completed" {
            break b;
        }
        assert!(tokio::time::Instant::now() < deadline, "{b}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done["request_counts"], json!({"total": 2500, "completed": 0, "failed": 2500}), "{done}");
    let errors = app.get(&app.admin_key, &format!("/v1/files/{}/content", done["error_file_id"].as_str().unwrap()));
    let errors = errors.send().await.unwrap().text().await.unwrap();
    let ids: Vec<String> = errors
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["custom_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, (0..2_500).map(|i| format!("r-{i}")).collect::<Vec<_>>());
}
