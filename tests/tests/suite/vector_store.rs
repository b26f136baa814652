//! The vector store conformance suite: one set of checks for the trait,
//! run against the embedded engine always, and against the Qdrant server
//! that `just test` starts when its binary is there (otherwise that part
//! reports itself skipped).

use std::sync::Arc;

use chorus_shared::config::VectorSettings;
use chorus_shared::vectors::{edge::EdgeStore, qdrant::QdrantStore, Filter, Point, PointPayload, Vectors};
use uuid::Uuid;

const DIM: usize = 8;

fn unit(i: usize) -> Vec<f32> {
    let mut v = vec![0.05; DIM];
    v[i % DIM] = 1.0;
    v
}

fn point(tenant: Uuid, doc: Uuid, ordinal: i64, axis: usize, tags: &[&str]) -> Point {
    let mut metadata = serde_json::Map::new();
    metadata.insert("lang".into(), serde_json::json!(if axis.is_multiple_of(2) { "en" } else { "de" }));
    Point {
        id: Uuid::new_v4(),
        vector: unit(axis),
        payload: PointPayload {
            tenant_id: tenant,
            document_id: doc,
            ordinal,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            metadata,
        },
    }
}

/// The checks every engine must pass, on a fresh collection `name`.
async fn conformance(store: &Vectors, name: &str) {
    store.create_collection(name, DIM).await.unwrap();
    store.create_collection(name, DIM).await.expect("creating twice is a no-op");
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let (doc1, doc2, doc3) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut points = vec![
        point(a, doc1, 0, 0, &["red"]),
        point(a, doc1, 1, 1, &["red"]),
        point(a, doc2, 0, 2, &["blue"]),
        point(a, doc2, 1, 3, &[]),
        point(b, doc3, 0, 0, &["red"]),
    ];
    store.upsert(name, points.clone()).await.unwrap();
    store.upsert(name, points.clone()).await.expect("upserting again replaces");
    assert_eq!(store.count(name, &Filter::default()).await.unwrap(), 5);
    assert_eq!(store.count(name, &Filter::tenant(a)).await.unwrap(), 4);

    // Nearest first, within the tenant only.
    let hits = store.search(name, unit(0), &Filter::tenant(a), 10).await.unwrap();
    assert_eq!(hits.len(), 4);
    assert_eq!(hits[0].id, points[0].id);
    assert!(hits[0].score > hits[1].score);
    assert!(hits.iter().all(|h| h.payload.tenant_id == a));
    assert_eq!(hits[0].payload, points[0].payload, "payload round-trips");
    let theirs = store.search(name, unit(0), &Filter::tenant(b), 10).await.unwrap();
    assert_eq!(theirs.iter().map(|h| h.id).collect::<Vec<_>>(), vec![points[4].id]);

    // Filters: documents, tags, metadata, position.
    let only_doc2 = store.search(name, unit(0), &Filter::documents(a, vec![doc2]), 10).await.unwrap();
    assert!(only_doc2.len() == 2 && only_doc2.iter().all(|h| h.payload.document_id == doc2));
    let red = Filter { tags: vec!["red".into()], ..Filter::tenant(a) };
    assert_eq!(store.count(name, &red).await.unwrap(), 2);
    let mut de = Filter::tenant(a);
    de.metadata.insert("lang".into(), serde_json::json!("de"));
    assert_eq!(store.count(name, &de).await.unwrap(), 2);
    let tail = Filter { min_ordinal: Some(1), ..Filter::documents(a, vec![doc1, doc2]) };
    assert_eq!(store.count(name, &tail).await.unwrap(), 2);

    // Scroll sees every point once.
    let mut seen = Vec::new();
    let mut from = None;
    loop {
        let page = store.scroll(name, from, 2).await.unwrap();
        seen.extend(page.points.into_iter().map(|(id, _)| id));
        match page.next {
            Some(n) => from = Some(n),
            None => break,
        }
    }
    seen.sort();
    let mut all: Vec<Uuid> = points.iter().map(|p| p.id).collect();
    all.sort();
    assert_eq!(seen, all);

    // Delete by document (twice: idempotent), and by id.
    store.delete(name, &Filter::documents(a, vec![doc1])).await.unwrap();
    store.delete(name, &Filter::documents(a, vec![doc1])).await.unwrap();
    assert_eq!(store.count(name, &Filter::tenant(a)).await.unwrap(), 2);
    store.delete_ids(name, vec![points[2].id]).await.unwrap();
    assert_eq!(store.count(name, &Filter::tenant(a)).await.unwrap(), 1);
    assert_eq!(store.count(name, &Filter::tenant(b)).await.unwrap(), 1, "other tenants untouched");

    // Aliases.
    store.set_alias("conformance", name).await.unwrap();
    assert_eq!(store.alias("conformance").await.unwrap().as_deref(), Some(name));
    points.truncate(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_engine_conforms_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let settings = VectorSettings { path: dir.path().display().to_string(), ..VectorSettings::default() };
    let store: Vectors = Arc::new(EdgeStore::open(&settings).unwrap());
    conformance(&store, "conformance").await;
    assert!(EdgeStore::open(&settings).unwrap_err().contains("owned by another process"));
    let err = store.create_collection("conformance", DIM + 1).await.unwrap_err();
    assert!(err.to_string().contains("dimension"), "{err}");
    drop(store);

    // Reopen: the data and the alias are still there.
    let store: Vectors = Arc::new(EdgeStore::open(&settings).unwrap());
    assert_eq!(store.count("conformance", &Filter::default()).await.unwrap(), 2);
    assert_eq!(store.alias("conformance").await.unwrap().as_deref(), Some("conformance"));
    assert!(matches!(
        store.count("missing", &Filter::default()).await,
        Err(chorus_shared::vectors::VectorError::MissingCollection(_))
    ));
    store.drop_collection("conformance").await.unwrap();
    store.drop_collection("conformance").await.unwrap();
}

/// A client of the suite's Qdrant server whose names carry a fresh prefix.
async fn server_store() -> Option<Vectors> {
    if chorus_tests::Engine::Server.skipped("the vector store conformance suite") {
        return None;
    }
    let prefix = format!("t{}-", &Uuid::new_v4().simple().to_string()[..12]);
    let settings = VectorSettings { url: chorus_tests::qdrant_url()?, prefix, ..VectorSettings::default() };
    Some(Arc::new(QdrantStore::connect(&settings).await.unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qdrant_server_conforms() {
    let Some(store) = server_store().await else { return };
    conformance(&store, "conformed").await;
    let err = store.create_collection("conformed", DIM + 1).await.unwrap_err();
    assert!(err.to_string().contains("dimension"), "{err}");
    assert!(matches!(
        store.count("missing", &Filter::default()).await,
        Err(chorus_shared::vectors::VectorError::MissingCollection(_))
    ));
    store.drop_collection("conformed").await.unwrap();
    store.drop_collection("conformed").await.unwrap();
}

/// Workers that start together all create the collection, its indexes and
/// the alias at the same moment: every one of them must succeed. Another
/// prefix is another deployment, which sees none of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_calls_on_a_server_are_idempotent_under_concurrency_and_prefixes_separate() {
    let Some(store) = server_store().await else { return };
    let racers = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            store.create_collection("raced", DIM).await?;
            store.set_alias("raced-alias", "raced").await
        })
    });
    for r in futures::future::join_all(racers).await {
        r.unwrap().expect("a concurrent create is not an error");
    }
    assert_eq!(store.alias("raced-alias").await.unwrap().as_deref(), Some("raced"));
    let (t, d) = (Uuid::new_v4(), Uuid::new_v4());
    store.upsert("raced", vec![point(t, d, 0, 0, &[])]).await.unwrap();

    let Some(other) = server_store().await else { return };
    assert!(other.alias("raced-alias").await.unwrap().is_none());
    assert!(matches!(
        other.count("raced", &Filter::default()).await,
        Err(chorus_shared::vectors::VectorError::MissingCollection(_))
    ));
    other.create_collection("raced", DIM).await.unwrap();
    assert_eq!(other.count("raced", &Filter::default()).await.unwrap(), 0);
    assert_eq!(store.count("raced", &Filter::default()).await.unwrap(), 1);
    store.drop_collection("raced").await.unwrap();
    other.drop_collection("raced").await.unwrap();
}
