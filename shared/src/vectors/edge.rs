//! The embedded engine: `qdrant-edge` (Qdrant's segments, WAL and HNSW
//! in-process). Its API is synchronous, so every call runs on a blocking
//! thread. One directory per collection under `vectors.path`, an
//! `aliases.json` beside them, and an `owner.lock` that one process holds
//! for as long as the store is open (the engine's WAL must have one
//! writer). Nothing is indexed until asked: collections get their payload
//! indexes on creation, and [`EdgeStore::maintain`] builds HNSW once enough
//! points were written and writes have paused.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qdrant_edge::{
    CountRequest, CreateIndex, Distance, EdgeConfigBuilder, EdgeShard, EdgeVectorParamsBuilder, FieldIndexOperations,
    NamedQuery, Payload, PointId, PointInsertOperations, PointOperations, PointStructPersisted, QueryEnum,
    ScrollRequest, SearchRequest, UpdateOperation, VectorStructPersisted, Vectors as EdgeVectors, WithPayloadInterface,
};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{Filter, Page, Point, PointPayload, ScoredPoint, VectorError, VectorResult, VectorStore};
use crate::config::VectorSettings;

/// The embedded store of one process.
pub struct EdgeStore {
    root: PathBuf,
    /// Held (locked) while the store is open.
    _owner: File,
    shards: Mutex<HashMap<String, Arc<EdgeShard>>>,
    written: AtomicUsize,
    last_write: Mutex<Instant>,
    optimizing: AtomicBool,
    optimize_min_points: usize,
    optimize_idle: Duration,
}

impl std::fmt::Debug for EdgeStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeStore").field("root", &self.root).finish_non_exhaustive()
    }
}

fn engine(e: impl std::fmt::Display) -> VectorError {
    VectorError::Engine(e.to_string())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> VectorResult<T> + Send + 'static) -> VectorResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(engine)?
}

fn filter(f: &Filter) -> VectorResult<qdrant_edge::Filter> {
    serde_json::from_value(f.to_qdrant_json()).map_err(engine)
}

fn payload_of(p: &PointPayload) -> VectorResult<Payload> {
    match serde_json::to_value(p).map_err(engine)? {
        Value::Object(map) => Ok(Payload(map)),
        other => Err(engine(format!("payload is not an object: {other}"))),
    }
}

fn point_of(id: PointId, payload: Option<Payload>) -> Option<(Uuid, PointPayload)> {
    let PointId::Uuid(id) = id else { return None };
    let payload = serde_json::from_value(Value::Object(payload?.0)).ok()?;
    Some((id, payload))
}

/// Collection names become directory names: keep them plain.
fn check_name(name: &str) -> VectorResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(engine(format!("invalid collection name {name:?}")))
    }
}

impl EdgeStore {
    /// Opens (creating) the data directory and takes its owner lock.
    pub fn open(s: &VectorSettings) -> Result<Self, String> {
        let root = PathBuf::from(&s.path);
        std::fs::create_dir_all(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        let lock_path = root.join("owner.lock");
        let mut owner = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
        if owner.try_lock().is_err() {
            let mut holder = String::new();
            let _ = owner.read_to_string(&mut holder);
            return Err(format!(
                "the embedded vector store at {} is owned by another process ({}): only one worker may consume \
                 the vector queues {:?}. Start the other workers with worker.queues without them, or set \
                 vectors.url (QDRANT_URL) to a Qdrant server to scale them out",
                root.display(),
                holder.trim(),
                super::VECTOR_QUEUES
            ));
        }
        let _ = owner
            .set_len(0)
            .and_then(|_| owner.rewind())
            .and_then(|_| write!(owner, "pid {}", std::process::id()).and_then(|_| owner.flush()));
        Ok(Self {
            root,
            _owner: owner,
            shards: Mutex::new(HashMap::new()),
            written: AtomicUsize::new(0),
            last_write: Mutex::new(Instant::now()),
            optimizing: AtomicBool::new(false),
            optimize_min_points: s.optimize_min_points,
            optimize_idle: Duration::from_millis(s.optimize_idle_ms),
        })
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The open shard of collection `name`, loading it from disk on first use.
    fn shard(&self, name: &str) -> VectorResult<Arc<EdgeShard>> {
        check_name(name)?;
        let mut shards = self.shards.lock().unwrap();
        if let Some(s) = shards.get(name) {
            return Ok(s.clone());
        }
        let dir = self.dir(name);
        if !dir.join("edge_config.json").is_file() {
            return Err(VectorError::MissingCollection(name.into()));
        }
        let shard = Arc::new(EdgeShard::load(&dir, None).map_err(engine)?);
        shards.insert(name.into(), shard.clone());
        Ok(shard)
    }

    fn aliases_path(&self) -> PathBuf {
        self.root.join("aliases.json")
    }

    fn read_aliases(path: &Path) -> VectorResult<HashMap<String, String>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(engine),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HashMap::new()),
            Err(e) => Err(engine(e)),
        }
    }

    fn wrote(&self, n: usize) {
        self.written.fetch_add(n, Ordering::Relaxed);
        *self.last_write.lock().unwrap() = Instant::now();
    }
}

