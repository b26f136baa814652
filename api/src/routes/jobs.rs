//! `/v1/jobs`: submit, read, list, cancel, retry, and follow a job's events.

use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use chorus_shared::domain::{JobEventView, JobPage, JobStatus, JobSummary, JobView};
use chorus_shared::error::ErrorCode;
use chorus_shared::metrics::Metrics;
use chorus_shared::services::job_batch::{self, BatchRequest, BatchResult};
use chorus_shared::services::jobs::{self, JobFilter, SubmitJob};
use chorus_shared::Ctx;
use futures::StreamExt;
use uuid::Uuid;

use super::accepted;
use crate::auth::Auth;
use crate::error::{api_error, resource, ApiResult};
use crate::json::Json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/jobs").route(web::post().to(submit)).route(web::get().to(list)))
        .service(resource("/jobs/batch").route(web::post().to(batch)))
        .service(resource("/jobs/{id}").route(web::get().to(get)))
        .service(resource("/jobs/{id}/cancel").route(web::post().to(cancel)))
        .service(resource("/jobs/{id}/retry").route(web::post().to(retry)))
        .service(resource("/jobs/{id}/events").route(web::get().to(events)));
}

/// Submit up to 1,000 jobs in one request (one multi-row insert). Each item
/// is a job as for `POST /v1/jobs`, with its own `idempotency_key`. The
/// answer has one result per item, in order: the job (`replayed` when an
/// earlier request made it) or the error with its code. One bad item never
/// sinks the others, unless `atomic`: then any bad item answers 422
/// `batch_rejected` and nothing is queued.
#[utoipa::path(post, path = "/v1/jobs/batch", tag = "jobs", request_body = BatchRequest,
    responses(
        (status = 200, description = "One result per item, in order", body = BatchResult),
        (status = 422, description = "A malformed batch, or an atomic batch with a bad item (`batch_rejected`)",
            body = chorus_shared::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn batch(ctx: web::Data<Ctx>, auth: Auth, body: Json<BatchRequest>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(job_batch::submit(&ctx, &auth.0, body.into_inner()).await?))
}

/// Submit a job.
#[utoipa::path(post, path = "/v1/jobs", tag = "jobs", request_body = SubmitJob,
    params(("Idempotency-Key" = Option<String>, Header, max_length = 255,
        pattern = r"^[\x20-\x7e]*[\x21-\x7e][\x20-\x7e]*$",
        description = "Same key and body → same job; same key, other body → 409. 1 to 255 printable ASCII characters")),
    responses(
        (status = 202, description = "Accepted; `Location` points at the job", body = JobSummary),
        (status = 400, body = chorus_shared::error::ErrorBody), (status = 401, body = chorus_shared::error::ErrorBody),
        (status = 403, body = chorus_shared::error::ErrorBody), (status = 409, body = chorus_shared::error::ErrorBody),
        (status = 413, body = chorus_shared::error::ErrorBody), (status = 422, body = chorus_shared::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn submit(
    ctx: web::Data<Ctx>,
    metrics: web::Data<Metrics>,
    auth: Auth,
    req: HttpRequest,
    body: Json<SubmitJob>,
) -> ApiResult<HttpResponse> {
    let key = match req.headers().get("Idempotency-Key") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| api_error(ErrorCode::InvalidHeader, "Idempotency-Key must be printable ASCII"))?
                .to_string(),
        ),
    };
    let done = jobs::submit(&ctx, &auth.0, body.into_inner(), key).await?;
    if !done.replayed {
        metrics.jobs_submitted.with_label_values(&[&done.job.kind]).inc();
    }
    let mut resp = accepted(done.job.summary());
    if done.replayed {
        resp.headers_mut()
            .insert(header::HeaderName::from_static("idempotent-replayed"), header::HeaderValue::from_static("true"));
    }
    Ok(resp)
}

