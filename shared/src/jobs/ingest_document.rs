//! Handler of `ingest_document` ([`crate::kinds::ingest_document`]):
//! extract → chunk → store, then hand over to `embed_document` (queued in
//! the storing transaction, [`crate::services::ingestion::store`]).
//!
//! Idempotent: the store step replaces the document's pages and chunks in
//! one transaction, so running it twice (a retry, a reprocess, a rescue)
//! leaves one copy; chunk ids derive from (document, position), so the
//! embedding step replaces points rather than adding copies. A run whose
//! document was deleted, handed to a newer ingestion job, or already stored
//! by an earlier run of this job (a rescue after the store committed) does
//! nothing, so the document is not reported `ingested` twice.

use serde_json::{json, Value};

use super::{JobContext, JobError};
use crate::domain::Progress;
use crate::kinds::ingest_document::IngestDocument;
use crate::knowledge::chunk::{chunk, ChunkSettings, Estimate, Tokens};
use crate::knowledge::extract::{extract_in_thread, Limits};
use crate::knowledge::DocType;
use crate::services::ingestion;

async fn stage(ctx: &JobContext, name: &str, done: u64, total: Option<u64>) {
    ctx.report(Progress { stage: Some(name.into()), done, total, message: None }).await;
}

pub async fn run(ctx: &JobContext, p: IngestDocument) -> Result<Value, JobError> {
    let app = &ctx.ctx;
    let k = &app.settings.knowledge;
    let Some(doc) = ingestion::begin(app, ctx.tenant_id, p.document_id, ctx.job_id).await? else {
        return Ok(json!({ "skipped": "document deleted, reprocessed by another job, or already stored by this one" }));
    };

    stage(ctx, "extracting", 0, None).await;
    let bytes =
        app.blobs.get(&doc.blob_key).await.map_err(|e| JobError::retryable("blob_unavailable", e.to_string()))?;
    let doc_type = DocType::parse(&doc.doc_type).unwrap_or(DocType::Text);
    let limits = Limits { max_pages: k.max_pages, max_objects: k.max_pdf_objects };
    let extracted =
        extract_in_thread(bytes, doc_type, limits).await.map_err(|e| JobError::retryable("extract_crashed", e))?;
    let extracted = match extracted {
        Ok(x) => x,
        Err(e) => {
            ingestion::fail(app, doc.id, e.code(), &e.to_string()).await?;
            return Err(JobError::permanent(e.code(), e.to_string()));
        }
    };
    let pages = extracted.pages.len() as u64;
    stage(ctx, "chunking", 0, Some(pages)).await;
    // Sized by the model's tokenizer to fit its window (its `max_length`
    // holds two special tokens), or by the estimate without one.
    let counter = crate::embed::token_counter(&app.settings.embed);
    let window = app.settings.embed.max_length.saturating_sub(2);
    let (size, tokens): (usize, &dyn Tokens) = match counter.as_deref() {
        Some(c) => (k.chunk_tokens.min(window), c),
        None => (k.chunk_tokens, &Estimate),
    };
    let chunks = chunk(&extracted, ChunkSettings { size, overlap: k.chunk_overlap_tokens }, tokens);
    stage(ctx, "storing", 0, Some(pages)).await;
    if !ingestion::store(app, &doc, &extracted, &chunks).await? {
        return Ok(json!({ "skipped": "document deleted" }));
    }
    stage(ctx, "storing", pages, Some(pages)).await;
    Ok(json!({ "document_id": doc.id, "pages": pages, "chunks": chunks.len() }))
}
