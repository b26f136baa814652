//! `bulk` (internal, queue `knowledge`): one admin operation over many
//! documents. Each item is its own small transaction and gets its own
//! outcome (`ok` or an error code); one bad item never stops the rest.
//! Cancelling stops between items; the audit entry then says how far it got.
//!
//! Idempotent per item: deleting a deleted document reports
//! `document_not_found`, tagging twice leaves one link, reprocessing
//! replaces chunks, and an export is rebuilt from scratch.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{parse_payload, JobContext, JobError, KindSpec};
use crate::db::schema::{document_tags as dt, tags as t};
use crate::domain::Progress;
use crate::error::{ErrorCode, ServiceError};
use crate::services::bulk::{export_key, BulkOp, BulkPayload};
use crate::services::documents;
use crate::webhooks::outbox;

pub const NAME: &str = "bulk";
pub const QUEUE: &str = "knowledge";

pub const SPEC: KindSpec = KindSpec {
    name: NAME,
    queue: QUEUE,
    default_max_attempts: 3,
    timeout: Duration::from_secs(6 * 3600),
    admin_only: true,
    handles_cancel: true,
    internal: true,
    backoff: None,
    validate,
    run: |ctx, payload| Box::pin(run(ctx, payload)),
};

fn validate(payload: &Value) -> Result<(), ServiceError> {
    parse_payload::<BulkPayload>(payload).map(|_| ())
}

type Zip = Arc<Mutex<zip::ZipWriter<std::fs::File>>>;

/// Does `op` to one document; `Ok(None)` means done, `Ok(Some(code))` an
/// item-level failure.
async fn one(
    ctx: &JobContext,
    conn: &mut AsyncPgConnection,
    p: &BulkPayload,
    tag_ids: &[Uuid],
    id: Uuid,
    zip: Option<&Zip>,
) -> Result<Option<&'static str>, JobError> {
    let app = &ctx.ctx;
    let doc = match documents::load(conn, ctx.tenant_id, id).await {
        Ok(doc) => doc,
        Err(e) if e.code == ErrorCode::DocumentNotFound => return Ok(Some("document_not_found")),
        Err(e) => return Err(JobError::database(e)),
    };
    match p.op {
        BulkOp::Delete => documents::delete_loaded(app, conn, &doc).await.map_err(JobError::database)?,
        BulkOp::Tag => {
            let rows: Vec<_> = tag_ids.iter().map(|tag| (dt::document_id.eq(id), dt::tag_id.eq(*tag))).collect();
            diesel::insert_into(dt::table)
                .values(rows)
                .on_conflict_do_nothing()
                .execute(conn)
                .await
                .map_err(JobError::database)?;
        }
        BulkOp::Untag => {
            diesel::delete(dt::table.filter(dt::document_id.eq(id)).filter(dt::tag_id.eq_any(tag_ids)))
                .execute(conn)
                .await
                .map_err(JobError::database)?;
        }
        BulkOp::Reprocess => {
            let settings = app.settings.clone();
            conn.transaction::<_, diesel::result::Error, _>(async move |conn: &mut AsyncPgConnection| {
                documents::queue_ingest(conn, &settings, &doc).await.map(|_| ())
            })
            .await
            .map_err(JobError::database)?;
        }
        BulkOp::Export => {
            let Ok(bytes) = app.blobs.get(&doc.blob_key).await else { return Ok(Some("original_missing")) };
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
        }
    }
    Ok(None)
}

async fn run(ctx: &JobContext, payload: Value) -> Result<Value, JobError> {
    let p: BulkPayload =
        serde_json::from_value(payload).map_err(|e| JobError::permanent("invalid_payload", e.to_string()))?;
    let app = &ctx.ctx;
    let mut conn = app.pool.get().await.map_err(JobError::database)?;
    let tag_ids: Vec<Uuid> = match p.op {
        BulkOp::Tag => {
            crate::services::tags::ensure_named(&mut conn, ctx.tenant_id, &p.tags).await.map_err(JobError::database)?
        }
        BulkOp::Untag => t::table
            .filter(t::tenant_id.eq(ctx.tenant_id))
            .filter(t::name.eq_any(&p.tags))
            .select(t::id)
            .load(&mut conn)
            .await
            .map_err(JobError::database)?,
        _ => Vec::new(),
    };
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
    for (i, id) in p.ids.iter().enumerate() {
        if ctx.cancel.is_cancelled() {
            cancelled = true;
            break;
        }
        let outcome = one(ctx, &mut conn, &p, &tag_ids, *id, zip.as_ref()).await?;
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
        let docs = documents_by_id(&mut conn, ctx.tenant_id, &exported).await?;
        let views = documents::views(&mut conn, &docs).await.map_err(JobError::database)?;
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
    let (settings, tenant, job_id) = (app.settings.clone(), ctx.tenant_id, ctx.job_id);
    let (action, selector) =
        (format!("bulk.{}", p.op.as_str()), serde_json::to_value(&p.selector).expect("selector serializes"));
    let event = json!({ "job_id": job_id, "op": p.op, "outcome": counts });
    (*conn)
        .transaction::<_, diesel::result::Error, _>(async move |conn: &mut AsyncPgConnection| {
            crate::services::audit::record(
                conn,
                tenant,
                Some(p.actor_key_id),
                &action,
                &selector,
                &counts,
                Some(job_id),
            )
            .await?;
            if !cancelled {
                outbox::record(conn, &settings, tenant, "bulk.completed", Some(job_id), &event).await?;
            }
            Ok(())
        })
        .await
        .map_err(JobError::database)?;
    drop(conn);
    crate::services::jobs::dispatch_webhooks(app).await;
    if p.op == BulkOp::Reprocess {
        documents::dispatch_knowledge(app).await;
    }
    if cancelled {
        return Err(JobError::permanent("cancelled", format!("stopped after {} of {total} items", result["done"])));
    }
    Ok(result)
}

async fn documents_by_id(
    conn: &mut AsyncPgConnection,
    tenant: Uuid,
    ids: &[Uuid],
) -> Result<Vec<crate::db::models::Document>, JobError> {
    use crate::db::schema::documents as d;
    d::table
        .filter(d::tenant_id.eq(tenant))
        .filter(d::id.eq_any(ids))
        .order(d::id.asc())
        .select(crate::db::models::Document::as_select())
        .load(conn)
        .await
        .map_err(JobError::database)
}
