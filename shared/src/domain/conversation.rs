//! What clients see of conversations and their messages.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = Conversation)]
pub struct ConversationView {
    pub id: Uuid,
    pub title: String,
    pub system_prompt: String,
    /// Default model aliases (the first answers in `single` mode).
    pub models: Vec<String>,
    /// Default generation settings (`temperature`, `max_tokens`).
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    pub tags: Vec<String>,
    /// For a fork: the conversation and message it branched at.
    pub parent_id: Option<Uuid>,
    pub fork_message_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The `summary` context strategy's summary of older turns, and the
    /// last message it covers.
    pub summary: Option<String>,
    pub summary_through: Option<Uuid>,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = Message)]
pub struct MessageView {
    pub id: Uuid,
    pub conversation_id: Uuid,
    /// `system`, `user` or `assistant`.
    pub role: String,
    pub content: String,
    /// The user message an assistant message answers.
    pub reply_to: Option<Uuid>,
    /// The model alias that answered.
    pub model: Option<String>,
    pub job_id: Option<Uuid>,
    #[schema(value_type = Option<Object>)]
    pub usage: Option<serde_json::Value>,
    /// Chunks cited by a RAG answer: `[{chunk_id, document_id, title, page}]`.
    #[schema(value_type = Vec<Object>)]
    pub citations: serde_json::Value,
    /// Provider, finish reason, latency, time to first token, cache hit,
    /// what the context strategy dropped.
    #[schema(value_type = Object)]
    pub meta: serde_json::Value,
    pub created_at: DateTime<Utc>,
}
