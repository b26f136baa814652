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
        let (vecs, _) = super::embeddings::embed_cached(ctx, &embedder, &texts).await?;
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
