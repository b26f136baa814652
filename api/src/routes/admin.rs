//! Vector maintenance for admins: `POST /v1/admin/reindex` moves every
//! vector to another embedding model without downtime, and
//! `POST /v1/admin/reconcile` repairs drift between Postgres and the vector
//! store. Both are ordinary jobs (follow them under `/v1/jobs`).

use actix_web::{web, HttpResponse};
use chorus_shared::domain::JobSummary;
use chorus_shared::error::ErrorBody;
use chorus_shared::kinds::{self, JobArgs};
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
        .service(resource("/admin/reconcile").route(web::post().to(reconcile)));
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
