//! `documents`: one uploaded original and its ingestion state.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::documents;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = documents)]
pub struct Document {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub title: String,
    pub filename: String,
    pub content_type: String,
    pub doc_type: String,
    pub size_bytes: i64,
    pub content_hash: String,
    pub blob_key: String,
    pub status: String,
    pub metadata: serde_json::Value,
    pub page_count: Option<i32>,
    pub chunk_count: Option<i32>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub ingest_job_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
