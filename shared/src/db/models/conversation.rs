//! `conversations`: a chat's settings, its fork point and its stored summary.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::conversations;
use crate::domain::ConversationView;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = conversations)]
pub struct Conversation {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub title: String,
    pub system_prompt: String,
    /// Default model aliases (the first answers in `single` mode).
    pub models: Vec<String>,
    /// Default generation settings (`temperature`, `max_tokens`).
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

impl Conversation {
    /// What clients see of it.
    pub fn view(&self) -> ConversationView {
        ConversationView {
            id: self.id.clone(),
            title: self.title.clone(),
            system_prompt: self.system_prompt.clone(),
            models: self.models.clone(),
            settings: self.settings.clone(),
            tags: self.tags.clone(),
            parent_id: self.parent_id.clone(),
            fork_message_id: self.fork_message_id.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
            summary: self.summary.clone(),
            summary_through: self.summary_through.clone(),
        }
    }
}