/// List the tenant's jobs, newest first.
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", params(JobFilter),
    responses((status = 200, body = JobPage), (status = 400, body = chorus_shared::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(ctx: web::Data<Ctx>, auth: Auth, filter: web::Query<JobFilter>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(jobs::list(&ctx, &auth.0, filter.into_inner()).await?))
}

/// The full view of one job.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs",
    responses((status = 200, body = JobView), (status = 404, body = chorus_shared::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(jobs::view(&ctx, &auth.0, *id).await?))
}

/// Cancel a job: at once if waiting, within a second if running.
#[utoipa::path(post, path = "/v1/jobs/{id}/cancel", tag = "jobs",
    responses((status = 200, description = "Cancelled", body = JobView),
        (status = 202, description = "Running; the worker was told to stop", body = JobView),
        (status = 404, body = chorus_shared::error::ErrorBody), (status = 409, body = chorus_shared::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn cancel(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let job = jobs::cancel(&ctx, &auth.0, *id).await?;
    Ok(if job.status == JobStatus::Cancelled { HttpResponse::Ok() } else { HttpResponse::Accepted() }.json(job.view()))
}

/// Run a failed or dead job again.
#[utoipa::path(post, path = "/v1/jobs/{id}/retry", tag = "jobs",
    responses((status = 202, body = JobSummary), (status = 404, body = chorus_shared::error::ErrorBody),
        (status = 409, body = chorus_shared::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn retry(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let job = jobs::retry(&ctx, &auth.0, *id).await?;
    Ok(accepted(job.summary()))
}

/// Follow a job's state changes and progress as Server-Sent Events. Ends
/// when the job finishes; `Last-Event-ID` resumes after that event.
#[utoipa::path(get, path = "/v1/jobs/{id}/events", tag = "jobs",
    params(("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event id")),
    responses((status = 200, description = "Server-Sent Events: `event` is the event's kind, `data` a JobEventView",
            content_type = "text/event-stream", body = JobEventView),
        (status = 404, body = chorus_shared::error::ErrorBody),
        (status = 429, description = "too_many_streams", body = chorus_shared::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn events(
    ctx: web::Data<Ctx>,
    streams: web::Data<crate::streams::Streams>,
    auth: Auth,
    id: web::Path<Uuid>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    event_stream(&ctx, &streams, &auth.0, *id, &req).await
}

/// The SSE answer of job `id`'s events for `principal` (the API's route and
/// the dashboard's), resuming after `Last-Event-ID`.
pub async fn event_stream(
    ctx: &Ctx,
    streams: &crate::streams::Streams,
    principal: &chorus_shared::services::Principal,
    id: Uuid,
    req: &HttpRequest,
) -> ApiResult<HttpResponse> {
    let job = jobs::get(ctx, principal, id).await?;
    let max = ctx.settings.api.max_streams_per_tenant;
    let slot = streams.open(principal.tenant_id, max).ok_or_else(|| {
        api_error(ErrorCode::TooManyStreams, format!("at most {max} event streams per tenant are open at once"))
    })?;
    let last = match req.headers().get("Last-Event-ID") {
        None => 0,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .ok_or_else(|| api_error(ErrorCode::InvalidHeader, "Last-Event-ID must be an event id"))?,
    };
    let rx = chorus_shared::services::events::follow(ctx, job.id, last, principal.key_id).await?;
    // The slot lives as long as the stream.
    let stream = tokio_stream_from(rx).map(move |ev| {
        let _held = &slot;
        Ok::<_, actix_web::Error>(sse_frame(&ev))
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}

fn tokio_stream_from<T: Send + 'static>(mut rx: tokio::sync::mpsc::Receiver<T>) -> impl futures::Stream<Item = T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// One SSE frame. Streamed `token` events are live only (not stored), so
/// they carry no id: `Last-Event-ID` resumes at stored events.
fn sse_frame(ev: &JobEventView) -> Bytes {
    let data = serde_json::to_string(ev).expect("event serializes");
    if ev.kind == "token" {
        return Bytes::from(format!("event: token\ndata: {data}\n\n"));
    }
    Bytes::from(format!("id: {}\nevent: {}\ndata: {}\n\n", ev.id, ev.kind, data))
}
