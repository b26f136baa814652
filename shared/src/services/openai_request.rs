//! The body of OpenAI's `POST /v1/chat/completions` (and of a batch's
//! chat lines), checked and taken apart ([`prepare`]): system messages
//! become a conversation's prompt, every other message a turn of it
//! (`user`, `assistant` with the tools it asked for, `tool` with a tool's
//! result), and the last turn, the user's or a tool's, is the one answered.
//! The caller's own `tools` and `tool_choice` go to the model as they are:
//! Chorus never runs them; the model's calls come back to the caller.

use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::conversations::{turn_of, ConversationInput, MAX_MESSAGE_CHARS};
use crate::db::models::Message;
use crate::domain::Role;
use crate::error::{ErrorCode, ServiceError, ServiceResult};
use crate::kinds::chat::{ChatTurn, GenerationSettings};
use crate::llm::{ToolCall, ToolChoice, ToolDef};

/// The most messages one request may carry, and tools it may offer.
const MAX_MESSAGES: usize = 256;
const MAX_TOOLS: usize = 128;

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
    /// `system`, `developer`, `user`, `assistant` or `tool`.
    pub role: String,
    pub content: Option<Content>,
    /// An assistant message's calls of the caller's tools.
    pub tool_calls: Option<Vec<InToolCall>>,
    /// A `tool` message: the call it answers.
    pub tool_call_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct InToolCall {
    pub id: String,
    pub function: InFunctionCall,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct InFunctionCall {
    pub name: String,
    /// JSON text, as the model wrote it.
    pub arguments: String,
}

/// One of the caller's tools: `{"type": "function", "function": {…}}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct InTool {
    #[serde(rename = "type")]
    pub kind: String,
    pub function: InFunction,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct InFunction {
    /// `[a-zA-Z0-9_-]`, 1 to 64 characters.
    pub name: String,
    pub description: Option<String>,
    /// A JSON Schema object.
    pub parameters: Option<Value>,
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
    /// Oldest first; the last one (after system messages) is the user's or
    /// a tool's.
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
    /// The caller's tools, offered to the model (never run by Chorus).
    #[schema(max_items = 128)]
    pub tools: Option<Vec<InTool>>,
    /// `auto`, `none`, `required`, or `{"type": "function", "function": {"name"}}`.
    #[schema(value_type = Object)]
    pub tool_choice: Option<Value>,
}

pub(super) fn invalid(param: &str, message: impl Into<String>) -> ServiceError {
    ServiceError::new(ErrorCode::InvalidParameter, message).with_details(json!({ "field": param }))
}

/// One turn of the conversation a request becomes.
pub struct Turn {
    pub role: &'static str,
    pub content: String,
    /// `tool_requests` (an assistant's calls) or `tool_call_id` (a tool's result).
    pub meta: Value,
}

/// A request taken apart.
pub struct Prepared {
    pub model: String,
    pub system: String,
    /// Every turn, oldest first; the last (the user's or a tool's) is answered.
    pub turns: Vec<Turn>,
    pub settings: GenerationSettings,
    pub tools: Vec<ToolDef>,
    pub tool_choice: Option<ToolChoice>,
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

    /// The turns as messages of conversation `conv`, the last one answered
    /// by the job `job`.
    pub fn messages(&self, conv: Uuid, tenant: Uuid, job: Uuid) -> Vec<Message> {
        let mut out: Vec<Message> = self
            .turns
            .iter()
            .map(|t| Message { meta: t.meta.clone(), ..turn_of(conv, tenant, t.role, t.content.clone()) })
            .collect();
        if let Some(last) = out.last_mut() {
            last.job_id = Some(job);
        }
        out
    }

    /// The `chat` job that answers `question` (the last message) of `conv`.
    pub fn job(&self, conv: Uuid, question: Uuid) -> ChatTurn {
        ChatTurn {
            conversation_id: conv,
            message_id: question,
            model: self.model.clone(),
            mode: Default::default(),
            models: vec![self.model.clone()],
            judge: None,
            rounds: None,
            rag: None,
            settings: Some(self.settings.clone()),
            agent: None,
            role: Some(Role::User),
            tools: self.tools.clone(),
            tool_choice: self.tool_choice.clone(),
        }
    }
}

fn tool_name_ok(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The caller's tools and choice, checked.
fn tools_of(req: &CompletionRequest) -> ServiceResult<(Vec<ToolDef>, Option<ToolChoice>)> {
    let tools = req.tools.clone().unwrap_or_default();
    if tools.len() > MAX_TOOLS {
        return Err(invalid("tools", format!("at most {MAX_TOOLS} tools")));
    }
    let mut defs = Vec::with_capacity(tools.len());
    for (i, t) in tools.into_iter().enumerate() {
        if t.kind != "function" || !tool_name_ok(&t.function.name) {
            let message = "a tool is {\"type\": \"function\", \"function\": {\"name\": [a-zA-Z0-9_-]{1,64}, …}}";
            return Err(invalid(&format!("tools[{i}]"), message));
        }
        let parameters = t.function.parameters.unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        if !parameters.is_object() {
            return Err(invalid(&format!("tools[{i}].function.parameters"), "parameters is a JSON Schema object"));
        }
        defs.push(ToolDef {
            name: t.function.name,
            description: t.function.description.unwrap_or_default(),
            parameters,
        });
    }
    let choice = match &req.tool_choice {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "auto" => Some(ToolChoice::Auto),
        Some(Value::String(s)) if s == "none" => Some(ToolChoice::None),
        Some(Value::String(s)) if s == "required" => Some(ToolChoice::Required),
        Some(v) => match v.pointer("/function/name").and_then(Value::as_str) {
            Some(name) if v["type"] == "function" && defs.iter().any(|d| d.name == name) => {
                Some(ToolChoice::Function(name.to_string()))
            }
            _ => return Err(invalid("tool_choice", "tool_choice is auto, none, required, or one of the tools")),
        },
    };
    if choice.is_some() && defs.is_empty() {
        return Err(invalid("tool_choice", "tool_choice needs tools"));
    }
    Ok((defs, choice))
}

/// Checks a request (a streamed one too) and takes it apart.
pub fn prepare(req: CompletionRequest) -> ServiceResult<Prepared> {
    if req.messages.is_empty() || req.messages.len() > MAX_MESSAGES {
        return Err(invalid("messages", format!("messages holds 1 to {MAX_MESSAGES} messages")));
    }
    let (tools, tool_choice) = tools_of(&req)?;
    let mut system = Vec::new();
    let mut turns = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        let text = m.content.as_ref().map(Content::text).unwrap_or_default();
        if text.chars().count() > MAX_MESSAGE_CHARS {
            return Err(invalid(&format!("messages[{i}].content"), "a message is at most 64,000 characters"));
        }
        let (role, meta) = match m.role.as_str() {
            "system" | "developer" => {
                system.push(text);
                continue;
            }
            "user" => ("user", json!({})),
            "assistant" => {
                let calls: Vec<ToolCall> = m
                    .tool_calls
                    .iter()
                    .flatten()
                    .map(|c| ToolCall {
                        id: c.id.clone(),
                        name: c.function.name.clone(),
                        arguments: crate::llm::parse_arguments(&c.function.arguments),
                    })
                    .collect();
                ("assistant", if calls.is_empty() { json!({}) } else { json!({ "tool_requests": calls }) })
            }
            "tool" => match &m.tool_call_id {
                Some(id) if !id.is_empty() && id.len() <= 256 => ("tool", json!({ "tool_call_id": id })),
                _ => return Err(invalid(&format!("messages[{i}].tool_call_id"), "a tool message names its call")),
            },
            other => return Err(invalid(&format!("messages[{i}].role"), format!("role {other:?} is not served"))),
        };
        turns.push(Turn { role, content: text, meta });
    }
    match turns.last() {
        Some(t) if t.role == "tool" => {}
        Some(t) if t.role == "user" && !t.content.trim().is_empty() => {}
        Some(t) if t.role == "user" => return Err(invalid("messages", "the last user message is empty")),
        _ => return Err(invalid("messages", "the last message (after system ones) must be the user's or a tool's")),
    }
    let settings = GenerationSettings {
        temperature: req.temperature,
        max_tokens: req.max_completion_tokens.or(req.max_tokens),
        ..Default::default()
    };
    settings.check()?;
    Ok(Prepared { model: req.model, system: system.join("\n\n"), turns, settings, tools, tool_choice })
}
