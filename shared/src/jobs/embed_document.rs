//! Handler of `embed_document` ([`crate::kinds::embed_document`]): the
//! ingestion pipeline's last step. Embeds a chunked document's chunks and
//! writes them to the vector store, then marks the document `ingested`.
//!
//! Idempotent: points are keyed by chunk id and written with upserts, and
//! stale ones past the document's end are removed, so a second run leaves
//! one copy. A document deleted meanwhile is skipped, and its points are
//! removed again should this run have raced the purge.

use serde_json::{json, Value};

use super::{JobContext, JobError};
use crate::domain::Progress;
use crate::kinds::embed_document::EmbedDocument;
use crate::services::indexing;
use crate::services::ingestion::{self, Embedded};
use crate::vectors::catalog;

pub async fn run(ctx: &JobContext, p: EmbedDocument) -> Result<Value, JobError> {
    let app = &ctx.ctx;
    let vectors = app.vectors()?;
    ctx.report(Progress { stage: Some("embedding".into()), done: 0, total: None, message: None }).await;
    let targets = indexing::write_targets(app, vectors).await?;
    let Some(n) = indexing::index_document(app, vectors, ctx.tenant_id, p.document_id, &targets).await? else {
        return Ok(json!({ "skipped": "document deleted" }));
    };
    if ingestion::finish_embedding(app, p.document_id).await? == Embedded::Deleted {
        indexing::purge_documents(app, vectors, ctx.tenant_id, vec![p.document_id]).await?;
        return Ok(json!({ "skipped": "document deleted" }));
    }
    ctx.report(Progress { stage: Some("embedding".into()), done: n as u64, total: Some(n as u64), message: None })
        .await;
    let collections: Vec<&str> = targets.iter().map(|c: &catalog::Collection| c.name.as_str()).collect();
    Ok(json!({ "document_id": p.document_id, "chunks": n, "collections": collections }))
}
