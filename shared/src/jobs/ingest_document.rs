//! `ingest_document` (internal, queue `knowledge`): extract → chunk → store,
//! then hand over to `embed_document` (queued in the same transaction).
//!
//! Idempotent: the store step replaces the document's pages and chunks in
//! one transaction, so running it twice (a retry, a reprocess, a rescue)
//! leaves one copy; chunk ids derive from (document, position), so the
//! embedding step replaces points rather than adding copies. A document
//! deleted meanwhile is skipped.

use std::time::Duration;

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{parse_payload, JobContext, JobError, KindSpec};
use crate::db::models::Document;
use crate::db::schema::{chunks as c, document_pages as dp, documents as d};
use crate::domain::Progress;
use crate::error::ServiceError;
use crate::knowledge::chunk::{chunk, ChunkSettings};
use crate::knowledge::extract::{extract, Limits};
use crate::knowledge::DocType;

/// The kind's name and queue (used where `SPEC` cannot be named).
pub const NAME: &str = "ingest_document";
pub const QUEUE: &str = "knowledge";

pub const SPEC: KindSpec = KindSpec {
    name: NAME,
    queue: QUEUE,
    default_max_attempts: 3,
    timeout: Duration::from_secs(30 * 60),
    admin_only: true,
    handles_cancel: false,
    internal: true,
    backoff: None,
    validate,
    run: |ctx, payload| Box::pin(run(ctx, payload)),
};

#[derive(Debug, Deserialize)]
struct Payload {
    document_id: Uuid,
}

fn validate(payload: &Value) -> Result<(), ServiceError> {
    parse_payload::<Payload>(payload).map(|_| ())
}

async fn stage(ctx: &JobContext, name: &str, done: u64, total: Option<u64>) {
    ctx.report(Progress { stage: Some(name.into()), done, total, message: None }).await;
}

