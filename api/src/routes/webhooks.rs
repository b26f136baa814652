//! `/v1/webhooks`: endpoints, secrets, tests, the delivery log and
//! redelivery (admin keys).

use actix_web::{web, HttpResponse};
use chorus_shared::error::ErrorBody;
use chorus_shared::services::webhooks::{
    self as service, CallbackSecret, CreateEndpoint, DeliveryFilter, DeliveryView, EndpointView, EndpointWithSecret,
    UpdateEndpoint,
};
use chorus_shared::Ctx;
use uuid::Uuid;

use crate::auth::Auth;
use crate::error::{resource, ApiResult};
use crate::json::Json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Fixed paths first: `callback-secret` and `deliveries` are not ids.
    cfg.service(resource("/webhooks/callback-secret").route(web::get().to(callback_secret)))
        .service(resource("/webhooks/callback-secret/rotate").route(web::post().to(rotate_callback_secret)))
        .service(resource("/webhooks/deliveries/{id}/redeliver").route(web::post().to(redeliver)))
        .service(resource("/webhooks").route(web::post().to(create)).route(web::get().to(list)))
        .service(
            resource("/webhooks/{id}")
                .route(web::get().to(get))
                .route(web::patch().to(update))
                .route(web::delete().to(delete)),
        )
        .service(resource("/webhooks/{id}/rotate-secret").route(web::post().to(rotate_secret)))
        .service(resource("/webhooks/{id}/test").route(web::post().to(test)))
        .service(resource("/webhooks/{id}/deliveries").route(web::get().to(deliveries)));
}

/// Register an endpoint. The URL is checked after DNS; the secret is shown only here.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = CreateEndpoint,
    responses((status = 201, body = EndpointWithSecret), (status = 422, description = "Bad event type or refused URL (`url_not_allowed`)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(ctx: web::Data<Ctx>, auth: Auth, body: Json<CreateEndpoint>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(service::create(&ctx, &auth.0, body.into_inner()).await?))
}

/// List the tenant's endpoints.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", responses((status = 200, body = [EndpointView])),
    security(("bearer" = [])))]
pub async fn list(ctx: web::Data<Ctx>, auth: Auth) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::list(&ctx, &auth.0).await?))
}

/// One endpoint.
#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks",
    responses((status = 200, body = EndpointView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::get(&ctx, &auth.0, *id).await?))
}

/// Change an endpoint; re-enabling clears its failure count.
#[utoipa::path(patch, path = "/v1/webhooks/{id}", tag = "webhooks", request_body = UpdateEndpoint,
    responses((status = 200, body = EndpointView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    ctx: web::Data<Ctx>,
    auth: Auth,
    id: web::Path<Uuid>,
    body: Json<UpdateEndpoint>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::update(&ctx, &auth.0, *id, body.into_inner()).await?))
}

/// Delete an endpoint and its deliveries.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    service::delete(&ctx, &auth.0, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rotate the secret; the old one keeps signing during the overlap.
#[utoipa::path(post, path = "/v1/webhooks/{id}/rotate-secret", tag = "webhooks",
    responses((status = 200, body = EndpointWithSecret), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn rotate_secret(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::rotate_secret(&ctx, &auth.0, *id).await?))
}

/// Send a `webhook.test` event to the endpoint.
#[utoipa::path(post, path = "/v1/webhooks/{id}/test", tag = "webhooks",
    responses((status = 202, body = DeliveryView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn test(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Accepted().json(service::send_test(&ctx, &auth.0, *id).await?))
}

/// The endpoint's deliveries, newest first, with every attempt.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks", params(DeliveryFilter),
    responses((status = 200, body = [DeliveryView]), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn deliveries(
    ctx: web::Data<Ctx>,
    auth: Auth,
    id: web::Path<Uuid>,
    filter: web::Query<DeliveryFilter>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::deliveries(&ctx, &auth.0, *id, filter.into_inner()).await?))
}

/// Send a delivery again, with the same `webhook-id` and body.
#[utoipa::path(post, path = "/v1/webhooks/deliveries/{id}/redeliver", tag = "webhooks",
    responses((status = 202, body = DeliveryView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn redeliver(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Accepted().json(service::redeliver(&ctx, &auth.0, *id).await?))
}

/// The secret that signs jobs' own `callback_url` deliveries.
#[utoipa::path(get, path = "/v1/webhooks/callback-secret", tag = "webhooks",
    responses((status = 200, body = CallbackSecret)), security(("bearer" = [])))]
pub async fn callback_secret(ctx: web::Data<Ctx>, auth: Auth) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::callback_secret(&ctx, &auth.0).await?))
}

/// Rotate the callback secret (same overlap as endpoints).
#[utoipa::path(post, path = "/v1/webhooks/callback-secret/rotate", tag = "webhooks",
    responses((status = 200, body = CallbackSecret)), security(("bearer" = [])))]
pub async fn rotate_callback_secret(ctx: web::Data<Ctx>, auth: Auth) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::rotate_callback_secret(&ctx, &auth.0).await?))
}
