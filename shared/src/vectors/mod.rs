//! The vector store: one trait over our own types, two engines.
//!
//! - [`edge`]: the embedded default, Qdrant's engine in-process
//!   (`qdrant-edge`). One directory per collection, owned by exactly one
//!   process: the worker that consumes the vector queues `embed` and
//!   `search` ([`Queue::VECTOR`]). Chat and tools on other workers search
//!   through `search` jobs ([`crate::services::search::find`]). It sits
//!   behind the `edge` cargo feature, which only the worker (and the tests)
//!   turn on: the API never opens the store.
//! - [`qdrant`]: a Qdrant server through `qdrant-client`, used when
//!   `vectors.url` (or `QDRANT_URL`) is set; then every worker opens it and
//!   may consume any queue, and chat searches without a hop.
//!
//! Neither engine's types leave its module. [`catalog`] keeps, in Postgres,
//! which collection is live and which is being built by a reindex.

pub mod catalog;
#[cfg(feature = "edge")]
pub mod edge;
pub mod qdrant;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::config::Settings;
use crate::domain::Queue;

/// The names of the queues whose jobs read or write vectors
/// ([`Queue::VECTOR`]). With the embedded engine one process consumes all of
/// them, or none.
pub const VECTOR_QUEUES: [&str; 2] = {
    let [a, b] = Queue::VECTOR;
    [a.as_str(), b.as_str()]
};

/// The alias that names the live collection in the engine.
pub const ALIAS: &str = "chunks";

/// What the store knows about a chunk, besides its vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointPayload {
    pub tenant_id: Uuid,
    pub document_id: Uuid,
    /// The chunk's position in its document.
    pub ordinal: i64,
    /// The document's tags when the chunk was embedded.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The document's metadata when the chunk was embedded.
    #[serde(default)]
    pub metadata: serde_json::Map<String, Value>,
}

/// One chunk's vector: its id is the chunk's id.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub id: Uuid,
    pub vector: Vec<f32>,
    pub payload: PointPayload,
}

/// A search hit (cosine similarity: higher is closer).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredPoint {
    pub id: Uuid,
    pub score: f32,
    pub payload: PointPayload,
}

/// Which points an operation touches. Every field narrows; an empty filter
/// matches everything (only maintenance uses that).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub tenant_id: Option<Uuid>,
    /// Any of these documents.
    pub document_ids: Option<Vec<Uuid>>,
    /// Any of these tags.
    pub tags: Vec<String>,
    /// Every key equal to its value (strings, integers and booleans).
    pub metadata: BTreeMap<String, Value>,
    /// Chunks at this position or later.
    pub min_ordinal: Option<i64>,
}

impl Filter {
    pub fn tenant(tenant_id: Uuid) -> Self {
        Self { tenant_id: Some(tenant_id), ..Self::default() }
    }

    pub fn documents(tenant_id: Uuid, ids: Vec<Uuid>) -> Self {
        Self { tenant_id: Some(tenant_id), document_ids: Some(ids), ..Self::default() }
    }

    /// The filter in Qdrant's JSON filter language (what both engines read).
    pub fn to_qdrant_json(&self) -> Value {
        let mut must = Vec::new();
        if let Some(t) = self.tenant_id {
            must.push(json!({ "key": "tenant_id", "match": { "value": t.to_string() } }));
        }
        if let Some(ids) = &self.document_ids {
            let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
            must.push(json!({ "key": "document_id", "match": { "any": ids } }));
        }
        if !self.tags.is_empty() {
            must.push(json!({ "key": "tags", "match": { "any": self.tags } }));
        }
        for (k, v) in &self.metadata {
            must.push(json!({ "key": format!("metadata.{k}"), "match": { "value": v } }));
        }
        if let Some(n) = self.min_ordinal {
            must.push(json!({ "key": "ordinal", "range": { "gte": n } }));
        }
        json!({ "must": must })
    }
}

/// A page of point ids with their payloads (for reconciliation).
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub points: Vec<(Uuid, PointPayload)>,
    /// Where the next page starts; `None` after the last.
    pub next: Option<Uuid>,
}

/// A vector store failure.
#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    #[error("vector collection {0:?} does not exist")]
    MissingCollection(String),
    #[error("vector store: {0}")]
    Engine(String),
}

