//! `/v1/mcp/servers`: the tenant's MCP servers (admin): register (queues
//! discovery), list, read, rediscover, delete.

use actix_web::{web, HttpResponse};
use chorus_shared::error::ErrorBody;
use chorus_shared::services::mcp_servers::{self as service, McpServerInput, McpServerView};
use chorus_shared::Ctx;
use uuid::Uuid;

use super::accepted;
use crate::auth::Auth;
use crate::error::{resource, ApiResult};
use crate::json::Json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/mcp/servers").route(web::post().to(create)).route(web::get().to(list)))
        .service(resource("/mcp/servers/{id}").route(web::get().to(get)).route(web::delete().to(delete)))
        .service(resource("/mcp/servers/{id}/discover").route(web::post().to(discover)));
}

/// Register a stdio command (from `tools.mcp_stdio_commands`) or a
/// Streamable HTTP URL; its `tools/list` runs as an `mcp_discover` job
/// (`discovery_job`), after which its tools are `mcp.<name>.<tool>`.
#[utoipa::path(post, path = "/v1/mcp/servers", tag = "tools", request_body = McpServerInput,
    responses((status = 201, body = McpServerView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(ctx: web::Data<Ctx>, auth: Auth, body: Json<McpServerInput>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(service::create(&ctx, &auth.0, body.into_inner()).await?))
}

/// The tenant's MCP servers with their discovered tools.
#[utoipa::path(get, path = "/v1/mcp/servers", tag = "tools", responses((status = 200, body = [McpServerView])),
    security(("bearer" = [])))]
pub async fn list(ctx: web::Data<Ctx>, auth: Auth) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::list(&ctx, &auth.0).await?))
}

/// One MCP server.
#[utoipa::path(get, path = "/v1/mcp/servers/{id}", tag = "tools",
    responses((status = 200, body = McpServerView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::get(&ctx, &auth.0, *id).await?))
}

/// Run `tools/list` again (202 with the `mcp_discover` job).
#[utoipa::path(post, path = "/v1/mcp/servers/{id}/discover", tag = "tools",
    responses((status = 202, body = chorus_shared::domain::JobSummary), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn discover(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    Ok(accepted(service::rediscover(&ctx, &auth.0, *id).await?.summary()))
}

/// Remove a server; its tools leave the registry.
#[utoipa::path(delete, path = "/v1/mcp/servers/{id}", tag = "tools",
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    service::delete(&ctx, &auth.0, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}
