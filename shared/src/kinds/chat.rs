//! `chat` (internal, queue `chat`): answers one user message of a
//! conversation in its mode, with the options it was posted with.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::search::SearchFilters;
use super::{JobArgs, Kind};
use crate::domain::{Queue, Role};
use crate::error::{ServiceError, ServiceResult};
use crate::llm::modes::Mode;

fn invalid(field: &str, message: impl Into<String>) -> ServiceError {
    ServiceError::invalid_field(field, message)
}

/// One turn to answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatTurn {
    pub conversation_id: Uuid,
    /// The user message to answer.
    pub message_id: Uuid,
    /// The first model (the one `single` uses).
    pub model: String,
    #[serde(default)]
    pub mode: Mode,
    /// Every model of the turn, the first included.
    #[serde(default)]
    pub models: Vec<String>,
    pub judge: Option<String>,
    pub rounds: Option<usize>,
    pub rag: Option<RagOptions>,
    pub settings: Option<GenerationSettings>,
    /// The agent that answers, running the tool loop.
    pub agent: Option<String>,
    /// The poster's role: the agent's tools run with it.
    pub role: Option<Role>,
    /// The caller's own tools (OpenAI's `tools`): offered to the model,
    /// never run here; the model's calls come back in the result.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<crate::llm::ToolDef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<crate::llm::ToolChoice>,
}

impl JobArgs for ChatTurn {
    const KIND: Kind = Kind::internal::<Self>("chat", Queue::Chat, 2, Duration::from_secs(10 * 60));

    fn runs_as(&self) -> Option<Role> {
        self.role
    }
}

/// Generation settings, on a conversation or one message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerationSettings {
    /// 0..=2.
    #[schema(minimum = 0, maximum = 2)]
    pub temperature: Option<f32>,
    /// 1..=32768.
    #[schema(minimum = 1, maximum = 32768)]
    pub max_tokens: Option<u32>,
    /// How history beyond the model's context is fitted: `sliding_window`
    /// (default: drop the oldest turns), `summary` (older turns summarised
    /// once by `llm.summary_model`, stored and reused) or `hybrid` (recent
    /// turns kept, older ones summarised).
    pub context_strategy: Option<crate::llm::context::Strategy>,
}

impl GenerationSettings {
    /// Refuses out-of-range values.
    pub fn check(&self) -> ServiceResult<()> {
        if self.temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
            return Err(invalid("settings.temperature", "temperature must be between 0 and 2"));
        }
        if self.max_tokens.is_some_and(|n| !(1..=32_768).contains(&n)) {
            return Err(invalid("settings.max_tokens", "max_tokens must be between 1 and 32768"));
        }
        Ok(())
    }

    /// `self` where set, else `base`.
    pub fn or(&self, base: &GenerationSettings) -> GenerationSettings {
        GenerationSettings {
            temperature: self.temperature.or(base.temperature),
            max_tokens: self.max_tokens.or(base.max_tokens),
            context_strategy: self.context_strategy.or(base.context_strategy),
        }
    }
}

/// Retrieval for one message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RagOptions {
    pub enabled: bool,
    #[serde(default)]
    pub filters: SearchFilters,
    /// Chunks to inject (1..=20, default 5).
    #[schema(minimum = 1, maximum = 20)]
    pub top_k: Option<usize>,
}
