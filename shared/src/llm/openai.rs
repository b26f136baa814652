//! OpenAI-compatible chat completions (`POST {base}/chat/completions`):
//! OpenAI, Groq, Together, vLLM, Ollama and the llama.cpp server.

use serde_json::{json, Value};

use super::{
    parse_arguments, sse, ChatMessage, ChatRequest, ChatResponse, Endpoint, OnToken, Provider, ProviderError, Role,
    ToolCall, ToolChoice, Usage,
};

#[derive(Debug, Clone)]
pub struct OpenAi(Endpoint);

impl OpenAi {
    pub fn new(endpoint: Endpoint) -> Self {
        Self(endpoint)
    }

    fn message(m: &ChatMessage) -> Value {
        let mut out = json!({ "role": m.role.as_str(), "content": m.content });
        if m.role == Role::Assistant && !m.tool_calls.is_empty() {
            let calls: Vec<Value> = m
                .tool_calls
                .iter()
                .map(|c| {
                    json!({ "id": c.id, "type": "function",
                    "function": { "name": c.name, "arguments": c.arguments.to_string() } })
                })
                .collect();
            out["tool_calls"] = json!(calls);
            if m.content.is_empty() {
                out["content"] = Value::Null;
            }
        }
        if let Some(id) = &m.tool_call_id {
            out["tool_call_id"] = json!(id);
        }
        out
    }

    fn body(req: &ChatRequest, stream: bool) -> Value {
        let messages: Vec<Value> = req.messages.iter().map(Self::message).collect();
        let mut body = json!({ "model": req.model, "messages": messages, "stream": stream });
        if !req.tools.is_empty() {
            let tools: Vec<Value> = req
                .tools
                .iter()
                .map(|t| {
                    json!({ "type": "function",
                    "function": { "name": t.name, "description": t.description, "parameters": t.parameters } })
                })
                .collect();
            body["tools"] = json!(tools);
            if let Some(choice) = &req.tool_choice {
                body["tool_choice"] = match choice {
                    ToolChoice::Auto => json!("auto"),
                    ToolChoice::None => json!("none"),
                    ToolChoice::Required => json!("required"),
                    ToolChoice::Function(name) => json!({"type": "function", "function": {"name": name}}),
                };
            }
        }
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

    fn endpoint(&self) -> &super::Endpoint {
        &self.0
    }

    async fn complete(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let v: Value = self.send(&Self::body(req, false)).await?.json().await.map_err(ProviderError::from_reqwest)?;
        let choice = v.pointer("/choices/0").ok_or_else(|| ProviderError::Decode(format!("no choices in {v}")))?;
        let tool_calls = choice
            .pointer("/message/tool_calls")
            .and_then(Value::as_array)
            .map(|calls| {
                calls
                    .iter()
                    .map(|c| ToolCall {
                        id: c["id"].as_str().unwrap_or_default().to_string(),
                        name: c.pointer("/function/name").and_then(Value::as_str).unwrap_or_default().to_string(),
                        arguments: parse_arguments(
                            c.pointer("/function/arguments").and_then(Value::as_str).unwrap_or_default(),
                        ),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(ChatResponse {
            content: choice.pointer("/message/content").and_then(Value::as_str).unwrap_or_default().to_string(),
            finish_reason: choice.get("finish_reason").and_then(Value::as_str).unwrap_or("stop").to_string(),
            usage: usage_of(&v),
            tool_calls,
        })
    }

    async fn stream(&self, req: &ChatRequest, on_token: OnToken<'_>) -> Result<ChatResponse, ProviderError> {
        let response = self.send(&Self::body(req, true)).await?;
        let (mut content, mut finish, mut usage) = (String::new(), None, None);
        // Tool calls arrive in pieces keyed by index: id and name first,
        // then the arguments' JSON text in fragments.
        let mut calls: Vec<(String, String, String)> = Vec::new();
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
            for piece in v.pointer("/choices/0/delta/tool_calls").and_then(Value::as_array).into_iter().flatten() {
                let i = piece["index"].as_u64().unwrap_or(calls.len() as u64) as usize;
                if calls.len() <= i {
                    calls.resize(i + 1, Default::default());
                }
                let call = &mut calls[i];
                if let Some(id) = piece["id"].as_str() {
                    call.0 = id.to_string();
                }
                if let Some(name) = piece.pointer("/function/name").and_then(Value::as_str) {
                    call.1.push_str(name);
                }
                if let Some(args) = piece.pointer("/function/arguments").and_then(Value::as_str) {
                    call.2.push_str(args);
                }
            }
            if let Some(f) = v.pointer("/choices/0/finish_reason").and_then(Value::as_str) {
                finish = Some(f.to_string());
            }
            usage = usage_of(&v).or(usage);
            Ok(true)
        })
        .await?;
        let tool_calls = calls
            .into_iter()
            .map(|(id, name, args)| ToolCall { id, name, arguments: parse_arguments(&args) })
            .collect();
        Ok(ChatResponse { content, finish_reason: finish.unwrap_or_else(|| "stop".into()), usage, tool_calls })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_calls_and_results_take_openai_shapes() {
        let call = ToolCall { id: "call_1".into(), name: "mcp__srv__echo".into(), arguments: json!({"message": "hi"}) };
        let asked = OpenAi::message(&ChatMessage::calling("", vec![call]));
        assert_eq!(asked["content"], Value::Null);
        assert_eq!(asked["tool_calls"][0]["type"], "function");
        assert_eq!(asked["tool_calls"][0]["function"]["arguments"], r#"{"message":"hi"}"#);
        let answered = OpenAi::message(&ChatMessage::tool_result("call_1", "Echo: hi"));
        assert_eq!(answered, json!({"role": "tool", "content": "Echo: hi", "tool_call_id": "call_1"}));
    }
}
