//! The Anthropic Messages API (`POST {base}/v1/messages`): the system
//! prompt travels apart from the turns, and streams are typed events
//! (`message_start`, `content_block_delta`, `message_delta`, `error`).

use serde_json::{json, Value};

use super::{
    parse_arguments, sse, ChatMessage, ChatRequest, ChatResponse, Endpoint, OnToken, Provider, ProviderError, Role,
    ToolCall, ToolChoice, Usage,
};

/// The API version Chorus speaks.
pub const VERSION: &str = "2023-06-01";

#[derive(Debug, Clone)]
pub struct Anthropic(Endpoint);

/// Anthropic's stop reasons in OpenAI's words.
fn finish_reason(stop: &str) -> String {
    match stop {
        "end_turn" | "stop_sequence" => "stop",
        "max_tokens" => "length",
        "tool_use" => "tool_calls",
        other => other,
    }
    .to_string()
}

impl Anthropic {
    pub fn new(endpoint: Endpoint) -> Self {
        Self(endpoint)
    }

    /// The turns in Anthropic's shape: an assistant's tool calls are
    /// `tool_use` blocks; tool results are `tool_result` blocks of a user
    /// turn (consecutive results share one, as the API requires).
    fn turns(messages: &[ChatMessage]) -> Vec<Value> {
        let mut turns: Vec<Value> = Vec::new();
        for m in messages.iter().filter(|m| m.role != Role::System) {
            match m.role {
                Role::Tool => {
                    let block = json!({ "type": "tool_result",
                        "tool_use_id": m.tool_call_id.clone().unwrap_or_default(), "content": m.content });
                    let last_is_results =
                        turns.last().is_some_and(|t| t["role"] == "user" && t["content"][0]["type"] == "tool_result");
                    match turns.last_mut() {
                        Some(last) if last_is_results => last["content"].as_array_mut().expect("blocks").push(block),
                        _ => turns.push(json!({ "role": "user", "content": [block] })),
                    }
                }
                Role::Assistant if !m.tool_calls.is_empty() => {
                    let mut blocks = Vec::new();
                    if !m.content.is_empty() {
                        blocks.push(json!({ "type": "text", "text": m.content }));
                    }
                    for c in &m.tool_calls {
                        blocks.push(json!({ "type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments }));
                    }
                    turns.push(json!({ "role": "assistant", "content": blocks }));
                }
                _ => turns.push(json!({ "role": m.role.as_str(), "content": m.content })),
            }
        }
        turns
    }

    fn body(req: &ChatRequest, stream: bool) -> Value {
        let system: Vec<&str> =
            req.messages.iter().filter(|m| m.role == Role::System).map(|m| m.content.as_str()).collect();
        let turns = Self::turns(&req.messages);
        let mut body = json!({
            "model": req.model,
            "messages": turns,
            "max_tokens": req.max_tokens.unwrap_or(1024),
            "stream": stream,
        });
        if !system.is_empty() {
            body["system"] = json!(system.join("\n\n"));
        }
        if let Some(t) = req.temperature {
            body["temperature"] = json!(t);
        }
        if !req.tools.is_empty() {
            let tools: Vec<Value> = req
                .tools
                .iter()
                .map(|t| json!({ "name": t.name, "description": t.description, "input_schema": t.parameters }))
                .collect();
            body["tools"] = json!(tools);
            if let Some(choice) = &req.tool_choice {
                body["tool_choice"] = match choice {
                    ToolChoice::Auto => json!({"type": "auto"}),
                    ToolChoice::None => json!({"type": "none"}),
                    ToolChoice::Required => json!({"type": "any"}),
                    ToolChoice::Function(name) => json!({"type": "tool", "name": name}),
                };
            }
        }
        body
    }

    async fn send(&self, body: &Value) -> Result<reqwest::Response, ProviderError> {
        // Anthropic's "overloaded" is 529: a server error like any 5xx.
        let headers = [("x-api-key", self.0.api_key.as_str()), ("anthropic-version", VERSION)];
        self.0.post("/v1/messages", &headers, body).await
    }
}

#[async_trait::async_trait]
impl Provider for Anthropic {
    fn name(&self) -> &str {
        &self.0.name
    }

    fn endpoint(&self) -> &super::Endpoint {
        &self.0
    }

    async fn complete(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let v: Value = self.send(&Self::body(req, false)).await?.json().await.map_err(ProviderError::from_reqwest)?;
        let content: String = v
            .get("content")
            .and_then(Value::as_array)
            .map(|blocks| blocks.iter().filter_map(|b| b.get("text").and_then(Value::as_str)).collect())
            .unwrap_or_default();
        let usage = v.get("usage").map(|u| Usage {
            prompt_tokens: u.get("input_tokens").and_then(Value::as_u64).unwrap_or(0) as u32,
            completion_tokens: u.get("output_tokens").and_then(Value::as_u64).unwrap_or(0) as u32,
        });
        let stop = v.get("stop_reason").and_then(Value::as_str).unwrap_or("end_turn");
        let tool_calls = v
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|b| b["type"] == "tool_use")
            .map(|b| ToolCall {
                id: b["id"].as_str().unwrap_or_default().to_string(),
                name: b["name"].as_str().unwrap_or_default().to_string(),
                arguments: b.get("input").cloned().unwrap_or(json!({})),
            })
            .collect();
        Ok(ChatResponse { content, finish_reason: finish_reason(stop), usage, tool_calls })
    }

    async fn stream(&self, req: &ChatRequest, on_token: OnToken<'_>) -> Result<ChatResponse, ProviderError> {
        let response = self.send(&Self::body(req, true)).await?;
        let (mut content, mut finish) = (String::new(), None);
        let mut usage = Usage::default();
        let mut saw_usage = false;
        // tool_use blocks by index: (id, name, the input's JSON text so far).
        let mut calls: std::collections::BTreeMap<u64, (String, String, String)> = Default::default();
        sse::each_event(response, self.0.timeout, |event, data| {
            let v = sse::json(data)?;
            let kind = if event.is_empty() || event == "message" {
                v.get("type").and_then(Value::as_str).unwrap_or("")
            } else {
                event
            };
            match kind {
                "message_start" => {
                    if let Some(n) = v.pointer("/message/usage/input_tokens").and_then(Value::as_u64) {
                        usage.prompt_tokens = n as u32;
                        saw_usage = true;
                    }
                }
                "content_block_start" => {
                    let block = &v["content_block"];
                    if block["type"] == "tool_use" {
                        let id = block["id"].as_str().unwrap_or_default().to_string();
                        let name = block["name"].as_str().unwrap_or_default().to_string();
                        calls.insert(v["index"].as_u64().unwrap_or(0), (id, name, String::new()));
                    }
                }
                "content_block_delta" => {
                    if let Some(piece) = v.pointer("/delta/text").and_then(Value::as_str) {
                        on_token(piece);
                        content.push_str(piece);
                    }
                    if let Some(json) = v.pointer("/delta/partial_json").and_then(Value::as_str) {
                        if let Some(call) = calls.get_mut(&v["index"].as_u64().unwrap_or(0)) {
                            call.2.push_str(json);
                        }
                    }
                }
                "message_delta" => {
                    if let Some(s) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                        finish = Some(finish_reason(s));
                    }
                    if let Some(n) = v.pointer("/usage/output_tokens").and_then(Value::as_u64) {
                        usage.completion_tokens = n as u32;
                        saw_usage = true;
                    }
                }
                "message_stop" => return Ok(false),
                "error" => {
                    let message = v.pointer("/error/message").and_then(Value::as_str).unwrap_or("error").to_string();
                    return Err(match v.pointer("/error/type").and_then(Value::as_str) {
                        Some("overloaded_error") | Some("api_error") => ProviderError::Server { status: 529, message },
                        Some("rate_limit_error") => ProviderError::RateLimited { retry_after: None },
                        _ => ProviderError::Client { status: 400, message },
                    });
                }
                _ => {}
            }
            Ok(true)
        })
        .await?;
        let tool_calls = calls
            .into_values()
            .map(|(id, name, input)| ToolCall { id, name, arguments: parse_arguments(&input) })
            .collect();
        Ok(ChatResponse {
            content,
            finish_reason: finish.unwrap_or_else(|| "stop".into()),
            usage: saw_usage.then_some(usage),
            tool_calls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ToolCall;

    #[test]
    fn tool_turns_take_anthropic_shapes_and_results_share_one_user_turn() {
        let calls = vec![
            ToolCall { id: "t1".into(), name: "calculator".into(), arguments: json!({"expression": "1+1"}) },
            ToolCall { id: "t2".into(), name: "current_time".into(), arguments: json!({}) },
        ];
        let messages = vec![
            ChatMessage::new(Role::System, "Be brief."),
            ChatMessage::new(Role::User, "Sum, then time?"),
            ChatMessage::calling("Let me check.", calls),
            ChatMessage::tool_result("t1", "2"),
            ChatMessage::tool_result("t2", "noon"),
        ];
        let turns = Anthropic::turns(&messages);
        assert_eq!(turns.len(), 3, "{turns:#?}");
        assert_eq!(turns[1]["content"][0], json!({"type": "text", "text": "Let me check."}));
        assert_eq!(turns[1]["content"][1]["type"], "tool_use");
        assert_eq!(turns[1]["content"][2]["input"], json!({}));
        assert_eq!(turns[2]["role"], "user");
        let ids: Vec<&str> =
            turns[2]["content"].as_array().unwrap().iter().map(|b| b["tool_use_id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["t1", "t2"]);
    }
}
