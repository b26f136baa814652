//! OpenAI's chat completions (`POST /v1/chat/completions`) as a `chat` job,
//! so retries, fallbacks, the cache, cost caps, cost accounting and usage
//! rows all apply: the request's messages become a conversation (system
//! messages its prompt, earlier turns its history, tagged `openai`), the
//! last user message is posted to it, and the answer is the job's result
//! in OpenAI's shape — whole, or streamed as chunks of the job's tokens.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::conversations::{self, ConversationInput, PostMessage, MAX_MESSAGE_CHARS};
use super::Principal;
use crate::db::models::Job;
use crate::domain::JobStatus;
use crate::error::{ErrorCode, ServiceError, ServiceResult};
use crate::kinds::chat::GenerationSettings;
use crate::Ctx;

/// The most messages one request may carry.
const MAX_MESSAGES: usize = 256;
/// How long a request waits for its answer before `completion_timeout`.
pub const WAIT: Duration = Duration::from_secs(300);

/// A message's content: text, or OpenAI's list of parts (the text parts
/// are joined).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct Part {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
}

impl Content {
    fn text(&self) -> String {
        match self {
            Content::Text(t) => t.clone(),
            Content::Parts(parts) => {
                parts.iter().filter(|p| p.kind == "text").filter_map(|p| p.text.clone()).collect::<Vec<_>>().join("\n")
            }
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct InMessage {
    /// `system`, `developer`, `user` or `assistant`.
    pub role: String,
    pub content: Option<Content>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct StreamOptions {
    /// Send a last chunk with the usage (and no choices).
    #[serde(default)]
    pub include_usage: bool,
}

/// The body of `POST /v1/chat/completions` (fields Chorus does not use,
/// such as `user` or `seed`, are ignored, as OpenAI's SDKs send them).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CompletionRequest {
    /// A model alias the tenant may name (`GET /v1/models`).
    #[schema(min_length = 1, max_length = 200)]
    pub model: String,
    /// Oldest first; the last one (after system messages) is the user's.
    #[schema(min_items = 1, max_items = 256)]
    pub messages: Vec<InMessage>,
    /// Answer as OpenAI's server-sent `chat.completion.chunk`s, ending in
    /// `data: [DONE]`.
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    #[schema(minimum = 0, maximum = 2)]
    pub temperature: Option<f32>,
    #[schema(minimum = 1, maximum = 32768)]
    pub max_tokens: Option<u32>,
    #[schema(minimum = 1, maximum = 32768)]
    pub max_completion_tokens: Option<u32>,
    /// Not served yet: a request with tools is refused.
    pub tools: Option<Value>,
}

fn invalid(param: &str, message: impl Into<String>) -> ServiceError {
    ServiceError::new(ErrorCode::InvalidParameter, message).with_details(json!({ "field": param }))
}

/// A request taken apart: what becomes the conversation (its prompt and
/// earlier turns) and what is posted to it.
pub struct Prepared {
    pub model: String,
    pub system: String,
    /// Earlier turns, oldest first: `user` or `assistant`.
    pub history: Vec<(&'static str, String)>,
    pub question: String,
    pub settings: GenerationSettings,
}

impl Prepared {
    /// The conversation the request becomes, tagged `openai`.
    pub fn conversation(&self, title: &str) -> ConversationInput {
        ConversationInput {
            title: Some(title.into()),
            system_prompt: Some(self.system.clone()),
            models: Some(vec![self.model.clone()]),
            settings: None,
            tags: Some(vec!["openai".into()]),
        }
    }
}

/// Checks a request (a streamed one too) and takes it apart.
pub fn prepare(req: CompletionRequest) -> ServiceResult<Prepared> {
    if req.tools.as_ref().is_some_and(|t| !t.is_null()) {
        return Err(invalid("tools", "tools are not served yet on this route"));
    }
    if req.messages.is_empty() || req.messages.len() > MAX_MESSAGES {
        return Err(invalid("messages", format!("messages holds 1 to {MAX_MESSAGES} messages")));
    }
    let mut system = Vec::new();
    let mut history: Vec<(&'static str, String)> = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        let text = m.content.as_ref().map(Content::text).unwrap_or_default();
        if text.chars().count() > MAX_MESSAGE_CHARS {
            return Err(invalid(&format!("messages[{i}].content"), "a message is at most 64,000 characters"));
        }
        match m.role.as_str() {
            "system" | "developer" => system.push(text),
            "user" => history.push(("user", text)),
            "assistant" => history.push(("assistant", text)),
            other => return Err(invalid(&format!("messages[{i}].role"), format!("role {other:?} is not served"))),
        }
    }
    let Some(("user", question)) = history.pop() else {
        return Err(invalid("messages", "the last message (after system ones) must be the user's"));
    };
    if question.trim().is_empty() {
        return Err(invalid("messages", "the last user message is empty"));
    }
    let settings = GenerationSettings {
        temperature: req.temperature,
        max_tokens: req.max_completion_tokens.or(req.max_tokens),
        ..Default::default()
    };
    settings.check()?;
    Ok(Prepared { model: req.model, system: system.join("\n\n"), history, question, settings })
}

/// Checks the request and queues its `chat` job; returns the job.
pub async fn submit(ctx: &Ctx, p: &Principal, req: CompletionRequest) -> ServiceResult<Job> {
    let req = prepare(req)?;
    let conv = conversations::create(ctx, p, req.conversation("OpenAI chat completion")).await?;
    conversations::append_history(ctx, p.tenant_id, conv.id, &req.history).await?;
    let post = PostMessage {
        content: req.question,
        mode: None,
        models: None,
        judge: None,
        rounds: None,
        rag: None,
        settings: Some(req.settings),
        agent: None,
    };
    Ok(conversations::post_message(ctx, p, conv.id, post).await?.1)
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
    pub content: String,
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
            message: OutMessage {
                role: "assistant",
                content: result["content"].as_str().unwrap_or_default().to_string(),
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
