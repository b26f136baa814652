//! The ingestion pipeline's state in Postgres: a document moves
//! `queued → processing → embedding → ingested`, or to `failed` with a
//! stable code. The `ingest_document` and `embed_document` handlers do the
//! work (extraction, chunking, embedding) and call these for every write.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::documents::report;
use crate::db::models::{Chunk as ChunkRow, Document, DocumentPage};
use crate::db::schema::{chunks as c, document_pages as dp, documents as d};
use crate::error::ServiceResult;
use crate::kinds::embed_document::EmbedDocument;
use crate::kinds::JobArgs;
use crate::knowledge::chunk::Chunk;
use crate::knowledge::extract::Extracted;
use crate::Ctx;

/// Loads the tenant's document and marks it `processing`; `None` if it was
/// deleted meanwhile.
pub async fn begin(ctx: &Ctx, tenant: Uuid, id: Uuid) -> ServiceResult<Option<Document>> {
    let mut conn = ctx.pool.get().await?;
    let doc: Option<Document> = diesel::update(d::table.filter(d::id.eq(id)).filter(d::tenant_id.eq(tenant)))
        .set((d::status.eq("processing"), d::updated_at.eq(Utc::now())))
        .returning(Document::as_returning())
        .get_result(&mut conn)
        .await
        .optional()?;
    Ok(doc)
}

/// Replaces the document's pages and chunks with `extracted` and `chunks`,
/// marks it `embedding` and queues its `embed_document` job, in one
/// transaction; then nudges the embed queue. `false` if the document was
/// deleted meanwhile (nothing is written).
pub async fn store(ctx: &Ctx, doc: &Document, extracted: &Extracted, chunks: &[Chunk]) -> ServiceResult<bool> {
    let (doc_id, tenant) = (doc.id, doc.tenant_id);
    let pages = extracted.pages.len() as i32;
    let page_rows: Vec<DocumentPage> = extracted
        .pages
        .iter()
        .map(|pg| DocumentPage { document_id: doc_id, page_no: pg.number as i32, text: pg.text() })
        .collect();
    let chunk_rows: Vec<ChunkRow> = chunks
        .iter()
        .map(|ch| ChunkRow {
            id: super::indexing::chunk_id(doc_id, ch.ordinal as i32),
            tenant_id: tenant,
            document_id: doc_id,
            ordinal: ch.ordinal as i32,
            page_no: ch.page as i32,
            heading_path: ch.heading_path.clone(),
            text: ch.text.clone(),
            token_count: ch.tokens as i32,
        })
        .collect();
    let n_chunks = chunk_rows.len() as i32;
    let mut conn = ctx.pool.get().await?;
    let stored = (*conn)
        .transaction::<_, diesel::result::Error, _>(async move |conn: &mut AsyncPgConnection| {
            let exists: i64 = d::table.filter(d::id.eq(doc_id)).count().get_result(conn).await?;
            if exists == 0 {
                return Ok(false);
            }
            diesel::delete(c::table.filter(c::document_id.eq(doc_id))).execute(conn).await?;
            diesel::delete(dp::table.filter(dp::document_id.eq(doc_id))).execute(conn).await?;
            for batch in page_rows.chunks(1000) {
                diesel::insert_into(dp::table).values(batch).execute(conn).await?;
            }
            for batch in chunk_rows.chunks(1000) {
                diesel::insert_into(c::table).values(batch).execute(conn).await?;
            }
            diesel::update(d::table.find(doc_id))
                .set((
                    d::status.eq("embedding"),
                    d::page_count.eq(pages),
                    d::chunk_count.eq(n_chunks),
                    d::error_code.eq(None::<String>),
                    d::error_message.eq(None::<String>),
                    d::updated_at.eq(Utc::now()),
                ))
                .execute(conn)
                .await?;
            crate::queue::insert(conn, tenant, &EmbedDocument { document_id: doc_id }).await?;
            Ok(true)
        })
        .await?;
    drop(conn);
    if stored {
        super::jobs::nudge(ctx, EmbedDocument::KIND.queue.as_str()).await;
    }
    Ok(stored)
}

/// Marks the document `failed` with a stable code and reports
/// `document.failed`, in one transaction; then nudges the webhook queue.
pub async fn fail(ctx: &Ctx, id: Uuid, code: &str, message: &str) -> ServiceResult<()> {
    let settings = ctx.settings.clone();
    let (code, message) = (code.to_string(), message.to_string());
    let mut conn = ctx.pool.get().await?;
    (*conn)
        .transaction::<_, diesel::result::Error, _>(async move |conn: &mut AsyncPgConnection| {
            let doc: Option<Document> = diesel::update(d::table.find(id))
                .set((
                    d::status.eq("failed"),
                    d::error_code.eq(&code),
                    d::error_message.eq(&message),
                    d::updated_at.eq(Utc::now()),
                ))
                .returning(Document::as_returning())
                .get_result(conn)
                .await
                .optional()?;
            if let Some(doc) = &doc {
                report(conn, &settings, doc, "document.failed").await?;
            }
            Ok(())
        })
        .await?;
    drop(conn);
    super::jobs::dispatch_webhooks(ctx).await;
    Ok(())
}

/// How the embedding step ended for a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embedded {
    /// Marked `ingested` now (and `document.ingested` reported).
    Ingested,
    /// Still there, but not `embedding` any more (a run before this one, or
    /// a reprocess, moved it on).
    Unchanged,
    /// Deleted meanwhile: its points must go.
    Deleted,
}

/// Marks an `embedding` document `ingested` and reports it, in one
/// transaction; then nudges the webhook queue.
pub async fn finish_embedding(ctx: &Ctx, id: Uuid) -> ServiceResult<Embedded> {
    let settings = ctx.settings.clone();
    let mut conn = ctx.pool.get().await?;
    let marked = (*conn)
        .transaction::<_, diesel::result::Error, _>(async move |conn: &mut AsyncPgConnection| {
            let doc: Option<Document> = diesel::update(d::table.find(id).filter(d::status.eq("embedding")))
                .set((d::status.eq("ingested"), d::updated_at.eq(Utc::now())))
                .returning(Document::as_returning())
                .get_result(conn)
                .await
                .optional()?;
            if let Some(doc) = &doc {
                report(conn, &settings, doc, "document.ingested").await?;
            }
            Ok(doc.is_some())
        })
        .await?;
    let exists: i64 = d::table.filter(d::id.eq(id)).count().get_result(&mut conn).await?;
    drop(conn);
    if exists == 0 {
        return Ok(Embedded::Deleted);
    }
    if marked {
        super::jobs::dispatch_webhooks(ctx).await;
        return Ok(Embedded::Ingested);
    }
    Ok(Embedded::Unchanged)
}
