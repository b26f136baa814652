//! `/v1/keys`: admins create, list and revoke their tenant's API keys.

use actix_web::{web, HttpResponse};
use chorus_shared::domain::Role;
use chorus_shared::services::auth::{self, ApiKeyView, CreatedApiKey};
use chorus_shared::Ctx;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Auth;
use crate::error::{resource, ApiResult};
use crate::json::Json;
use crate::key_cache::KeyCache;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/keys").route(web::post().to(create)).route(web::get().to(list)))
        .service(resource("/keys/{id}").route(web::delete().to(revoke)));
}

/// The body of `POST /v1/keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "ci", "role": "user"}))]
pub struct CreateKey {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    pub role: Role,
}

/// Create an API key in the caller's tenant (admin).
#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = CreateKey,
    responses((status = 201, description = "The secret is shown only here", body = CreatedApiKey),
        (status = 403, body = chorus_shared::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(ctx: web::Data<Ctx>, auth: Auth, body: Json<CreateKey>) -> ApiResult<HttpResponse> {
    let p = auth.require(Role::Admin, "managing API keys")?;
    let key = auth::create_key(&ctx.pool, p.tenant_id, &body.name, body.role, Some(p.key_id)).await?;
    Ok(HttpResponse::Created().json(key))
}

/// List the tenant's API keys (admin).
#[utoipa::path(get, path = "/v1/keys", tag = "keys", responses((status = 200, body = [ApiKeyView])),
    security(("bearer" = [])))]
pub async fn list(ctx: web::Data<Ctx>, auth: Auth) -> ApiResult<HttpResponse> {
    let p = auth.require(Role::Admin, "managing API keys")?;
    Ok(HttpResponse::Ok().json(auth::list_keys(&ctx.pool, p.tenant_id).await?))
}

/// Revoke an API key (admin). It stops working at once here, and on every
/// other API process as soon as the announcement reaches it.
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "keys",
    responses((status = 200, body = ApiKeyView), (status = 404, body = chorus_shared::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke(
    ctx: web::Data<Ctx>,
    keys: web::Data<KeyCache>,
    auth: Auth,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let p = auth.require(Role::Admin, "managing API keys")?;
    let revoked = auth::revoke_key(&ctx, p.tenant_id, *id, Some(p.key_id)).await?;
    keys.forget(revoked.id);
    Ok(HttpResponse::Ok().json(revoked))
}
