//! `/v1/admin/llm/providers` and `/v1/admin/llm/models`: the tenant's own
//! language-model providers (API keys encrypted at rest, never shown) and
//! model aliases, beside the configured ones (admin).

use actix_web::{web, HttpResponse};
use chorus_shared::error::ErrorBody;
use chorus_shared::services::llm_catalog::{self as service, ModelInput, ModelView, ProviderInput, ProviderView};
use chorus_shared::Ctx;

use crate::auth::Auth;
use crate::error::{resource, ApiResult};
use crate::json::Json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/admin/llm/providers").route(web::post().to(create_provider)).route(web::get().to(list_providers)),
    )
    .service(
        resource("/admin/llm/providers/{name}")
            .route(web::get().to(get_provider))
            .route(web::patch().to(update_provider))
            .route(web::delete().to(delete_provider)),
    )
    .service(resource("/admin/llm/models").route(web::post().to(create_model)).route(web::get().to(list_models)))
    .service(
        resource("/admin/llm/models/{alias}")
            .route(web::get().to(get_model))
            .route(web::patch().to(update_model))
            .route(web::delete().to(delete_model)),
    );
}

/// Register a provider; its API key is encrypted before it is stored.
#[utoipa::path(post, path = "/v1/admin/llm/providers", tag = "llm", request_body = ProviderInput,
    responses((status = 201, body = ProviderView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_provider(ctx: web::Data<Ctx>, auth: Auth, body: Json<ProviderInput>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(service::create_provider(&ctx, &auth.0, body.into_inner()).await?))
}

/// Configured providers, then the tenant's.
#[utoipa::path(get, path = "/v1/admin/llm/providers", tag = "llm",
    responses((status = 200, body = [ProviderView])), security(("bearer" = [])))]
pub async fn list_providers(ctx: web::Data<Ctx>, auth: Auth) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::list_providers(&ctx, &auth.0).await?))
}

/// One provider (its key is never shown, only whether it is set).
#[utoipa::path(get, path = "/v1/admin/llm/providers/{name}", tag = "llm",
    responses((status = 200, body = ProviderView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_provider(ctx: web::Data<Ctx>, auth: Auth, name: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::get_provider(&ctx, &auth.0, &name).await?))
}

/// Change a registered provider; `api_key: ""` removes its key.
#[utoipa::path(patch, path = "/v1/admin/llm/providers/{name}", tag = "llm", request_body = ProviderInput,
    responses((status = 200, body = ProviderView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_provider(
    ctx: web::Data<Ctx>,
    auth: Auth,
    name: web::Path<String>,
    body: Json<ProviderInput>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::update_provider(&ctx, &auth.0, &name, body.into_inner()).await?))
}

/// Delete a registered provider that no registered model uses.
#[utoipa::path(delete, path = "/v1/admin/llm/providers/{name}", tag = "llm",
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_provider(ctx: web::Data<Ctx>, auth: Auth, name: web::Path<String>) -> ApiResult<HttpResponse> {
    service::delete_provider(&ctx, &auth.0, &name).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Register a model alias on a provider, with its prices and fallbacks.
#[utoipa::path(post, path = "/v1/admin/llm/models", tag = "llm", request_body = ModelInput,
    responses((status = 201, body = ModelView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_model(ctx: web::Data<Ctx>, auth: Auth, body: Json<ModelInput>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(service::create_model(&ctx, &auth.0, body.into_inner()).await?))
}

/// Configured model aliases, then the tenant's.
#[utoipa::path(get, path = "/v1/admin/llm/models", tag = "llm",
    responses((status = 200, body = [ModelView])), security(("bearer" = [])))]
pub async fn list_models(ctx: web::Data<Ctx>, auth: Auth) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::list_models(&ctx, &auth.0).await?))
}

/// One model alias.
#[utoipa::path(get, path = "/v1/admin/llm/models/{alias}", tag = "llm",
    responses((status = 200, body = ModelView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_model(ctx: web::Data<Ctx>, auth: Auth, alias: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::get_model(&ctx, &auth.0, &alias).await?))
}

/// Change a registered model alias.
#[utoipa::path(patch, path = "/v1/admin/llm/models/{alias}", tag = "llm", request_body = ModelInput,
    responses((status = 200, body = ModelView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_model(
    ctx: web::Data<Ctx>,
    auth: Auth,
    alias: web::Path<String>,
    body: Json<ModelInput>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::update_model(&ctx, &auth.0, &alias, body.into_inner()).await?))
}

/// Delete a registered model alias.
#[utoipa::path(delete, path = "/v1/admin/llm/models/{alias}", tag = "llm",
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_model(ctx: web::Data<Ctx>, auth: Auth, alias: web::Path<String>) -> ApiResult<HttpResponse> {
    service::delete_model(&ctx, &auth.0, &alias).await?;
    Ok(HttpResponse::NoContent().finish())
}
