//! Chunks into vectors: embed a document's chunks (through the cache) and
//! write them to every write target (the live collection, and the one a
//! reindex builds), or remove a document's vectors. Point ids are chunk
//! ids, and chunk ids are derived from (document, position), so writing a
//! document again replaces its points instead of adding copies.

use std::sync::Arc;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::{chunks as c, document_tags as dt, documents as d, tags as t};
use crate::error::{ErrorCode, ServiceError, ServiceResult};
use crate::vectors::catalog::{self, Collection};
use crate::vectors::{Filter, Point, PointPayload, Vectors};
use crate::Ctx;

/// The id of a document's chunk at `ordinal` (stable across reprocessing).
pub fn chunk_id(document_id: Uuid, ordinal: i32) -> Uuid {
    Uuid::new_v5(&document_id, &ordinal.to_be_bytes())
}

/// What a document's points carry besides the chunk.
async fn base_payload(conn: &mut AsyncPgConnection, tenant: Uuid, doc: Uuid) -> ServiceResult<Option<PointPayload>> {
    let meta: Option<serde_json::Value> = d::table
        .filter(d::id.eq(doc))
        .filter(d::tenant_id.eq(tenant))
        .select(d::metadata)
        .first(conn)
        .await
        .optional()?;
    let Some(meta) = meta else { return Ok(None) };
    let tags: Vec<String> =
        dt::table.inner_join(t::table).filter(dt::document_id.eq(doc)).select(t::name).load(conn).await?;
    let metadata = match meta {
        serde_json::Value::Object(m) => m,
        _ => Default::default(),
    };
    Ok(Some(PointPayload { tenant_id: tenant, document_id: doc, ordinal: 0, tags, metadata }))
}

/// The embedder of a collection's model.
pub async fn embedder_for(ctx: &Ctx, collection: &Collection) -> ServiceResult<Arc<crate::embed::Embedder>> {
    let e = crate::embed::load_model(&ctx.settings.embed, &collection.model_id)
        .await
        .map_err(|e| ServiceError::new(ErrorCode::Unavailable, e))?;
    if e.dimension != collection.dimension as usize {
        return Err(ServiceError::internal(format!(
            "model {} gives {} dimensions, collection {} has {}",
            e.model_id, e.dimension, collection.name, collection.dimension
        )));
    }
    Ok(e)
}

/// Writes a document's chunks into `targets`; returns how many chunks it
/// wrote (`None` if the document is gone).
pub async fn index_document(
    ctx: &Ctx,
    vectors: &Vectors,
    tenant: Uuid,
    doc: Uuid,
    targets: &[Collection],
) -> ServiceResult<Option<usize>> {
    let mut conn = ctx.pool.get().await?;
    let Some(base) = base_payload(&mut conn, tenant, doc).await? else { return Ok(None) };
    let rows: Vec<(Uuid, i32, String)> = c::table
        .filter(c::document_id.eq(doc))
        .order(c::ordinal)
        .select((c::id, c::ordinal, c::text))
        .load(&mut conn)
        .await?;
    drop(conn);
    let texts: Vec<String> = rows.iter().map(|r| r.2.clone()).collect();
    for target in targets {
        let embedder = embedder_for(ctx, target).await?;
        let (vecs, _) = super::embeddings::embed_cached(ctx, tenant, &embedder, &texts).await?;
        let points: Vec<Point> = rows
            .iter()
            .zip(vecs)
            .map(|((id, ordinal, _), vector)| Point {
                id: *id,
                vector,
                payload: PointPayload { ordinal: *ordinal as i64, ..base.clone() },
            })
            .collect();
        for batch in points.chunks(256) {
            vectors.upsert(&target.name, batch.to_vec()).await.map_err(ServiceError::internal)?;
        }
        // Chunks past the new end (the document got shorter) are stale.
        let end = rows.last().map_or(0, |r| r.1 as i64 + 1);
        let stale = Filter { min_ordinal: Some(end), ..Filter::documents(tenant, vec![doc]) };
        vectors.delete(&target.name, &stale).await.map_err(ServiceError::internal)?;
    }
    Ok(Some(rows.len()))
}

