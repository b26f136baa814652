//! Handler of `reindex` ([`crate::kinds::reindex`]): moves every document's vectors to
//! another embedding model with no downtime. It builds the collection named
//! for the new model and dimension beside the live one, backfills it (with
//! progress) while new writes go to both, catches up on documents that
//! changed meanwhile, then swaps which collection is live (in Postgres, and
//! the engine's alias) and drops the old one. Searches read the live
//! collection throughout, so none fails.
//!
//! Idempotent: a retry resumes the same build (upserts by chunk id); a
//! reindex to the live model does nothing.

use chrono::Utc;
use serde_json::{json, Value};

use super::{JobContext, JobError};
use crate::domain::Progress;
use crate::kinds::reindex::Reindex;
use crate::services::indexing;
use crate::vectors::{catalog, ALIAS};

pub async fn run(ctx: &JobContext, p: Reindex) -> Result<Value, JobError> {
    let app = &ctx.ctx;
    let vectors = app.vectors()?;
    let live = catalog::ensure_live(&app.pool, &app.settings.embed, vectors).await?;
    if live.model_id == p.model {
        return Ok(json!({ "unchanged": true, "model": p.model, "collection": live.name }));
    }
    let embedder = crate::embed::load_model(&app.settings.embed, &p.model)
        .await
        .map_err(|e| JobError::permanent("unknown_model", e))?;
    let name = catalog::collection_name(&p.model, embedder.dimension);
    vectors.create_collection(&name, embedder.dimension).await?;
    let building = {
        let mut conn = app.pool.get().await.map_err(JobError::database)?;
        catalog::begin_build(&mut conn, &name, &p.model, embedder.dimension, ctx.job_id).await?
    };
    let total = indexing::indexable_count(app).await?;
    let started = Utc::now();
    let targets = std::slice::from_ref(&building);
    let (mut done, mut chunks) = (0u64, 0usize);
    // Backfill, then one catch-up pass over documents changed meanwhile
    // (writes already go to both collections; this covers any in flight).
    for since in [None, Some(started)] {
        let mut after = None;
        loop {
            let docs = indexing::indexable_page(app, after, since).await?;
            let Some(last) = docs.last() else { break };
            after = Some(last.0);
            for (doc, tenant) in docs {
                chunks += indexing::index_document(app, vectors, tenant, doc, targets).await?.unwrap_or(0);
                done += 1;
            }
            let progress = Progress {
                stage: Some(if since.is_none() { "backfill" } else { "catch-up" }.into()),
                done: done.min(total as u64),
                total: Some(total as u64),
                message: None,
            };
            ctx.report(progress).await;
        }
    }
    let retired = {
        let mut conn = app.pool.get().await.map_err(JobError::database)?;
        catalog::swap(&mut conn, &name).await?
    };
    vectors.set_alias(ALIAS, &name).await?;
    if let Some(old) = &retired {
        vectors.drop_collection(&old.name).await?;
        let mut conn = app.pool.get().await.map_err(JobError::database)?;
        catalog::forget(&mut conn, &old.name).await?;
    }
    Ok(json!({
        "model": p.model,
        "collection": name,
        "dimension": embedder.dimension,
        "documents": done,
        "chunks": chunks,
        "previous": retired.map(|c| c.name),
    }))
}
