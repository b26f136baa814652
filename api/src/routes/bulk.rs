//! `/v1/bulk` (bulk operations on documents) and `/v1/audit` (their log).

use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType, LOCATION};
use actix_web::{web, HttpResponse};
use chorus_shared::domain::JobSummary;
use chorus_shared::error::ErrorBody;
use chorus_shared::services::audit::{self, AuditEntry, AuditQuery};
use chorus_shared::services::bulk::{self, BulkRequest};
use chorus_shared::Ctx;
use uuid::Uuid;

use crate::auth::Auth;
use crate::error::{resource, ApiResult};
use crate::json::Json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/bulk").route(web::post().to(submit)))
        .service(resource("/bulk/{job_id}/export").route(web::get().to(export)))
        .service(resource("/audit").route(web::get().to(audit_log)));
}

/// Run `delete`, `tag`, `untag`, `reprocess` or `export` over documents
/// selected by ids or by a filter. Answers 202 with the bulk job, whose
/// progress counts items and whose result lists each item's outcome.
#[utoipa::path(post, path = "/v1/bulk", tag = "bulk", request_body = BulkRequest,
    responses((status = 202, body = JobSummary), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn submit(ctx: web::Data<Ctx>, auth: Auth, body: Json<BulkRequest>) -> ApiResult<HttpResponse> {
    let job = bulk::submit(&ctx, &auth.0, body.into_inner()).await?;
    Ok(HttpResponse::Accepted().insert_header((LOCATION, format!("/v1/jobs/{}", job.id))).json(job.summary()))
}

/// Download an export's zip (originals plus `metadata.json`) until it expires.
#[utoipa::path(get, path = "/v1/bulk/{job_id}/export", tag = "bulk",
    responses((status = 200, description = "application/zip"), (status = 404, body = ErrorBody), (status = 410, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn export(ctx: web::Data<Ctx>, auth: Auth, job_id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let (zip, filename) = bulk::export_file(&ctx, &auth.0, *job_id).await?;
    let disposition = ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![DispositionParam::Filename(filename)],
    };
    let body = actix_web::body::SizedStream::new(zip.size, zip.chunks);
    Ok(HttpResponse::Ok().content_type("application/zip").insert_header(disposition).body(body))
}

/// The audit log of admin actions (keys, webhooks, providers, models, MCP
/// servers, agents, retries, limits, bulk operations), newest first (admin).
#[utoipa::path(get, path = "/v1/audit", tag = "bulk", params(AuditQuery),
    responses((status = 200, body = [AuditEntry]), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn audit_log(ctx: web::Data<Ctx>, auth: Auth, q: web::Query<AuditQuery>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(audit::list(&ctx, &auth.0, q.into_inner()).await?))
}