/// Removes the documents' vectors from every collection that holds any.
pub async fn purge_documents(ctx: &Ctx, vectors: &Vectors, tenant: Uuid, docs: Vec<Uuid>) -> ServiceResult<()> {
    let mut conn = ctx.pool.get().await?;
    let targets = catalog::write_targets(&mut conn).await?;
    drop(conn);
    let filter = Filter::documents(tenant, docs);
    for target in targets {
        match vectors.delete(&target.name, &filter).await {
            Ok(()) | Err(crate::vectors::VectorError::MissingCollection(_)) => {}
            Err(e) => return Err(ServiceError::internal(e)),
        }
    }
    Ok(())
}

/// The collections a document's vectors go to now: every write target, or
/// the live collection (created if need be) when none is recorded yet.
pub async fn write_targets(ctx: &Ctx, vectors: &Vectors) -> ServiceResult<Vec<Collection>> {
    let mut conn = ctx.pool.get().await?;
    let mut targets = catalog::write_targets(&mut conn).await?;
    drop(conn);
    if targets.is_empty() {
        targets.push(catalog::ensure_live(&ctx.pool, &ctx.settings.embed, vectors).await?);
    }
    Ok(targets)
}

/// Documents whose chunks belong in a collection (`embedding` or
/// `ingested`), as (document, tenant), 100 at a time by id after `after`,
/// only those changed since `since` when given.
pub async fn indexable_page(
    ctx: &Ctx,
    after: Option<Uuid>,
    since: Option<chrono::DateTime<chrono::Utc>>,
) -> ServiceResult<Vec<(Uuid, Uuid)>> {
    let mut conn = ctx.pool.get().await?;
    let mut q = d::table.filter(d::status.eq_any(INDEXABLE)).select((d::id, d::tenant_id)).into_boxed();
    if let Some(after) = after {
        q = q.filter(d::id.gt(after));
    }
    if let Some(since) = since {
        q = q.filter(d::updated_at.ge(since));
    }
    Ok(q.order(d::id).limit(100).load(&mut conn).await?)
}

/// How many documents belong in a collection.
pub async fn indexable_count(ctx: &Ctx) -> ServiceResult<i64> {
    let mut conn = ctx.pool.get().await?;
    Ok(d::table.filter(d::status.eq_any(INDEXABLE)).count().get_result(&mut conn).await?)
}

const INDEXABLE: [&str; 2] = ["embedding", "ingested"];

/// Where a chunk belongs, for the reconciler.
#[derive(Debug, Clone, Copy)]
pub struct ChunkHome {
    pub document_id: Uuid,
    pub tenant_id: Uuid,
    /// Its document is `ingested`: the chunk must have a point.
    pub ingested: bool,
}

/// Every chunk in Postgres, by id.
pub async fn chunk_homes(ctx: &Ctx) -> ServiceResult<std::collections::HashMap<Uuid, ChunkHome>> {
    let mut conn = ctx.pool.get().await?;
    let rows: Vec<(Uuid, Uuid, Uuid, String)> =
        c::table.inner_join(d::table).select((c::id, c::document_id, c::tenant_id, d::status)).load(&mut conn).await?;
    Ok(rows
        .into_iter()
        .map(|(id, document_id, tenant_id, status)| {
            (id, ChunkHome { document_id, tenant_id, ingested: status == "ingested" })
        })
        .collect())
}

/// Queues a reconciliation under the `system` tenant unless one is already
/// waiting or running (the kind is unique). Returns whether it queued one.
pub async fn schedule_reconcile(ctx: &Ctx) -> ServiceResult<bool> {
    use crate::kinds::reconcile::Reconcile;
    use crate::kinds::JobArgs;
    let tenant = super::auth::ensure_tenant(&ctx.pool, "system").await?;
    let mut conn = ctx.pool.get().await?;
    let (_, queued) = crate::queue::put(&mut conn, tenant.id, &Reconcile {}, Reconcile::KIND.max_attempts).await?;
    drop(conn);
    if queued {
        super::jobs::nudge(ctx, Reconcile::KIND.queue.as_str());
    }
    Ok(queued)
}
