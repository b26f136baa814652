//! `POST /v1/embeddings`: an OpenAI-shaped request becomes an
//! `embed_texts` job; with `wait`, the answer comes inline when the job
//! finishes in time.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

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
pub struct EmbeddingRequest {
    pub input: Input,
    /// The configured model id; the default when absent.
    pub model: Option<String>,
}

fn invalid(message: impl Into<String>) -> ServiceError {
    ServiceError::new(ErrorCode::InvalidPayload, message).with_details(json!({ "field": "input" }))
}

/// Queues the embedding job.
pub async fn submit(ctx: &Ctx, p: &Principal, req: EmbeddingRequest) -> ServiceResult<Job> {
    p.require(Role::User, "creating embeddings")?;
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
    let payload = json!({ "input": input });
    let mut conn = ctx.pool.get().await?;
    use crate::jobs::embed_texts::{NAME, QUEUE};
    let job = super::jobs::insert_internal(
        &mut conn,
        super::jobs::InternalJob {
            tenant_id: p.tenant_id,
            kind: NAME,
            queue: QUEUE,
            payload: &payload,
            max_attempts: ctx.settings.retry.default_max_attempts,
        },
    )
    .await?;
    drop(conn);
    super::jobs::nudge(ctx, QUEUE).await;
    Ok(job)
}

/// Waits up to `wait` for a job to finish; returns it as it is then.
pub async fn wait_for(ctx: &Ctx, p: &Principal, id: Uuid, wait: Duration) -> ServiceResult<Job> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let job = super::jobs::get(ctx, p, id).await?;
        if job.status.is_terminal() || tokio::time::Instant::now() >= deadline {
            return Ok(job);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
