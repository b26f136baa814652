//! One model file per table: the rows as diesel reads and writes them.
//! What clients see of a row is a view (`domain`, or the service's own
//! type), built from the row, never the row itself.

mod agent;
mod api_key;
mod audit_entry;
mod cached_embedding;
mod chunk;
mod conversation;
mod deployment_fact;
mod document;
mod document_page;
mod document_tag;
mod job;
mod job_event;
mod llm_model;
mod llm_provider;
mod llm_usage;
mod mcp_server;
mod message;
mod schedule;
mod tag;
mod tenant;
mod tool_execution;
mod vector_collection;
mod webhook_attempt;
mod webhook_delivery;
mod webhook_endpoint;

pub use agent::Agent;
pub use api_key::{ApiKey, NewApiKey};
pub use audit_entry::AuditEntry;
pub use cached_embedding::CachedEmbedding;
pub use chunk::Chunk;
pub use conversation::Conversation;
pub use deployment_fact::DeploymentFact;
pub use document::Document;
pub use document_page::DocumentPage;
pub use document_tag::DocumentTag;
pub use job::{Job, NewJob};
pub use job_event::{JobEvent, NewJobEvent};
pub use llm_model::LlmModel;
pub use llm_provider::LlmProvider;
pub use llm_usage::NewLlmUsage;
pub use mcp_server::McpServer;
pub use message::Message;
pub use schedule::{Schedule, ScheduleFire};
pub use tag::Tag;
pub use tenant::Tenant;
pub use tool_execution::ToolExecution;
pub use vector_collection::VectorCollection;
pub use webhook_attempt::WebhookAttempt;
pub use webhook_delivery::{NewWebhookDelivery, WebhookDelivery};
pub use webhook_endpoint::WebhookEndpoint;
