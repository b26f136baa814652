//! `document_pages`: the extracted text of each page of a document (what
//! previews show).

use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::document_pages;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = document_pages)]
pub struct DocumentPage {
    pub document_id: Uuid,
    pub page_no: i32,
    pub text: String,
}
