//! `reindex` (admin, queue `embed`): moves every document's vectors to
//! another embedding model with no downtime. It builds the collection named
//! for the new model and dimension beside the live one, backfills it (with
//! progress) while new writes go to both, catches up on documents that
//! changed meanwhile, then swaps which collection is live (in Postgres, and
//! the engine's alias) and drops the old one. Searches read the live
//! collection throughout, so none fails.
//!
//! Idempotent: a retry resumes the same build (upserts by chunk id); a
//! reindex to the live model does nothing.

use std::time::Duration;

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{parse_payload, JobContext, JobError, KindSpec};
use crate::db::schema::documents as d;
use crate::domain::Progress;
use crate::error::{ErrorCode, ServiceError};
use crate::services::indexing;
use crate::vectors::{catalog, ALIAS};

pub const NAME: &str = "reindex";
pub const QUEUE: &str = "embed";

pub const SPEC: KindSpec = KindSpec {
    name: NAME,
    queue: QUEUE,
    default_max_attempts: 3,
    timeout: Duration::from_secs(24 * 3600),
    admin_only: true,
    handles_cancel: false,
    internal: false,
    backoff: None,
    validate,
    run: |ctx, payload| Box::pin(run(ctx, payload)),
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    /// The model to move to: the configured one or `<embed.models_dir>/<model>`.
    pub model: String,
}

/// A model id names a directory: keep it plain.
pub fn valid_model_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && !id.starts_with('.')
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn validate(payload: &Value) -> Result<(), ServiceError> {
    let p = parse_payload::<Payload>(payload)?;
    if !valid_model_id(&p.model) {
        return Err(ServiceError::new(ErrorCode::UnknownModel, format!("invalid model id {:?}", p.model)));
    }
    Ok(())
}

/// Documents whose chunks belong in a collection, by id from `after`.
async fn page(
    ctx: &JobContext,
    after: Option<Uuid>,
    since: Option<chrono::DateTime<Utc>>,
) -> Result<Vec<(Uuid, Uuid)>, JobError> {
    let mut conn = ctx.ctx.pool.get().await.map_err(JobError::database)?;
    let mut q = d::table.filter(d::status.eq_any(["embedding", "ingested"])).select((d::id, d::tenant_id)).into_boxed();
    if let Some(after) = after {
        q = q.filter(d::id.gt(after));
    }
    if let Some(since) = since {
        q = q.filter(d::updated_at.ge(since));
    }
    q.order(d::id).limit(100).load(&mut conn).await.map_err(JobError::database)
}

async fn run(ctx: &JobContext, payload: Value) -> Result<Value, JobError> {
    let p: Payload =
        serde_json::from_value(payload).map_err(|e| JobError::permanent("invalid_payload", e.to_string()))?;
    let app = &ctx.ctx;
    let vectors = app.vectors()?;
    let live = catalog::ensure_live(app, vectors).await?;
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
    let total: i64 = {
        let mut conn = app.pool.get().await.map_err(JobError::database)?;
        d::table
            .filter(d::status.eq_any(["embedding", "ingested"]))
            .count()
            .get_result(&mut conn)
            .await
            .map_err(JobError::database)?
    };
    let started = Utc::now();
    let targets = std::slice::from_ref(&building);
    let (mut done, mut chunks) = (0u64, 0usize);
    // Backfill, then one catch-up pass over documents changed meanwhile
    // (writes already go to both collections; this covers any in flight).
    for since in [None, Some(started)] {
        let mut after = None;
        loop {
            let docs = page(ctx, after, since).await?;
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
