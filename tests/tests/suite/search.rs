//! Search end to end on a real model, on both vector engines (the embedded
//! one, and the Qdrant server when `just test` could start it):
//! paraphrases find the right chunk, codes win through hybrid search,
//! deleted documents vanish from every mode, reprocessing adds no points,
//! a reindex swaps models under live searches, the reconciler repairs both
//! sides, tenants never see each other, and a broken topology is refused.

use std::time::Duration;

use chorus_shared::domain::{JobStatus, Role};
use chorus_shared::vectors::{qdrant::QdrantStore, VectorError, VectorStore};
use chorus_tests::{Engine, TestApp};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::documents::{settled, upload_as};
use crate::embeddings::vector;

/// A small corpus, one topic per document.
const CORPUS: &[(&str, &str)] = &[
    (
        "volcanoes.txt",
        "Volcanoes erupt when magma from deep inside the earth rises through cracks in the crust. \
        Lava flows and ash clouds can bury nearby towns.",
    ),
    (
        "baking.txt",
        "To bake sourdough bread, feed the starter, mix flour and water, let the dough rise overnight, \
        then bake it in a very hot oven until the crust is dark.",
    ),
    (
        "tides.txt",
        "Ocean tides are caused by the gravitational pull of the moon and the sun on the seas, \
        which makes the water level rise and fall twice a day.",
    ),
    (
        "bikes.txt",
        "If a bicycle chain keeps slipping, clean and lubricate it, check the derailleur alignment, \
        and replace the chain when it is stretched.",
    ),
    (
        "sleep.txt",
        "Adults need seven to nine hours of sleep. Keeping a regular bedtime and avoiding screens \
        late at night improves the quality of rest.",
    ),
    (
        "errors.txt",
        "Troubleshooting table. Code ZX-4471 means the license server rejected the token. \
        Other codes are listed in the appendix.",
    ),
];

/// Uploads the corpus as `key`, waits for every document to be ingested,
/// and returns their ids by file name.
async fn corpus(app: &TestApp, key: &str, tags: &str) -> Vec<(String, String)> {
    let mut ids = Vec::new();
    for (name, text) in CORPUS {
        let resp = upload_as(app, key, text.as_bytes().to_vec(), name, "text/plain", tags).await;
        assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
        let body: Value = resp.json().await.unwrap();
        ids.push((name.to_string(), body["document"]["id"].as_str().unwrap().to_string()));
    }
    for (_, id) in &ids {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let doc: Value = app.get_json(key, &format!("/v1/documents/{id}")).await;
            if doc["status"] == "ingested" {
                break;
            }
            assert!(doc["status"] != "failed" && tokio::time::Instant::now() < deadline, "{doc}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    ids
}

async fn search(app: &TestApp, key: &str, body: Value) -> Value {
    let resp = app.post(key, "/v1/search").json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    resp.json().await.unwrap()
}

fn doc_ids(results: &Value) -> Vec<String> {
    results["results"].as_array().unwrap().iter().map(|h| h["document_id"].as_str().unwrap().to_string()).collect()
}

fn id_of<'a>(ids: &'a [(String, String)], name: &str) -> &'a str {
    &ids.iter().find(|(n, _)| n == name).unwrap().1
}

/// Runs a reconciliation and returns its report for the live collection.
pub async fn reconcile(app: &TestApp) -> Value {
    let resp = app.post(&app.admin_key, "/v1/admin/reconcile").send().await.unwrap();
    assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap());
    let id: Uuid = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    let job = app.wait_for_status(id, JobStatus::Succeeded, Duration::from_secs(60)).await;
    job.result.unwrap()["collections"][0].clone()
}

chorus_tests::on_both_engines!(paraphrased_questions_find_the_right_chunk_and_codes_win_through_hybrid);

