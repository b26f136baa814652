//! Fitting a conversation into a model's context budget, counted with the
//! model's [`Counter`] (its tokenizer, or the documented estimate).
//!
//! - `sliding_window`: drop the oldest turns.
//! - `summary`: replace every turn but the newest with a summary written by
//!   the summary model; the summary is stored with the conversation and
//!   reused (or extended with the turns since) on later turns.
//! - `hybrid`: keep the newest turns that fit in half the budget and
//!   summarise the older ones.
//!
//! The system prompt and the newest message are always kept; whatever
//! still does not fit is dropped oldest first.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::registry::{CallOptions, Registry};
use super::tokens::Counter;
use super::{ChatMessage, ProviderError, Role};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    #[default]
    SlidingWindow,
    Summary,
    Hybrid,
}

/// A stored summary: its text and the last message it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub text: String,
    pub through: Uuid,
}

/// The fitted messages, what was done, and a new summary to store.
#[derive(Debug)]
pub struct Fitted {
    pub messages: Vec<ChatMessage>,
    pub report: Value,
    pub new_summary: Option<Summary>,
}

/// Drops the oldest turns (never the system prompt or the newest message)
/// until the count fits `budget`; returns how many it dropped.
pub fn sliding_window(messages: &mut Vec<ChatMessage>, budget: u32, counter: &Counter) -> usize {
    let first_turn = usize::from(messages.iter().next().is_some_and(|m| m.role == Role::System));
    let mut dropped = 0;
    while counter.prompt(messages) > budget && messages.len() > first_turn + 1 {
        messages.remove(first_turn);
        dropped += 1;
    }
    dropped
}

fn transcript(turns: &[(Uuid, ChatMessage)]) -> String {
    turns.iter().map(|(_, m)| format!("{}: {}\n", m.role.as_str(), m.content)).collect()
}

/// Fits `system` + `turns` (oldest first, the newest last) into `budget`.
#[allow(clippy::too_many_arguments)]
pub async fn fit(
    registry: &Registry,
    redis: Option<(&redis::aio::ConnectionManager, &str)>,
    strategy: Strategy,
    system: Option<ChatMessage>,
    turns: Vec<(Uuid, ChatMessage)>,
    budget: u32,
    stored: Option<Summary>,
    summary_model: &str,
    counter: &Counter,
) -> Result<Fitted, ProviderError> {
    let cost = |ms: &[ChatMessage]| counter.prompt(ms);
    let assemble = |extra: Option<&str>, keep: &[(Uuid, ChatMessage)]| {
        let mut out = Vec::new();
        let sys = match (system.as_ref().map(|s| s.content.as_str()), extra) {
            (Some(s), Some(e)) => Some(format!("{s}\n\nSummary of the earlier conversation:\n{e}")),
            (None, Some(e)) => Some(format!("Summary of the earlier conversation:\n{e}")),
            (Some(s), None) => Some(s.to_string()),
            (None, None) => None,
        };
        out.extend(sys.map(|s| ChatMessage::new(Role::System, s)));
        out.extend(keep.iter().map(|(_, m)| m.clone()));
        out
    };
    let mut messages = assemble(None, &turns);
    if cost(&messages) <= budget || turns.len() < 2 || strategy == Strategy::SlidingWindow {
        let dropped = sliding_window(&mut messages, budget, counter);
        let report = json!({ "strategy": "sliding_window", "dropped_messages": dropped });
        return Ok(Fitted { messages, report, new_summary: None });
    }
    // Split: older turns get summarised, `keep` stays verbatim.
    let mut split = turns.len() - 1;
    if strategy == Strategy::Hybrid {
        while split > 0 && cost(&assemble(None, &turns[split - 1..])) <= budget / 2 {
            split -= 1;
        }
    }
    let (older, keep) = turns.split_at(split);
    let through = older.last().map(|(id, _)| *id).expect("at least one older turn");
    let (text, reused, new_summary) = match stored.filter(|s| older.iter().any(|(id, _)| *id == s.through)) {
        Some(s) if s.through == through => (s.text, true, None),
        previous => {
            // Extend the stored summary with the turns after it, or start one.
            let (base, rest) = match &previous {
                Some(s) => {
                    let at = older.iter().position(|(id, _)| *id == s.through).map_or(0, |i| i + 1);
                    (format!("Summary so far:\n{}\n\n", s.text), &older[at..])
                }
                None => (String::new(), older),
            };
            let prompt = vec![
                ChatMessage::new(
                    Role::System,
                    "Summarise the conversation below in a few sentences. Keep facts, names, numbers and decisions.",
                ),
                ChatMessage::new(Role::User, format!("{base}Conversation:\n{}", transcript(rest))),
            ];
            let options =
                CallOptions { temperature: Some(0.0), max_tokens: Some((budget / 4).max(64)), ..Default::default() };
            let mut quiet = |_: &str| {};
            let out = registry.chat(redis, summary_model, &prompt, &options, &mut quiet).await.map_err(|(e, _)| e)?;
            let text = out.response.content.trim().to_string();
            (text.clone(), false, Some(Summary { text, through }))
        }
    };
    let mut messages = assemble(Some(&text), keep);
    let dropped = sliding_window(&mut messages, budget, counter);
    let report = json!({
        "strategy": strategy,
        "summarised_messages": older.len(),
        "summary_reused": reused,
        "dropped_messages": dropped,
    });
    Ok(Fitted { messages, report, new_summary })
}
