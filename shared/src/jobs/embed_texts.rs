//! Handler of `embed_texts` ([`crate::kinds::embed_texts`]): embeds the
//! texts of one `POST /v1/embeddings` request, through the cache.
//!
//! Idempotent: it reads and fills the tenant's (model, content hash) cache and
//! writes nothing else, so a second run embeds nothing twice.

use serde_json::{json, Value};

use super::{JobContext, JobError};
use crate::kinds::embed_texts::EmbedTexts;

pub async fn run(ctx: &JobContext, p: EmbedTexts) -> Result<Value, JobError> {
    let app = &ctx.ctx;
    let embedder = crate::embed::load_model(&app.settings.embed, &app.settings.embed.model_id)
        .await
        .map_err(|e| JobError::permanent("embedder_unavailable", e))?;
    let (vectors, hits) = crate::services::embeddings::embed_cached(app, ctx.tenant_id, &embedder, &p.input).await?;
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
