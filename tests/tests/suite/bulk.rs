//! Bulk operations: tag 1,000 documents with progress, delete with a bad
//! id in the middle, reprocess twice without duplicates, export a zip and
//! open it, cancel part-way, the audit log, roles and tenant isolation.

use std::io::Read;
use std::time::Duration;

use chorus_shared::domain::{JobStatus, Role};
use chorus_tests::TestApp;
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};

use crate::documents::{settled, upload};

/// Inserts `n` chunked documents straight into Postgres (the bulk tests
/// are about the bulk job, not about uploading a thousand files).
async fn seed(app: &TestApp, n: i64) {
    let tenant = chorus_shared::services::auth::authenticate(&app.ctx.pool, &app.admin_key).await.unwrap().tenant_id;
    let mut conn = app.ctx.pool.get().await.unwrap();
    diesel::sql_query(
        "INSERT INTO documents (id, tenant_id, title, filename, content_type, doc_type, size_bytes, content_hash, blob_key, status) \
         SELECT gen_random_uuid(), $1, 'seed ' || i, 'seed' || i || '.txt', 'text/plain', 'text', 10, md5(i::text), 'none/' || i, 'ingested' \
         FROM generate_series(1, $2) AS i",
    )
    .bind::<diesel::sql_types::Uuid, _>(tenant)
    .bind::<diesel::sql_types::BigInt, _>(n)
    .execute(&mut conn)
    .await
    .unwrap();
}

async fn bulk(app: &TestApp, key: &str, body: Value) -> reqwest::Response {
    app.post(key, "/v1/bulk").json(&body).send().await.unwrap()
}

