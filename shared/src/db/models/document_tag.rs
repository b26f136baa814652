//! `document_tags`: which tags a document carries.

use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::document_tags;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = document_tags)]
pub struct DocumentTag {
    pub document_id: Uuid,
    pub tag_id: Uuid,
}
