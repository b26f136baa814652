//! The suite's one language-model provider double: an OpenAI-compatible
//! server (wiremock) that streams chat completions in the real wire format.

use serde_json::{json, Value};
use wiremock::{Request, Respond, ResponseTemplate};

/// An OpenAI streaming body: one chunk with `text` and `finish_reason`
/// `stop`, a usage chunk when `usage` is `(prompt, completion)`, `[DONE]`.
pub fn openai_stream(text: &str, usage: Option<(u32, u32)>) -> String {
    let chunk = json!({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": "stop"}]});
    let mut body = format!("data: {chunk}\n\n");
    if let Some((prompt, completion)) = usage {
        let usage = json!({"choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion}});
        body.push_str(&format!("data: {usage}\n\n"));
    }
    body + "data: [DONE]\n\n"
}

/// A `200 text/event-stream` response carrying `body`.
pub fn event_stream(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "text/event-stream")
}

/// Answers every completion with `text` (and usage 10/5 when `usage`).
pub struct Answers {
    pub text: String,
    pub usage: bool,
}

impl Respond for Answers {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        event_stream(openai_stream(&self.text, self.usage.then_some((10, 5))))
    }
}

/// Answers "<upstream model> answer", with usage, as whichever model the
/// request names.
pub struct AsModel;

impl Respond for AsModel {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = req.body_json().unwrap();
        let text = format!("{} answer", body["model"].as_str().unwrap());
        event_stream(openai_stream(&text, Some((10, 5))))
    }
}

/// A model that calls the caller's tool `get_weather` for Paris, then,
/// given the tool's result, answers from it; it keeps every request it got.
#[derive(Default, Clone)]
pub struct WeatherCaller {
    pub seen: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

impl Respond for WeatherCaller {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = req.body_json().unwrap();
        self.seen.lock().unwrap().push(body.clone());
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        if let Some(result) = messages.iter().find(|m| m["role"] == "tool") {
            let text = format!("It is {} in Paris.", result["content"].as_str().unwrap_or_default());
            return event_stream(openai_stream(&text, Some((20, 8))));
        }
        let call = json!({"index": 0, "id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}});
        let chunk = json!({"choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": "tool_calls"}]});
        let usage = json!({"choices": [], "usage": {"prompt_tokens": 15, "completion_tokens": 6}});
        event_stream(format!("data: {chunk}\n\ndata: {usage}\n\ndata: [DONE]\n\n"))
    }
}
