//! Language-model providers: one trait over our own types, with streaming
//! and non-streaming calls, and an adapter per wire format:
//!
//! - [`openai`]: OpenAI-compatible chat completions (OpenAI, Groq, Together,
//!   vLLM, Ollama, llama.cpp: the local default);
//! - [`anthropic`]: the Anthropic Messages API;
//! - [`gemini`]: Google Gemini `generateContent`.
//!
//! [`sse`] reads Server-Sent Events bodies for all three. Which provider
//! serves which model, and at what price, is configuration ([`registry`]).

pub mod anthropic;
pub mod catalog;
pub mod context;
pub mod gemini;
pub mod modes;
pub mod openai;
pub mod registry;
pub mod sse;
pub mod tokens;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    System,
    User,
    Assistant,
    /// A tool's result, answering one of the assistant's tool calls.
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
    /// The tools an assistant message asks for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The call a `tool` message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self { role, content: content.into(), tool_calls: Vec::new(), tool_call_id: None }
    }

    /// The assistant's turn that asked for `calls`.
    pub fn calling(content: impl Into<String>, calls: Vec<ToolCall>) -> Self {
        Self { tool_calls: calls, ..Self::new(Role::Assistant, content) }
    }

    /// A tool's answer to call `id`.
    pub fn tool_result(id: impl Into<String>, content: impl Into<String>) -> Self {
        Self { tool_call_id: Some(id.into()), ..Self::new(Role::Tool, content) }
    }
}

/// A model's request to run a tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id of the call, echoed with the result.
    pub id: String,
    /// The tool's name on the wire (see [`ToolDef`]).
    pub name: String,
    pub arguments: serde_json::Value,
}

/// A tool offered to the model. Names on the wire are `[a-zA-Z0-9_-]`, so
/// the caller maps registry names (`mcp.server.tool`) to and from them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDef {
    pub name: String,
    pub description: String,
    pub parameters: serde_json::Value,
}

/// Whether and which tool the model must call (OpenAI's `tool_choice`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// No tool.
    None,
    /// Some tool.
    Required,
    /// This tool.
    Function(String),
}

/// Parses a tool call's arguments as the provider sent them (a JSON text);
/// text that is not a JSON object is kept as `{"_unparsed": text}` so that
/// the schema check refuses it with a message the model can act on.
pub fn parse_arguments(text: &str) -> serde_json::Value {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        _ if text.trim().is_empty() => serde_json::json!({}),
        _ => serde_json::json!({ "_unparsed": text }),
    }
}

/// A completion request, in the provider's model name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    /// Tools the model may call (none: a plain completion).
    pub tools: Vec<ToolDef>,
    /// Which tool it must call; `None`: the provider's default.
    pub tool_choice: Option<ToolChoice>,
}

/// Tokens a call used, as the provider counted them (or as estimated).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// A finished completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub content: String,
    /// `stop`, `length`, … as the provider said, normalised to OpenAI's words.
    pub finish_reason: String,
    /// `None` when the provider reported no usage.
    pub usage: Option<Usage>,
    /// Tools the model asks for (`finish_reason` is then `tool_calls`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
}

/// How a provider call failed. `retryable` ones may succeed later.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    #[error("rate limited (retry after {retry_after:?})")]
    RateLimited { retry_after: Option<Duration> },
    #[error("provider error {status}: {message}")]
    Server { status: u16, message: String },
    #[error("request refused {status}: {message}")]
    Client { status: u16, message: String },
    #[error("timed out")]
    Timeout,
    #[error("transport: {0}")]
    Transport(String),
    #[error("unreadable response: {0}")]
    Decode(String),
    #[error("circuit open for provider {0}")]
    CircuitOpen(String),
}

