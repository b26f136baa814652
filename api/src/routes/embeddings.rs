//! `POST /v1/embeddings`: OpenAI-shaped embeddings as a job, inline with `?wait=`.

use std::time::Duration;

use actix_web::http::header::LOCATION;
use actix_web::{web, HttpResponse};
use chorus_shared::domain::{JobStatus, JobSummary};
use chorus_shared::error::ErrorBody;
use chorus_shared::services::embeddings::{self as service, EmbeddingRequest};
use chorus_shared::Ctx;

use crate::auth::Auth;
use crate::error::{resource, ApiResult};
use crate::json::Json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/embeddings").route(web::post().to(create)));
}

/// Embed one text or a list of texts. With `?wait=<s>`, answers 200 with
/// the vectors when the job finishes in time; otherwise 202 with the job
/// (its result holds the vectors).
#[utoipa::path(post, path = "/v1/embeddings", tag = "embeddings", request_body = EmbeddingRequest, params(super::Wait),
    responses((status = 200, description = "`{object, model, data: [{index, embedding}], usage, cache, job_id}`"),
        (status = 202, body = JobSummary), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    ctx: web::Data<Ctx>,
    auth: Auth,
    q: web::Query<super::Wait>,
    body: Json<EmbeddingRequest>,
) -> ApiResult<HttpResponse> {
    let wait = q.seconds(0.0)?;
    let job = service::submit(&ctx, &auth.0, body.into_inner()).await?;
    let job = if wait > 0.0 {
        chorus_shared::services::waiting::wait_for(&ctx, &auth.0, job.id, Duration::from_secs_f64(wait)).await?
    } else {
        job
    };
    if let (JobStatus::Succeeded, Some(mut result)) = (job.status, job.result.clone()) {
        result["job_id"] = serde_json::json!(job.id);
        return Ok(HttpResponse::Ok().json(result));
    }
    Ok(HttpResponse::Accepted().insert_header((LOCATION, format!("/v1/jobs/{}", job.id))).json(job.summary()))
}
