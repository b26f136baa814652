//! `messages`: one turn of a conversation, with its usage and citations.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::messages;
use crate::domain::MessageView;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = messages)]
pub struct Message {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub tenant_id: Uuid,
    /// `system`, `user` or `assistant`.
    pub role: String,
    pub content: String,
    /// The user message an assistant message answers.
    pub reply_to: Option<Uuid>,
    /// The model alias that answered.
    pub model: Option<String>,
    pub job_id: Option<Uuid>,
    pub usage: Option<serde_json::Value>,
    /// Chunks cited by a RAG answer: `[{chunk_id, document_id, title, page}]`.
    pub citations: serde_json::Value,
    /// Provider, finish reason, latency, time to first token, cache hit,
    /// what the context strategy dropped.
    pub meta: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl Message {
    /// What clients see of it.
    pub fn view(&self) -> MessageView {
        MessageView {
            id: self.id.clone(),
            conversation_id: self.conversation_id.clone(),
            role: self.role.clone(),
            content: self.content.clone(),
            reply_to: self.reply_to.clone(),
            model: self.model.clone(),
            job_id: self.job_id.clone(),
            usage: self.usage.clone(),
            citations: self.citations.clone(),
            meta: self.meta.clone(),
            created_at: self.created_at.clone(),
        }
    }
}