async fn paraphrased_questions_find_the_right_chunk_and_codes_win_through_hybrid(engine: Engine) {
    let app = TestApp::spawn_on(engine, 1, |_| {}).await;
    let ids = corpus(&app, &app.admin_key, "").await;
    let questions = [
        ("why does molten rock come out of mountains", "volcanoes.txt"),
        ("how do I make bread with a fermented starter", "baking.txt"),
        ("what makes the sea go up and down each day", "tides.txt"),
        ("my bike's chain skips when I pedal", "bikes.txt"),
        ("how many hours of rest does a grown-up need", "sleep.txt"),
    ];
    for (q, want) in questions {
        let r = search(&app, &app.admin_key, json!({ "query": q, "mode": "vector", "top_k": 3 })).await;
        let found = doc_ids(&r);
        assert!(found.iter().any(|d| d == id_of(&ids, want)), "{q:?} → {found:?}, wanted {want}");
        let top = &r["results"][0];
        assert!(top["scores"]["vector"].as_f64().unwrap() > 0.0, "{top}");
        for field in ["chunk_id", "document_id", "title", "page", "heading_path", "text"] {
            assert!(!top[field].is_null(), "{field} missing in {top}");
        }
    }
    assert!(r_model(&search(&app, &app.admin_key, json!({"query": "tides", "mode": "vector"})).await));

    // A code: hybrid puts the chunk with it first, through its keyword part.
    let r = search(&app, &app.admin_key, json!({ "query": "ZX-4471" })).await;
    assert_eq!(r["mode"], "hybrid");
    assert_eq!(r["results"][0]["document_id"], id_of(&ids, "errors.txt"), "{r}");
    assert_eq!(r["results"][0]["scores"]["keyword_rank"], 1, "{r}");
    let k = search(&app, &app.admin_key, json!({ "query": "ZX-4471", "mode": "keyword" })).await;
    assert_eq!(doc_ids(&k), vec![id_of(&ids, "errors.txt").to_string()]);

    // Bad input: a clear code, no job.
    for bad in [
        json!({"query": ""}),
        json!({"query": "x", "top_k": 0}),
        json!({"query": "x", "mode": "fuzzy"}),
        json!({"query": "x", "filters": {"metadata": {"k": [1]}}}),
    ] {
        let resp = app.post(&app.admin_key, "/v1/search").json(&bad).send().await.unwrap();
        assert_eq!(resp.status(), 422, "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerank_scores_each_hit_by_its_closest_window_and_caches_the_windows() {
    let app = TestApp::spawn_with(1, |_| {}).await;
    let ids = corpus(&app, &app.admin_key, "").await;
    let q = "why does molten rock come out of mountains";
    let r = search(&app, &app.admin_key, json!({ "query": q, "top_k": 3, "rerank": true })).await;
    let hits = r["results"].as_array().unwrap();
    assert_eq!(hits.len(), 3, "{r}");
    assert_eq!(hits[0]["document_id"], id_of(&ids, "volcanoes.txt"), "{r}");
    let scores: Vec<f64> = hits.iter().map(|h| h["scores"]["rerank"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "best window first: {scores:?}");
    assert!(hits.iter().all(|h| h["score"] == h["scores"]["rerank"]), "{r}");

    // The top hit is one window (at most 24 words): its score is its
    // cosine with the query, and both vectors are in the cache now.
    let text = hits[0]["text"].as_str().unwrap().split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(text.split(' ').count() <= 24, "{text}");
    let v = app.post_json(&app.admin_key, "/v1/embeddings?wait=30", &json!({"input": [q, text]})).await;
    assert_eq!(v["cache"], json!({"hits": 2, "misses": 0}), "the search embedded the query and the window");
    let cos = chorus_shared::embed::cosine(&vector(&v, 0), &vector(&v, 1)) as f64;
    assert!((cos - scores[0]).abs() < 1e-4, "score {} against cosine {cos}", scores[0]);

    // Without `rerank` no hit carries a re-ranking score. Keyword search
    // re-ranks its own hits: the same chunk, the same window score.
    let plain = search(&app, &app.admin_key, json!({ "query": q, "top_k": 3 })).await;
    assert!(plain["results"].as_array().unwrap().iter().all(|h| h["scores"]["rerank"].is_null()), "{plain}");
    let k = search(&app, &app.admin_key, json!({"query": "lava and ash", "mode": "keyword", "rerank": true})).await;
    let top = &k["results"][0];
    assert_eq!(top["document_id"], id_of(&ids, "volcanoes.txt"), "{k}");
    assert!(top["scores"]["keyword_rank"].as_u64().is_some() && top["scores"]["vector_rank"].is_null(), "{k}");
    assert!(top["scores"]["rerank"].as_f64().unwrap() > 0.0, "{k}");
}

fn r_model(r: &Value) -> bool {
    r["model"] == "all-MiniLM-L6-v2" && r["collection"] == "chunks-all-minilm-l6-v2-384"
}

chorus_tests::on_both_engines!(filters_deletes_and_reprocessing_keep_vectors_exact);

async fn filters_deletes_and_reprocessing_keep_vectors_exact(engine: Engine) {
    let app = TestApp::spawn_on(engine, 1, |_| {}).await;
    let ids = corpus(&app, &app.admin_key, "nature").await;
    let before = reconcile(&app).await;
    assert_eq!(before["orphan_points_deleted"], 0, "{before}");
    assert_eq!(before["missing_points_restored"], 0, "{before}");
    let points = before["points"].as_u64().unwrap();
    assert!(points >= CORPUS.len() as u64, "{before}");

    // Filters: tags, document ids and metadata narrow every mode.
    let tides = id_of(&ids, "tides.txt");
    for mode in ["vector", "keyword", "hybrid"] {
        let r = search(
            &app,
            &app.admin_key,
            json!({"query": "tides moon sea", "mode": mode,
            "filters": {"document_ids": [tides], "tags": ["nature"], "metadata": {"source": "test"}}}),
        )
        .await;
        assert_eq!(doc_ids(&r), vec![tides.to_string()], "{mode}: {r}");
        let none = search(
            &app,
            &app.admin_key,
            json!({"query": "tides moon sea", "mode": mode,
            "filters": {"tags": ["no-such-tag"]}}),
        )
        .await;
        assert!(doc_ids(&none).is_empty(), "{mode}: {none}");
    }

    // Reprocess everything twice: the same number of points.
    for _ in 0..2 {
        let resp = app
            .post(&app.admin_key, "/v1/bulk")
            .json(&json!({"op": "reprocess", "selector": {"filter": {}}}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap());
        let job: Uuid = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
        app.wait_for_status(job, JobStatus::Succeeded, Duration::from_secs(60)).await;
        for (_, id) in &ids {
            settled(&app, id).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = reconcile(&app).await;
    assert_eq!((after["points"].as_u64(), after["orphan_points_deleted"].as_u64()), (Some(points), Some(0)), "{after}");

    // Delete one document: gone from every mode at once, and its points
    // are purged (a reconciliation finds no orphan afterwards).
    let resp = app.client.delete(app.url(&format!("/v1/documents/{tides}"))).bearer_auth(&app.admin_key).send().await;
    assert_eq!(resp.unwrap().status(), 200);
    for mode in ["vector", "keyword", "hybrid"] {
        let r = search(&app, &app.admin_key, json!({"query": "ocean tides moon gravity", "mode": mode})).await;
        assert!(!doc_ids(&r).contains(&tides.to_string()), "{mode}: {r}");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = reconcile(&app).await;
        if now["points"].as_u64().unwrap() < points {
            assert_eq!(now["orphan_points_deleted"], 0, "the purge job removed them first: {now}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "points never purged: {now}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

chorus_tests::on_both_engines!(the_reconciler_repairs_an_orphan_planted_on_each_side);

async fn the_reconciler_repairs_an_orphan_planted_on_each_side(engine: Engine) {
    let app = TestApp::spawn_on(engine, 1, |_| {}).await;
    let ids = corpus(&app, &app.admin_key, "").await;
    let baking = id_of(&ids, "baking.txt").parse::<Uuid>().unwrap();
    let tenant = chorus_shared::services::auth::authenticate(&app.ctx.pool, &app.admin_key).await.unwrap().tenant_id;
    let mut conn = app.ctx.pool.get().await.unwrap();
    use diesel_async::RunQueryDsl;
    // A point without a chunk: remove a chunk row behind the store's back.
    diesel::sql_query("DELETE FROM chunks WHERE id = (SELECT id FROM chunks WHERE document_id = $1 LIMIT 1)")
        .bind::<diesel::sql_types::Uuid, _>(Uuid::parse_str(id_of(&ids, "sleep.txt")).unwrap())
        .execute(&mut conn)
        .await
        .unwrap();
    // A chunk without a point: add one the store never saw.
    diesel::sql_query(
        "INSERT INTO chunks (id, tenant_id, document_id, ordinal, page_no, text, token_count) \
         VALUES ($1, $2, $3, 99, 1, 'Proofing baskets give sourdough loaves their spiral pattern.', 9)",
    )
    .bind::<diesel::sql_types::Uuid, _>(chorus_shared::services::indexing::chunk_id(baking, 99))
    .bind::<diesel::sql_types::Uuid, _>(tenant)
    .bind::<diesel::sql_types::Uuid, _>(baking)
    .execute(&mut conn)
    .await
    .unwrap();
    drop(conn);
    let r =
        search(&app, &app.admin_key, json!({"query": "spiral pattern on loaves from baskets", "mode": "vector"})).await;
    assert!(!r["results"].as_array().unwrap().iter().any(|h| h["text"].as_str().unwrap().contains("spiral")));

    let report = reconcile(&app).await;
    assert_eq!(report["orphan_points_deleted"], 1, "{report}");
    assert_eq!(report["missing_points_restored"], 1, "{report}");
    let r =
        search(&app, &app.admin_key, json!({"query": "spiral pattern on loaves from baskets", "mode": "vector"})).await;
    assert!(r["results"][0]["text"].as_str().unwrap().contains("spiral"), "{r}");
    let again = reconcile(&app).await;
    assert_eq!(
        (again["orphan_points_deleted"].as_u64(), again["missing_points_restored"].as_u64()),
        (Some(0), Some(0))
    );
    let metrics = app.client.get(format!("http://127.0.0.1:{}/metrics", app.workers[0].metrics_port)).send().await;
    let metrics = metrics.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"chorus_vector_orphans_total{action="repaired",side="store"} 1"#), "{metrics}");
}

chorus_tests::on_both_engines!(tenants_never_see_each_other_in_any_mode);

async fn tenants_never_see_each_other_in_any_mode(engine: Engine) {
    let app = TestApp::spawn_on(engine, 1, |_| {}).await;
    let ours = corpus(&app, &app.admin_key, "").await;
    let globex = app.key("globex", Role::Admin).await;
    let theirs = corpus(&app, &globex, "").await;
    for mode in ["vector", "keyword", "hybrid"] {
        for (key, own, other) in [(&app.admin_key, &ours, &theirs), (&globex, &theirs, &ours)] {
            let r = search(&app, key, json!({"query": "sourdough bread starter", "mode": mode, "top_k": 20})).await;
            let found = doc_ids(&r);
            assert!(!found.is_empty(), "{mode}");
            assert!(found.iter().all(|d| own.iter().any(|(_, id)| id == d)), "{mode}: {found:?}");
            // Naming the other tenant's document finds nothing.
            let r = search(
                &app,
                key,
                json!({"query": "bread", "mode": mode,
                "filters": {"document_ids": [id_of(other, "baking.txt")]}}),
            )
            .await;
            assert!(doc_ids(&r).is_empty(), "{mode}: {r}");
        }
    }
    let viewer = app.key("acme", Role::Viewer).await;
    search(&app, &viewer, json!({"query": "volcano"})).await;
}

chorus_tests::on_both_engines!(a_reindex_swaps_models_while_searches_keep_answering);

async fn a_reindex_swaps_models_while_searches_keep_answering(engine: Engine) {
    // A second model id: the same files under another name.
    let models = tempfile::tempdir().unwrap();
    let real = std::env::var("CHORUS_TEST_MODELS").unwrap();
    std::os::unix::fs::symlink(format!("{real}/all-MiniLM-L6-v2"), models.path().join("minilm-copy")).unwrap();
    let dir = models.path().display().to_string();
    let app = TestApp::spawn_on(engine, 1, |s| s.embed.models_dir = dir).await;
    let ids = corpus(&app, &app.admin_key, "").await;

    let bad = app.post(&app.admin_key, "/v1/admin/reindex").json(&json!({"model": "../etc"})).send().await.unwrap();
    assert_eq!(bad.status(), 422);
    let user = app.key("acme", Role::User).await;
    let denied = app.post(&user, "/v1/admin/reindex").json(&json!({"model": "minilm-copy"})).send().await.unwrap();
    assert_eq!(denied.status(), 403);

    let resp =
        app.post(&app.admin_key, "/v1/admin/reindex").json(&json!({"model": "minilm-copy"})).send().await.unwrap();
    assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap());
    let job: Uuid = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    let mut searched = 0;
    let mut models_seen = std::collections::BTreeSet::new();
    loop {
        let r = search(
            &app,
            &app.admin_key,
            json!({"query": "what makes the sea rise and fall", "mode": "vector", "top_k": 3}),
        )
        .await;
        assert!(doc_ids(&r).contains(&id_of(&ids, "tides.txt").to_string()), "{r}");
        models_seen.insert(r["model"].as_str().unwrap().to_string());
        searched += 1;
        if app.job(job).await.status.is_terminal() {
            break;
        }
    }
    let done = app.job(job).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{:?}", done.error);
    let result = done.result.unwrap();
    assert_eq!(result["collection"], "chunks-minilm-copy-384");
    assert_eq!(result["previous"], "chunks-all-minilm-l6-v2-384");
    let r = search(&app, &app.admin_key, json!({"query": "tides", "mode": "hybrid"})).await;
    assert_eq!(r["model"], "minilm-copy", "{r}");
    assert!(searched >= 1 && models_seen.contains("all-MiniLM-L6-v2"), "{searched} {models_seen:?}");
    let report = reconcile(&app).await;
    assert_eq!(report["collection"], "chunks-minilm-copy-384");
    assert_eq!(
        (report["orphan_points_deleted"].as_u64(), report["missing_points_restored"].as_u64()),
        (Some(0), Some(0))
    );
    // The old collection is gone from the engine.
    match engine {
        Engine::Embedded => {
            assert!(!std::path::Path::new(&app.settings.vectors.path).join("chunks-all-minilm-l6-v2-384").exists())
        }
        Engine::Server => {
            let store = QdrantStore::connect(&app.settings.vectors).await.unwrap();
            let old = store.count("chunks-all-minilm-l6-v2-384", &Default::default()).await;
            assert!(matches!(old, Err(VectorError::MissingCollection(_))), "{old:?}");
            let live = store.alias("chunks").await.unwrap();
            assert_eq!(live.as_deref(), Some("chunks-minilm-copy-384"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_breaks_the_embedded_topology_refuses_to_start() {
    let app = TestApp::spawn().await;
    // Some vector queues but not all.
    let mut half = app.spawn_worker_process("half", &[("CHORUS__WORKER__QUEUES", "embed,webhook".into())]);
    let status = chorus_tests::wait_exit(&mut half, Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(1), "a clear error exit");
    // All of them, while the in-process worker owns the store.
    let all = "embed,search,chat,tool".to_string();
    let mut second = app.spawn_worker_process("second-owner", &[("CHORUS__WORKER__QUEUES", all)]);
    let status = chorus_tests::wait_exit(&mut second, Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(1), "a clear error exit");
    // Without vector queues a second worker is welcome.
    let mut helper = app.spawn_worker_process("helper", &[]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(helper.try_wait().unwrap().is_none(), "a non-vector worker runs beside the owner");
    helper.kill().unwrap();
    let _ = helper.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_operator_tenants_admins_may_reindex_or_reconcile() {
    let app = TestApp::spawn_with(0, |_| {}).await;
    let other_admin = app.key("globex", Role::Admin).await;
    let operator_user = app.key("acme", Role::User).await;
    for key in [&other_admin, &operator_user] {
        for (path, body) in [("/v1/admin/reconcile", json!({})), ("/v1/admin/reindex", json!({"model": "x"}))] {
            let resp = app.post(key, path).json(&body).send().await.unwrap();
            assert_eq!(resp.status(), 403, "{path}");
        }
    }
    let resp = app.post(&app.admin_key, "/v1/admin/reconcile").send().await.unwrap();
    assert_eq!(resp.status(), 202);
}
