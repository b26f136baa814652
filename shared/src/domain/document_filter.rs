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
    pub doc_type: Option<String>,
    pub status: Option<String>,
    /// Text the title contains (case-insensitive).
    pub q: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<Uuid>,
    /// 1..=200.
    pub limit: Option<i64>,
}

