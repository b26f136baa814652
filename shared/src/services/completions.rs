//! OpenAI's chat completions (`POST /v1/chat/completions`) as a `chat` job,
//! so retries, fallbacks, the cache, cost caps, cost accounting and usage
//! rows all apply: the request's messages become a conversation (system
//! messages its prompt, earlier turns its history, tagged `openai`), the
//! last user message is posted to it, and the answer is the job's result
//! in OpenAI's shape — whole, or streamed as chunks of the job's tokens.

use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::conversations;
pub use super::openai_request::{prepare, CompletionRequest, Prepared};
use super::Principal;
use crate::db::models::Job;
use crate::domain::JobStatus;
use crate::error::{ErrorCode, ServiceError, ServiceResult};
use crate::Ctx;

/// How long a request waits for its answer before `completion_timeout`.
pub const WAIT: Duration = Duration::from_secs(300);

/// Checks the request and queues its `chat` job; returns the job.
pub async fn submit(ctx: &Ctx, p: &Principal, req: CompletionRequest) -> ServiceResult<Job> {
    let req = prepare(req)?;
    let conv = conversations::create(ctx, p, req.conversation("OpenAI chat completion")).await?;
    let job = Uuid::now_v7();
    let messages = req.messages(conv.id, p.tenant_id, job);
    let turn = req.job(conv.id, messages.last().expect("prepare keeps a turn to answer").id);
    conversations::queue_answer(ctx, p, conv.id, messages, job, turn).await
}

/// An ended job's code (its status when it has none) and what to tell the
/// caller.
fn failure(job: &Job) -> (String, String) {
    let code = job.error_code.clone().unwrap_or_else(|| job.status.to_string());
    (code, format!("the chat job {}: {}", job.status, job.error_message.as_deref().unwrap_or_default()))
}

/// OpenAI's answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Completion {
    /// `chatcmpl-` and the job's id.
    pub id: String,
    /// Always `chat.completion`.
    pub object: &'static str,
    /// Unix seconds.
    pub created: i64,
    pub model: String,
    pub choices: Vec<Choice>,
    pub usage: Usage,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Choice {
    pub index: u32,
    pub message: OutMessage,
    pub finish_reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OutMessage {
    /// Always `assistant`.
    pub role: &'static str,
    /// `null` when the model only called tools.
    pub content: Option<String>,
    /// The model's calls of the caller's tools.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub tool_calls: Vec<Value>,
}

/// A chat job's calls of the caller's tools in OpenAI's shape
/// (`{id, type: function, function: {name, arguments}}`, the arguments as
/// JSON text), each with its `index` when `indexed` (stream deltas).
fn tool_calls_of(result: &Value, indexed: bool) -> Vec<Value> {
    let calls = result["tool_calls"].as_array().cloned().unwrap_or_default();
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut call = json!({"id": c["id"], "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"].to_string()}});
            if indexed {
                call["index"] = json!(i);
            }
            call
        })
        .collect()
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

impl Usage {
    /// The usage of a chat job's result.
    fn of(result: &Value) -> Self {
        let count = |k: &str| result["usage"][k].as_u64().unwrap_or(0);
        let (prompt_tokens, completion_tokens) = (count("prompt_tokens"), count("completion_tokens"));
        Self { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens }
    }
}

/// Waits for the job and answers it in OpenAI's shape; a job that failed
/// is `completion_failed` (its code and message), one that runs past
/// [`WAIT`] is `completion_timeout` (it still runs, under `/v1/jobs`).
pub async fn answer(ctx: &Ctx, p: &Principal, job: &Job, model: &str) -> ServiceResult<Completion> {
    let done = super::waiting::wait_for(ctx, p, job.id, WAIT).await?;
    match done.status {
        JobStatus::Succeeded => {}
        status if status.is_terminal() => {
            let (code, message) = failure(&done);
            let http = if code == ErrorCode::CostCapReached.as_str() {
                ErrorCode::CostCapReached
            } else {
                ErrorCode::CompletionFailed
            };
            return Err(ServiceError::new(http, message).with_details(json!({"job_id": job.id, "job_error": code})));
        }
        _ => {
            return Err(ServiceError::new(ErrorCode::CompletionTimeout, "no answer yet: follow the job")
                .with_details(json!({"job_id": job.id})))
        }
    }
    Ok(completion_of(job.id, job.created_at.timestamp(), model, &done.result.unwrap_or(Value::Null)))
}

