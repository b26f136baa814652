//! Blobs on an S3-compatible store (PyPI moto's server): originals and
//! export zips go to the bucket, so the API and a worker with disks of their
//! own share nothing but the bucket; big files travel in parts.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chorus_shared::domain::JobStatus;
use chorus_shared::knowledge::blob::{BlobStore, Blobs};
use chorus_tests::TestApp;
use futures::StreamExt;
use serde_json::{json, Value};

use crate::documents::{settled, upload};

/// The keys in the bucket of `blobs` (one listing page is enough here).
async fn bucket_keys(blobs: &chorus_shared::config::BlobSettings) -> Vec<String> {
    let bucket = blobs.url.trim_start_matches("s3://");
    let url = format!("{}/{bucket}?list-type=2", blobs.endpoint);
    let xml = reqwest::get(url).await.unwrap().text().await.unwrap();
    xml.split("<Key>").skip(1).map(|k| k.split("</Key>").next().unwrap().to_string()).collect()
}

/// Every file under `dir`, scratch space included.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn originals_and_exports_live_in_the_bucket_so_a_worker_needs_no_shared_disk() {
    let blobs = chorus_tests::s3_bucket().await;
    let settings = blobs.clone();
    let mut app = TestApp::spawn_with(0, move |s| s.blobs = settings).await;
    // The worker's own disk: nothing the API writes is on it.
    let worker_disk = tempfile::tempdir().unwrap();
    let dir = worker_disk.path().display().to_string();
    app.start_worker_with(|s| s.knowledge.blob_dir = dir).await;

    let original = b"Originals travel through the bucket, never a shared disk.".to_vec();
    let up = upload(&app, original.clone(), "bucket.txt", "text/plain").await;
    let id = up["document"]["id"].as_str().unwrap().to_string();
    assert_eq!(settled(&app, &id).await["status"], "ingested", "the worker read the original from the bucket");
    let dl = app.get(&app.admin_key, &format!("/v1/documents/{id}/download")).send().await.unwrap();
    assert_eq!(dl.bytes().await.unwrap().to_vec(), original);

    // The worker writes the export to the bucket; the API serves it.
    let resp = app.post(&app.admin_key, "/v1/bulk").json(&json!({"op": "export", "selector": {"ids": [id]}}));
    let job: Value = resp.send().await.unwrap().json().await.unwrap();
    let job: uuid::Uuid = job["id"].as_str().unwrap().parse().unwrap();
    let result = app.wait_for_status(job, JobStatus::Succeeded, Duration::from_secs(30)).await.result.unwrap();
    let zip = app.get(&app.admin_key, result["download_url"].as_str().unwrap()).send().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip.bytes().await.unwrap().to_vec())).unwrap();
    let mut got = Vec::new();
    zip.by_name(&format!("{id}-bucket.txt")).unwrap().read_to_end(&mut got).unwrap();
    assert_eq!(got, original);

    let keys = bucket_keys(&blobs).await;
    assert_eq!(keys.len(), 2, "the original and the export: {keys:?}");
    for dir in [Path::new(&app.settings.knowledge.blob_dir), worker_disk.path()] {
        assert!(files_under(dir).is_empty(), "nothing on local disk: {:?}", files_under(dir));
    }
    // Deleting the document deletes its original from the bucket.
    let del = app.client.delete(app.url(&format!("/v1/documents/{id}"))).bearer_auth(&app.admin_key).send().await;
    assert_eq!(del.unwrap().status(), 200);
    assert_eq!(bucket_keys(&blobs).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_file_goes_up_in_parts_and_streams_back_whole() {
    let settings = chorus_tests::s3_bucket().await;
    let disk = tempfile::tempdir().unwrap();
    let store = Blobs::open(&settings, &disk.path().display().to_string()).unwrap();
    // 17 MiB and a bit: three parts, the last one short.
    let bytes: Vec<u8> = (0..17 * 1024 * 1024 + 123).map(|i: u32| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    let file = store.scratch_dir().join("big.bin");
    std::fs::write(&file, &bytes).unwrap();
    store.put_file("tenant/big", &file).await.unwrap();
    assert!(!file.exists(), "the scratch file is moved in");
    let reader = store.read("tenant/big").await.unwrap();
    assert_eq!(reader.size, bytes.len() as u64);
    let mut back = Vec::new();
    let mut chunks = reader.chunks;
    while let Some(chunk) = chunks.next().await {
        back.extend_from_slice(&chunk.unwrap());
    }
    assert!(back == bytes, "the same bytes back");

    // The same key again replaces nothing; a missing key reads NotFound and
    // deletes quietly; a key that climbs out is refused.
    std::fs::write(&file, b"other").unwrap();
    store.put_file("tenant/big", &file).await.unwrap();
    assert_eq!(store.get("tenant/big").await.unwrap().len(), bytes.len());
    assert_eq!(store.get("tenant/none").await.unwrap_err().kind(), std::io::ErrorKind::NotFound);
    store.delete("tenant/none").await.unwrap();
    store.delete("tenant/big").await.unwrap();
    assert_eq!(store.get("tenant/big").await.unwrap_err().kind(), std::io::ErrorKind::NotFound);
    assert_eq!(store.get("../etc/passwd").await.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(store.get("").await.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
}
