//! `vector_collections`: which collection is live and which a reindex
//! builds, with each one's model and dimension.

use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::vector_collections;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = vector_collections)]
pub struct VectorCollection {
    pub name: String,
    pub model_id: String,
    pub dimension: i32,
    pub state: String,
    pub job_id: Option<Uuid>,
}