/// A `chat` job's result in OpenAI's shape.
pub fn completion_of(job: Uuid, created: i64, model: &str, result: &Value) -> Completion {
    Completion {
        id: format!("chatcmpl-{job}"),
        object: "chat.completion",
        created,
        model: model.to_string(),
        choices: vec![Choice {
            index: 0,
            message: {
                let tool_calls = tool_calls_of(result, false);
                let content = result["content"].as_str().unwrap_or_default().to_string();
                let content = (!content.is_empty() || tool_calls.is_empty()).then_some(content);
                OutMessage { role: "assistant", content, tool_calls }
            },
            finish_reason: result["finish_reason"].as_str().unwrap_or("stop").to_string(),
        }],
        usage: Usage::of(result),
    }
}

/// A streamed completion: OpenAI's `chat.completion.chunk`s in order (the
/// role, each token the job streams, what the stream missed if it began
/// after the first tokens, the finish reason, and the usage when asked),
/// or an `{"error": …}` object if the job fails; the channel closes after
/// the last (the route then sends `[DONE]`). It follows the job as
/// `GET /v1/jobs/{id}/events` does.
pub async fn chunks(
    ctx: &Ctx,
    p: &Principal,
    job: &Job,
    model: &str,
    include_usage: bool,
) -> ServiceResult<tokio::sync::mpsc::Receiver<Value>> {
    let mut events = super::events::follow(ctx, job.id, 0, p.key_id).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let (ctx, p, id, model) = (ctx.clone(), *p, job.id, model.to_string());
    let created = job.created_at.timestamp();
    tokio::spawn(async move {
        let chunk = |delta: Value, finish: Value| {
            json!({"id": format!("chatcmpl-{id}"), "object": "chat.completion.chunk", "created": created,
                "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        };
        if tx.send(chunk(json!({"role": "assistant", "content": ""}), Value::Null)).await.is_err() {
            return;
        }
        let mut streamed = String::new();
        while let Some(ev) = events.recv().await {
            if ev.kind == "token" {
                let text = ev.data["text"].as_str().unwrap_or_default();
                streamed.push_str(text);
                if tx.send(chunk(json!({"content": text}), Value::Null)).await.is_err() {
                    return;
                }
            } else if ev.status.is_some_and(|s| s.is_terminal()) {
                break;
            }
        }
        let done = match super::jobs::get(&ctx, &p, id).await {
            Ok(done) => done,
            Err(e) => {
                let _ = tx
                    .send(json!({"error": {"message": e.message, "type": "api_error", "code": e.code.as_str()}}))
                    .await;
                return;
            }
        };
        if done.status != JobStatus::Succeeded {
            let (code, message) = failure(&done);
            let _ = tx.send(json!({"error": {"message": message, "type": "api_error", "code": code}})).await;
            return;
        }
        let result = done.result.unwrap_or(Value::Null);
        let content = result["content"].as_str().unwrap_or_default();
        if let Some(rest) = content.strip_prefix(streamed.as_str()).filter(|r| !r.is_empty()) {
            let _ = tx.send(chunk(json!({"content": rest}), Value::Null)).await;
        }
        let calls = tool_calls_of(&result, true);
        if !calls.is_empty() {
            let _ = tx.send(chunk(json!({ "tool_calls": calls }), Value::Null)).await;
        }
        let finish = result["finish_reason"].as_str().unwrap_or("stop");
        let _ = tx.send(chunk(json!({}), json!(finish))).await;
        if include_usage {
            let mut last = chunk(json!({}), Value::Null);
            last["choices"] = json!([]);
            last["usage"] = json!(Usage::of(&result));
            let _ = tx.send(last).await;
        }
    });
    Ok(rx)
}
