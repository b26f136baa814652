//! The function-calling loop of a chat message that names an agent: the
//! model is offered the agent's tools; when it asks for some, Chorus runs
//! each through [`crate::services::tools::execute`] (validated, cached,
//! logged, under the caller's role), feeds the results (or errors) back,
//! and asks again, until the model answers in text or the agent's step
//! limit is reached. Works with the OpenAI-compatible and Anthropic
//! tool-call formats (the adapters translate).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Value};
use uuid::Uuid;

use crate::llm::modes::{ModeResult, Sink, Step};
use crate::llm::registry::{CallOptions, Registry};
use crate::llm::{ChatMessage, ProviderError, ToolDef};
use crate::services::agents::Agent;
use crate::tools::{Caller, Tool};
use crate::Ctx;

/// The tool's name as models see it: `[a-zA-Z0-9_-]`, so `.` becomes `__`.
pub fn wire_name(name: &str) -> String {
    name.replace('.', "__")
}

/// What the loop produced: the answer and its steps, and the transcript of
/// tool calls (one entry per call, in order).
#[derive(Debug, Clone)]
pub struct AgentResult {
    pub answer: ModeResult,
    pub tool_calls: Vec<Value>,
    /// The loop stopped at the step limit without a text answer.
    pub step_limit_reached: bool,
}

/// Where the loop runs: the process, the registry, the cache and the caller.
pub struct Run<'a> {
    pub ctx: &'a Ctx,
    pub llm: &'a Registry,
    pub redis: Option<(&'a redis::aio::ConnectionManager, &'a str)>,
    pub caller: Caller,
    pub job_id: Uuid,
}

/// The text fed back to the model for one call.
fn feedback(entry: &Value, max: usize) -> String {
    let body = match entry.get("error") {
        Some(e) => json!({ "error": e }),
        None => entry.get("result").cloned().unwrap_or(Value::Null),
    };
    let mut text = body.to_string();
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(" …(truncated)");
    }
    text
}

impl Run<'_> {
    /// The agent's tools that exist now, by wire name.
    async fn tools(&self, agent: &Agent) -> Result<HashMap<String, Arc<dyn Tool>>, ProviderError> {
        let all = crate::services::tools::registry(self.ctx, self.caller.tenant_id)
            .await
            .map_err(|e| ProviderError::Transport(format!("tool registry: {}", e.message)))?;
        Ok(all
            .into_iter()
            .filter(|t| agent.tools.contains(&t.spec().name))
            .map(|t| (wire_name(&t.spec().name), t))
            .collect())
    }

    /// Runs one call the model asked for; returns its transcript entry.
    async fn call(&self, tools: &HashMap<String, Arc<dyn Tool>>, step: usize, call: &crate::llm::ToolCall) -> Value {
        let mut entry = json!({ "step": step, "call_id": call.id, "arguments": call.arguments });
        let Some(tool) = tools.get(&call.name) else {
            entry["tool"] = json!(call.name);
            entry["error"] =
                json!({ "code": "tool_not_found", "message": format!("no tool {:?} is offered", call.name) });
            return entry;
        };
        entry["tool"] = json!(tool.spec().name);
        let run = crate::services::tools::execute(
            self.ctx,
            self.caller,
            Some(self.job_id),
            tool.as_ref(),
            call.arguments.clone(),
        )
        .await;
        match run {
            Ok(execution) => {
                let done = execution.to_json(&tool.spec().name);
                for key in ["execution_id", "cache_hit", "duration_ms", "result", "error"] {
                    if let Some(v) = done.get(key) {
                        entry[key] = v.clone();
                    }
                }
            }
            Err(e) => {
                entry["error"] = json!({ "code": e.code.as_str(), "message": e.message, "details": e.details });
            }
        }
        entry
    }

    /// The loop: at most `agent.max_steps` model calls.
    pub async fn run(
        &self,
        agent: &Agent,
        mut messages: Vec<ChatMessage>,
        options: &CallOptions,
        sink: &mut dyn Sink,
    ) -> Result<AgentResult, ProviderError> {
        let tools = self.tools(agent).await?;
        let mut defs: Vec<ToolDef> = tools
            .iter()
            .map(|(wire, t)| ToolDef {
                name: wire.clone(),
                description: t.spec().description.clone(),
                parameters: t.spec().parameters.clone(),
            })
            .collect();
        defs.sort_by(|a, b| a.name.cmp(&b.name));
        let options = CallOptions { temperature: Some(agent.temperature), tools: defs, ..options.clone() };
        let max_steps = agent.max_steps.max(1) as usize;
        let mut steps: Vec<Step> = Vec::new();
        let mut transcript = Vec::new();
        for step in 1..=max_steps {
            sink.progress(step - 1, max_steps);
            let label = format!("agent:{step}");
            let mut on_token = |t: &str| sink.token(&label, t);
            let outcome = self
                .llm
                .chat(self.redis, &agent.model, &messages, &options, &mut on_token)
                .await
                .map_err(|(e, _)| e)?;
            let calls = outcome.response.tool_calls.clone();
            let content = outcome.response.content.clone();
            steps.push(Step { label, alias: outcome.alias.clone(), outcome });
            if calls.is_empty() {
                sink.progress(max_steps, max_steps);
                let answer = ModeResult { text: content, final_alias: agent.model.clone(), steps, route_reason: None };
                return Ok(AgentResult { answer, tool_calls: transcript, step_limit_reached: false });
            }
            messages.push(ChatMessage::calling(content, calls.clone()));
            for call in &calls {
                sink.note(&format!("step {step}: calling {}", call.name));
                let entry = self.call(&tools, step, call).await;
                let max = self.ctx.settings.tools.log_result_max_bytes;
                messages.push(ChatMessage::tool_result(call.id.clone(), feedback(&entry, max)));
                transcript.push(entry);
            }
        }
        sink.progress(max_steps, max_steps);
        let last = steps.last_mut().expect("at least one step");
        last.outcome.response.finish_reason = "step_limit".into();
        let text = format!(
            "Stopped after {max_steps} steps without a final answer (the agent's step limit). {}",
            last.outcome.response.content
        )
        .trim()
        .to_string();
        let answer = ModeResult { text, final_alias: agent.model.clone(), steps, route_reason: None };
        Ok(AgentResult { answer, tool_calls: transcript, step_limit_reached: true })
    }
}
