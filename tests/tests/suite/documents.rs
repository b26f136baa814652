//! Documents: upload → ingested → previewed → downloaded byte-identical,
//! de-duplication, every bad-input case with its code, real PDFs, tags,
//! keyword search over chunks, and tenant isolation.

use std::time::Duration;

use chorus_shared::domain::{JobStatus, Role};
use chorus_tests::pdf::{pages, pdf, ps2pdf, Flaw};
use chorus_tests::TestApp;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

pub async fn upload_as(
    app: &TestApp,
    key: &str,
    bytes: Vec<u8>,
    filename: &str,
    mime: &str,
    tags: &str,
) -> reqwest::Response {
    let part = Part::bytes(bytes).file_name(filename.to_string()).mime_str(mime).unwrap();
    let mut form = Form::new().part("file", part).text("metadata", r#"{"source":"test"}"#);
    if !tags.is_empty() {
        form = form.text("tags", tags.to_string());
    }
    app.post(key, "/v1/documents").multipart(form).send().await.unwrap()
}

pub async fn upload(app: &TestApp, bytes: Vec<u8>, filename: &str, mime: &str) -> Value {
    let resp = upload_as(app, &app.admin_key, bytes, filename, mime, "").await;
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    resp.json().await.unwrap()
}

/// Waits for the document to leave `queued`/`processing`/`embedding`
/// (90 s: a long PDF is embedded by the real model on 2 shared cores).
pub async fn settled(app: &TestApp, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let doc: Value = app.get_json(&app.admin_key, &format!("/v1/documents/{id}")).await;
        if doc["status"] == "ingested" || doc["status"] == "failed" {
            return doc;
        }
        assert!(tokio::time::Instant::now() < deadline, "document stuck: {doc}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pdf_is_ingested_previewed_and_downloaded_byte_identical() {
    let app = TestApp::spawn().await;
    let bytes = pdf(&pages(12), Flaw::None);
    let up = upload(&app, bytes.clone(), "handbook.pdf", "application/pdf").await;
    assert_eq!(up["duplicate"], false);
    assert_eq!(up["document"]["doc_type"], "pdf");
    assert_eq!(up["document"]["metadata"]["source"], "test");
    let id = up["document"]["id"].as_str().unwrap().to_string();
    let job_id: uuid::Uuid = up["job"]["id"].as_str().unwrap().parse().unwrap();

    let doc = settled(&app, &id).await;
    assert_eq!(doc["status"], "ingested", "{doc}");
    assert_eq!(doc["page_count"], 12);
    assert!(doc["chunk_count"].as_i64().unwrap() >= 1);
    let job = app.wait_for_status(job_id, JobStatus::Succeeded, Duration::from_secs(10)).await;
    let progress = job.progress.unwrap();
    assert_eq!((progress.stage.as_deref(), progress.done, progress.total), (Some("storing"), 12, Some(12)));

    let preview: Value = app.get_json(&app.admin_key, &format!("/v1/documents/{id}/preview?page=3&limit=2")).await;
    assert_eq!(preview["pages"][0]["page"], 3);
    assert!(preview["pages"][0]["text"].as_str().unwrap().contains("zebra3"));
    assert_eq!(preview["next_page"], 5);

    let dl = app.get(&app.admin_key, &format!("/v1/documents/{id}/download")).send().await.unwrap();
    assert_eq!(dl.headers()["content-type"], "application/pdf");
    assert!(dl.headers()["content-disposition"].to_str().unwrap().contains("handbook.pdf"));
    assert_eq!(dl.bytes().await.unwrap().to_vec(), bytes, "byte-identical");

    // The same bytes again: the existing document, no new job.
    let again = upload_as(&app, &app.admin_key, bytes, "copy.pdf", "application/pdf", "").await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!((again["duplicate"].as_bool(), again["document"]["id"].as_str()), (Some(true), Some(id.as_str())));
    assert!(again["job"].is_null());

    // Chunks are searchable by keyword before any embedding exists.
    let hits =
        chorus_shared::services::search::keyword(&app.ctx, app_tenant(&app).await, "zebra7", None, 5).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].page, 7);

    let del =
        app.client.delete(app.url(&format!("/v1/documents/{id}"))).bearer_auth(&app.admin_key).send().await.unwrap();
    assert_eq!(del.status(), 200);
    let gone = app.get(&app.admin_key, &format!("/v1/documents/{id}")).send().await.unwrap();
    assert_eq!(gone.status(), 404);
    assert_eq!(gone.json::<Value>().await.unwrap()["code"], "document_not_found");
    assert!(chorus_shared::services::search::keyword(&app.ctx, app_tenant(&app).await, "zebra7", None, 5)
        .await
        .unwrap()
        .is_empty());
}

