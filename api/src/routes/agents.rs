//! `/v1/agents`: agent profiles (prompt, model, temperature, tools, step
//! limit) that a chat message names to run the tool loop. Writes need an
//! admin key.

use actix_web::{web, HttpResponse};
use chorus_shared::error::ErrorBody;
use chorus_shared::services::agents::{self as service, Agent, AgentInput};
use chorus_shared::Ctx;
use uuid::Uuid;

use crate::auth::Auth;
use crate::error::{resource, ApiResult};
use crate::json::Json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/agents").route(web::post().to(create)).route(web::get().to(list))).service(
        resource("/agents/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    );
}

/// Create an agent; its model and every tool must exist.
#[utoipa::path(post, path = "/v1/agents", tag = "agents", request_body = AgentInput,
    responses((status = 201, body = Agent), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(ctx: web::Data<Ctx>, auth: Auth, body: Json<AgentInput>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(service::create(&ctx, &auth.0, body.into_inner()).await?))
}

/// The tenant's agents.
#[utoipa::path(get, path = "/v1/agents", tag = "agents", responses((status = 200, body = [Agent])),
    security(("bearer" = [])))]
pub async fn list(ctx: web::Data<Ctx>, auth: Auth) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::list(&ctx, &auth.0).await?))
}

/// One agent.
#[utoipa::path(get, path = "/v1/agents/{id}", tag = "agents",
    responses((status = 200, body = Agent), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::get(&ctx, &auth.0, *id).await?))
}

/// Change an agent (checked like a new one).
#[utoipa::path(patch, path = "/v1/agents/{id}", tag = "agents", request_body = AgentInput,
    responses((status = 200, body = Agent), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    ctx: web::Data<Ctx>,
    auth: Auth,
    id: web::Path<Uuid>,
    body: Json<AgentInput>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::update(&ctx, &auth.0, *id, body.into_inner()).await?))
}

/// Delete an agent.
#[utoipa::path(delete, path = "/v1/agents/{id}", tag = "agents",
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    service::delete(&ctx, &auth.0, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}
