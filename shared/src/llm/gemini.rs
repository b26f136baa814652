//! Google Gemini `generateContent` (`POST
//! {base}/v1beta/models/{model}:generateContent`, and
//! `:streamGenerateContent?alt=sse` for streams). Turns are `user` and
//! `model`; the system prompt is `systemInstruction`. Tools are
//! `functionDeclarations` (with `parametersJsonSchema`); the model asks
//! with `functionCall` parts and gets `functionResponse` parts back. Gemini
//! gives calls no ids, so Chorus names them `<function>#<n>`.

use serde_json::{json, Value};

use super::{
    sse, ChatMessage, ChatRequest, ChatResponse, Endpoint, OnToken, Provider, ProviderError, Role, ToolCall,
    ToolChoice, Usage,
};

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

/// The `functionCall` parts of one response (or stream chunk), numbered
/// from `first`.
fn calls(v: &Value, first: usize) -> Vec<ToolCall> {
    v.pointer("/candidates/0/content/parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("functionCall"))
        .enumerate()
        .map(|(i, c)| {
            let name = c["name"].as_str().unwrap_or_default().to_string();
            ToolCall {
                id: format!("{name}#{}", first + i),
                name,
                arguments: c.get("args").cloned().unwrap_or(json!({})),
            }
        })
        .collect()
}

/// One turn in Gemini's shape: calls as `functionCall` parts, a tool's
/// result as a `functionResponse` part (named after the call it answers).
fn turn(m: &ChatMessage) -> Value {
    match m.role {
        Role::Tool => {
            let id = m.tool_call_id.clone().unwrap_or_default();
            let name = id.rsplit_once('#').map(|(n, _)| n.to_string()).unwrap_or(id);
            let response = match serde_json::from_str::<Value>(&m.content) {
                Ok(v @ Value::Object(_)) => v,
                _ => json!({ "result": m.content }),
            };
            json!({ "role": "user", "parts": [{ "functionResponse": { "name": name, "response": response } }] })
        }
        Role::Assistant if !m.tool_calls.is_empty() => {
            let mut parts: Vec<Value> = Vec::new();
            if !m.content.is_empty() {
                parts.push(json!({ "text": m.content }));
            }
            parts.extend(
                m.tool_calls.iter().map(|c| json!({ "functionCall": { "name": c.name, "args": c.arguments } })),
            );
            json!({ "role": "model", "parts": parts })
        }
        Role::Assistant => json!({ "role": "model", "parts": [{ "text": m.content }] }),
        _ => json!({ "role": "user", "parts": [{ "text": m.content }] }),
    }
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
    pub fn new(endpoint: Endpoint) -> Self {
        Self(endpoint)
    }

    fn body(req: &ChatRequest) -> Value {
        let system: Vec<Value> =
            req.messages.iter().filter(|m| m.role == Role::System).map(|m| json!({ "text": m.content })).collect();
        let contents: Vec<Value> = req.messages.iter().filter(|m| m.role != Role::System).map(turn).collect();
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
        if !req.tools.is_empty() {
            let declarations: Vec<Value> = req
                .tools
                .iter()
                .map(|t| json!({ "name": t.name, "description": t.description, "parametersJsonSchema": t.parameters }))
                .collect();
            body["tools"] = json!([{ "functionDeclarations": declarations }]);
            if let Some(choice) = &req.tool_choice {
                let config = match choice {
                    ToolChoice::Auto => json!({"mode": "AUTO"}),
                    ToolChoice::None => json!({"mode": "NONE"}),
                    ToolChoice::Required => json!({"mode": "ANY"}),
                    ToolChoice::Function(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
                };
                body["toolConfig"] = json!({ "functionCallingConfig": config });
            }
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

    fn endpoint(&self) -> &super::Endpoint {
        &self.0
    }

    async fn complete(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let v: Value = self.send(req, "generateContent").await?.json().await.map_err(ProviderError::from_reqwest)?;
        let (content, finish, usage) = parts(&v);
        let tool_calls = calls(&v, 0);
        let finish = if tool_calls.is_empty() { finish.unwrap_or_else(|| "stop".into()) } else { "tool_calls".into() };
        Ok(ChatResponse { content, finish_reason: finish, usage, tool_calls })
    }

    async fn stream(&self, req: &ChatRequest, on_token: OnToken<'_>) -> Result<ChatResponse, ProviderError> {
        let response = self.send(req, "streamGenerateContent?alt=sse").await?;
        let (mut content, mut finish, mut usage) = (String::new(), None, None);
        let mut tool_calls: Vec<ToolCall> = Vec::new();
        sse::each_event(response, self.0.timeout, |_, data| {
            let v = sse::json(data)?;
            if let Some(e) = v.get("error") {
                let message = e.get("message").and_then(Value::as_str).unwrap_or("error").to_string();
                return Err(ProviderError::Server { status: 200, message });
            }
            let (text, f, u) = parts(&v);
            tool_calls.extend(calls(&v, tool_calls.len()));
            if !text.is_empty() {
                on_token(&text);
                content.push_str(&text);
            }
            finish = f.or(finish.take());
            usage = u.or(usage);
            Ok(true)
        })
        .await?;
        let finish = if tool_calls.is_empty() { finish.unwrap_or_else(|| "stop".into()) } else { "tool_calls".into() };
        Ok(ChatResponse { content, finish_reason: finish, usage, tool_calls })
    }
}