async fn app_tenant(app: &TestApp) -> uuid::Uuid {
    chorus_shared::services::auth::authenticate(&app.ctx.pool, &app.admin_key).await.unwrap().tenant_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_markdown_html_and_real_pdfs_are_ingested() {
    let app = TestApp::spawn().await;
    let md = "# Guide\n\nIntro text about queues.\n\n## Retries\n\nBackoff doubles each time.\n";
    let html = "<html><head><style>.x{}</style><script>evil()</script></head><body><h1>Ops</h1><p>Restart the worker gracefully.</p></body></html>";
    let cases = vec![
        (b"Plain words about tenants.\n\nSecond paragraph.".to_vec(), "notes.txt", "text/plain", "text"),
        (md.as_bytes().to_vec(), "guide.md", "text/markdown", "markdown"),
        (html.as_bytes().to_vec(), "ops.html", "text/html", "html"),
    ];
    for (bytes, name, mime, ty) in cases {
        let up = upload(&app, bytes, name, mime).await;
        assert_eq!(up["document"]["doc_type"], ty);
        let doc = settled(&app, up["document"]["id"].as_str().unwrap()).await;
        assert_eq!(doc["status"], "ingested", "{name}: {doc}");
    }
    let tenant = app_tenant(&app).await;
    let hits = chorus_shared::services::search::keyword(&app.ctx, tenant, "backoff", None, 5).await.unwrap();
    assert_eq!(hits[0].heading_path, vec!["Guide".to_string(), "Retries".to_string()]);
    assert!(
        chorus_shared::services::search::keyword(&app.ctx, tenant, "evil", None, 5).await.unwrap().is_empty(),
        "script dropped"
    );
    assert_eq!(
        chorus_shared::services::search::keyword(&app.ctx, tenant, "gracefully", None, 5).await.unwrap()[0]
            .heading_path,
        vec!["Ops".to_string()]
    );

    // A PDF written by ghostscript's ps2pdf.
    let real = ps2pdf(&[
        &["Ghostscript wrote this first page", "about lighthouse keepers"],
        &["Second page mentions walruses"],
    ])
    .expect("ghostscript (ps2pdf) is installed by scripts/deps.sh");
    let up = upload(&app, real, "gs.pdf", "application/pdf").await;
    let doc = settled(&app, up["document"]["id"].as_str().unwrap()).await;
    assert_eq!((doc["status"].as_str(), doc["page_count"].as_i64()), (Some("ingested"), Some(2)), "{doc}");
    let hits = chorus_shared::services::search::keyword(&app.ctx, tenant, "walruses", None, 5).await.unwrap();
    assert_eq!(hits[0].page, 2);

    // A PDF shipped in a Debian documentation package, when present.
    for path in
        ["/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf", "/usr/share/doc/libtasn1-doc/libtasn1.pdf"]
    {
        if let Ok(bytes) = std::fs::read(path) {
            let up = upload(&app, bytes, "debian.pdf", "application/pdf").await;
            let doc = settled(&app, up["document"]["id"].as_str().unwrap()).await;
            assert_eq!(doc["status"], "ingested", "{path}: {doc}");
            assert!(doc["page_count"].as_i64().unwrap() > 1);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_document_fails_with_its_code_and_the_worker_keeps_going() {
    let app = TestApp::spawn_with(1, |s| s.knowledge.max_pages = 20).await;
    let good = pdf(&pages(3), Flaw::None);
    let mut truncated = good.clone();
    truncated.truncate(good.len() / 2);
    let mut broken_xref = good.clone();
    let at = broken_xref.windows(4).rposition(|w| w == b"xref").unwrap();
    broken_xref.truncate(at);
    broken_xref.extend_from_slice(b"xref\n0 9999\ngarbage garbage\ntrailer\n<< /Root 99 0 R >>\nstartxref\n12\n%%EOF");
    let zero_pages = pdf(&[], Flaw::None);
    // Ghostscript writes the page tree and catalog after the pages'
    // content and before their fonts: cut right after the catalog, the
    // pages are found but what they need is lost. Malformed, not a scan.
    let cut_after_tree = ps2pdf(&[&["Hello page one"], &["Second page"]]).map(|mut gs| {
        let catalog = gs.windows(8).position(|w| w == b"/Catalog").expect("a catalog");
        let end = catalog + gs[catalog..].windows(6).position(|w| w == b"endobj").expect("its end") + 6;
        gs.truncate(end);
        gs
    });
    let png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0, 1, 0];
    let cases: Vec<(Vec<u8>, &str, &str, &str)> = vec![
        (pdf(&pages(2), Flaw::Encrypted), "locked.pdf", "application/pdf", "pdf_encrypted"),
        (truncated, "cut.pdf", "application/pdf", "pdf_malformed"),
        (
            b"%PDF-1.5\nxref\n0 3\nzzz\ntrailer\n<< /Root 1 0 R >>\nstartxref\n9\n%%EOF".to_vec(),
            "xref.pdf",
            "application/pdf",
            "pdf_malformed",
        ),
        (pdf(&pages(2), Flaw::ImageOnly), "scan.pdf", "application/pdf", "pdf_no_text"),
        (zero_pages, "empty.pdf", "application/pdf", "pdf_no_pages"),
        (png, "photo.txt", "text/plain", "not_text"),
        (
            "caf\u{e9}".encode_utf16().flat_map(|u| u.to_le_bytes()).chain([0xFF, 0xFE]).collect::<Vec<u8>>(),
            "utf16.txt",
            "text/plain",
            "not_text",
        ),
        (pdf(&pages(25), Flaw::None), "huge.pdf", "application/pdf", "document_too_complex"),
    ];
    let cases =
        cases.into_iter().chain(cut_after_tree.map(|b| (b, "cut-tree.pdf", "application/pdf", "pdf_malformed")));
    for (bytes, name, mime, code) in cases {
        let up = upload(&app, bytes, name, mime).await;
        let doc = settled(&app, up["document"]["id"].as_str().unwrap()).await;
        assert_eq!(
            (doc["status"].as_str(), doc["error"]["code"].as_str()),
            (Some("failed"), Some(code)),
            "{name}: {doc}"
        );
        assert!(!doc["error"]["message"].as_str().unwrap().is_empty());
        let job: uuid::Uuid = up["job"]["id"].as_str().unwrap().parse().unwrap();
        let job = app.wait_for_status(job, JobStatus::Failed, Duration::from_secs(10)).await;
        assert_eq!(job.error.unwrap().code, code, "the job carries the same code");
    }
    // A broken xref table whose objects are intact is rebuilt, not refused.
    let up = upload(&app, broken_xref, "repairable.pdf", "application/pdf").await;
    let doc = settled(&app, up["document"]["id"].as_str().unwrap()).await;
    assert_eq!((doc["status"].as_str(), doc["page_count"].as_i64()), (Some("ingested"), Some(3)), "{doc}");
    // The worker survived all of it.
    let fine = upload(&app, pdf(&pages(2), Flaw::None), "fine.pdf", "application/pdf").await;
    assert_eq!(settled(&app, fine["document"]["id"].as_str().unwrap()).await["status"], "ingested");

    // Upload-level refusals.
    let big = TestApp::spawn_with(0, |s| s.knowledge.max_upload_bytes = 1000).await;
    let resp = upload_as(&big, &big.admin_key, vec![b'a'; 5000], "big.txt", "text/plain", "").await;
    assert_eq!(resp.status(), 413);
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], "payload_too_large");
    let resp = app.post(&app.admin_key, "/v1/documents").json(&json!({"file": "x"})).send().await.unwrap();
    assert_eq!(resp.status(), 415);
    let resp =
        app.post(&app.admin_key, "/v1/documents").multipart(Form::new().text("title", "no file")).send().await.unwrap();
    assert_eq!(
        (resp.status().as_u16(), resp.json::<Value>().await.unwrap()["code"].as_str().map(String::from)),
        (422, Some("invalid_payload".into()))
    );
    let resp = upload_as(&app, &app.admin_key, vec![], "empty.txt", "text/plain", "").await;
    assert_eq!(resp.status(), 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_label_filter_and_count_documents_within_a_tenant() {
    let app = TestApp::spawn().await;
    let user = app.key("acme", Role::User).await;
    let viewer = app.key("acme", Role::Viewer).await;
    let resp = app
        .post(&user, "/v1/tags")
        .json(&json!({"name": "finance", "description": "money", "color": "#00aa11"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let finance: Value = resp.json().await.unwrap();
    let dup = app.post(&user, "/v1/tags").json(&json!({"name": "finance"})).send().await.unwrap();
    assert_eq!(
        (dup.status().as_u16(), dup.json::<Value>().await.unwrap()["code"].as_str().map(String::from)),
        (409, Some("tag_exists".into()))
    );
    let bad = app.post(&user, "/v1/tags").json(&json!({"name": "x", "color": "red"})).send().await.unwrap();
    assert_eq!(bad.status(), 422);
    assert_eq!(app.post(&viewer, "/v1/tags").json(&json!({"name": "nope"})).send().await.unwrap().status(), 403);

    // Upload with tags (new ones are created), then attach and detach.
    let a = upload_as(&app, &user, b"alpha report".to_vec(), "a.txt", "text/plain", "finance, q3").await;
    let a: Value = a.json().await.unwrap();
    let a_id = a["document"]["id"].as_str().unwrap().to_string();
    assert_eq!(a["document"]["tags"], json!(["finance", "q3"]));
    let b: Value = upload_as(&app, &user, b"beta memo".to_vec(), "b.txt", "text/plain", "").await.json().await.unwrap();
    let b_id = b["document"]["id"].as_str().unwrap().to_string();
    let fid = finance["id"].as_str().unwrap();
    assert_eq!(
        app.client
            .put(app.url(&format!("/v1/documents/{b_id}/tags/{fid}")))
            .bearer_auth(&user)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        app.client
            .put(app.url(&format!("/v1/documents/{b_id}/tags/{fid}")))
            .bearer_auth(&user)
            .send()
            .await
            .unwrap()
            .status(),
        204,
        "idempotent"
    );

    let list: Value = app.get_json(&viewer, "/v1/tags").await;
    let count = |name: &str| {
        list.as_array().unwrap().iter().find(|t| t["name"] == name).unwrap()["document_count"].as_i64().unwrap()
    };
    assert_eq!((count("finance"), count("q3")), (2, 1));

    let page: Value = app.get_json(&viewer, "/v1/documents?tag=q3").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["id"], a_id.as_str());
    let page: Value = app.get_json(&viewer, "/v1/documents?q=MEMO").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 0, "q matches titles, which default to file names");
    let page: Value = app.get_json(&viewer, "/v1/documents?q=b.t&doc_type=text&limit=1").await;
    assert_eq!(page["items"][0]["id"], b_id.as_str());
    let page: Value = app.get_json(&viewer, "/v1/documents?limit=1").await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let next: Value = app.get_json(&viewer, &format!("/v1/documents?limit=1&cursor={cursor}")).await;
    assert_ne!(next["items"][0]["id"], page["items"][0]["id"]);
    assert!(next["next_cursor"].is_null());

    assert_eq!(
        app.client
            .delete(app.url(&format!("/v1/documents/{b_id}/tags/{fid}")))
            .bearer_auth(&user)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let tag: Value = app.get_json(&viewer, &format!("/v1/tags/{fid}")).await;
    assert_eq!(tag["document_count"], 1);
    let renamed: Value = app
        .client
        .patch(app.url(&format!("/v1/tags/{fid}")))
        .bearer_auth(&user)
        .json(&json!({"name": "money"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(renamed["name"], "money");

    // Another tenant sees none of it.
    let stranger = app.key("globex", Role::Admin).await;
    for path in [
        format!("/v1/documents/{a_id}"),
        format!("/v1/documents/{a_id}/preview"),
        format!("/v1/documents/{a_id}/download"),
        format!("/v1/tags/{fid}"),
    ] {
        assert_eq!(app.get(&stranger, &path).send().await.unwrap().status(), 404, "{path}");
    }
    assert_eq!(
        app.client
            .delete(app.url(&format!("/v1/documents/{a_id}")))
            .bearer_auth(&stranger)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        app.client
            .put(app.url(&format!("/v1/documents/{a_id}/tags/{fid}")))
            .bearer_auth(&stranger)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let theirs: Value = app.get_json(&stranger, "/v1/documents").await;
    assert!(theirs["items"].as_array().unwrap().is_empty());
    // The same bytes in another tenant are another document.
    let mine_again: Value =
        upload_as(&app, &stranger, b"alpha report".to_vec(), "a.txt", "text/plain", "").await.json().await.unwrap();
    assert_eq!(mine_again["duplicate"], false);

    assert_eq!(
        app.client.delete(app.url(&format!("/v1/tags/{fid}"))).bearer_auth(&user).send().await.unwrap().status(),
        204
    );
    let doc: Value = app.get_json(&viewer, &format!("/v1/documents/{a_id}")).await;
    assert_eq!(doc["tags"], json!(["q3"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_whose_ingestion_job_dies_or_is_cancelled_ends_failed_with_its_code() {
    use chorus_shared::db::schema::documents as d;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    // No worker yet: both ingestions wait.
    let mut app = TestApp::spawn_with(0, |_| {}).await;
    let lost = upload(&app, b"an original that will be lost".to_vec(), "lost.txt", "text/plain").await;
    let dropped = upload(&app, b"an ingestion that will be cancelled".to_vec(), "dropped.txt", "text/plain").await;
    let (lost_id, dropped_id) = (lost["document"]["id"].as_str().unwrap(), dropped["document"]["id"].as_str().unwrap());
    // Every attempt of the first fails (its original is gone) until the job is dead.
    let mut conn = app.ctx.pool.get().await.unwrap();
    let key: String =
        d::table.find(lost_id.parse::<uuid::Uuid>().unwrap()).select(d::blob_key).first(&mut conn).await.unwrap();
    app.ctx.blobs.delete(&key).await.unwrap();
    // The second's job is cancelled while it waits.
    let job = dropped["job"]["id"].as_str().unwrap();
    let resp = app.post(&app.admin_key, &format!("/v1/jobs/{job}/cancel")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    app.start_worker().await;

    let doc = settled(&app, lost_id).await;
    assert_eq!(
        (doc["status"].as_str(), doc["error"]["code"].as_str()),
        (Some("failed"), Some("blob_unavailable")),
        "{doc}"
    );
    let doc = settled(&app, dropped_id).await;
    assert_eq!((doc["status"].as_str(), doc["error"]["code"].as_str()), (Some("failed"), Some("cancelled")), "{doc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_naming_too_many_tags_is_refused() {
    let app = TestApp::spawn_with(0, |_| {}).await;
    let form = |n: usize| {
        let mut form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(b"text".to_vec()).file_name("t.txt").mime_str("text/plain").unwrap(),
        );
        // The field repeated, one tag each: no single field is large.
        for i in 0..n {
            form = form.text("tags", format!("t{i}"));
        }
        form
    };
    let resp = app.post(&app.admin_key, "/v1/documents").multipart(form(101)).send().await.unwrap();
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "invalid_payload", "{body}");
    let resp = app.post(&app.admin_key, "/v1/documents").multipart(form(100)).send().await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
}
