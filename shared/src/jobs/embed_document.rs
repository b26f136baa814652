//! `embed_document` (internal, queue `embed`): the ingestion pipeline's last
//! step. Embeds a chunked document's chunks and writes them to the vector
//! store, then marks the document `ingested`.
//!
//! Idempotent: points are keyed by chunk id and written with upserts, and
//! stale ones past the document's end are removed, so a second run leaves
//! one copy. A document deleted meanwhile is skipped, and its points are
//! removed again should this run have raced the purge.

use std::time::Duration;

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{parse_payload, JobContext, JobError, KindSpec};
use crate::db::models::Document;
use crate::db::schema::documents as d;
use crate::domain::Progress;
use crate::error::ServiceError;
use crate::services::indexing;
use crate::vectors::catalog;

pub const NAME: &str = "embed_document";
pub const QUEUE: &str = "embed";

pub const SPEC: KindSpec = KindSpec {
    name: NAME,
    queue: QUEUE,
    default_max_attempts: 5,
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

async fn run(ctx: &JobContext, payload: Value) -> Result<Value, JobError> {
    let p: Payload =
        serde_json::from_value(payload).map_err(|e| JobError::permanent("invalid_payload", e.to_string()))?;
    let app = &ctx.ctx;
    let vectors = app.vectors()?;
    ctx.report(Progress { stage: Some("embedding".into()), done: 0, total: None, message: None }).await;
    let mut targets = {
        let mut conn = app.pool.get().await.map_err(JobError::database)?;
        catalog::write_targets(&mut conn).await?
    };
    if targets.is_empty() {
        targets.push(catalog::ensure_live(app, vectors).await?);
    }
    let Some(n) = indexing::index_document(app, vectors, ctx.tenant_id, p.document_id, &targets).await? else {
        return Ok(json!({ "skipped": "document deleted" }));
    };
    let settings = app.settings.clone();
    let doc_id = p.document_id;
    let mut conn = app.pool.get().await.map_err(JobError::database)?;
    let marked = (*conn)
        .transaction::<_, diesel::result::Error, _>(async move |conn: &mut AsyncPgConnection| {
            let doc: Option<Document> = diesel::update(d::table.find(doc_id).filter(d::status.eq("embedding")))
                .set((d::status.eq("ingested"), d::updated_at.eq(Utc::now())))
                .returning(Document::as_returning())
                .get_result(conn)
                .await
                .optional()?;
            if let Some(doc) = &doc {
                crate::services::documents::report(conn, &settings, doc, "document.ingested").await?;
            }
            Ok(doc.is_some())
        })
        .await
        .map_err(JobError::database)?;
    let exists: i64 =
        d::table.filter(d::id.eq(doc_id)).count().get_result(&mut conn).await.map_err(JobError::database)?;
    drop(conn);
    if exists == 0 {
        indexing::purge_documents(app, vectors, ctx.tenant_id, vec![doc_id]).await?;
        return Ok(json!({ "skipped": "document deleted" }));
    }
    if marked {
        crate::services::jobs::dispatch_webhooks(app).await;
    }
    ctx.report(Progress { stage: Some("embedding".into()), done: n as u64, total: Some(n as u64), message: None })
        .await;
    let collections: Vec<&str> = targets.iter().map(|c| c.name.as_str()).collect();
    Ok(json!({ "document_id": doc_id, "chunks": n, "collections": collections }))
}