async fn run(ctx: &JobContext, payload: Value) -> Result<Value, JobError> {
    let p: Payload =
        serde_json::from_value(payload).map_err(|e| JobError::permanent("invalid_payload", e.to_string()))?;
    let app = &ctx.ctx;
    let k = &app.settings.knowledge;
    let mut conn = app.pool.get().await.map_err(JobError::database)?;
    let doc: Option<Document> = d::table
        .filter(d::id.eq(p.document_id))
        .filter(d::tenant_id.eq(ctx.tenant_id))
        .select(Document::as_select())
        .first(&mut conn)
        .await
        .optional()
        .map_err(JobError::database)?;
    let Some(doc) = doc else { return Ok(json!({ "skipped": "document deleted" })) };
    diesel::update(d::table.find(doc.id))
        .set((d::status.eq("processing"), d::updated_at.eq(Utc::now())))
        .execute(&mut conn)
        .await
        .map_err(JobError::database)?;

    stage(ctx, "extracting", 0, None).await;
    let bytes =
        app.blobs.get(&doc.blob_key).await.map_err(|e| JobError::retryable("blob_unavailable", e.to_string()))?;
    let doc_type = DocType::parse(&doc.doc_type).unwrap_or(DocType::Text);
    let limits = Limits { max_pages: k.max_pages, max_objects: k.max_pdf_objects };
    let extracted = tokio::task::spawn_blocking(move || extract(&bytes, doc_type, limits))
        .await
        .map_err(|e| JobError::retryable("extract_crashed", e.to_string()))?;
    let extracted = match extracted {
        Ok(x) => x,
        Err(e) => {
            fail(&mut conn, app, &doc, e.code(), &e.to_string()).await?;
            return Err(JobError::permanent(e.code(), e.to_string()));
        }
    };
    let pages = extracted.pages.len() as u64;
    stage(ctx, "chunking", 0, Some(pages)).await;
    let chunks = chunk(&extracted, ChunkSettings { size: k.chunk_tokens, overlap: k.chunk_overlap_tokens });
    stage(ctx, "storing", 0, Some(pages)).await;

    let (doc_id, tenant) = (doc.id, doc.tenant_id);
    let page_rows: Vec<_> = extracted
        .pages
        .iter()
        .map(|pg| (dp::document_id.eq(doc_id), dp::page_no.eq(pg.number as i32), dp::text.eq(pg.text())))
        .collect();
    let chunk_rows: Vec<_> = chunks
        .iter()
        .map(|ch| {
            (
                c::id.eq(crate::services::indexing::chunk_id(doc_id, ch.ordinal as i32)),
                c::tenant_id.eq(tenant),
                c::document_id.eq(doc_id),
                c::ordinal.eq(ch.ordinal as i32),
                c::page_no.eq(ch.page as i32),
                c::heading_path.eq(ch.heading_path.clone()),
                c::text.eq(ch.text.clone()),
                c::token_count.eq(ch.tokens as i32),
            )
        })
        .collect();
    let n_chunks = chunk_rows.len();
    let stored = (*conn)
        .transaction::<_, diesel::result::Error, _>(async move |conn: &mut AsyncPgConnection| {
            let exists: i64 = d::table.filter(d::id.eq(doc_id)).count().get_result(conn).await?;
            if exists == 0 {
                return Ok(None);
            }
            diesel::delete(c::table.filter(c::document_id.eq(doc_id))).execute(conn).await?;
            diesel::delete(dp::table.filter(dp::document_id.eq(doc_id))).execute(conn).await?;
            for batch in page_rows.chunks(1000) {
                diesel::insert_into(dp::table).values(batch).execute(conn).await?;
            }
            for batch in chunk_rows.chunks(1000) {
                diesel::insert_into(c::table).values(batch).execute(conn).await?;
            }
            let doc: Document = diesel::update(d::table.find(doc_id))
                .set((
                    d::status.eq("embedding"),
                    d::page_count.eq(pages as i32),
                    d::chunk_count.eq(n_chunks as i32),
                    d::error_code.eq(None::<String>),
                    d::error_message.eq(None::<String>),
                    d::updated_at.eq(Utc::now()),
                ))
                .returning(Document::as_returning())
                .get_result(conn)
                .await?;
            let payload = json!({ "document_id": doc.id });
            let embed = crate::services::jobs::InternalJob::of(&super::embed_document::SPEC, doc.tenant_id, &payload);
            crate::services::jobs::insert_internal(conn, embed).await?;
            Ok(Some(()))
        })
        .await
        .map_err(JobError::database)?;
    if stored.is_none() {
        return Ok(json!({ "skipped": "document deleted" }));
    }
    stage(ctx, "storing", pages, Some(pages)).await;
    crate::services::jobs::nudge(app, super::embed_document::QUEUE).await;
    Ok(json!({ "document_id": doc_id, "pages": pages, "chunks": n_chunks }))
}

/// Marks the document failed with a stable code, and reports it.
async fn fail(
    conn: &mut AsyncPgConnection,
    app: &crate::Ctx,
    doc: &Document,
    code: &str,
    message: &str,
) -> Result<(), JobError> {
    let settings = app.settings.clone();
    let (id, code, message) = (doc.id, code.to_string(), message.to_string());
    conn.transaction::<_, diesel::result::Error, _>(async move |conn: &mut AsyncPgConnection| {
        let doc: Document = diesel::update(d::table.find(id))
            .set((
                d::status.eq("failed"),
                d::error_code.eq(&code),
                d::error_message.eq(&message),
                d::updated_at.eq(Utc::now()),
            ))
            .returning(Document::as_returning())
            .get_result(conn)
            .await?;
        crate::services::documents::report(conn, &settings, &doc, "document.failed").await?;
        Ok(())
    })
    .await
    .map_err(JobError::database)?;
    crate::services::jobs::dispatch_webhooks(app).await;
    Ok(())
}
