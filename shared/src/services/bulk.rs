//! Admin bulk operations on documents: `delete`, `tag`, `untag`,
//! `reprocess` and `export`, over a list of ids or a document filter. The
//! selection is resolved when the request is accepted, so a retried job
//! works on the same documents; the `bulk` job does the work.
//!
//! Roles: users may tag, untag and reprocess; `delete` and `export` over a
//! filter (which can reach the whole tenant) need an admin, and so does
//! downloading such an export.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::documents::select_ids;
use super::documents::DocumentView;
use super::Principal;
use crate::db::models::{Document, DocumentTag, Job};
use crate::db::schema::jobs::dsl as j;
use crate::domain::{JobStatus, Role};
use crate::error::{ErrorCode, ServiceError, ServiceResult};
use crate::kinds::JobArgs;
use crate::Ctx;

pub use crate::kinds::bulk::{BulkOp, BulkParams, BulkPayload, Selector};

/// The body of `POST /v1/bulk`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    pub op: BulkOp,
    pub selector: Selector,
    #[serde(default)]
    pub params: BulkParams,
}

fn invalid(message: impl Into<String>) -> ServiceError {
    ServiceError::new(ErrorCode::InvalidPayload, message)
}

/// Accepts a bulk operation and queues its job.
pub async fn submit(ctx: &Ctx, p: &Principal, req: BulkRequest) -> ServiceResult<Job> {
    let by_filter = req.selector.filter.is_some();
    if by_filter == req.selector.ids.is_some() {
        return Err(
            invalid("the selector needs exactly one of `ids` or `filter`").with_details(json!({"field": "selector"}))
        );
    }
    let needs_admin = by_filter && matches!(req.op, BulkOp::Delete | BulkOp::Export);
    let needed = if needs_admin { Role::Admin } else { Role::User };
    p.require(needed, &format!("bulk {} with this selector", req.op.as_str()))?;
    let tags: Vec<String> = req.params.tags.iter().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect();
    if matches!(req.op, BulkOp::Tag | BulkOp::Untag) && tags.is_empty() {
        return Err(invalid("tag and untag need params.tags").with_details(json!({"field": "params.tags"})));
    }
    if tags.iter().any(|t| t.chars().count() > 64 || t.contains(',')) {
        return Err(invalid("tag names are 1 to 64 characters, without commas"));
    }
    let max = ctx.settings.knowledge.bulk_max_items;
    let mut conn = ctx.pool.get().await?;
    let ids = match (&req.selector.ids, &req.selector.filter) {
        (Some(ids), _) => {
            let mut seen = std::collections::HashSet::new();
            ids.iter().copied().filter(|id| seen.insert(*id)).collect::<Vec<_>>()
        }
        (None, Some(filter)) => {
            if filter.cursor.is_some() || filter.limit.is_some() {
                return Err(invalid("a bulk filter takes no cursor or limit"));
            }
            select_ids(&mut conn, p.tenant_id, filter, max + 1).await?
        }
        (None, None) => unreachable!("checked above"),
    };
    if ids.is_empty() {
        return Err(invalid("the selector matches no documents"));
    }
    if ids.len() as i64 > max {
        return Err(invalid(format!("at most {max} documents per bulk operation")));
    }
    let args = BulkPayload { op: req.op, ids, tags, selector: req.selector, actor_key_id: p.key_id, needs_admin };
    drop(conn);
    super::jobs::enqueue_with(ctx, p.tenant_id, &args, ctx.settings.retry.default_max_attempts).await
}

/// The blob key of a bulk export's zip.
pub fn export_key(tenant: Uuid, job_id: Uuid) -> String {
    format!("exports/{tenant}/{job_id}.zip")
}

/// Deletes the zips of exports past their `expires_at` and marks each job
/// (`result.export_deleted`), so each is swept once. Idempotent (a missing
/// file is not an error), so every worker may run it. Returns how many.
pub async fn sweep_expired_exports(ctx: &Ctx) -> ServiceResult<usize> {
    #[derive(diesel::QueryableByName)]
    struct Expired {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: Uuid,
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        tenant_id: Uuid,
    }
    let mut conn = ctx.pool.get().await?;
    let expired: Vec<Expired> = diesel::sql_query(
        "SELECT id, tenant_id FROM jobs WHERE kind = 'bulk' AND status = 'succeeded' \
         AND result ? 'expires_at' AND NOT result ? 'export_deleted' \
         AND (result->>'expires_at')::timestamptz < now() LIMIT 100",
    )
    .load(&mut conn)
    .await?;
    for e in &expired {
        ctx.blobs.delete(&export_key(e.tenant_id, e.id)).await.map_err(ServiceError::internal)?;
        diesel::sql_query("UPDATE jobs SET result = result || '{\"export_deleted\": true}' WHERE id = $1")
            .bind::<diesel::sql_types::Uuid, _>(e.id)
            .execute(&mut conn)
            .await?;
    }
    Ok(expired.len())
}