pub type VectorResult<T> = Result<T, VectorError>;

/// One vector store engine. Every write is idempotent.
#[async_trait::async_trait]
pub trait VectorStore: Send + Sync + std::fmt::Debug {
    /// `"embedded"` or `"qdrant"`.
    fn engine(&self) -> &'static str;
    /// Creates a collection of cosine vectors with its payload indexes
    /// (tenant first); does nothing if it exists with that dimension.
    async fn create_collection(&self, name: &str, dimension: usize) -> VectorResult<()>;
    /// Drops a collection; does nothing if it is gone.
    async fn drop_collection(&self, name: &str) -> VectorResult<()>;
    /// Points `alias` at `collection`.
    async fn set_alias(&self, alias: &str, collection: &str) -> VectorResult<()>;
    /// The collection `alias` points at.
    async fn alias(&self, alias: &str) -> VectorResult<Option<String>>;
    /// Inserts or replaces points by id.
    async fn upsert(&self, collection: &str, points: Vec<Point>) -> VectorResult<()>;
    /// The `limit` points nearest to `vector` among those `filter` matches.
    async fn search(
        &self,
        collection: &str,
        vector: Vec<f32>,
        filter: &Filter,
        limit: usize,
    ) -> VectorResult<Vec<ScoredPoint>>;
    /// Deletes the points `filter` matches.
    async fn delete(&self, collection: &str, filter: &Filter) -> VectorResult<()>;
    /// Deletes points by id.
    async fn delete_ids(&self, collection: &str, ids: Vec<Uuid>) -> VectorResult<()>;
    /// How many points `filter` matches (exact).
    async fn count(&self, collection: &str, filter: &Filter) -> VectorResult<usize>;
    /// A page of points in id order, starting at `from`.
    async fn scroll(&self, collection: &str, from: Option<Uuid>, limit: usize) -> VectorResult<Page>;
    /// Background upkeep between writes (the embedded engine builds its
    /// index here); returns whether it did anything.
    async fn maintain(&self) -> VectorResult<bool>;
}

/// A shared handle on the store.
pub type Vectors = Arc<dyn VectorStore>;

/// The vector queues among `queues`.
pub fn vector_queues_of(queues: &[String]) -> Vec<&'static str> {
    VECTOR_QUEUES.iter().copied().filter(|q| queues.iter().any(|x| x == q)).collect()
}

/// Checks a worker's topology and opens the store it may use: the Qdrant
/// server when one is configured (every worker), else the embedded engine
/// for the worker that consumes the vector queues, else none. Refuses, with
/// a message that says what to change, a worker that takes some vector
/// queues but not all, or a second owner of the embedded data directory.
pub async fn open_for_worker(settings: &Settings) -> anyhow::Result<Option<Vectors>> {
    let v = &settings.vectors;
    if v.is_server() {
        return Ok(Some(Arc::new(qdrant::QdrantStore::connect(v).await?)));
    }
    let taken = vector_queues_of(&settings.worker.queues);
    if taken.is_empty() {
        return Ok(None);
    }
    if taken.len() != VECTOR_QUEUES.len() {
        let missing: Vec<_> = VECTOR_QUEUES.iter().filter(|q| !taken.contains(q)).collect();
        anyhow::bail!(
            "with the embedded vector store one worker consumes all of the vector queues {VECTOR_QUEUES:?} or \
             none; this one takes {taken:?} but not {missing:?}. Add them to worker.queues, remove the others, \
             or set vectors.url (QDRANT_URL) to a Qdrant server so that any worker may take any queue"
        );
    }
    open_embedded(v)
}

#[cfg(feature = "edge")]
fn open_embedded(v: &crate::config::VectorSettings) -> anyhow::Result<Option<Vectors>> {
    let store = edge::EdgeStore::open(v).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Some(Arc::new(store)))
}

#[cfg(not(feature = "edge"))]
fn open_embedded(_: &crate::config::VectorSettings) -> anyhow::Result<Option<Vectors>> {
    anyhow::bail!(
        "this binary was built without the embedded vector engine (cargo feature `edge`); \
         set vectors.url (QDRANT_URL) to a Qdrant server, or use a worker built with the feature"
    )
}
