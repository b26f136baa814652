//! `conversation_history`: read-only search over the caller's tenant's own
//! messages (full-text match on the content, newest first).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};

use super::{spec, Caller, Tool, ToolError, ToolSpec, ALL_ROLES};
use crate::db::schema::{conversations as c, messages as m};
use crate::Ctx;

pub struct ConversationHistory(ToolSpec);

impl ConversationHistory {
    pub fn new() -> Self {
        let parameters = json!({
            "type": "object",
            "properties": {
                "query": { "type": "string", "minLength": 1, "maxLength": 500 },
                "conversation_id": { "type": "string", "format": "uuid" },
                "limit": { "type": "integer", "minimum": 1, "maximum": 50 }
            },
            "required": ["query"],
            "additionalProperties": false
        });
        let description = "Searches earlier conversation messages for text; returns the matching messages with \
            their conversation, role and time.";
        Self(spec("conversation_history", description, parameters, None, ALL_ROLES))
    }
}

impl Default for ConversationHistory {
    fn default() -> Self {
        Self::new()
    }
}

fn db_error(e: impl std::fmt::Display) -> ToolError {
    ToolError::new("unavailable", format!("the message store failed: {e}"))
}

#[async_trait::async_trait]
impl Tool for ConversationHistory {
    fn spec(&self) -> &ToolSpec {
        &self.0
    }

    async fn call(&self, ctx: &Ctx, caller: Caller, args: Value) -> Result<Value, ToolError> {
        let query = args["query"].as_str().unwrap_or_default();
        let limit = args["limit"].as_i64().unwrap_or(10);
        let pattern = format!("%{}%", query.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        let mut q = m::table
            .inner_join(c::table)
            .filter(m::tenant_id.eq(caller.tenant_id))
            .filter(m::content.ilike(pattern))
            .select((m::id, m::conversation_id, c::title, m::role, m::content, m::created_at))
            .order(m::id.desc())
            .limit(limit)
            .into_boxed();
        if let Some(id) = args["conversation_id"].as_str() {
            let id: uuid::Uuid =
                id.parse().map_err(|_| ToolError::new("invalid_arguments", "conversation_id is not a UUID"))?;
            q = q.filter(m::conversation_id.eq(id));
        }
        let mut conn = ctx.pool.get().await.map_err(db_error)?;
        type Row = (uuid::Uuid, uuid::Uuid, String, String, String, chrono::DateTime<chrono::Utc>);
        let rows: Vec<Row> = q.load(&mut conn).await.map_err(db_error)?;
        let messages: Vec<Value> = rows
            .into_iter()
            .map(|(id, conversation, title, role, content, at)| {
                json!({ "message_id": id, "conversation_id": conversation, "conversation_title": title,
                    "role": role, "content": content, "created_at": at })
            })
            .collect();
        Ok(json!({ "query": query, "messages": messages }))
    }
}
