//! `embedding_cache`: vectors by (model, content hash), so no text is
//! embedded twice by the same model.

use diesel::prelude::*;

use crate::db::schema::embedding_cache;

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = embedding_cache)]
pub struct CachedEmbedding {
    pub model_id: String,
    pub content_hash: String,
    pub vector: Vec<f32>,
}
