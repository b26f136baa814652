//! The OpenAI-compatible front door, for code written against the official
//! `openai` SDKs: `GET /v1/models` lists the model aliases the tenant may
//! name, and `POST /v1/chat/completions` answers through a `chat` job
//! (`services::completions`). Same keys, same tenants. On these routes an error is OpenAI's
//! envelope, `{"error": {"message", "type", "param", "code"}}`, with our
//! code as `code` ([`envelope`] rewrites the answer of any error).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use actix_web::middleware::{from_fn, Next};
use actix_web::web::Bytes;
use actix_web::{web, HttpResponse};
use chorus_shared::error::ErrorCode;
use chorus_shared::services::completions::{self, Completion, CompletionRequest};
use chorus_shared::services::llm_catalog;
use chorus_shared::Ctx;
use futures::StreamExt;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::error::{api_error, resource, ApiResult};
use crate::json::Json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/models").wrap(from_fn(envelope)).route(web::get().to(models)))
        .service(resource("/chat/completions").wrap(from_fn(envelope)).route(web::post().to(chat_completions)));
}

/// One model, as OpenAI lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Model {
    /// The alias to pass as `model`.
    pub id: String,
    /// Always `model`.
    pub object: &'static str,
    /// Unix seconds; 0 (aliases have no creation time).
    pub created: i64,
    /// `chorus` for configured models, the tenant's name space for its own.
    pub owned_by: &'static str,
}

/// OpenAI's list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelList {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<Model>,
}

/// OpenAI's error envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiError {
    pub error: OpenAiErrorBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiErrorBody {
    pub message: String,
    /// `authentication_error`, `permission_error`, `not_found_error`,
    /// `rate_limit_error`, `invalid_request_error` or `api_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The field at fault, if one is.
    pub param: Option<String>,
    /// Our code, from the error table.
    pub code: Option<String>,
}

/// The model aliases the key's tenant may name: the configured ones and
/// the tenant's own (OpenAI's `GET /v1/models`).
#[utoipa::path(get, path = "/v1/models", tag = "openai",
    responses((status = 200, body = ModelList), (status = 401, body = OpenAiError), (status = 403, body = OpenAiError),
        (status = 429, body = OpenAiError)),
    security(("bearer" = [])))]
pub async fn models(ctx: web::Data<Ctx>, auth: Auth) -> ApiResult<HttpResponse> {
    let aliases = llm_catalog::aliases(&ctx, auth.0.tenant_id).await?;
    let data = aliases.into_iter().map(|id| Model { id, object: "model", created: 0, owned_by: "chorus" }).collect();
    Ok(HttpResponse::Ok().json(ModelList { object: "list", data }))
}

/// A chat completion, run as a `chat` job of a new conversation tagged
/// `openai`: whole (waiting for the job up to five minutes, then
/// `completion_timeout` with the job's id), or with `stream: true` as
/// OpenAI's `chat.completion.chunk` events ending in `data: [DONE]` (one of
/// the tenant's `api.max_streams_per_tenant` streams while it lasts).
#[utoipa::path(post, path = "/v1/chat/completions", tag = "openai", request_body = CompletionRequest,
    responses((status = 200, body = Completion), (status = 400, body = OpenAiError), (status = 401, body = OpenAiError),
        (status = 403, body = OpenAiError), (status = 404, body = OpenAiError), (status = 413, body = OpenAiError),
        (status = 415, body = OpenAiError), (status = 422, body = OpenAiError), (status = 429, body = OpenAiError),
        (status = 502, body = OpenAiError), (status = 504, body = OpenAiError)),
    security(("bearer" = [])))]
pub async fn chat_completions(
    ctx: web::Data<Ctx>,
    streams: web::Data<crate::streams::Streams>,
    auth: Auth,
    body: Json<CompletionRequest>,
) -> ApiResult<HttpResponse> {
    let req = body.into_inner();
    let (model, stream) = (req.model.clone(), req.stream);
    let include_usage = req.stream_options.as_ref().is_some_and(|o| o.include_usage);
    if !stream {
        let job = completions::submit(&ctx, &auth.0, req).await?;
        return Ok(HttpResponse::Ok().json(completions::answer(&ctx, &auth.0, &job, &model).await?));
    }
    let max = ctx.settings.api.max_streams_per_tenant;
    let slot = streams.open(auth.0.tenant_id, max).ok_or_else(|| {
        api_error(ErrorCode::TooManyStreams, format!("at most {max} event streams per tenant are open at once"))
    })?;
    let job = completions::submit(&ctx, &auth.0, req).await?;
    let mut chunks = completions::chunks(&ctx, &auth.0, &job, &model, include_usage).await?;
    // The slot lives as long as the stream; `[DONE]` ends it.
    let body = futures::stream::poll_fn(move |cx| chunks.poll_recv(cx)).map(move |chunk| {
        let _held = &slot;
        Ok::<_, actix_web::Error>(Bytes::from(format!("data: {chunk}\n\n")))
    });
    let done = futures::stream::once(async { Ok::<_, actix_web::Error>(Bytes::from_static(b"data: [DONE]\n\n")) });
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/event-stream"))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body.chain(done)))
}

/// OpenAI's error type for a status.
fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// Rewrites an error answer `{code, message, details?}` into OpenAI's
/// envelope; the status and headers (`Retry-After`, say) stay.
pub async fn envelope<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?;
    let status = res.status();
    if !status.is_client_error() && !status.is_server_error() {
        return Ok(res.map_into_boxed_body());
    }
    let (req, res) = res.into_parts();
    let (mut head, body) = res.into_parts();
    // Our error bodies are small; anything larger (or unreadable) keeps
    // only its status's reason.
    let bytes = match actix_web::body::to_bytes_limited(body, 64 * 1024).await {
        Ok(Ok(bytes)) => bytes,
        _ => Default::default(),
    };
    let ours: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let message = ours["message"].as_str().unwrap_or_else(|| status.canonical_reason().unwrap_or("error"));
    let theirs = json!({"error": {
        "message": message,
        "type": error_type(status.as_u16()),
        "param": ours["details"]["field"],
        "code": ours["code"],
    }});
    head.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let res = head.set_body(BoxBody::new(theirs.to_string()));
    Ok(ServiceResponse::new(req, res))
}
