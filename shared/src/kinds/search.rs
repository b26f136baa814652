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
#[schema(as = SearchMode)]
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
    #[schema(max_items = 100)]
    pub tags: Vec<String>,
    /// Only these documents.
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub document_ids: Vec<Uuid>,
    /// Documents whose metadata has each key with this value.
    #[serde(default)]
    #[schema(schema_with = metadata_filter)]
    pub metadata: BTreeMap<String, Value>,
}

/// At most 20 keys, each naming a string, an integer (`i64`) or a boolean.
fn metadata_filter() -> utoipa::openapi::Object {
    use utoipa::openapi::{ObjectBuilder, OneOfBuilder, Type};
    let scalar = OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String))
        .item(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(i64::MIN)).maximum(Some(i64::MAX)))
        .item(ObjectBuilder::new().schema_type(Type::Boolean));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::RefOr(utoipa::openapi::RefOr::T(
            utoipa::openapi::Schema::OneOf(scalar.build()),
        ))))
        .property_names(Some(ObjectBuilder::new().schema_type(Type::String).min_length(Some(1))))
        .max_properties(Some(20))
        .build()
}

/// The body of `POST /v1/search`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"query": "refund policy", "mode": "hybrid", "top_k": 5}))]
pub struct SearchRequest {
    #[schema(schema_with = query_schema)]
    pub query: String,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub filters: SearchFilters,
    /// Results wanted (1..=100, default 10).
    #[schema(minimum = 1, maximum = 100)]
    pub top_k: Option<usize>,
    /// Re-rank the best candidates (`vectors.rerank_depth`, at least
    /// `top_k`) by their passage closest to the query: each candidate's
    /// text is cut into overlapping windows of `vectors.rerank_window_words`
    /// words, each embedded (and cached), and the candidate scores its best
    /// window's cosine. Slower; in keyword mode it loads the model too.
    #[serde(default)]
    pub rerank: bool,
}

fn query_schema() -> utoipa::openapi::Object {
    crate::domain::spec::nonblank(MAX_QUERY_CHARS)
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
    validate_filters(&req.filters)
}

/// Checks filters, of a search or of a chat message's retrieval.
pub fn validate_filters(f: &SearchFilters) -> ServiceResult<()> {
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
