//! `POST /v1/embeddings`: an OpenAI-shaped request becomes an
//! `embed_texts` job; with `wait`, the answer comes inline when the job
//! finishes in time.

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::Principal;
use crate::db::models::Job;
use crate::domain::Role;
use crate::error::{ErrorCode, ServiceError, ServiceResult};
use crate::Ctx;

/// Most texts per request, and characters per text.
pub const MAX_INPUTS: usize = 256;
pub const MAX_CHARS: usize = 32_768;

/// `input` is a string or a list of strings.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Input {
    One(String),
    Many(Vec<String>),
}

/// The body of `POST /v1/embeddings`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"input": ["refund policy", "shipping times"]}))]
pub struct EmbeddingRequest {
    #[schema(schema_with = input_schema)]
    pub input: Input,
    /// The configured model id; the default when absent.
    #[schema(min_length = 1)]
    pub model: Option<String>,
}

/// A non-blank text, or a list of 1 to `MAX_INPUTS` of them.
fn input_schema() -> utoipa::openapi::Schema {
    use crate::domain::spec::nonblank;
    let many =
        utoipa::openapi::ArrayBuilder::new().items(nonblank(MAX_CHARS)).min_items(Some(1)).max_items(Some(MAX_INPUTS));
    utoipa::openapi::Schema::OneOf(utoipa::openapi::OneOfBuilder::new().item(nonblank(MAX_CHARS)).item(many).build())
}

fn invalid(message: impl Into<String>) -> ServiceError {
    ServiceError::new(ErrorCode::InvalidPayload, message).with_details(json!({ "field": "input" }))
}

/// Queues the embedding job.
pub async fn submit(ctx: &Ctx, p: &Principal, req: EmbeddingRequest) -> ServiceResult<Job> {
    p.require(Role::User, "creating embeddings")?;
    let args = check(ctx, req)?;
    super::jobs::enqueue_with(ctx, p.tenant_id, &args, ctx.settings.retry.default_max_attempts).await
}

/// Checks a request: the job it becomes.
pub fn check(ctx: &Ctx, req: EmbeddingRequest) -> ServiceResult<crate::kinds::embed_texts::EmbedTexts> {
    let model = &ctx.settings.embed.model_id;
    if let Some(asked) = &req.model {
        if asked != model {
            return Err(ServiceError::new(ErrorCode::UnknownModel, format!("unknown model {asked:?}"))
                .with_details(json!({ "available": [model] })));
        }
    }
    let input = match req.input {
        Input::One(s) => vec![s],
        Input::Many(v) => v,
    };
    if input.is_empty() || input.len() > MAX_INPUTS {
        return Err(invalid(format!("input needs 1 to {MAX_INPUTS} texts")));
    }
    if input.iter().any(|t| t.trim().is_empty() || t.chars().count() > MAX_CHARS) {
        return Err(invalid(format!("each text must be non-empty and at most {MAX_CHARS} characters")));
    }
    Ok(crate::kinds::embed_texts::EmbedTexts { input })
}

/// Vectors of `texts` under `embedder`'s model, through `tenant`'s part of
/// the Postgres cache (by model id and content hash; a tenant never hits
/// another's entries); returns them with the number of hits.
pub async fn embed_cached(
    ctx: &Ctx,
    tenant: uuid::Uuid,
    embedder: &std::sync::Arc<crate::embed::Embedder>,
    texts: &[String],
) -> ServiceResult<(Vec<Vec<f32>>, usize)> {
    use crate::db::models::CachedEmbedding;
    use crate::db::schema::embedding_cache as ec;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    let hashes: Vec<String> = texts.iter().map(|t| content_hash(t)).collect();
    let mut conn = ctx.pool.get().await?;
    let cached: Vec<(String, Vec<f32>)> = ec::table
        .filter(ec::tenant_id.eq(tenant))
        .filter(ec::model_id.eq(&embedder.model_id))
        .filter(ec::content_hash.eq_any(&hashes))
        .select((ec::content_hash, ec::vector))
        .load(&mut conn)
        .await?;
    drop(conn);
    let cached: std::collections::HashMap<String, Vec<f32>> = cached.into_iter().collect();
    let missing: Vec<usize> = (0..texts.len()).filter(|i| !cached.contains_key(&hashes[*i])).collect();
    let fresh = if missing.is_empty() {
        Vec::new()
    } else {
        let batch: Vec<String> = missing.iter().map(|i| texts[*i].clone()).collect();
        embedder.embed_async(batch).await.map_err(|e| ServiceError::new(ErrorCode::Unavailable, e))?
    };
    if !fresh.is_empty() {
        let rows: Vec<_> = missing
            .iter()
            .zip(&fresh)
            .map(|(i, v)| CachedEmbedding {
                tenant_id: tenant,
                model_id: embedder.model_id.clone(),
                content_hash: hashes[*i].clone(),
                vector: v.clone(),
            })
            .collect();
        let mut conn = ctx.pool.get().await?;
        for batch in rows.chunks(500) {
            diesel::insert_into(ec::table).values(batch).on_conflict_do_nothing().execute(&mut conn).await?;
        }
    }
    let mut fresh = fresh.into_iter();
    let vectors = (0..texts.len())
        .map(|i| cached.get(&hashes[i]).cloned().or_else(|| fresh.next()).unwrap_or_default())
        .collect();
    Ok((vectors, texts.len() - missing.len()))
}

/// The cache key of a text.
pub fn content_hash(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}