impl ProviderError {
    /// A stable code for jobs, metrics and the usage table.
    pub fn code(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "llm_rate_limited",
            Self::Server { .. } => "llm_server_error",
            Self::Client { .. } => "llm_request_refused",
            Self::Timeout => "llm_timeout",
            Self::Transport(_) => "llm_unreachable",
            Self::Decode(_) => "llm_bad_response",
            Self::CircuitOpen(_) => "llm_circuit_open",
        }
    }

    /// Whether another attempt (here or on a fallback) may succeed.
    pub fn retryable(&self) -> bool {
        !matches!(self, Self::Client { .. })
    }

    /// From a non-2xx HTTP answer: 429 (with `Retry-After` seconds), 5xx, or
    /// another refusal; the message is the provider's error text if any.
    pub fn from_status(status: u16, retry_after: Option<&str>, body: &str) -> Self {
        let message = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| {
                let e = v.get("error").cloned().unwrap_or(v);
                e.get("message").and_then(|m| m.as_str()).map(String::from).or_else(|| e.as_str().map(String::from))
            })
            .unwrap_or_else(|| body.chars().take(300).collect());
        match status {
            429 => Self::RateLimited { retry_after: retry_after.and_then(parse_retry_after) },
            500..=599 => Self::Server { status, message },
            _ => Self::Client { status, message },
        }
    }

    pub fn from_reqwest(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            Self::Timeout
        } else if e.is_decode() {
            Self::Decode(e.to_string())
        } else {
            Self::Transport(e.to_string())
        }
    }
}

/// Receives streamed text as it arrives.
pub type OnToken<'a> = &'a mut (dyn FnMut(&str) + Send);

/// One provider: a wire format at a base URL with a key.
#[async_trait::async_trait]
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// The configured provider name.
    fn name(&self) -> &str;
    /// Where and with which key it is reached.
    fn endpoint(&self) -> &Endpoint;
    /// One completion, whole.
    async fn complete(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError>;
    /// One completion, calling `on_token` with each piece of text as the
    /// provider sends it; returns the whole.
    async fn stream(&self, req: &ChatRequest, on_token: OnToken<'_>) -> Result<ChatResponse, ProviderError>;
}

/// Where and how a provider is reached: what every adapter holds.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub name: String,
    pub base_url: String,
    pub api_key: String,
    pub timeout: Duration,
    http: reqwest::Client,
}

impl Endpoint {
    /// Who answers: the base URL and a hash of the key. Two tenants'
    /// providers of the same name are told apart by it (the answer cache
    /// is keyed by it); the same upstream with the same key is one.
    pub fn identity(&self) -> String {
        let digest = Sha256::digest(format!("{}\n{}", self.base_url, self.api_key).as_bytes());
        hex::encode(digest)
    }

    /// A provider's endpoint. With `resolver` (a tenant's own provider),
    /// every connection resolves the host through it: the SSRF guard after
    /// DNS, each time. No proxy from the environment is ever used.
    pub fn new(
        name: &str,
        base_url: &str,
        api_key: &str,
        timeout: Duration,
        resolver: Option<std::sync::Arc<dyn reqwest::dns::Resolve>>,
    ) -> Self {
        let mut http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(5));
        if let Some(r) = resolver {
            http = http.dns_resolver2(r);
        }
        let http = http.build().expect("http client");
        Self {
            name: name.into(),
            base_url: base_url.trim_end_matches('/').into(),
            api_key: api_key.into(),
            timeout,
            http,
        }
    }

    /// POSTs `body` as JSON to `{base_url}{path}` with `headers`; a non-2xx
    /// answer becomes the matching [`ProviderError`].
    pub async fn post(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> Result<reqwest::Response, ProviderError> {
        let mut request = self.http.post(format!("{}{path}", self.base_url)).timeout(self.timeout).json(body);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.map_err(ProviderError::from_reqwest)?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(String::from);
        let text = response.text().await.unwrap_or_default();
        Err(ProviderError::from_status(status, retry_after.as_deref(), &text))
    }
}

/// Longest `Retry-After` honoured; a provider asking for more is waited on
/// this long at most.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A `Retry-After` of seconds (fractions allowed): negative, not-a-number
/// and infinite values are ignored, large ones capped at
/// [`MAX_RETRY_AFTER`]. Any string is safe.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs = value.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0)?;
    Some(Duration::try_from_secs_f64(secs).unwrap_or(MAX_RETRY_AFTER).min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod retry_after_tests {
    use super::*;

    #[test]
    fn any_retry_after_is_safe() {
        for bad in ["-1", "NaN", "inf", "-inf", "1e400", "", "soon"] {
            let e = ProviderError::from_status(429, Some(bad), "");
            let ProviderError::RateLimited { retry_after } = e else { panic!("{bad}: {e:?}") };
            assert!(retry_after.is_none_or(|d| d <= MAX_RETRY_AFTER), "{bad}: {retry_after:?}");
        }
        assert_eq!(parse_retry_after("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_retry_after("1e12"), Some(MAX_RETRY_AFTER));
    }
}
