//! Handler of `reconcile` ([`crate::kinds::reconcile`]; also scheduled by the vector owner
//! every `vectors.reconcile_interval_secs`): compares Postgres chunks with
//! vector points, both ways, in every collection written to. Points whose
//! chunk is gone are deleted; chunks of ingested documents without a point
//! are embedded again. Documents still being chunked or embedded are left
//! alone. It reports what it found and exports it as metrics.
//!
//! Idempotent: a second run finds nothing left to repair.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};
use uuid::Uuid;

use super::{JobContext, JobError};
use crate::kinds::reconcile::Reconcile;
use crate::services::indexing;
use crate::vectors::{catalog, Vectors};

/// Every point id of a collection.
async fn point_ids(vectors: &Vectors, collection: &str) -> Result<HashSet<Uuid>, JobError> {
    let mut ids = HashSet::new();
    let mut from = None;
    loop {
        let page = vectors.scroll(collection, from, 1_000).await?;
        ids.extend(page.points.into_iter().map(|(id, _)| id));
        match page.next {
            Some(next) => from = Some(next),
            None => return Ok(ids),
        }
    }
}

pub async fn run(ctx: &JobContext, _: Reconcile) -> Result<Value, JobError> {
    let app = &ctx.ctx;
    let vectors = app.vectors()?;
    catalog::ensure_live(&app.pool, &app.settings.embed, vectors).await?;
    let targets = indexing::write_targets(app, vectors).await?;
    let chunks = indexing::chunk_homes(app).await?;
    let metrics = &app.metrics.vector_orphans;
    let mut report = Vec::new();
    for target in &targets {
        let points = point_ids(vectors, &target.name).await?;
        let orphans: Vec<Uuid> = points.iter().filter(|id| !chunks.contains_key(id)).copied().collect();
        let mut missing_docs: HashMap<Uuid, Uuid> = HashMap::new();
        let mut missing = 0usize;
        for (id, home) in &chunks {
            if home.ingested && !points.contains(id) {
                missing += 1;
                missing_docs.insert(home.document_id, home.tenant_id);
            }
        }
        metrics.with_label_values(&["store", "found"]).inc_by(orphans.len() as u64);
        metrics.with_label_values(&["postgres", "found"]).inc_by(missing as u64);
        vectors.delete_ids(&target.name, orphans.clone()).await?;
        metrics.with_label_values(&["store", "repaired"]).inc_by(orphans.len() as u64);
        for (doc, tenant) in &missing_docs {
            indexing::index_document(app, vectors, *tenant, *doc, std::slice::from_ref(target)).await?;
        }
        metrics.with_label_values(&["postgres", "repaired"]).inc_by(missing as u64);
        report.push(json!({
            "collection": target.name,
            "points": points.len(),
            "orphan_points_deleted": orphans.len(),
            "missing_points_restored": missing,
            "documents_reindexed": missing_docs.len(),
        }));
    }
    Ok(json!({ "chunks": chunks.len(), "collections": report }))
}
