//! `chunks`: a document's chunks, each with its page, heading path and
//! token count; its id is also its vector point's id.

use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::chunks;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = chunks)]
pub struct Chunk {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub document_id: Uuid,
    pub ordinal: i32,
    pub page_no: i32,
    pub heading_path: Vec<String>,
    pub text: String,
    pub token_count: i32,
}
