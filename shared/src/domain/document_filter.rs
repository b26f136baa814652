//! The filter of `GET /v1/documents`, also carried by bulk selectors.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Filters of `GET /v1/documents` (and of bulk selectors).
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DocumentFilter {
    /// Only documents with this tag (by name).
    pub tag: Option<String>,
    /// `pdf`, `text`, `markdown` or `html`.
    #[param(schema_with = doc_types)]
    #[schema(schema_with = doc_types_nullable)]
    pub doc_type: Option<String>,
    #[param(schema_with = statuses)]
    #[schema(schema_with = statuses_nullable)]
    pub status: Option<String>,
    /// Text the title contains (case-insensitive).
    pub q: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<Uuid>,
    /// 1..=200.
    #[param(minimum = 1, maximum = 200)]
    #[schema(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// The document types a filter may name.
pub const DOC_TYPES: &[&str] = &["pdf", "text", "markdown", "html"];
/// The document statuses a filter may name.
pub const DOC_STATUSES: &[&str] = &["queued", "processing", "embedding", "ingested", "failed"];

fn doc_types() -> utoipa::openapi::Object {
    super::spec::one_of(DOC_TYPES)
}
fn doc_types_nullable() -> utoipa::openapi::Object {
    super::spec::optional_one_of(DOC_TYPES)
}
fn statuses() -> utoipa::openapi::Object {
    super::spec::one_of(DOC_STATUSES)
}
fn statuses_nullable() -> utoipa::openapi::Object {
    super::spec::optional_one_of(DOC_STATUSES)
}
