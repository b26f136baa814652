//! A Qdrant server through `qdrant-client` (gRPC), used when `vectors.url`
//! or `QDRANT_URL` is set. The server is shared, so any worker may consume
//! any queue; Qdrant's own aliases name the live collection.
//!
//! Many workers start at once against one server, so every schema call is
//! idempotent under concurrency: a collection that another worker created
//! a moment earlier is accepted when its dimension matches, payload indexes
//! may be created twice, and an alias is re-pointed in one call. Every
//! collection and alias name carries `vectors.prefix`, so deployments (or
//! test runs) can share one server.

use qdrant_client::qdrant::{
    point_id::PointIdOptions, Condition, CountPointsBuilder, CreateAliasBuilder, CreateCollectionBuilder,
    CreateFieldIndexCollectionBuilder, DeletePointsBuilder, Distance, FieldType, KeywordIndexParamsBuilder, PointId,
    PointStruct, PointsIdsList, QueryPointsBuilder, Range, ScrollPointsBuilder, UpsertPointsBuilder,
    VectorParamsBuilder,
};
use qdrant_client::{Payload, Qdrant};
use serde_json::Value;
use uuid::Uuid;

use super::{Filter, Page, Point, PointPayload, ScoredPoint, VectorError, VectorResult, VectorStore};
use crate::config::VectorSettings;

/// A client of one Qdrant server.
pub struct QdrantStore {
    client: Qdrant,
    prefix: String,
}

impl std::fmt::Debug for QdrantStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QdrantStore").finish_non_exhaustive()
    }
}

fn engine(e: impl std::fmt::Display) -> VectorError {
    VectorError::Engine(e.to_string())
}

/// A point operation's error on `collection`: the server's "not found" is
/// [`VectorError::MissingCollection`], as on the embedded engine.
fn on(collection: &str) -> impl FnOnce(qdrant_client::QdrantError) -> VectorError + '_ {
    move |e| match &e {
        qdrant_client::QdrantError::ResponseError { status } if status.code() == tonic::Code::NotFound => {
            VectorError::MissingCollection(collection.to_string())
        }
        _ => engine(e),
    }
}

fn filter(f: &Filter) -> VectorResult<qdrant_client::qdrant::Filter> {
    let mut must = Vec::new();
    if let Some(t) = f.tenant_id {
        must.push(Condition::matches("tenant_id", t.to_string()));
    }
    if let Some(ids) = &f.document_ids {
        must.push(Condition::matches("document_id", ids.iter().map(Uuid::to_string).collect::<Vec<_>>()));
    }
    if !f.tags.is_empty() {
        must.push(Condition::matches("tags", f.tags.clone()));
    }
    for (k, v) in &f.metadata {
        let key = format!("metadata.{k}");
        must.push(match v {
            Value::String(s) => Condition::matches(key, s.clone()),
            Value::Bool(b) => Condition::matches(key, *b),
            Value::Number(n) if n.is_i64() => Condition::matches(key, n.as_i64().unwrap_or_default()),
            other => return Err(engine(format!("metadata filter {k} = {other} is not a string, integer or boolean"))),
        });
    }
    if let Some(n) = f.min_ordinal {
        must.push(Condition::range("ordinal", Range { gte: Some(n as f64), ..Default::default() }));
    }
    Ok(qdrant_client::qdrant::Filter::must(must))
}

fn uuid_of(id: Option<PointId>) -> Option<Uuid> {
    match id?.point_id_options? {
        PointIdOptions::Uuid(s) => s.parse().ok(),
        PointIdOptions::Num(_) => None,
    }
}

fn payload_from(map: std::collections::HashMap<String, qdrant_client::qdrant::Value>) -> Option<PointPayload> {
    serde_json::from_value(Value::from(Payload::from(map))).ok()
}

impl QdrantStore {
    /// Connects and checks the server answers.
    pub async fn connect(s: &VectorSettings) -> anyhow::Result<Self> {
        let mut builder = Qdrant::from_url(&s.url).skip_compatibility_check();
        if !s.api_key.is_empty() {
            builder = builder.api_key(s.api_key.clone());
        }
        let client = builder.build().map_err(|e| anyhow::anyhow!("Qdrant at {}: {e}", s.url))?;
        client.health_check().await.map_err(|e| anyhow::anyhow!("Qdrant at {} does not answer: {e}", s.url))?;
        Ok(Self { client, prefix: s.prefix.clone() })
    }

