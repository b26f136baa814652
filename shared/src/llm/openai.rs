//! OpenAI-compatible chat completions (`POST {base}/chat/completions`):
//! OpenAI, Groq, Together, vLLM, Ollama and the llama.cpp server.

use std::time::Duration;

use serde_json::{json, Value};

use super::{sse, ChatRequest, ChatResponse, Endpoint, OnToken, Provider, ProviderError, Usage};

#[derive(Debug, Clone)]
pub struct OpenAi(Endpoint);

impl OpenAi {
    pub fn new(name: &str, base_url: &str, api_key: &str, timeout: Duration) -> Self {
        Self(Endpoint::new(name, base_url, api_key, timeout))
    }

    fn body(req: &ChatRequest, stream: bool) -> Value {
        let messages: Vec<Value> =
            req.messages.iter().map(|m| json!({ "role": m.role.as_str(), "content": m.content })).collect();
        let mut body = json!({ "model": req.model, "messages": messages, "stream": stream });
        if let Some(t) = req.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(n) = req.max_tokens {
            body["max_tokens"] = json!(n);
        }
        if stream {
            body["stream_options"] = json!({ "include_usage": true });
        }
        body
    }

    async fn send(&self, body: &Value) -> Result<reqwest::Response, ProviderError> {
        let auth = format!("Bearer {}", self.0.api_key);
        let headers: &[(&str, &str)] = if self.0.api_key.is_empty() { &[] } else { &[("authorization", &auth)] };
        self.0.post("/chat/completions", headers, body).await
    }
}

fn usage_of(v: &Value) -> Option<Usage> {
    let u = v.get("usage").filter(|u| !u.is_null())?;
    Some(Usage {
        prompt_tokens: u.get("prompt_tokens")?.as_u64()? as u32,
        completion_tokens: u.get("completion_tokens").and_then(Value::as_u64).unwrap_or(0) as u32,
    })
}

#[async_trait::async_trait]
impl Provider for OpenAi {
    fn name(&self) -> &str {
        &self.0.name
    }

    async fn complete(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let v: Value = self.send(&Self::body(req, false)).await?.json().await.map_err(ProviderError::from_reqwest)?;
        let choice = v.pointer("/choices/0").ok_or_else(|| ProviderError::Decode(format!("no choices in {v}")))?;
        Ok(ChatResponse {
            content: choice.pointer("/message/content").and_then(Value::as_str).unwrap_or_default().to_string(),
            finish_reason: choice.get("finish_reason").and_then(Value::as_str).unwrap_or("stop").to_string(),
            usage: usage_of(&v),
        })
    }

    async fn stream(&self, req: &ChatRequest, on_token: OnToken<'_>) -> Result<ChatResponse, ProviderError> {
        let response = self.send(&Self::body(req, true)).await?;
        let (mut content, mut finish, mut usage) = (String::new(), None, None);
        sse::each_event(response, self.0.timeout, |_, data| {
            if data.trim() == "[DONE]" {
                return Ok(false);
            }
            let v = sse::json(data)?;
            if let Some(e) = v.get("error") {
                return Err(ProviderError::Server { status: 200, message: e.to_string() });
            }
            if let Some(piece) = v.pointer("/choices/0/delta/content").and_then(Value::as_str) {
                if !piece.is_empty() {
                    on_token(piece);
                    content.push_str(piece);
                }
            }
            if let Some(f) = v.pointer("/choices/0/finish_reason").and_then(Value::as_str) {
                finish = Some(f.to_string());
            }
            usage = usage_of(&v).or(usage);
            Ok(true)
        })
        .await?;
        Ok(ChatResponse { content, finish_reason: finish.unwrap_or_else(|| "stop".into()), usage })
    }
}
