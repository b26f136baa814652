//! Transport-free operations (Qdrant's `do_*` style): HTTP handlers and
//! workers call these; none of them knows about HTTP.

pub mod agents;
pub mod audit;
pub mod auth;
pub mod batch_lines;
pub mod bulk;
pub mod chat;
pub mod completions;
pub mod conversations;
pub mod deliveries;
pub mod deployment;
pub mod documents;
pub mod embeddings;
pub mod events;
pub mod files;
pub mod governance;
pub mod indexing;
pub mod ingestion;
pub mod job_batch;
pub mod jobs;
pub mod llm_catalog;
pub mod mcp_servers;
pub mod openai_batches;
pub mod openai_request;
pub mod overview;
pub mod rerank;
pub mod retention;
pub mod scheduler;
pub mod schedules;
pub mod search;
pub mod sessions;
pub mod tags;
pub mod tools;
pub mod usage;
pub mod waiting;
pub mod webhooks;

use uuid::Uuid;

pub(crate) use crate::queue::record_event;

/// Cuts a page from rows loaded with `limit + 1`: the page, and the id to
/// pass as the next cursor when there are more.
pub fn page<T>(mut rows: Vec<T>, limit: i64, id: impl Fn(&T) -> Uuid) -> (Vec<T>, Option<Uuid>) {
    if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        let next = rows.last().map(id);
        (rows, next)
    } else {
        (rows, None)
    }
}

/// Checks a page size (1..=200), defaulting to the configured one.
pub fn page_limit(settings: &crate::config::Settings, limit: Option<i64>) -> crate::error::ServiceResult<i64> {
    let limit = limit.unwrap_or(settings.api.default_page_size);
    if !(1..=200).contains(&limit) {
        return Err(crate::ServiceError::invalid_parameter("limit", "limit must be between 1 and 200"));
    }
    Ok(limit)
}

/// Who is calling: the tenant and role of a verified API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub tenant_id: Uuid,
    pub key_id: Uuid,
    pub role: crate::domain::Role,
}

impl Principal {
    /// Refuses (`forbidden`) a caller whose role is below `needed`; `what`
    /// names the action in the message.
    pub fn require(&self, needed: crate::domain::Role, what: &str) -> crate::error::ServiceResult<()> {
        if self.role.allows(needed) {
            return Ok(());
        }
        Err(crate::ServiceError::new(
            crate::ErrorCode::Forbidden,
            format!("{what} needs a key with the {} role", needed.as_str()),
        ))
    }
}
