//! `embed_texts` (internal, queue `embed`): embeds the texts of one
//! `POST /v1/embeddings` request, through the cache.
//!
//! Idempotent: it reads and fills the (model, content hash) cache and
//! writes nothing else, so a second run embeds nothing twice.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{parse_payload, JobContext, JobError, KindSpec};
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

async fn run(ctx: &JobContext, payload: Value) -> Result<Value, JobError> {
    let p: Payload =
        serde_json::from_value(payload).map_err(|e| JobError::permanent("invalid_payload", e.to_string()))?;
    let app = &ctx.ctx;
    let embedder = crate::embed::load_model(&app.settings.embed, &app.settings.embed.model_id)
        .await
        .map_err(|e| JobError::permanent("embedder_unavailable", e))?;
    let (vectors, hits) = crate::services::embeddings::embed_cached(app, &embedder, &p.input).await?;
    let data: Vec<Value> = vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| json!({ "object": "embedding", "index": i, "embedding": v }))
        .collect();
    let tokens: usize = p.input.iter().map(|t| crate::knowledge::chunk::estimate_tokens(t)).sum();
    Ok(json!({
        "object": "list",
        "model": embedder.model_id,
        "dimension": embedder.dimension,
        "data": data,
        "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
        "cache": { "hits": hits, "misses": p.input.len() - hits },
    }))
}
