//! `embedding_cache`: vectors by (tenant, model, content hash), so no text
//! of a tenant is embedded twice by the same model. Per tenant, so that a
//! hit tells nothing about another tenant's texts.

use diesel::prelude::*;

use crate::db::schema::embedding_cache;

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = embedding_cache)]
pub struct CachedEmbedding {
    pub tenant_id: uuid::Uuid,
    pub model_id: String,
    pub content_hash: String,
    pub vector: Vec<f32>,
}
