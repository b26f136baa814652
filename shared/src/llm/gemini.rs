//! Google Gemini `generateContent` (`POST
//! {base}/v1beta/models/{model}:generateContent`, and
//! `:streamGenerateContent?alt=sse` for streams). Turns are `user` and
//! `model`; the system prompt is `systemInstruction`.

use std::time::Duration;

use serde_json::{json, Value};

use super::{sse, ChatRequest, ChatResponse, Endpoint, OnToken, Provider, ProviderError, Role, Usage};

#[derive(Debug, Clone)]
pub struct Gemini(Endpoint);

fn finish_reason(reason: &str) -> String {
    match reason {
        "STOP" => "stop",
        "MAX_TOKENS" => "length",
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" => "content_filter",
        other => other,
    }
    .to_string()
}

/// Text, finish reason and usage of one response (or stream chunk).
fn parts(v: &Value) -> (String, Option<String>, Option<Usage>) {
    let text = v
        .pointer("/candidates/0/content/parts")
        .and_then(Value::as_array)
        .map(|ps| ps.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect())
        .unwrap_or_default();
    let finish = v.pointer("/candidates/0/finishReason").and_then(Value::as_str).map(finish_reason);
    let usage = v.get("usageMetadata").map(|u| Usage {
        prompt_tokens: u.get("promptTokenCount").and_then(Value::as_u64).unwrap_or(0) as u32,
        completion_tokens: u.get("candidatesTokenCount").and_then(Value::as_u64).unwrap_or(0) as u32,
    });
    (text, finish, usage)
}

impl Gemini {
    pub fn new(name: &str, base_url: &str, api_key: &str, timeout: Duration) -> Self {
        Self(Endpoint::new(name, base_url, api_key, timeout))
    }

    fn body(req: &ChatRequest) -> Value {
        let system: Vec<Value> =
            req.messages.iter().filter(|m| m.role == Role::System).map(|m| json!({ "text": m.content })).collect();
        let contents: Vec<Value> = req
            .messages
            .iter()
            .filter(|m| m.role != Role::System)
            .map(|m| {
                let role = if m.role == Role::Assistant { "model" } else { "user" };
                json!({ "role": role, "parts": [{ "text": m.content }] })
            })
            .collect();
        let mut config = json!({});
        if let Some(t) = req.temperature {
            config["temperature"] = json!(t);
        }
        if let Some(n) = req.max_tokens {
            config["maxOutputTokens"] = json!(n);
        }
        let mut body = json!({ "contents": contents, "generationConfig": config });
        if !system.is_empty() {
            body["systemInstruction"] = json!({ "parts": system });
        }
        body
    }

    async fn send(&self, req: &ChatRequest, method: &str) -> Result<reqwest::Response, ProviderError> {
        let path = format!("/v1beta/models/{}:{method}", req.model);
        self.0.post(&path, &[("x-goog-api-key", self.0.api_key.as_str())], &Self::body(req)).await
    }
}

#[async_trait::async_trait]
impl Provider for Gemini {
    fn name(&self) -> &str {
        &self.0.name
    }

    async fn complete(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let v: Value = self.send(req, "generateContent").await?.json().await.map_err(ProviderError::from_reqwest)?;
        let (content, finish, usage) = parts(&v);
        Ok(ChatResponse {
            content,
            finish_reason: finish.unwrap_or_else(|| "stop".into()),
            usage,
            tool_calls: Vec::new(),
        })
    }

    async fn stream(&self, req: &ChatRequest, on_token: OnToken<'_>) -> Result<ChatResponse, ProviderError> {
        let response = self.send(req, "streamGenerateContent?alt=sse").await?;
        let (mut content, mut finish, mut usage) = (String::new(), None, None);
        sse::each_event(response, self.0.timeout, |_, data| {
            let v = sse::json(data)?;
            if let Some(e) = v.get("error") {
                let message = e.get("message").and_then(Value::as_str).unwrap_or("error").to_string();
                return Err(ProviderError::Server { status: 200, message });
            }
            let (text, f, u) = parts(&v);
            if !text.is_empty() {
                on_token(&text);
                content.push_str(&text);
            }
            finish = f.or(finish.take());
            usage = u.or(usage);
            Ok(true)
        })
        .await?;
        Ok(ChatResponse {
            content,
            finish_reason: finish.unwrap_or_else(|| "stop".into()),
            usage,
            tool_calls: Vec::new(),
        })
    }
}