async fn bulk_ok(app: &TestApp, key: &str, body: Value) -> uuid::Uuid {
    let resp = bulk(app, key, body).await;
    assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap());
    resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tagging_a_thousand_documents_reports_progress_and_is_audited() {
    let app = TestApp::spawn().await;
    seed(&app, 1000).await;
    let user = app.key("acme", Role::User).await;
    let job = bulk_ok(
        &app,
        &user,
        json!({"op": "tag", "selector": {"filter": {"doc_type": "text"}}, "params": {"tags": ["batch"]}}),
    )
    .await;
    let done = app.wait_for_status(job, JobStatus::Succeeded, Duration::from_secs(60)).await;
    let result = done.result.unwrap();
    assert_eq!(
        (result["total"].as_u64(), result["ok"].as_u64(), result["failed"].as_u64()),
        (Some(1000), Some(1000), Some(0))
    );
    assert_eq!(result["items"].as_array().unwrap().len(), 1000);
    let progress = done.progress.unwrap();
    assert_eq!((progress.done, progress.total), (1000, Some(1000)));
    let steps = app.history(job).await.iter().filter(|e| e.kind == "progress").count();
    assert!(steps >= 40, "{steps} progress events for 1000 items");
    let tags: Value = app.get_json(&user, "/v1/tags").await;
    assert_eq!(tags[0]["document_count"], 1000);

    let audit: Value = app.get_json(&app.admin_key, "/v1/audit").await;
    assert_eq!(audit[0]["action"], "bulk.tag");
    assert_eq!(audit[0]["job_id"], job.to_string());
    assert_eq!(audit[0]["outcome"]["ok"], 1000);
    assert_eq!(audit[0]["selector"]["filter"]["doc_type"], "text");
    assert!(audit[0]["actor_key_id"].is_string());
    assert_eq!(app.get(&user, "/v1/audit").send().await.unwrap().status(), 403);
    let stranger = app.key("globex", Role::Admin).await;
    let theirs: Value = app.get_json(&stranger, "/v1/audit").await;
    let actions: Vec<&str> = theirs.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["key.create"], "audit entries are per tenant: only the stranger's own key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_id_in_the_middle_does_not_stop_a_bulk_delete() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        let up = upload(&app, format!("document {name} text").into_bytes(), &format!("{name}.txt"), "text/plain").await;
        ids.push(up["document"]["id"].as_str().unwrap().to_string());
    }
    let bogus = uuid::Uuid::new_v4().to_string();
    let user = app.key("acme", Role::User).await;
    let job = bulk_ok(&app, &user, json!({"op": "delete", "selector": {"ids": [ids[0], bogus, ids[1]]}})).await;
    let result = app.wait_for_status(job, JobStatus::Succeeded, Duration::from_secs(20)).await.result.unwrap();
    let outcomes: Vec<&str> =
        result["items"].as_array().unwrap().iter().map(|i| i["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, vec!["ok", "document_not_found", "ok"]);
    assert_eq!((result["ok"].as_u64(), result["failed"].as_u64()), (Some(2), Some(1)));
    for (id, status) in [(&ids[0], 404), (&ids[1], 404), (&ids[2], 200)] {
        assert_eq!(app.get(&app.admin_key, &format!("/v1/documents/{id}")).send().await.unwrap().status(), status);
    }
    // Another tenant's bulk cannot reach these documents.
    let stranger = app.key("globex", Role::Admin).await;
    let job = bulk_ok(&app, &stranger, json!({"op": "delete", "selector": {"ids": [ids[2]]}})).await;
    let result = app.wait_for_status_as(&stranger, job, JobStatus::Succeeded).await;
    assert_eq!(result["items"][0]["outcome"], "document_not_found");
    assert_eq!(app.get(&app.admin_key, &format!("/v1/documents/{}", ids[2])).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reprocessing_twice_leaves_no_duplicate_chunks() {
    let app = TestApp::spawn().await;
    let text = (0..400).map(|i| format!("sentence number {i} about reprocessing.")).collect::<Vec<_>>().join(" ");
    let up = upload(&app, text.into_bytes(), "long.txt", "text/plain").await;
    let id = up["document"]["id"].as_str().unwrap().to_string();
    let first = settled(&app, &id).await["chunk_count"].as_i64().unwrap();
    assert!(first > 3);
    for _ in 0..2 {
        let job = bulk_ok(&app, &app.admin_key, json!({"op": "reprocess", "selector": {"ids": [id]}})).await;
        app.wait_for_status(job, JobStatus::Succeeded, Duration::from_secs(20)).await;
        let doc: Value = app.get_json(&app.admin_key, &format!("/v1/documents/{id}")).await;
        let ingest: uuid::Uuid = doc["ingest_job_id"].as_str().unwrap().parse().unwrap();
        app.wait_for_status(ingest, JobStatus::Succeeded, Duration::from_secs(20)).await;
    }
    let mut conn = app.ctx.pool.get().await.unwrap();
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let rows: Vec<N> = diesel::sql_query("SELECT count(*) AS n FROM chunks WHERE document_id = $1")
        .bind::<diesel::sql_types::Uuid, _>(id.parse::<uuid::Uuid>().unwrap())
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(rows[0].n, first, "same chunks, no duplicates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_zip_holds_the_originals_and_their_metadata() {
    let app = TestApp::spawn().await;
    let files = [("one.txt", b"first original".to_vec()), ("two.md", b"# Second\n\noriginal".to_vec())];
    let mut ids = Vec::new();
    for (name, bytes) in &files {
        ids.push(upload(&app, bytes.clone(), name, "text/plain").await["document"]["id"].as_str().unwrap().to_string());
    }
    let user = app.key("acme", Role::User).await;
    // A filter export reaches the whole tenant: admin only.
    let resp = bulk(&app, &user, json!({"op": "export", "selector": {"filter": {}}})).await;
    assert_eq!(resp.status(), 403);
    let job = bulk_ok(&app, &user, json!({"op": "export", "selector": {"ids": ids}})).await;
    let result = app.wait_for_status(job, JobStatus::Succeeded, Duration::from_secs(20)).await.result.unwrap();
    let link = result["download_url"].as_str().unwrap();
    assert!(result["expires_at"].is_string());
    let resp = app.get(&user, link).send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], "application/zip");
    let bytes = resp.bytes().await.unwrap().to_vec();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    assert_eq!(zip.len(), 3);
    for (i, (name, original)) in files.iter().enumerate() {
        let mut entry = zip.by_name(&format!("{}-{name}", ids[i])).unwrap();
        let mut got = Vec::new();
        entry.read_to_end(&mut got).unwrap();
        assert_eq!(&got, original);
    }
    let mut meta = String::new();
    zip.by_name("metadata.json").unwrap().read_to_string(&mut meta).unwrap();
    let meta: Value = serde_json::from_str(&meta).unwrap();
    assert_eq!(meta["documents"].as_array().unwrap().len(), 2);
    assert_eq!(meta["job_id"], job.to_string());
    let stranger = app.key("globex", Role::Admin).await;
    let resp = app.get(&stranger, link).send().await.unwrap();
    assert_eq!(
        (resp.status().as_u16(), resp.json::<Value>().await.unwrap()["code"].as_str().map(String::from)),
        (404, Some("export_not_found".into()))
    );

    // An expired export answers 410.
    let short = TestApp::spawn_with(1, |s| s.knowledge.export_ttl_secs = 0).await;
    let up = upload(&short, b"soon gone".to_vec(), "x.txt", "text/plain").await;
    let job =
        bulk_ok(&short, &short.admin_key, json!({"op": "export", "selector": {"ids": [up["document"]["id"]]}})).await;
    short.wait_for_status(job, JobStatus::Succeeded, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let resp = short.get(&short.admin_key, &format!("/v1/bulk/{job}/export")).send().await.unwrap();
    assert_eq!(
        (resp.status().as_u16(), resp.json::<Value>().await.unwrap()["code"].as_str().map(String::from)),
        (410, Some("export_expired".into()))
    );
    // The maintenance sweep deletes its file and marks the job.
    let tenant = chorus_shared::services::auth::ensure_tenant(&short.ctx.pool, "acme").await.unwrap();
    let key = chorus_shared::services::bulk::export_key(tenant.id, job);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while short.ctx.blobs.get(&key).await.is_ok() {
        assert!(tokio::time::Instant::now() < deadline, "the expired export's file is still there");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The sweep deletes the file first and marks the job just after.
    while short.job(job).await.result.unwrap()["export_deleted"] != true {
        assert!(tokio::time::Instant::now() < deadline, "the swept export's job is not marked");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_bulk_job_stops_it_between_items() {
    let app = TestApp::spawn().await;
    seed(&app, 3000).await;
    let job =
        bulk_ok(&app, &app.admin_key, json!({"op": "tag", "selector": {"filter": {}}, "params": {"tags": ["slow"]}}))
            .await;
    app.wait_for(job, Duration::from_secs(30), |j| j.progress.as_ref().is_some_and(|p| p.done >= 25)).await;
    let resp = app.post(&app.admin_key, &format!("/v1/jobs/{job}/cancel")).send().await.unwrap();
    assert_eq!(resp.status(), 202);
    let done = app.wait_for_status(job, JobStatus::Cancelled, Duration::from_secs(10)).await;
    let audit: Value = app.get_json(&app.admin_key, "/v1/audit").await;
    assert_eq!(audit[0]["outcome"]["cancelled"], true);
    let handled = audit[0]["outcome"]["done"].as_u64().unwrap();
    assert!((25..3000).contains(&handled), "stopped after {handled}");
    let tags: Value = app.get_json(&app.admin_key, "/v1/tags").await;
    assert_eq!(tags[0]["document_count"].as_u64(), Some(handled), "exactly the handled items were tagged");
    assert!(done.finished_at.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_requests_are_validated() {
    let app = TestApp::spawn_with(0, |_| {}).await;
    let viewer = app.key("acme", Role::Viewer).await;
    let id = uuid::Uuid::new_v4();
    let cases = [
        (app.admin_key.clone(), json!({"op": "tag", "selector": {"ids": [id]}}), 422, "invalid_payload"),
        (
            app.admin_key.clone(),
            json!({"op": "delete", "selector": {"ids": [id], "filter": {}}}),
            422,
            "invalid_payload",
        ),
        (app.admin_key.clone(), json!({"op": "delete", "selector": {}}), 422, "invalid_payload"),
        (app.admin_key.clone(), json!({"op": "shred", "selector": {"ids": [id]}}), 422, "invalid_payload"),
        (
            app.admin_key.clone(),
            json!({"op": "delete", "selector": {"filter": {"status": "lost"}}}),
            400,
            "invalid_parameter",
        ),
        (
            app.admin_key.clone(),
            json!({"op": "delete", "selector": {"filter": {"tag": "none"}}}),
            422,
            "invalid_payload",
        ),
        (viewer.clone(), json!({"op": "reprocess", "selector": {"ids": [id]}}), 403, "forbidden"),
    ];
    for (key, body, status, code) in cases {
        let resp = bulk(&app, &key, body.clone()).await;
        assert_eq!(resp.status(), status, "{body}");
        assert_eq!(resp.json::<Value>().await.unwrap()["code"], code, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_stops_adding_originals_at_its_size_cap_and_downloads_stream() {
    // Room for the first original (14 bytes) and not the second.
    let app = TestApp::spawn_with(1, |s| s.knowledge.export_max_bytes = 20).await;
    let mut ids = Vec::new();
    for (name, bytes) in [("a.txt", b"first original".to_vec()), ("b.txt", b"second original".to_vec())] {
        ids.push(upload(&app, bytes, name, "text/plain").await["document"]["id"].as_str().unwrap().to_string());
    }
    let job = bulk_ok(&app, &app.admin_key, json!({"op": "export", "selector": {"ids": ids}})).await;
    let result = app.wait_for_status(job, JobStatus::Succeeded, Duration::from_secs(20)).await.result.unwrap();
    let outcomes: Vec<&str> =
        result["items"].as_array().unwrap().iter().map(|i| i["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, vec!["ok", "export_too_large"], "{result}");
    let resp = app.get(&app.admin_key, result["download_url"].as_str().unwrap()).send().await.unwrap();
    let length: u64 = resp.headers()["content-length"].to_str().unwrap().parse().unwrap();
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, length, "the streamed zip is whole");
    let zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    assert_eq!(zip.len(), 2, "one original and metadata.json");
    // A download is streamed whole too.
    let resp = app.get(&app.admin_key, &format!("/v1/documents/{}/download", ids[0])).send().await.unwrap();
    assert_eq!(resp.headers()["content-length"], "14");
    assert_eq!(&resp.bytes().await.unwrap()[..], b"first original");
}

/// Every admin action writes an audit entry, by the acting key, in the
/// transaction of the change: keys, webhooks, providers and models,
/// agents, retries of dead jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_action_writes_an_audit_entry() {
    let app = TestApp::spawn().await;
    let admin = &app.admin_key;
    let created = |path: &'static str, body: Value| {
        let req = app.post(admin, path).json(&body);
        async move {
            let resp = req.send().await.unwrap();
            assert!(resp.status().is_success(), "{path}: {}", resp.status());
            resp.json::<Value>().await.unwrap()
        }
    };
    let key = created("/v1/keys", json!({"name": "ci", "role": "user"})).await;
    let resp = app.client.delete(app.url(&format!("/v1/keys/{}", key["id"].as_str().unwrap()))).bearer_auth(admin);
    assert!(resp.send().await.unwrap().status().is_success());
    let hook = created("/v1/webhooks", json!({"url": "http://127.0.0.1:9/hook", "event_types": ["job.dead"]})).await;
    let hook_id = hook["id"].as_str().unwrap();
    let patch = app.client.patch(app.url(&format!("/v1/webhooks/{hook_id}"))).bearer_auth(admin);
    assert!(patch.json(&json!({"enabled": false})).send().await.unwrap().status().is_success());
    created_status(&app, &format!("/v1/webhooks/{hook_id}/rotate-secret")).await;
    let gone = app.client.delete(app.url(&format!("/v1/webhooks/{hook_id}"))).bearer_auth(admin);
    assert!(gone.send().await.unwrap().status().is_success());
    let provider =
        json!({"name": "acme-openai", "kind": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk-x"});
    created("/v1/admin/llm/providers", provider).await;
    let model = json!({"alias": "acme-gpt", "provider": "acme-openai", "name": "gpt-upstream"});
    created("/v1/admin/llm/models", model).await;
    let agent = json!({"name": "helper", "model": "acme-gpt", "tools": ["calculator"]});
    let agent = created("/v1/agents", agent).await;
    let gone = app.client.delete(app.url(&format!("/v1/agents/{}", agent["id"].as_str().unwrap()))).bearer_auth(admin);
    assert!(gone.send().await.unwrap().status().is_success());
    let dead = app.submit(json!({"kind": "diagnostic", "payload": {"fail_attempts": 1}, "max_attempts": 1})).await;
    app.wait_for_status(dead, JobStatus::Dead, Duration::from_secs(15)).await;
    created_status(&app, &format!("/v1/jobs/{dead}/retry")).await;

    let audit: Value = app.get_json(admin, "/v1/audit?limit=200").await;
    let entries = audit.as_array().unwrap();
    let actions: Vec<&str> = entries.iter().rev().filter_map(|e| e["action"].as_str()).collect();
    let expected = [
        "key.create",
        "key.revoke",
        "webhook.create",
        "webhook.update",
        "webhook.rotate_secret",
        "webhook.delete",
        "llm.provider.create",
        "llm.model.create",
        "agent.create",
        "agent.delete",
        "job.retry",
    ];
    // The first `key.create` is the admin key itself, made before any request.
    assert_eq!(&actions[actions.len() - expected.len()..], expected, "{actions:?}");
    let by_admin = entries.iter().take(expected.len()).all(|e| e["actor_key_id"].is_string());
    assert!(by_admin, "every entry names the acting key: {audit}");
    assert!(!audit.to_string().contains("sk-x"), "no secret is written to the log");
    let retried = &entries[0];
    assert_eq!(
        (retried["job_id"].as_str(), retried["selector"]["kind"].as_str()),
        (Some(dead.to_string().as_str()), Some("diagnostic"))
    );
}

async fn created_status(app: &TestApp, path: &str) {
    let resp = app.post(&app.admin_key, path).send().await.unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
}
