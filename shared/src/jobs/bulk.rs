//! Handler of `bulk` ([`crate::kinds::bulk`]): one admin operation over many
//! documents. Each item is its own small transaction and gets its own
//! outcome (`ok` or an error code); one bad item never stops the rest.
//! Cancelling stops between items; the audit entry then says how far it got.
//!
//! Idempotent per item: deleting a deleted document reports
//! `document_not_found`, tagging twice leaves one link, reprocessing
//! replaces chunks, and an export is rebuilt from scratch.

use std::io::Write;
use std::sync::{Arc, Mutex};

use chrono::{TimeDelta, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{JobContext, JobError};
use crate::domain::Progress;
use crate::services::bulk::{self, export_key, BulkOp, BulkPayload};

type Zip = Arc<Mutex<zip::ZipWriter<std::fs::File>>>;

/// Does `op` to one document; `Ok(None)` means done, `Ok(Some(code))` an
/// item-level failure.
async fn one(
    ctx: &JobContext,
    p: &BulkPayload,
    tag_ids: &[Uuid],
    id: Uuid,
    zip: Option<&Zip>,
    exported_bytes: &mut u64,
) -> Result<Option<&'static str>, JobError> {
    let app = &ctx.ctx;
    let Some(doc) = bulk::item(app, ctx.tenant_id, id).await.map_err(JobError::database)? else {
        return Ok(Some("document_not_found"));
    };
    if p.op != BulkOp::Export {
        bulk::apply(app, p.op, &doc, tag_ids).await.map_err(JobError::database)?;
        return Ok(None);
    }
    let size = doc.size_bytes.max(0) as u64;
    if *exported_bytes + size > app.settings.knowledge.export_max_bytes {
        return Ok(Some("export_too_large"));
    }
    let Ok(bytes) = app.blobs.get(&doc.blob_key).await else { return Ok(Some("original_missing")) };
    *exported_bytes += size;
    let zip = zip.expect("export has a zip").clone();
    let name = format!("{}-{}", doc.id, doc.filename.replace(['/', '\\'], "_"));
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let mut w = zip.lock().unwrap();
        w.start_file(name, zip::write::SimpleFileOptions::default()).map_err(std::io::Error::other)?;
        w.write_all(&bytes)
    })
    .await
    .map_err(|e| JobError::retryable("export", e.to_string()))?
    .map_err(|e| JobError::retryable("export", e.to_string()))?;
    Ok(None)
}

pub async fn run(ctx: &JobContext, p: BulkPayload) -> Result<Value, JobError> {
    let app = &ctx.ctx;
    let tag_ids = bulk::tag_ids(app, ctx.tenant_id, &p).await.map_err(JobError::database)?;
    let scratch = tempfile::NamedTempFile::new_in(app.blobs.scratch_dir())
        .map_err(|e| JobError::retryable("export", e.to_string()))?;
    let zip: Option<Zip> = (p.op == BulkOp::Export)
        .then(|| scratch.reopen().map(|f| Arc::new(Mutex::new(zip::ZipWriter::new(f)))))
        .transpose()
        .map_err(|e| JobError::retryable("export", e.to_string()))?;

    let total = p.ids.len();
    let mut items = Vec::with_capacity(total);
    let mut exported = Vec::new();
    let mut cancelled = false;
    let mut exported_bytes = 0u64;
    for (i, id) in p.ids.iter().enumerate() {
        if ctx.cancel.is_cancelled() {
            cancelled = true;
            break;
        }
        let outcome = one(ctx, &p, &tag_ids, *id, zip.as_ref(), &mut exported_bytes).await?;
        if outcome.is_none() && p.op == BulkOp::Export {
            exported.push(*id);
        }
        items.push(json!({ "id": id, "outcome": outcome.unwrap_or("ok") }));
        if (i + 1) % 25 == 0 || i + 1 == total {
            let progress = Progress {
                stage: Some(p.op.as_str().into()),
                done: (i + 1) as u64,
                total: Some(total as u64),
                message: None,
            };
            ctx.report(progress).await;
        }
    }
    let ok = items.iter().filter(|x| x["outcome"] == "ok").count();
    let mut result = json!({ "op": p.op, "total": total, "done": items.len(), "ok": ok, "failed": items.len() - ok, "items": items });

    if let (Some(zip), false) = (zip, cancelled) {
        let views = bulk::export_views(app, ctx.tenant_id, &exported).await.map_err(JobError::database)?;
        let meta = serde_json::to_vec_pretty(&json!({ "job_id": ctx.job_id, "documents": views }))
            .expect("metadata serializes");
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let mut w =
                Arc::try_unwrap(zip).map_err(|_| std::io::Error::other("zip still shared"))?.into_inner().unwrap();
            w.start_file("metadata.json", zip::write::SimpleFileOptions::default()).map_err(std::io::Error::other)?;
            w.write_all(&meta)?;
            w.finish().map_err(std::io::Error::other)?;
            Ok(())
        })
        .await
        .map_err(|e| JobError::retryable("export", e.to_string()))?
        .map_err(|e| JobError::retryable("export", e.to_string()))?;
        let path = scratch.into_temp_path().keep().map_err(|e| JobError::retryable("export", e.to_string()))?;
        app.blobs
            .put_file(&export_key(ctx.tenant_id, ctx.job_id), &path)
            .await
            .map_err(|e| JobError::retryable("export", e.to_string()))?;
        let expires = Utc::now() + TimeDelta::seconds(app.settings.knowledge.export_ttl_secs as i64);
        result["download_url"] = json!(format!("/v1/bulk/{}/export", ctx.job_id));
        result["expires_at"] = json!(expires);
    }

    // The audit entry and the `bulk.completed` event, together.
    let counts =
        json!({ "total": total, "done": result["done"], "ok": ok, "failed": result["failed"], "cancelled": cancelled });
    bulk::complete(app, ctx.tenant_id, ctx.job_id, &p, &counts, cancelled).await.map_err(JobError::database)?;
    if cancelled {
        return Err(JobError::permanent("cancelled", format!("stopped after {} of {total} items", result["done"])));
    }
    Ok(result)
}
