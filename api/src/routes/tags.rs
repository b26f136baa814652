//! `/v1/tags`: create, list (with document counts), read, update, delete.

use actix_web::{web, HttpResponse};
use chorus_shared::error::ErrorBody;
use chorus_shared::services::tags::{self as service, TagInput, TagView};
use chorus_shared::Ctx;
use uuid::Uuid;

use crate::auth::Auth;
use crate::error::{resource, ApiResult};
use crate::json::Json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/tags").route(web::post().to(create)).route(web::get().to(list))).service(
        resource("/tags/{id}").route(web::get().to(get)).route(web::patch().to(update)).route(web::delete().to(delete)),
    );
}

/// Create a tag (name unique per tenant).
#[utoipa::path(post, path = "/v1/tags", tag = "tags", request_body = TagInput,
    responses((status = 201, body = TagView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(ctx: web::Data<Ctx>, auth: Auth, body: Json<TagInput>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(service::create(&ctx, &auth.0, body.into_inner()).await?))
}

/// The tenant's tags with their document counts.
#[utoipa::path(get, path = "/v1/tags", tag = "tags", responses((status = 200, body = [TagView])), security(("bearer" = [])))]
pub async fn list(ctx: web::Data<Ctx>, auth: Auth) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::list(&ctx, &auth.0).await?))
}

/// One tag.
#[utoipa::path(get, path = "/v1/tags/{id}", tag = "tags",
    responses((status = 200, body = TagView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::get(&ctx, &auth.0, *id).await?))
}

/// Rename a tag or change its description or colour.
#[utoipa::path(patch, path = "/v1/tags/{id}", tag = "tags", request_body = TagInput,
    responses((status = 200, body = TagView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    ctx: web::Data<Ctx>,
    auth: Auth,
    id: web::Path<Uuid>,
    body: Json<TagInput>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::update(&ctx, &auth.0, *id, body.into_inner()).await?))
}

/// Delete a tag (documents keep existing, untagged).
#[utoipa::path(delete, path = "/v1/tags/{id}", tag = "tags",
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    service::delete(&ctx, &auth.0, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}
