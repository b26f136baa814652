//! `embed_texts` (internal, queue `embed`): embeds the texts of one
//! `POST /v1/embeddings` request, through the cache.
//!
//! Idempotent: it reads and fills the (model, content hash) cache and
//! writes nothing else, so a second run embeds nothing twice.

use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{parse_payload, JobContext, JobError, KindSpec};
use crate::db::schema::embedding_cache as ec;
use crate::error::ServiceError;

pub const NAME: &str = "embed_texts";
pub const QUEUE: &str = "embed";

pub const SPEC: KindSpec = KindSpec {
    name: NAME,
    queue: QUEUE,
    default_max_attempts: 3,
    timeout: Duration::from_secs(10 * 60),
    admin_only: true,
    handles_cancel: false,
    internal: true,
    backoff: None,
    validate,
    run: |ctx, payload| Box::pin(run(ctx, payload)),
};

#[derive(Debug, Deserialize)]
struct Payload {
    input: Vec<String>,
}

fn validate(payload: &Value) -> Result<(), ServiceError> {
    parse_payload::<Payload>(payload).map(|_| ())
}

/// The cache key of a text.
pub fn content_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

async fn run(ctx: &JobContext, payload: Value) -> Result<Value, JobError> {
    let p: Payload =
        serde_json::from_value(payload).map_err(|e| JobError::permanent("invalid_payload", e.to_string()))?;
    let app = &ctx.ctx;
    let settings = app.settings.embed.clone();
    let embedder = tokio::task::spawn_blocking(move || crate::embed::load(&settings))
        .await
        .map_err(|e| JobError::retryable("embedder", e.to_string()))?
        .map_err(|e| JobError::permanent("embedder_unavailable", e))?;
    let hashes: Vec<String> = p.input.iter().map(|t| content_hash(t)).collect();
    let mut conn = app.pool.get().await.map_err(JobError::database)?;
    let cached: Vec<(String, Vec<f32>)> = ec::table
        .filter(ec::model_id.eq(&embedder.model_id))
        .filter(ec::content_hash.eq_any(&hashes))
        .select((ec::content_hash, ec::vector))
        .load(&mut conn)
        .await
        .map_err(JobError::database)?;
    let cached: std::collections::HashMap<String, Vec<f32>> = cached.into_iter().collect();
    let missing: Vec<usize> = (0..p.input.len()).filter(|i| !cached.contains_key(&hashes[*i])).collect();
    let texts: Vec<String> = missing.iter().map(|i| p.input[*i].clone()).collect();
    let model = embedder.clone();
    let fresh = tokio::task::spawn_blocking(move || model.embed(&texts))
        .await
        .map_err(|e| JobError::retryable("embedder", e.to_string()))?
        .map_err(|e| JobError::retryable("embed_failed", e))?;
    let rows: Vec<_> = missing
        .iter()
        .zip(&fresh)
        .map(|(i, v)| {
            (
                ec::model_id.eq(embedder.model_id.clone()),
                ec::content_hash.eq(hashes[*i].clone()),
                ec::vector.eq(v.clone()),
            )
        })
        .collect();
    if !rows.is_empty() {
        diesel::insert_into(ec::table)
            .values(rows)
            .on_conflict_do_nothing()
            .execute(&mut conn)
            .await
            .map_err(JobError::database)?;
    }
    let mut fresh = fresh.into_iter();
    let data: Vec<Value> = (0..p.input.len())
        .map(|i| {
            let v =
                cached.get(&hashes[i]).cloned().unwrap_or_else(|| fresh.next().expect("one vector per missing text"));
            json!({ "object": "embedding", "index": i, "embedding": v })
        })
        .collect();
    let tokens: usize = p.input.iter().map(|t| crate::knowledge::chunk::estimate_tokens(t)).sum();
    Ok(json!({
        "object": "list",
        "model": embedder.model_id,
        "dimension": embedder.dimension,
        "data": data,
        "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
        "cache": { "hits": p.input.len() - missing.len(), "misses": missing.len() },
    }))
}
