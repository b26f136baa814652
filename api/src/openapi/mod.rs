//! The OpenAPI document (utoipa): every route, its bodies and its errors.
//! Modifiers finish it: `variants` gives create and update bodies their own
//! schemas, `sse` describes event streams, and `edge` adds the errors any
//! route of a shape can answer.

mod edge;
mod sse;
mod variants;

use std::collections::HashMap;
use std::sync::LazyLock;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use edge::{operations_mut, EdgeErrors};
use sse::SseEvents;
use variants::Variants;

use crate::routes::{
    admin, agents, bulk, conversations, documents, embeddings, health, jobs, keys, llm, mcp, openai, openai_batches,
    schedules, search, tags, tools, webhooks,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Chorus API", description = "Job-queue worker cluster for AI conversation and knowledge work. \
Every error is `{code, message, details?}` with a code from the error table in the README. \
Every route that takes a key counts against the key's and the tenant's rate limits: answers carry \
`RateLimit-Policy` and `RateLimit`, and a refusal is `429 rate_limited` with `Retry-After`."),
    paths(
        jobs::submit, jobs::batch, jobs::list, jobs::get, jobs::cancel, jobs::retry, jobs::events,
        keys::create, keys::list, keys::revoke,
        webhooks::create, webhooks::list, webhooks::get, webhooks::update, webhooks::delete,
        webhooks::rotate_secret, webhooks::test, webhooks::deliveries, webhooks::redeliver,
        webhooks::callback_secret, webhooks::rotate_callback_secret,
        documents::upload, documents::list, documents::get, documents::preview, documents::download,
        documents::delete, documents::attach, documents::detach,
        tags::create, tags::list, tags::get, tags::update, tags::delete,
        bulk::submit, bulk::export, bulk::audit_log,
        embeddings::create,
        search::search, admin::reindex, admin::reconcile, admin::get_limits, admin::put_limits,
        conversations::create, conversations::list, conversations::get, conversations::update,
        conversations::delete, conversations::messages, conversations::post, conversations::fork,
        conversations::usage_report,
        llm::create_provider, llm::list_providers, llm::get_provider, llm::update_provider, llm::delete_provider,
        llm::create_model, llm::list_models, llm::get_model, llm::update_model, llm::delete_model,
        tools::list, tools::get, tools::invoke, tools::executions,
        mcp::create, mcp::list, mcp::get, mcp::discover, mcp::delete,
        agents::create, agents::list, agents::get, agents::update, agents::delete,
        schedules::create, schedules::list, schedules::get, schedules::update, schedules::delete,
        openai::models, openai::chat_completions,
        openai_batches::upload, openai_batches::list_files, openai_batches::get_file, openai_batches::content,
        openai_batches::delete_file, openai_batches::create, openai_batches::list, openai_batches::get,
        openai_batches::cancel,
        health::healthz, health::readyz, health::metrics,
    ),
    components(schemas(chorus_shared::error::ErrorBody, chorus_shared::error::ErrorCode)),
    modifiers(&BearerAuth, &Variants, &SseEvents, &EdgeErrors),
    tags((name = "jobs", description = "Submit and follow work"), (name = "keys", description = "API keys (admin)"),
        (name = "webhooks", description = "Signed event deliveries (admin)"),
        (name = "documents", description = "The knowledge base"), (name = "tags", description = "Document labels"),
        (name = "bulk", description = "Admin bulk operations and the audit log"),
        (name = "embeddings", description = "Text embeddings (fastembed, offline)"),
        (name = "search", description = "Keyword, vector and hybrid search"),
        (name = "conversations", description = "Chat: conversations, messages, forks and usage"),
        (name = "tools", description = "Tools: registry, invocation, executions, MCP servers"),
        (name = "agents", description = "Agent profiles for the chat tool loop"),
        (name = "schedules", description = "Recurring jobs: cron in a time zone"),
        (name = "llm", description = "The tenant's own language-model providers and models (admin)"),
        (name = "admin", description = "Operators: vector maintenance (reindex, reconcile) and tenants' rate limits"),
        (name = "openai", description = "OpenAI-compatible routes (errors in OpenAI's envelope)"),
        (name = "health", description = "Liveness, readiness and metrics"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document, built once.
pub static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);

/// The document this deployment serves: the embedding model `POST
/// /v1/embeddings` accepts is the configured one.
pub fn served(settings: &chorus_shared::config::Settings) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::schema::Schema;
    let mut doc = DOCUMENT.clone();
    let schemas = doc.components.as_mut().map(|c| &mut c.schemas);
    if let Some(utoipa::openapi::RefOr::T(Schema::Object(req))) = schemas.and_then(|s| s.get_mut("EmbeddingRequest")) {
        if let Some(utoipa::openapi::RefOr::T(Schema::Object(model))) = req.properties.get_mut("model") {
            model.enum_values = Some(vec![settings.embed.model_id.clone().into(), serde_json::Value::Null]);
        }
    }
    doc
}

/// Each documented path template (`/v1/jobs/{id}`) and its methods, for the
/// `Allow` header of a 405.
pub static ALLOWED: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    let mut doc = DOCUMENT.clone();
    doc.paths
        .paths
        .iter_mut()
        .map(|(path, item)| {
            let methods: Vec<&str> = operations_mut(item).into_iter().map(|(m, _)| m).collect();
            (path.clone(), methods.join(", "))
        })
        .collect()
});
