//! Retention per tenant: a tenant's conversations, documents (with their
//! vectors), finished jobs and files older than its `retention_days` are
//! deleted by its `retention` job, queued by the workers' sweep, an export
//! of them written first; newer ones, and other tenants', stay.

use std::time::Duration;

use chorus_shared::domain::{JobStatus, Role};
use chorus_tests::TestApp;
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};

use super::documents::upload_as;

/// Moves a row's time back three days.
async fn age(app: &TestApp, table: &str, column: &str, id: &str) {
    let mut conn = app.ctx.pool.get().await.unwrap();
    let sql = format!("UPDATE {table} SET {column} = now() - interval '3 days' WHERE id = $1::uuid");
    let n = diesel::sql_query(sql).bind::<diesel::sql_types::Text, _>(id).execute(&mut conn).await.unwrap();
    assert_eq!(n, 1, "{table} {id}");
}

/// A conversation, a document (ingested: its job succeeded), a finished
/// job and a file of the key's tenant, each about `word`: their ids.
async fn some_of_everything(app: &TestApp, key: &str, word: &str) -> [String; 4] {
    let conv = app.post_json(key, "/v1/conversations", &json!({"title": word})).await;
    let text = format!("The {word} handbook says {word} twice.");
    let resp = upload_as(app, key, text.into_bytes(), &format!("{word}.txt"), "text/plain", "").await;
    assert!(resp.status().is_success());
    let up: Value = resp.json().await.unwrap();
    let ingest = up["job"]["id"].as_str().unwrap().parse().unwrap();
    app.wait_for_status_as(key, ingest, JobStatus::Succeeded).await;
    let doc = up["document"]["id"].as_str().unwrap().to_string();
    let job = app.post_json(key, "/v1/jobs", &json!({"kind": "diagnostic", "payload": {}})).await;
    let job = job["id"].as_str().unwrap().to_string();
    app.wait_for_status_as(key, job.parse().unwrap(), JobStatus::Succeeded).await;
    let line = json!({"custom_id": word, "method": "POST", "url": "/v1/embeddings", "body": {"input": word}});
    let part = reqwest::multipart::Part::bytes(format!("{line}\n").into_bytes()).file_name("in.jsonl");
    let form = reqwest::multipart::Form::new().text("purpose", "batch").part("file", part);
    let file: Value = app.post(key, "/v1/files").multipart(form).send().await.unwrap().json().await.unwrap();
    [conv["id"].as_str().unwrap().to_string(), doc, job, file["id"].as_str().unwrap().to_string()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_data_goes_after_an_export_and_the_rest_stays() {
    let app = TestApp::spawn_with(1, |s| s.worker.maintenance_ms = 200).await;
    let other = app.key("globex", Role::Admin).await;
    let old = some_of_everything(&app, &app.admin_key, "zeppelin").await;
    let new = some_of_everything(&app, &app.admin_key, "bicycle").await;
    let theirs = some_of_everything(&app, &other, "zeppelin").await;
    for ids in [&old, &theirs] {
        age(&app, "conversations", "updated_at", &ids[0]).await;
        age(&app, "documents", "created_at", &ids[1]).await;
        age(&app, "jobs", "finished_at", &ids[2]).await;
        age(&app, "files", "created_at", ids[3].trim_start_matches("file-")).await;
    }
    let found = |key: String| {
        let app = &app;
        async move {
            let body = json!({"query": "zeppelin", "mode": "keyword", "top_k": 5});
            let hits = app.post_json(&key, "/v1/search", &body).await;
            hits["results"].as_array().map_or(0, |r| r.len())
        }
    };
    assert!(found(app.admin_key.clone()).await > 0);

    // One day for acme, with an export; globex keeps everything.
    let limits = json!({"retention_days": 1, "retention_export": true});
    let set = app.client.put(app.url("/v1/admin/tenants/acme/limits")).bearer_auth(&app.admin_key).json(&limits);
    let set: Value = set.send().await.unwrap().json().await.unwrap();
    assert_eq!(set["effective"]["retention_days"], 1, "{set}");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let path = |ids: &[String; 4], i: usize| match i {
        0 => format!("/v1/conversations/{}", ids[0]),
        1 => format!("/v1/documents/{}", ids[1]),
        2 => format!("/v1/jobs/{}", ids[2]),
        _ => format!("/v1/files/{}", ids[3]),
    };
    loop {
        let gone = app.get(&app.admin_key, &path(&old, 3)).send().await.unwrap().status() == 404;
        if gone {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "retention did not run");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for i in 0..4 {
        let status = app.get(&app.admin_key, &path(&old, i)).send().await.unwrap().status();
        assert_eq!(status, 404, "old {}", path(&old, i));
        let status = app.get(&app.admin_key, &path(&new, i)).send().await.unwrap().status();
        assert_eq!(status, 200, "new {}", path(&new, i));
        let status = app.get(&other, &path(&theirs, i)).send().await.unwrap().status();
        assert_eq!(status, 200, "another tenant's {}", path(&theirs, i));
    }
    // A deleted job's history goes with it (a statement trigger, not a
    // foreign key); the others keep theirs.
    let events = |id: &String| app.history(id.parse().unwrap());
    assert_eq!(events(&old[2]).await.len(), 0);
    assert!(events(&new[2]).await.len() >= 3);
    assert!(events(&theirs[2]).await.len() >= 3);
    // The old document's chunks went with it, and its vectors with the
    // purge job queued in the same transaction; globex's stayed.
    assert_eq!(found(app.admin_key.clone()).await, 0);
    assert!(found(other.clone()).await > 0);
    let purges = app.get_json(&app.admin_key, "/v1/jobs?kind=purge_vectors").await;
    let purge = purges["items"].as_array().unwrap().iter().find(|j| j["payload"]["document_ids"][0] == old[1].as_str());
    let purge = purge.expect("a purge job for the old document")["id"].as_str().unwrap().parse().unwrap();
    app.wait_for_status_as(&app.admin_key, purge, JobStatus::Succeeded).await;

    // The export holds what went, and only that; the audit log says so.
    let exports = app.get_json(&app.admin_key, "/v1/files?purpose=retention_export").await;
    let export = exports["data"][0]["id"].as_str().expect("an export").to_string();
    let text = app.get(&app.admin_key, &format!("/v1/files/{export}/content")).send().await.unwrap();
    let text = text.text().await.unwrap();
    let kinds: Vec<String> =
        text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["kind"].to_string()).collect();
    assert_eq!(kinds, ["\"conversation\"", "\"document\"", "\"job\"", "\"file\""], "{text}");
    for id in &old[..3] {
        assert!(text.contains(id.as_str()), "{id} in the export");
    }
    for id in &new[..3] {
        assert!(!text.contains(id.as_str()), "{id} not in the export");
    }
    let audit = app.get_json(&app.admin_key, "/v1/audit").await;
    let applied = audit.as_array().unwrap().iter().find(|e| e["action"] == "retention.applied").expect("audited");
    assert_eq!(applied["outcome"]["deleted"]["conversations"], 1, "{applied}");
    assert_eq!(applied["outcome"]["export_file_id"], export.as_str());
}
