//! Handler of `purge_vectors` ([`crate::kinds::purge_vectors`]): removes
//! deleted documents' vectors. The job is written in the same transaction
//! that deletes the documents' rows (so it cannot be lost), and runs on the
//! process that owns the vector store. Searches stop returning a deleted
//! document at once: every hit is read back from Postgres.
//!
//! Idempotent: deleting by document filter twice deletes nothing the
//! second time.

use serde_json::{json, Value};

use super::{JobContext, JobError};
use crate::kinds::purge_vectors::PurgeVectors;

pub async fn run(ctx: &JobContext, p: PurgeVectors) -> Result<Value, JobError> {
    let vectors = ctx.ctx.vectors()?;
    let n = p.document_ids.len();
    crate::services::indexing::purge_documents(&ctx.ctx, vectors, ctx.tenant_id, p.document_ids).await?;
    Ok(json!({ "documents": n }))
}
