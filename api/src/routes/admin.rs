//! Operators' routes. Vector maintenance: `POST /v1/admin/reindex` moves
//! every vector to another embedding model without downtime, and
//! `POST /v1/admin/reconcile` repairs drift between Postgres and the vector
//! store; both are ordinary jobs (follow them under `/v1/jobs`). Tenant
//! governance: `GET`/`PUT /v1/admin/tenants/{tenant}/limits`.

use actix_web::{web, HttpResponse};
use chorus_shared::domain::JobSummary;
use chorus_shared::error::ErrorBody;
use chorus_shared::kinds::{self, JobArgs};
use chorus_shared::limits::Overrides;
use chorus_shared::services::governance::{self, TenantLimits};
use chorus_shared::services::jobs::{self, SubmitJob};
use chorus_shared::Ctx;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::accepted;
use crate::auth::Auth;
use crate::error::{resource, ApiResult};
use crate::json::Json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/admin/reindex").route(web::post().to(reindex)))
        .service(resource("/admin/reconcile").route(web::post().to(reconcile)))
        .service(
            resource("/admin/tenants/{tenant}/limits")
                .route(web::get().to(get_limits))
                .route(web::put().to(put_limits)),
        );
}

/// The body of `POST /v1/admin/reindex`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reindex {
    /// The model id: the configured one, or a directory under `embed.models_dir`.
    #[schema(pattern = r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$")]
    pub model: String,
}

async fn submit<A: JobArgs>(ctx: &Ctx, auth: &Auth, args: &A) -> ApiResult<HttpResponse> {
    let (kind, payload) = (A::KIND.name.into(), args.to_payload());
    let req = SubmitJob { kind, payload, ..Default::default() };
    let done = jobs::submit(ctx, &auth.0, req, None).await?;
    Ok(accepted(done.job.summary()))
}

/// Re-embed every chunk with another model (admin); a `reindex` job.
#[utoipa::path(post, path = "/v1/admin/reindex", tag = "admin", request_body = Reindex,
    responses((status = 202, body = JobSummary), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn reindex(ctx: web::Data<Ctx>, auth: Auth, body: Json<Reindex>) -> ApiResult<HttpResponse> {
    submit(&ctx, &auth, &kinds::reindex::Reindex { model: body.into_inner().model }).await
}

/// Compare chunks with vector points both ways and repair (admin); a
/// `reconcile` job whose result is the report.
#[utoipa::path(post, path = "/v1/admin/reconcile", tag = "admin",
    responses((status = 202, body = JobSummary), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn reconcile(ctx: web::Data<Ctx>, auth: Auth) -> ApiResult<HttpResponse> {
    submit(&ctx, &auth, &kinds::reconcile::Reconcile {}).await
}

/// A tenant's rate limits: what an operator set and what is in force
/// (operators: admins of `api.operator_tenant`).
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant}/limits", tag = "admin",
    params(("tenant" = String, Path, description = "The tenant's name")),
    responses((status = 200, body = TenantLimits), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_limits(ctx: web::Data<Ctx>, auth: Auth, tenant: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(governance::limits(&ctx, &auth.0, &tenant).await?))
}

/// Sets a tenant's rate limits, replacing what was set before: a value left
/// out (or a kind not named) takes the configured default, 0 is no limit.
/// Every API process applies it within `limits.cache_ms`; an audit entry
/// (`limits.set`) records it in the tenant's log (operators only).
#[utoipa::path(put, path = "/v1/admin/tenants/{tenant}/limits", tag = "admin", request_body = Overrides,
    params(("tenant" = String, Path, description = "The tenant's name")),
    responses((status = 200, body = TenantLimits), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_limits(
    ctx: web::Data<Ctx>,
    auth: Auth,
    tenant: web::Path<String>,
    body: Json<Overrides>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(governance::set_limits(&ctx, &auth.0, &tenant, body.into_inner()).await?))
}
