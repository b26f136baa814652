//! Conversations: CRUD and search, paginated messages, forks, and posting a
//! message (202 with the `chat` job; follow `/v1/jobs/{id}/events` for the
//! streamed tokens). Also `GET /v1/usage`.

use actix_web::http::header::LOCATION;
use actix_web::{web, HttpResponse};
use chorus_shared::domain::ConversationView;
use chorus_shared::error::ErrorBody;
use chorus_shared::services::conversations::{
    self as service, ConversationFilter, ConversationInput, ConversationPage, Fork, MessagePage, MessageQuery,
    PostMessage, Posted,
};
use chorus_shared::services::usage::{self, UsageQuery, UsageRow};
use chorus_shared::Ctx;
use uuid::Uuid;

use crate::auth::Auth;
use crate::error::{resource, ApiResult};
use crate::json::Json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/conversations").route(web::post().to(create)).route(web::get().to(list)))
        .service(
            resource("/conversations/{id}")
                .route(web::get().to(get))
                .route(web::patch().to(update))
                .route(web::delete().to(delete)),
        )
        .service(resource("/conversations/{id}/messages").route(web::get().to(messages)).route(web::post().to(post)))
        .service(resource("/conversations/{id}/fork").route(web::post().to(fork)))
        .service(resource("/usage").route(web::get().to(usage_report)));
}

/// Create a conversation.
#[utoipa::path(post, path = "/v1/conversations", tag = "conversations", request_body = ConversationInput,
    responses((status = 201, body = ConversationView), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create(ctx: web::Data<Ctx>, auth: Auth, body: Json<ConversationInput>) -> ApiResult<HttpResponse> {
    let conv = service::create(&ctx, &auth.0, body.into_inner()).await?;
    Ok(HttpResponse::Created().insert_header((LOCATION, format!("/v1/conversations/{}", conv.id))).json(conv))
}

/// List and search conversations (text, model, tag, dates), newest first.
#[utoipa::path(get, path = "/v1/conversations", tag = "conversations", params(ConversationFilter),
    responses((status = 200, body = ConversationPage)), security(("bearer" = [])))]
pub async fn list(ctx: web::Data<Ctx>, auth: Auth, q: web::Query<ConversationFilter>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::list(&ctx, &auth.0, q.into_inner()).await?))
}

#[utoipa::path(get, path = "/v1/conversations/{id}", tag = "conversations",
    responses((status = 200, body = ConversationView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::get(&ctx, &auth.0, *id).await?))
}

#[utoipa::path(patch, path = "/v1/conversations/{id}", tag = "conversations", request_body = ConversationInput,
    responses((status = 200, body = ConversationView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn update(
    ctx: web::Data<Ctx>,
    auth: Auth,
    id: web::Path<Uuid>,
    body: Json<ConversationInput>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::update(&ctx, &auth.0, *id, body.into_inner()).await?))
}

#[utoipa::path(delete, path = "/v1/conversations/{id}", tag = "conversations",
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    service::delete(&ctx, &auth.0, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The history, oldest first (a fork's includes what it shares with its parent).
#[utoipa::path(get, path = "/v1/conversations/{id}/messages", tag = "conversations", params(MessageQuery),
    responses((status = 200, body = MessagePage), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn messages(
    ctx: web::Data<Ctx>,
    auth: Auth,
    id: web::Path<Uuid>,
    q: web::Query<MessageQuery>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::messages(&ctx, &auth.0, *id, q.into_inner()).await?))
}

/// Send a message: stores it and answers 202 with the `chat` job that
/// writes the reply. Tokens stream on the job's SSE as `token` events.
#[utoipa::path(post, path = "/v1/conversations/{id}/messages", tag = "conversations", request_body = PostMessage,
    responses((status = 202, body = Posted), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn post(
    ctx: web::Data<Ctx>,
    auth: Auth,
    id: web::Path<Uuid>,
    body: Json<PostMessage>,
) -> ApiResult<HttpResponse> {
    let (message, job) = service::post_message(&ctx, &auth.0, *id, body.into_inner()).await?;
    let posted = Posted { message: message.view(), job: job.summary() };
    Ok(HttpResponse::Accepted().insert_header((LOCATION, format!("/v1/jobs/{}", posted.job.id))).json(posted))
}

/// Branch a conversation at one of its messages.
#[utoipa::path(post, path = "/v1/conversations/{id}/fork", tag = "conversations", request_body = Fork,
    responses((status = 201, body = ConversationView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn fork(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<Uuid>, body: Json<Fork>) -> ApiResult<HttpResponse> {
    let conv = service::fork(&ctx, &auth.0, *id, body.into_inner()).await?;
    Ok(HttpResponse::Created().insert_header((LOCATION, format!("/v1/conversations/{}", conv.id))).json(conv))
}

/// Model usage by day, provider and model (admin).
#[utoipa::path(get, path = "/v1/usage", tag = "conversations", params(UsageQuery),
    responses((status = 200, body = Vec<UsageRow>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn usage_report(ctx: web::Data<Ctx>, auth: Auth, q: web::Query<UsageQuery>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(usage::aggregate(&ctx, &auth.0, q.into_inner()).await?))
}
