//! `/v1/schedules`: recurring jobs (a cron expression in a time zone, the
//! job it submits, a misfire policy, an end). Users write, viewers read.

use actix_web::{web, HttpResponse};
use chorus_shared::error::ErrorBody;
use chorus_shared::services::schedules::{self as service, ScheduleInput, SchedulePage, ScheduleQuery, ScheduleView};
use chorus_shared::Ctx;
use uuid::Uuid;

use crate::auth::Auth;
use crate::error::{resource, ApiResult};
use crate::json::Json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/schedules").route(web::post().to(create)).route(web::get().to(list))).service(
        resource("/schedules/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    );
}

/// Create a schedule; its job is checked as `POST /v1/jobs` checks one.
#[utoipa::path(post, path = "/v1/schedules", tag = "schedules", request_body = ScheduleInput,
    responses((status = 201, body = ScheduleView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(ctx: web::Data<Ctx>, auth: Auth, body: Json<ScheduleInput>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(service::create(&ctx, &auth.0, body.into_inner()).await?))
}

/// The tenant's schedules, newest first.
#[utoipa::path(get, path = "/v1/schedules", tag = "schedules", params(ScheduleQuery),
    responses((status = 200, body = SchedulePage)), security(("bearer" = [])))]
pub async fn list(ctx: web::Data<Ctx>, auth: Auth, q: web::Query<ScheduleQuery>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::list(&ctx, &auth.0, q.into_inner()).await?))
}

/// One schedule: its next 5 fire times and its last fires with their jobs.
#[utoipa::path(get, path = "/v1/schedules/{id}", tag = "schedules",
    responses((status = 200, body = ScheduleView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::get(&ctx, &auth.0, *id).await?))
}

/// Change a schedule, pause it (`enabled: false`) or resume it.
#[utoipa::path(patch, path = "/v1/schedules/{id}", tag = "schedules", request_body = ScheduleInput,
    responses((status = 200, body = ScheduleView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    ctx: web::Data<Ctx>,
    auth: Auth,
    id: web::Path<Uuid>,
    body: Json<ScheduleInput>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::update(&ctx, &auth.0, *id, body.into_inner()).await?))
}

/// Delete a schedule; the jobs it already submitted are left alone.
#[utoipa::path(delete, path = "/v1/schedules/{id}", tag = "schedules",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    service::delete(&ctx, &auth.0, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}
