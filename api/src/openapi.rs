//! The OpenAPI document (utoipa): every route, its bodies and its errors.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    admin, agents, bulk, conversations, documents, embeddings, health, jobs, keys, llm, mcp, search, tags, tools,
    webhooks,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Chorus API", description = "Job-queue worker cluster for AI conversation and knowledge work. \
Every error is `{code, message, details?}` with a code from the error table in the README."),
    paths(
        jobs::submit, jobs::list, jobs::get, jobs::cancel, jobs::retry, jobs::events,
        keys::create, keys::list, keys::revoke,
        webhooks::create, webhooks::list, webhooks::get, webhooks::update, webhooks::delete,
        webhooks::rotate_secret, webhooks::test, webhooks::deliveries, webhooks::redeliver,
        webhooks::callback_secret, webhooks::rotate_callback_secret,
        documents::upload, documents::list, documents::get, documents::preview, documents::download,
        documents::delete, documents::attach, documents::detach,
        tags::create, tags::list, tags::get, tags::update, tags::delete,
        bulk::submit, bulk::export, bulk::audit_log,
        embeddings::create,
        search::search, admin::reindex, admin::reconcile,
        conversations::create, conversations::list, conversations::get, conversations::update,
        conversations::delete, conversations::messages, conversations::post, conversations::fork,
        conversations::usage_report,
        llm::create_provider, llm::list_providers, llm::get_provider, llm::update_provider, llm::delete_provider,
        llm::create_model, llm::list_models, llm::get_model, llm::update_model, llm::delete_model,
        tools::list, tools::get, tools::invoke, tools::executions,
        mcp::create, mcp::list, mcp::get, mcp::discover, mcp::delete,
        agents::create, agents::list, agents::get, agents::update, agents::delete,
        health::healthz, health::readyz, health::metrics,
    ),
    components(schemas(chorus_shared::error::ErrorBody, chorus_shared::error::ErrorCode)),
    modifiers(&BearerAuth),
    tags((name = "jobs", description = "Submit and follow work"), (name = "keys", description = "API keys (admin)"),
        (name = "webhooks", description = "Signed event deliveries (admin)"),
        (name = "documents", description = "The knowledge base"), (name = "tags", description = "Document labels"),
        (name = "bulk", description = "Admin bulk operations and the audit log"),
        (name = "embeddings", description = "Text embeddings (fastembed, offline)"),
        (name = "search", description = "Keyword, vector and hybrid search"),
        (name = "conversations", description = "Chat: conversations, messages, forks and usage"),
        (name = "tools", description = "Tools: registry, invocation, executions, MCP servers"),
        (name = "agents", description = "Agent profiles for the chat tool loop"),
        (name = "llm", description = "The tenant's own language-model providers and models (admin)"),
        (name = "admin", description = "Vector maintenance: reindex and reconcile (admin)"),
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
