//! `POST /v1/search`: keyword, vector or hybrid search over the tenant's
//! chunks. It runs as a `search` job on the worker that owns the vector
//! store; the handler waits for it and answers inline.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use chorus_shared::domain::{JobStatus, JobSummary};
use chorus_shared::error::{ErrorBody, ErrorCode, ServiceError};
use chorus_shared::services::search::{self as service, SearchRequest, SearchResponse};
use chorus_shared::Ctx;
use serde_json::json;

use super::accepted;
use crate::auth::Auth;
use crate::error::{resource, ApiResult};
use crate::json::Json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/search").route(web::post().to(search)));
}

/// Search the knowledge base. `mode` is `hybrid` (default: vector and
/// keyword fused with Reciprocal Rank Fusion), `vector` or `keyword`.
/// Results carry the chunk text, document id and title, page, heading
/// path, and each part's score and rank.
#[utoipa::path(post, path = "/v1/search", tag = "search", request_body = SearchRequest, params(super::Wait),
    responses((status = 200, body = SearchResponse), (status = 202, body = JobSummary),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn search(
    ctx: web::Data<Ctx>,
    auth: Auth,
    q: web::Query<super::Wait>,
    body: Json<SearchRequest>,
) -> ApiResult<HttpResponse> {
    // Search waits `vectors.search_wait_ms` by default.
    let wait = q.seconds(ctx.settings.vectors.search_wait_ms as f64 / 1000.0)?;
    let job = service::submit_and_wait(&ctx, &auth.0, &body, Duration::from_secs_f64(wait)).await?;
    match (job.status, job.result.clone()) {
        (JobStatus::Succeeded, Some(mut result)) => {
            result["job_id"] = json!(job.id);
            Ok(HttpResponse::Ok().json(result))
        }
        (JobStatus::Failed | JobStatus::Dead, _) => {
            let code = job.error_code.clone().unwrap_or_default();
            Err(ServiceError::new(ErrorCode::Unavailable, "the search failed; try again")
                .with_details(json!({ "job_id": job.id, "cause": code }))
                .into())
        }
        _ => Ok(accepted(job.summary())),
    }
}
