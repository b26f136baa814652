//! A Qdrant server through `qdrant-client` (gRPC), used when `vectors.url`
//! or `QDRANT_URL` is set. The server is shared, so any worker may consume
//! any queue; Qdrant's own aliases name the live collection.

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
}

impl std::fmt::Debug for QdrantStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QdrantStore").finish_non_exhaustive()
    }
}

fn engine(e: impl std::fmt::Display) -> VectorError {
    VectorError::Engine(e.to_string())
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
        Ok(Self { client })
    }
}

#[async_trait::async_trait]
impl VectorStore for QdrantStore {
    fn engine(&self) -> &'static str {
        "qdrant"
    }

    async fn create_collection(&self, name: &str, dimension: usize) -> VectorResult<()> {
        if self.client.collection_exists(name).await.map_err(engine)? {
            return Ok(());
        }
        self.client
            .create_collection(
                CreateCollectionBuilder::new(name)
                    .vectors_config(VectorParamsBuilder::new(dimension as u64, Distance::Cosine)),
            )
            .await
            .map_err(engine)?;
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
        if self.client.collection_exists(name).await.map_err(engine)? {
            self.client.delete_collection(name).await.map_err(engine)?;
        }
        Ok(())
    }

    async fn set_alias(&self, alias: &str, collection: &str) -> VectorResult<()> {
        // Searches resolve the live collection from Postgres, so the moment
        // between these two calls is never seen by a search.
        let _ = self.client.delete_alias(alias).await;
        self.client.create_alias(CreateAliasBuilder::new(collection, alias)).await.map_err(engine)?;
        Ok(())
    }

    async fn alias(&self, alias: &str) -> VectorResult<Option<String>> {
        let all = self.client.list_aliases().await.map_err(engine)?;
        Ok(all.aliases.into_iter().find(|a| a.alias_name == alias).map(|a| a.collection_name))
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
        self.client.upsert_points(UpsertPointsBuilder::new(collection, points).wait(true)).await.map_err(engine)?;
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
                QueryPointsBuilder::new(collection)
                    .query(vector)
                    .filter(filter(f)?)
                    .limit(limit as u64)
                    .with_payload(true),
            )
            .await
            .map_err(engine)?;
        Ok(response
            .result
            .into_iter()
            .filter_map(|p| Some(ScoredPoint { id: uuid_of(p.id)?, score: p.score, payload: payload_from(p.payload)? }))
            .collect())
    }

    async fn delete(&self, collection: &str, f: &Filter) -> VectorResult<()> {
        self.client
            .delete_points(DeletePointsBuilder::new(collection).points(filter(f)?).wait(true))
            .await
            .map_err(engine)?;
        Ok(())
    }

    async fn delete_ids(&self, collection: &str, ids: Vec<Uuid>) -> VectorResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<PointId> = ids.iter().map(|id| PointId::from(id.to_string())).collect();
        self.client
            .delete_points(DeletePointsBuilder::new(collection).points(PointsIdsList { ids }).wait(true))
            .await
            .map_err(engine)?;
        Ok(())
    }

    async fn count(&self, collection: &str, f: &Filter) -> VectorResult<usize> {
        let response = self
            .client
            .count(CountPointsBuilder::new(collection).filter(filter(f)?).exact(true))
            .await
            .map_err(engine)?;
        Ok(response.result.map(|r| r.count as usize).unwrap_or(0))
    }

    async fn scroll(&self, collection: &str, from: Option<Uuid>, limit: usize) -> VectorResult<Page> {
        let mut request = ScrollPointsBuilder::new(collection).limit(limit.max(1) as u32).with_payload(true);
        if let Some(from) = from {
            request = request.offset(from.to_string());
        }
        let response = self.client.scroll(request).await.map_err(engine)?;
        let points =
            response.result.into_iter().filter_map(|r| Some((uuid_of(r.id)?, payload_from(r.payload)?))).collect();
        Ok(Page { points, next: uuid_of(response.next_page_offset) })
    }

    async fn maintain(&self) -> VectorResult<bool> {
        // The server runs its own optimizers.
        Ok(false)
    }
}
