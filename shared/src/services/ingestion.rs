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

/// Marks document `id` `processing` for ingestion job `job`, if that job
/// is still the document's ingestion and has not stored it yet (`queued`,
/// or `processing` after an attempt that stopped early). `None`: the
/// document was deleted, a reprocess replaced this job, or an earlier run
/// of this job already stored it (a rescued or repeated attempt must not
/// ingest it, and report it, a second time).
pub async fn begin(ctx: &Ctx, tenant: Uuid, id: Uuid, job: Uuid) -> ServiceResult<Option<Document>> {
    let mut conn = ctx.pool.get().await?;
    let doc: Option<Document> = diesel::update(
        d::table
            .filter(d::id.eq(id))
            .filter(d::tenant_id.eq(tenant))
            .filter(d::ingest_job_id.eq(job))
            .filter(d::status.eq_any(["queued", "processing"])),
    )
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
        super::jobs::nudge(ctx, EmbedDocument::KIND.queue.as_str());
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
            mark_failed(conn, &settings, id, &code, &message).await.map(|_| ())
        })
        .await?;
    drop(conn);
    super::jobs::dispatch_webhooks(ctx);
    Ok(())
}

/// Marks a document that is still in flight `failed` with `code` and
/// reports `document.failed`, inside the caller's transaction. `false` if
/// it was gone or had already left the pipeline.
async fn mark_failed(
    conn: &mut AsyncPgConnection,
    settings: &crate::config::Settings,
    id: Uuid,
    code: &str,
    message: &str,
) -> diesel::QueryResult<bool> {
    let doc: Option<Document> = diesel::update(d::table.find(id).filter(d::status.eq_any(IN_FLIGHT)))
        .set((
            d::status.eq("failed"),
            d::error_code.eq(code),
            d::error_message.eq(message),
            d::updated_at.eq(Utc::now()),
        ))
        .returning(Document::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    let Some(doc) = doc else { return Ok(false) };
    report(conn, settings, &doc, "document.failed").await?;
    Ok(true)
}

/// The statuses of a document in the pipeline.
const IN_FLIGHT: [&str; 3] = ["queued", "processing", "embedding"];

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
        super::jobs::dispatch_webhooks(ctx);
        return Ok(Embedded::Ingested);
    }
    Ok(Embedded::Unchanged)
}

/// Marks `failed` the documents whose ingestion ended without them: still
/// `queued`, `processing` or `embedding`, while the newest `ingest_document`
/// or `embed_document` job of the document ended `failed`, `dead` or
/// `cancelled` (a crash, a timeout, a rescue out of attempts, a cancel).
/// Each gets the job's error code (`cancelled` for a cancel) and a
/// `document.failed` event, in one transaction. Idempotent, so every
/// worker's maintenance may run it. Returns how many it marked.
pub async fn fail_abandoned(ctx: &Ctx) -> ServiceResult<usize> {
    use crate::db::schema::jobs as j;
    use crate::domain::JobStatus;
    use crate::kinds::ingest_document::IngestDocument;
    use diesel::dsl::sql;
    use diesel::sql_types::{Nullable, Text};
    let settings = ctx.settings.clone();
    let mut conn = ctx.pool.get().await?;
    let marked = (*conn)
        .transaction::<_, diesel::result::Error, _>(async move |conn: &mut AsyncPgConnection| {
            let docs: Vec<Uuid> = d::table
                .filter(d::status.eq_any(IN_FLIGHT))
                .select(d::id)
                .order(d::updated_at)
                .limit(200)
                .for_update()
                .skip_locked()
                .load(conn)
                .await?;
            if docs.is_empty() {
                return Ok(0);
            }
            let keys: Vec<String> = docs.iter().map(Uuid::to_string).collect();
            let doc_of = sql::<Nullable<Text>>("payload->>'document_id'");
            // Each document's jobs, newest last.
            let jobs: Vec<(Option<String>, JobStatus, Option<String>, Option<String>)> = j::table
                .filter(j::kind.eq_any([IngestDocument::KIND.name, EmbedDocument::KIND.name]))
                .filter(
                    sql::<diesel::sql_types::Bool>("payload->>'document_id' = ANY(")
                        .bind::<diesel::sql_types::Array<Text>, _>(&keys)
                        .sql(")"),
                )
                .order((doc_of.clone(), j::created_at, j::id))
                .select((doc_of, j::status, j::error_code, j::error_message))
                .load(conn)
                .await?;
            let mut newest: std::collections::HashMap<String, (JobStatus, Option<String>, Option<String>)> =
                Default::default();
            for (doc, status, code, message) in jobs {
                if let Some(doc) = doc {
                    newest.insert(doc, (status, code, message));
                }
            }
            let mut marked = 0;
            for (doc, (status, code, message)) in newest {
                if !matches!(status, JobStatus::Failed | JobStatus::Dead | JobStatus::Cancelled) {
                    continue;
                }
                let Ok(id) = doc.parse::<Uuid>() else { continue };
                let code = match status {
                    JobStatus::Cancelled => "cancelled".to_string(),
                    _ => code.unwrap_or_else(|| "job_failed".into()),
                };
                let message = match status {
                    JobStatus::Cancelled => "the document's job was cancelled".to_string(),
                    _ => message.unwrap_or_else(|| format!("the document's job ended {status}")),
                };
                if mark_failed(conn, &settings, id, &code, &message).await? {
                    marked += 1;
                }
            }
            Ok(marked)
        })
        .await?;
    drop(conn);
    if marked > 0 {
        super::jobs::dispatch_webhooks(ctx);
    }
    Ok(marked)
}