    /// The server's name for our collection or alias `name`.
    fn named(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The vector size of collection `name` (a server name), if it exists.
    async fn dimension_of(&self, name: &str) -> VectorResult<Option<u64>> {
        use qdrant_client::qdrant::vectors_config::Config;
        let info = match self.client.collection_info(name).await.map_err(on(name)) {
            Ok(info) => info,
            Err(VectorError::MissingCollection(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let size = info
            .result
            .and_then(|r| r.config)
            .and_then(|c| c.params)
            .and_then(|p| p.vectors_config)
            .and_then(|v| v.config)
            .and_then(|c| match c {
                Config::Params(p) => Some(p.size),
                Config::ParamsMap(_) => None,
            });
        Ok(Some(size.unwrap_or_default()))
    }

    /// Accepts an existing collection of `dimension`, refuses another.
    fn check_dimension(name: &str, found: u64, dimension: usize) -> VectorResult<()> {
        if found == dimension as u64 {
            return Ok(());
        }
        Err(engine(format!("collection {name} exists with dimension {found}, not {dimension}")))
    }
}

#[async_trait::async_trait]
impl VectorStore for QdrantStore {
    fn engine(&self) -> &'static str {
        "qdrant"
    }

    async fn create_collection(&self, name: &str, dimension: usize) -> VectorResult<()> {
        let name = &self.named(name);
        match self.dimension_of(name).await? {
            Some(found) => Self::check_dimension(name, found, dimension)?,
            None => {
                let created = self
                    .client
                    .create_collection(
                        CreateCollectionBuilder::new(name)
                            .vectors_config(VectorParamsBuilder::new(dimension as u64, Distance::Cosine)),
                    )
                    .await;
                if let Err(e) = created {
                    // Another worker created it between our check and our
                    // call: fine if it is the same shape.
                    let found = self.dimension_of(name).await?.ok_or_else(|| engine(e))?;
                    Self::check_dimension(name, found, dimension)?;
                }
            }
        }
        // Creating an index that exists is a no-op on the server, so a
        // worker that died half way through finishes the job here.
        self.client
            .create_field_index(
                CreateFieldIndexCollectionBuilder::new(name, "tenant_id", FieldType::Keyword)
                    .field_index_params(KeywordIndexParamsBuilder::default().is_tenant(true))
                    .wait(true),
            )
            .await
            .map_err(engine)?;
        for (field, kind) in
            [("document_id", FieldType::Keyword), ("tags", FieldType::Keyword), ("ordinal", FieldType::Integer)]
        {
            self.client
                .create_field_index(CreateFieldIndexCollectionBuilder::new(name, field, kind).wait(true))
                .await
                .map_err(engine)?;
        }
        Ok(())
    }

    async fn drop_collection(&self, name: &str) -> VectorResult<()> {
        let name = self.named(name);
        if self.client.collection_exists(&name).await.map_err(engine)? {
            // Deleting a collection that is already gone answers `false`,
            // not an error, so two workers may race here.
            self.client.delete_collection(&name).await.map_err(engine)?;
        }
        Ok(())
    }

    async fn set_alias(&self, alias: &str, collection: &str) -> VectorResult<()> {
        // Creating an alias that exists re-points it, atomically.
        self.client
            .create_alias(CreateAliasBuilder::new(self.named(collection), self.named(alias)))
            .await
            .map_err(engine)?;
        Ok(())
    }

    async fn alias(&self, alias: &str) -> VectorResult<Option<String>> {
        let all = self.client.list_aliases().await.map_err(engine)?;
        let alias = self.named(alias);
        Ok(all
            .aliases
            .into_iter()
            .find(|a| a.alias_name == alias)
            .map(|a| a.collection_name.strip_prefix(&self.prefix).unwrap_or(&a.collection_name).to_string()))
    }

    async fn upsert(&self, collection: &str, points: Vec<Point>) -> VectorResult<()> {
        if points.is_empty() {
            return Ok(());
        }
        let points = points
            .into_iter()
            .map(|p| {
                let payload = Payload::try_from(serde_json::to_value(&p.payload).map_err(engine)?).map_err(engine)?;
                Ok(PointStruct::new(p.id.to_string(), p.vector, payload))
            })
            .collect::<VectorResult<Vec<_>>>()?;
        self.client
            .upsert_points(UpsertPointsBuilder::new(self.named(collection), points).wait(true))
            .await
            .map_err(on(collection))?;
        Ok(())
    }

    async fn search(
        &self,
        collection: &str,
        vector: Vec<f32>,
        f: &Filter,
        limit: usize,
    ) -> VectorResult<Vec<ScoredPoint>> {
        let response = self
            .client
            .query(
                QueryPointsBuilder::new(self.named(collection))
                    .query(vector)
                    .filter(filter(f)?)
                    .limit(limit as u64)
                    .with_payload(true),
            )
            .await
            .map_err(on(collection))?;
        Ok(response
            .result
            .into_iter()
            .filter_map(|p| Some(ScoredPoint { id: uuid_of(p.id)?, score: p.score, payload: payload_from(p.payload)? }))
            .collect())
    }

    async fn delete(&self, collection: &str, f: &Filter) -> VectorResult<()> {
        self.client
            .delete_points(DeletePointsBuilder::new(self.named(collection)).points(filter(f)?).wait(true))
            .await
            .map_err(on(collection))?;
        Ok(())
    }

    async fn delete_ids(&self, collection: &str, ids: Vec<Uuid>) -> VectorResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<PointId> = ids.iter().map(|id| PointId::from(id.to_string())).collect();
        self.client
            .delete_points(DeletePointsBuilder::new(self.named(collection)).points(PointsIdsList { ids }).wait(true))
            .await
            .map_err(on(collection))?;
        Ok(())
    }

    async fn count(&self, collection: &str, f: &Filter) -> VectorResult<usize> {
        let response = self
            .client
            .count(CountPointsBuilder::new(self.named(collection)).filter(filter(f)?).exact(true))
            .await
            .map_err(on(collection))?;
        Ok(response.result.map(|r| r.count as usize).unwrap_or(0))
    }

    async fn scroll(&self, collection: &str, from: Option<Uuid>, limit: usize) -> VectorResult<Page> {
        let mut request =
            ScrollPointsBuilder::new(self.named(collection)).limit(limit.max(1) as u32).with_payload(true);
        if let Some(from) = from {
            request = request.offset(from.to_string());
        }
        let response = self.client.scroll(request).await.map_err(on(collection))?;
        let points =
            response.result.into_iter().filter_map(|r| Some((uuid_of(r.id)?, payload_from(r.payload)?))).collect();
        Ok(Page { points, next: uuid_of(response.next_page_offset) })
    }

    async fn maintain(&self) -> VectorResult<bool> {
        // The server runs its own optimizers.
        Ok(false)
    }
}
