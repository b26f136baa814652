//! `reconcile` (admin, queue `embed`; also scheduled by the vector owner
//! every `vectors.reconcile_interval_secs`): compares Postgres chunks with
//! vector points, both ways, in every collection written to. Points whose
//! chunk is gone are deleted; chunks of ingested documents without a point
//! are embedded again. Documents still being chunked or embedded are left
//! alone. It reports what it found and exports it as metrics.
//!
//! Idempotent: a second run finds nothing left to repair.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{JobContext, JobError, KindSpec};
use crate::db::schema::{chunks as c, documents as d};
use crate::error::ServiceError;
use crate::services::indexing;
use crate::vectors::{catalog, Vectors};

pub const NAME: &str = "reconcile";
pub const QUEUE: &str = "embed";

pub const SPEC: KindSpec = KindSpec {
    name: NAME,
    queue: QUEUE,
    default_max_attempts: 3,
    timeout: Duration::from_secs(6 * 3600),
    admin_only: true,
    handles_cancel: false,
    internal: false,
    backoff: None,
    validate,
    run: |ctx, payload| Box::pin(run(ctx, payload)),
};

fn validate(payload: &Value) -> Result<(), ServiceError> {
    match payload {
        Value::Null => Ok(()),
        Value::Object(m) if m.is_empty() => Ok(()),
        _ => Err(ServiceError::new(crate::ErrorCode::InvalidPayload, "reconcile takes an empty payload")),
    }
}

/// Queues a reconciliation (under the `system` tenant) unless one is
/// already waiting or running.
pub async fn schedule(ctx: &crate::Ctx) -> crate::error::ServiceResult<bool> {
    use crate::db::schema::jobs as j;
    use crate::domain::JobStatus;
    let tenant = crate::services::auth::ensure_tenant(&ctx.pool, "system").await?;
    let mut conn = ctx.pool.get().await?;
    let open = [JobStatus::Queued, JobStatus::Running, JobStatus::Retrying];
    let pending: i64 =
        j::table.filter(j::kind.eq(NAME)).filter(j::status.eq_any(open)).count().get_result(&mut conn).await?;
    if pending > 0 {
        return Ok(false);
    }
    drop(conn);
    let payload = json!({});
    crate::services::jobs::queue_internal(ctx, crate::services::jobs::InternalJob::of(&SPEC, tenant.id, &payload))
        .await?;
    Ok(true)
}

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

async fn run(ctx: &JobContext, _payload: Value) -> Result<Value, JobError> {
    let app = &ctx.ctx;
    let vectors = app.vectors()?;
    catalog::ensure_live(app, vectors).await?;
    let mut conn = app.pool.get().await.map_err(JobError::database)?;
    let targets = catalog::write_targets(&mut conn).await?;
    // chunk id → (document, tenant, document status)
    let rows: Vec<(Uuid, Uuid, Uuid, String)> = c::table
        .inner_join(d::table)
        .select((c::id, c::document_id, c::tenant_id, d::status))
        .load(&mut conn)
        .await
        .map_err(JobError::database)?;
    drop(conn);
    let chunks: HashMap<Uuid, (Uuid, Uuid, bool)> =
        rows.into_iter().map(|(id, doc, tenant, status)| (id, (doc, tenant, status == "ingested"))).collect();
    let metrics = &app.metrics.vector_orphans;
    let mut report = Vec::new();
    for target in &targets {
        let points = point_ids(vectors, &target.name).await?;
        let orphans: Vec<Uuid> = points.iter().filter(|id| !chunks.contains_key(id)).copied().collect();
        let mut missing_docs: HashMap<Uuid, Uuid> = HashMap::new();
        let mut missing = 0usize;
        for (id, (doc, tenant, ingested)) in &chunks {
            if *ingested && !points.contains(id) {
                missing += 1;
                missing_docs.insert(*doc, *tenant);
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
