//! `/v1/tools`: the tools a key may use, one tool, `POST …/invoke` (a
//! `tool_call` job, inline with `?wait=`), and the execution log.

use std::time::Duration;

use actix_web::http::header::LOCATION;
use actix_web::{web, HttpResponse};
use chorus_shared::domain::{JobStatus, JobSummary};
use chorus_shared::error::ErrorBody;
use chorus_shared::services::tools::{self as service, ExecutionFilter, ExecutionPage, InvokeRequest, ToolView};
use chorus_shared::Ctx;

use super::Wait;
use crate::auth::Auth;
use crate::error::{resource, ApiResult};
use crate::json::Json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/tools").route(web::get().to(list)))
        .service(resource("/tools/executions").route(web::get().to(executions)))
        .service(resource("/tools/{name}").route(web::get().to(get)))
        .service(resource("/tools/{name}/invoke").route(web::post().to(invoke)));
}

/// The tools this key may call: built-ins, then the tenant's MCP tools.
#[utoipa::path(get, path = "/v1/tools", tag = "tools", responses((status = 200, body = [ToolView])),
    security(("bearer" = [])))]
pub async fn list(ctx: web::Data<Ctx>, auth: Auth) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::list(&ctx, &auth.0).await?))
}

/// One tool, with its argument schema.
#[utoipa::path(get, path = "/v1/tools/{name}", tag = "tools",
    responses((status = 200, body = ToolView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(ctx: web::Data<Ctx>, auth: Auth, name: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::get(&ctx, &auth.0, &name).await?))
}

/// Call a tool. Arguments are checked against its schema first (422 lists
/// each failing path). Answers 202 with a `tool_call` job; with
/// `?wait=<s>`, 200 with the execution when it finishes in time.
#[utoipa::path(post, path = "/v1/tools/{name}/invoke", tag = "tools", request_body = InvokeRequest, params(super::Wait),
    responses((status = 200, description = "`{execution_id, tool, result | error, cache_hit, duration_ms, job_id}`"),
        (status = 202, body = JobSummary), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn invoke(
    ctx: web::Data<Ctx>,
    auth: Auth,
    name: web::Path<String>,
    q: web::Query<Wait>,
    body: Json<InvokeRequest>,
) -> ApiResult<HttpResponse> {
    let wait = q.seconds(0.0)?;
    let job = service::invoke(&ctx, &auth.0, &name, body.into_inner()).await?;
    let job = if wait > 0.0 {
        chorus_shared::services::waiting::wait_for(&ctx, &auth.0, job.id, Duration::from_secs_f64(wait)).await?
    } else {
        job
    };
    let finished = match job.status {
        JobStatus::Succeeded => job.result.clone(),
        JobStatus::Failed | JobStatus::Dead => Some(serde_json::json!({ "tool": *name,
            "error": { "code": job.error_code, "message": job.error_message } })),
        _ => None,
    };
    if let Some(mut out) = finished {
        out["job_id"] = serde_json::json!(job.id);
        return Ok(HttpResponse::Ok().json(out));
    }
    Ok(HttpResponse::Accepted().insert_header((LOCATION, format!("/v1/jobs/{}", job.id))).json(job.summary()))
}

/// The tenant's tool executions, newest first, with filters.
#[utoipa::path(get, path = "/v1/tools/executions", tag = "tools", params(ExecutionFilter),
    responses((status = 200, body = ExecutionPage)), security(("bearer" = [])))]
pub async fn executions(ctx: web::Data<Ctx>, auth: Auth, q: web::Query<ExecutionFilter>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::executions(&ctx, &auth.0, q.into_inner()).await?))
}