/// An export's zip, while it has not expired, streamed.
pub async fn export_file(
    ctx: &Ctx,
    p: &Principal,
    job_id: Uuid,
) -> ServiceResult<(crate::knowledge::blob::BlobReader, String)> {
    let mut conn = ctx.pool.get().await?;
    let job: Option<Job> = j::jobs
        .filter(j::id.eq(job_id))
        .filter(j::tenant_id.eq(p.tenant_id))
        .filter(j::kind.eq(BulkPayload::KIND.name))
        .select(Job::as_select())
        .first(&mut conn)
        .await
        .optional()?;
    let not_found = || ServiceError::new(ErrorCode::ExportNotFound, "no such export");
    let job = job.ok_or_else(not_found)?;
    let payload: BulkPayload = serde_json::from_value(job.payload.clone()).map_err(|_| not_found())?;
    if payload.op != BulkOp::Export {
        return Err(not_found());
    }
    let needed = if payload.needs_admin { Role::Admin } else { Role::User };
    p.require(needed, "downloading this export")?;
    let result = job.result.filter(|_| job.status == JobStatus::Succeeded).ok_or_else(|| {
        ServiceError::new(ErrorCode::ExportNotFound, format!("the export is not ready (job is {})", job.status))
    })?;
    let expires: Option<DateTime<Utc>> = serde_json::from_value(result["expires_at"].clone()).ok();
    if expires.is_none_or(|t| t < Utc::now()) {
        return Err(ServiceError::new(ErrorCode::ExportExpired, "the export has expired; run it again"));
    }
    let bytes = ctx
        .blobs
        .read(&export_key(p.tenant_id, job_id))
        .await
        .map_err(|_| ServiceError::new(ErrorCode::ExportExpired, "the export file is gone; run it again"))?;
    Ok((bytes, format!("export-{job_id}.zip")))
}

/// The ids of the tags a `tag` or `untag` operation names (created for
/// `tag`, existing ones for `untag`); none for other operations.
pub async fn tag_ids(ctx: &Ctx, tenant: Uuid, p: &BulkPayload) -> ServiceResult<Vec<Uuid>> {
    use crate::db::schema::tags as t;
    let mut conn = ctx.pool.get().await?;
    Ok(match p.op {
        BulkOp::Tag => super::tags::ensure_named(&mut conn, tenant, &p.tags).await?,
        BulkOp::Untag => {
            t::table
                .filter(t::tenant_id.eq(tenant))
                .filter(t::name.eq_any(&p.tags))
                .select(t::id)
                .load(&mut conn)
                .await?
        }
        _ => Vec::new(),
    })
}

/// The tenant's document `id`, if it still exists.
pub async fn item(ctx: &Ctx, tenant: Uuid, id: Uuid) -> ServiceResult<Option<Document>> {
    let mut conn = ctx.pool.get().await?;
    match super::documents::load(&mut conn, tenant, id).await {
        Ok(doc) => Ok(Some(doc)),
        Err(e) if e.code == ErrorCode::DocumentNotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Does `op` (anything but `export`, which the job writes itself) to one
/// document. Each is idempotent: tagging twice leaves one link.
pub async fn apply(ctx: &Ctx, op: BulkOp, doc: &Document, tag_ids: &[Uuid]) -> ServiceResult<()> {
    use crate::db::schema::document_tags as dt;
    let mut conn = ctx.pool.get().await?;
    match op {
        BulkOp::Delete => super::documents::delete_loaded(ctx, &mut conn, doc).await?,
        BulkOp::Tag => {
            let rows: Vec<DocumentTag> =
                tag_ids.iter().map(|tag| DocumentTag { document_id: doc.id, tag_id: *tag }).collect();
            diesel::insert_into(dt::table).values(rows).on_conflict_do_nothing().execute(&mut conn).await?;
        }
        BulkOp::Untag => {
            diesel::delete(dt::table.filter(dt::document_id.eq(doc.id)).filter(dt::tag_id.eq_any(tag_ids)))
                .execute(&mut conn)
                .await?;
        }
        BulkOp::Reprocess => {
            let settings = ctx.settings.clone();
            let doc = doc.clone();
            (*conn)
                .transaction::<_, diesel::result::Error, _>(async move |conn: &mut AsyncPgConnection| {
                    super::documents::queue_ingest(conn, &settings, &doc).await.map(|_| ())
                })
                .await?;
        }
        BulkOp::Export => {}
    }
    Ok(())
}

/// The views of the exported documents, for an export's `metadata.json`.
pub async fn export_views(ctx: &Ctx, tenant: Uuid, ids: &[Uuid]) -> ServiceResult<Vec<DocumentView>> {
    use crate::db::schema::documents as d;
    let mut conn = ctx.pool.get().await?;
    let docs: Vec<Document> = d::table
        .filter(d::tenant_id.eq(tenant))
        .filter(d::id.eq_any(ids))
        .order(d::id.asc())
        .select(Document::as_select())
        .load(&mut conn)
        .await?;
    super::documents::views(&mut conn, &docs).await
}

/// Records how a bulk job ended: its audit entry and (unless it was
/// cancelled) its `bulk.completed` event, in one transaction; then nudges
/// the queues the operation fed.
pub async fn complete(
    ctx: &Ctx,
    tenant: Uuid,
    job_id: Uuid,
    p: &BulkPayload,
    counts: &serde_json::Value,
    cancelled: bool,
) -> ServiceResult<()> {
    let settings = ctx.settings.clone();
    let action = format!("bulk.{}", p.op.as_str());
    let selector = serde_json::to_value(&p.selector).expect("selector serializes");
    let event = json!({ "job_id": job_id, "op": p.op, "outcome": counts });
    let actor = p.actor_key_id;
    let mut conn = ctx.pool.get().await?;
    (*conn)
        .transaction::<_, diesel::result::Error, _>(async move |conn: &mut AsyncPgConnection| {
            super::audit::record(conn, tenant, Some(actor), &action, &selector, counts, Some(job_id)).await?;
            if !cancelled {
                crate::queue::outbox::record(conn, &settings, tenant, "bulk.completed", Some(job_id), &event).await?;
            }
            Ok(())
        })
        .await?;
    drop(conn);
    super::jobs::dispatch_webhooks(ctx);
    if p.op == BulkOp::Reprocess {
        super::documents::dispatch_knowledge(ctx).await;
    }
    Ok(())
}
