//! `search` (internal, queue `search`): one `POST /v1/search`, run by the
//! process that owns the vector store. The request is the job's arguments.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{JobArgs, Kind};
use crate::domain::Queue;
use crate::error::{ErrorCode, ServiceError, ServiceResult};

/// Most results one search returns, and the longest query.
pub const MAX_TOP_K: usize = 100;
pub const MAX_QUERY_CHARS: usize = 2_048;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Vector,
    Keyword,
    #[default]
    Hybrid,
}

/// Narrows a search; every part must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchFilters {
    /// Documents with any of these tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Only these documents.
    #[serde(default)]
    pub document_ids: Vec<Uuid>,
    /// Documents whose metadata has each key with this value.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: BTreeMap<String, Value>,
}

/// The body of `POST /v1/search`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    pub query: String,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub filters: SearchFilters,
    /// Results wanted (1..=100, default 10).
    pub top_k: Option<usize>,
}

impl JobArgs for SearchRequest {
    const KIND: Kind = Kind {
        backoff: Some(|_, _| Duration::from_millis(100)),
        ..Kind::internal::<Self>("search", Queue::Search, 2, Duration::from_secs(60))
    };

    fn check(&self) -> ServiceResult<()> {
        validate(self)
    }
}

fn invalid(field: &str, message: impl Into<String>) -> ServiceError {
    ServiceError::new(ErrorCode::InvalidPayload, message).with_details(json!({ "field": field }))
}

/// Checks a request before any work is queued.
pub fn validate(req: &SearchRequest) -> ServiceResult<()> {
    if req.query.trim().is_empty() || req.query.chars().count() > MAX_QUERY_CHARS {
        return Err(invalid("query", format!("query must be non-empty and at most {MAX_QUERY_CHARS} characters")));
    }
    if let Some(k) = req.top_k {
        if k == 0 || k > MAX_TOP_K {
            return Err(invalid("top_k", format!("top_k must be between 1 and {MAX_TOP_K}")));
        }
    }
    let f = &req.filters;
    if f.tags.len() > 100 || f.document_ids.len() > 1_000 || f.metadata.len() > 20 {
        return Err(invalid("filters", "at most 100 tags, 1000 document ids and 20 metadata keys"));
    }
    for (k, v) in &f.metadata {
        let scalar = v.is_string() || v.is_boolean() || v.as_i64().is_some();
        if !scalar || k.is_empty() {
            return Err(invalid(
                "filters.metadata",
                format!("metadata filter {k:?} must be a string, integer or boolean"),
            ));
        }
    }
    Ok(())
}