fn index_ops() -> VectorResult<Vec<UpdateOperation>> {
    let fields = [
        json!({ "field_name": "tenant_id", "field_schema": { "type": "keyword", "is_tenant": true } }),
        json!({ "field_name": "document_id", "field_schema": "keyword" }),
        json!({ "field_name": "tags", "field_schema": "keyword" }),
        json!({ "field_name": "ordinal", "field_schema": "integer" }),
    ];
    fields
        .into_iter()
        .map(|f| {
            let index: CreateIndex = serde_json::from_value(f).map_err(engine)?;
            Ok(UpdateOperation::FieldIndexOperation(FieldIndexOperations::CreateIndex(index)))
        })
        .collect()
}

#[async_trait::async_trait]
impl VectorStore for EdgeStore {
    fn engine(&self) -> &'static str {
        "embedded"
    }

    async fn create_collection(&self, name: &str, dimension: usize) -> VectorResult<()> {
        check_name(name)?;
        match self.shard(name) {
            Ok(shard) => {
                let size = shard.config().vectors.get("").map(|v| v.size);
                return match size {
                    Some(d) if d == dimension => Ok(()),
                    other => Err(engine(format!("collection {name} exists with dimension {other:?}, not {dimension}"))),
                };
            }
            Err(VectorError::MissingCollection(_)) => {}
            Err(e) => return Err(e),
        }
        let dir = self.dir(name);
        let shard = blocking(move || {
            std::fs::create_dir_all(&dir).map_err(engine)?;
            let config = EdgeConfigBuilder::new()
                .vector("", EdgeVectorParamsBuilder::new(dimension, Distance::Cosine).build())
                .build();
            let shard = EdgeShard::new(&dir, config).map_err(engine)?;
            for op in index_ops()? {
                shard.update(op).map_err(engine)?;
            }
            Ok(shard)
        })
        .await?;
        self.shards.lock().unwrap().insert(name.into(), Arc::new(shard));
        Ok(())
    }

    async fn drop_collection(&self, name: &str) -> VectorResult<()> {
        check_name(name)?;
        let shard = self.shards.lock().unwrap().remove(name);
        let dir = self.dir(name);
        blocking(move || {
            drop(shard);
            match std::fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(engine(e)),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn set_alias(&self, alias: &str, collection: &str) -> VectorResult<()> {
        let path = self.aliases_path();
        let (alias, collection) = (alias.to_string(), collection.to_string());
        blocking(move || {
            let mut aliases = Self::read_aliases(&path)?;
            aliases.insert(alias, collection);
            let tmp = path.with_extension("json.tmp");
            std::fs::write(&tmp, serde_json::to_vec_pretty(&aliases).map_err(engine)?).map_err(engine)?;
            std::fs::rename(&tmp, &path).map_err(engine)
        })
        .await
    }

    async fn alias(&self, alias: &str) -> VectorResult<Option<String>> {
        let path = self.aliases_path();
        let alias = alias.to_string();
        blocking(move || Ok(Self::read_aliases(&path)?.remove(&alias))).await
    }

    async fn upsert(&self, collection: &str, points: Vec<Point>) -> VectorResult<()> {
        if points.is_empty() {
            return Ok(());
        }
        let shard = self.shard(collection)?;
        let n = points.len();
        let points = points
            .into_iter()
            .map(|p| {
                let vector: EdgeVectors = p.vector.into();
                Ok(PointStructPersisted {
                    id: PointId::Uuid(p.id),
                    vector: VectorStructPersisted::from(vector.0),
                    payload: Some(payload_of(&p.payload)?),
                })
            })
            .collect::<VectorResult<Vec<_>>>()?;
        let op =
            UpdateOperation::PointOperation(PointOperations::UpsertPoints(PointInsertOperations::PointsList(points)));
        blocking(move || shard.update(op).map_err(engine)).await?;
        self.wrote(n);
        Ok(())
    }

    async fn search(
        &self,
        collection: &str,
        vector: Vec<f32>,
        f: &Filter,
        limit: usize,
    ) -> VectorResult<Vec<ScoredPoint>> {
        let shard = self.shard(collection)?;
        let request = SearchRequest {
            query: QueryEnum::Nearest(NamedQuery::default_dense(vector)),
            filter: Some(filter(f)?),
            params: None,
            limit,
            offset: 0,
            with_payload: Some(WithPayloadInterface::Bool(true)),
            with_vector: None,
            score_threshold: None,
        };
        let hits = blocking(move || shard.search(request).map_err(engine)).await?;
        Ok(hits
            .into_iter()
            .filter_map(|h| {
                let score = h.score;
                point_of(h.id, h.payload).map(|(id, payload)| ScoredPoint { id, score, payload })
            })
            .collect())
    }

    async fn delete(&self, collection: &str, f: &Filter) -> VectorResult<()> {
        let shard = self.shard(collection)?;
        let op = UpdateOperation::PointOperation(PointOperations::DeletePointsByFilter(filter(f)?));
        blocking(move || shard.update(op).map_err(engine)).await?;
        self.wrote(0);
        Ok(())
    }

    async fn delete_ids(&self, collection: &str, ids: Vec<Uuid>) -> VectorResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let shard = self.shard(collection)?;
        let ids = ids.into_iter().map(PointId::Uuid).collect();
        let op = UpdateOperation::PointOperation(PointOperations::DeletePoints { ids });
        blocking(move || shard.update(op).map_err(engine)).await
    }

    async fn count(&self, collection: &str, f: &Filter) -> VectorResult<usize> {
        let shard = self.shard(collection)?;
        let request = CountRequest { filter: Some(filter(f)?), exact: true };
        blocking(move || shard.count(request).map_err(engine)).await
    }

    async fn scroll(&self, collection: &str, from: Option<Uuid>, limit: usize) -> VectorResult<Page> {
        let shard = self.shard(collection)?;
        let request = ScrollRequest {
            offset: from.map(PointId::Uuid),
            limit: Some(limit.max(1)),
            filter: None,
            with_payload: Some(WithPayloadInterface::Bool(true)),
            with_vector: Default::default(),
            order_by: None,
        };
        let (records, next) = blocking(move || shard.scroll(request).map_err(engine)).await?;
        let points = records.into_iter().filter_map(|r| point_of(r.id, r.payload)).collect();
        let next = next.and_then(|id| match id {
            PointId::Uuid(u) => Some(u),
            PointId::NumId(_) => None,
        });
        Ok(Page { points, next })
    }

    async fn maintain(&self) -> VectorResult<bool> {
        let due = self.written.load(Ordering::Relaxed) >= self.optimize_min_points.max(1)
            && self.last_write.lock().unwrap().elapsed() >= self.optimize_idle;
        if !due || self.optimizing.swap(true, Ordering::AcqRel) {
            return Ok(false);
        }
        self.written.store(0, Ordering::Relaxed);
        let shards: Vec<_> = self.shards.lock().unwrap().values().cloned().collect();
        let result = blocking(move || {
            let mut any = false;
            for shard in shards {
                any |= shard.optimize().map_err(engine)?;
            }
            Ok(any)
        })
        .await;
        self.optimizing.store(false, Ordering::Release);
        result
    }
}
