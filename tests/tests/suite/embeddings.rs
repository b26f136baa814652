//! `POST /v1/embeddings`: a real ONNX model run by fastembed, offline;
//! inline answers with `?wait=`, the cache, validation, and a clear
//! startup error when the runtime is missing.

use std::time::Duration;

use chorus_shared::domain::{JobStatus, Role};
use chorus_shared::embed::cosine;
use chorus_tests::TestApp;
use serde_json::{json, Value};

/// The `i`-th vector of a `/v1/embeddings` answer.
pub fn vector(v: &Value, i: usize) -> Vec<f32> {
    v["data"][i]["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn related_texts_embed_close_and_repeats_come_from_the_cache() {
    let app = TestApp::spawn().await;
    let texts = ["The cat sat on the mat.", "A kitten was sitting on a rug.", "Quarterly revenue grew by ten percent."];
    let resp = app.post(&app.admin_key, "/v1/embeddings?wait=30").json(&json!({"input": texts})).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let v: Value = resp.json().await.unwrap();
    assert_eq!((v["model"].as_str(), v["dimension"].as_u64()), (Some("all-MiniLM-L6-v2"), Some(384)));
    assert_eq!(v["cache"], json!({"hits": 0, "misses": 3}));
    let (a, b, c) = (vector(&v, 0), vector(&v, 1), vector(&v, 2));
    assert_eq!(a.len(), 384);
    let (related, unrelated) = (cosine(&a, &b), cosine(&a, &c));
    assert!(related > 0.4 && related > unrelated + 0.2, "related {related}, unrelated {unrelated}");

    // The same texts again: all from the cache, the same vectors.
    let again = app.post_json(&app.admin_key, "/v1/embeddings?wait=30", &json!({"input": texts})).await;
    assert_eq!(again["cache"], json!({"hits": 3, "misses": 0}));
    assert_eq!(vector(&again, 1), b);

    // Another tenant's cache is its own: the same texts are misses there
    // (a hit would tell it that someone else had embedded them), with the
    // same vectors.
    let rival = app.key("rival", Role::Admin).await;
    let theirs = app.post_json(&rival, "/v1/embeddings?wait=30", &json!({"input": texts})).await;
    assert_eq!(theirs["cache"], json!({"hits": 0, "misses": 3}), "{theirs}");
    assert!(cosine(&vector(&theirs, 1), &b) > 0.999);

    // A single string, without waiting: 202 and the job carries the result.
    let resp =
        app.post(&app.admin_key, "/v1/embeddings").json(&json!({"input": "one more text"})).send().await.unwrap();
    assert_eq!(resp.status(), 202);
    let id: uuid::Uuid = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    let job = app.wait_for_status(id, JobStatus::Succeeded, Duration::from_secs(30)).await;
    assert_eq!(job.result.unwrap()["data"][0]["embedding"].as_array().unwrap().len(), 384);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedding_requests_are_validated() {
    let app = TestApp::spawn_with(0, |_| {}).await;
    let viewer = app.key("acme", Role::Viewer).await;
    let cases = [
        (app.admin_key.clone(), "/v1/embeddings", json!({"input": []}), 422, "invalid_payload"),
        (app.admin_key.clone(), "/v1/embeddings", json!({"input": ["", "x"]}), 422, "invalid_payload"),
        (app.admin_key.clone(), "/v1/embeddings", json!({"input": 5}), 422, "invalid_payload"),
        (app.admin_key.clone(), "/v1/embeddings", json!({"input": "x", "model": "ada-002"}), 422, "unknown_model"),
        (app.admin_key.clone(), "/v1/embeddings?wait=100", json!({"input": "x"}), 400, "invalid_parameter"),
        (viewer, "/v1/embeddings", json!({"input": "x"}), 403, "forbidden"),
    ];
    for (key, path, body, status, code) in cases {
        let resp = app.post(&key, path).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), status, "{body}");
        assert_eq!(resp.json::<Value>().await.unwrap()["code"], code, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_without_the_runtime_refuses_to_start_with_a_clear_error() {
    let app = TestApp::spawn_with(0, |_| {}).await;
    let mut child = app.spawn_worker_process(
        "no-ort",
        &[
            ("CHORUS__EMBED__ORT_LIBRARY", "/nonexistent/libonnxruntime.so".into()),
            ("CHORUS__WORKER__QUEUES", "embed,search,chat,tool".into()),
        ],
    );
    let status = chorus_tests::wait_exit(&mut child, Duration::from_secs(20)).await;
    assert!(!status.success());
    assert_eq!(status.code(), Some(1), "an error exit, not a panic (101) or a signal");
}

/// Batches are formed from texts sorted by length; each vector still comes
/// back in its text's place.
#[test]
fn batching_by_length_keeps_each_vector_in_its_texts_place() {
    let models = std::env::var("CHORUS_TEST_MODELS").expect("CHORUS_TEST_MODELS is not set: run `just test`");
    let settings = chorus_shared::config::EmbedSettings {
        model_dir: format!("{models}/all-MiniLM-L6-v2"),
        ort_library: format!("{models}/libonnxruntime.so"),
        batch_size: 2,
        ..Default::default()
    };
    let embedder = chorus_shared::embed::load(&settings).unwrap();
    let texts: Vec<String> = [
        "A much longer text about the tides, the moon, and why the sea rises and falls twice a day.",
        "Bread.",
        "The cat sat on the mat.",
        "Quarterly revenue grew by ten percent while costs stayed flat.",
        "Hi",
    ]
    .map(String::from)
    .to_vec();
    let together = embedder.embed(&texts).unwrap();
    for (text, v) in texts.iter().zip(&together) {
        let alone = embedder.embed(std::slice::from_ref(text)).unwrap().remove(0);
        assert!(cosine(v, &alone) > 0.999, "{text:?} got another text's vector");
    }
}
