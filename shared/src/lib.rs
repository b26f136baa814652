//! The Chorus library crate: everything the API and the workers share.
//!
//! Its modules form layers, lowest first; a module may name modules of its
//! own layer or below, never above (a unit test, `layer_check.rs`, checks
//! it, and the README's Layout section explains it):
//!
//! 1. [`domain`]: our own types (job status, role, queue, wire views).
//! 2. [`config`], [`telemetry`], [`secrets`]: settings and process plumbing.
//! 3. [`db`]: the diesel schema, one model file per table, pool, migrations.
//! 4. [`error`]: the one error table and the typed service error.
//! 5. [`metrics`]: the Prometheus registry.
//! 6. [`embed`], [`knowledge`], [`webhooks`], [`llm`], [`vectors`]: engines
//!    and adapters (embedding model, extraction, signing and the SSRF guard,
//!    model providers, the vector store).
//! 7. [`kinds`]: job declarations, typed arguments per kind.
//! 8. [`queue`], [`limits`]: the job machinery (insert, dispatch, claim,
//!    heartbeat, finish, rescue, events and the webhook outbox), and the
//!    rate limits kept in Redis.
//! 9. [`context`]: the handles every service needs ([`Ctx`]).
//! 10. [`tools`]: tools models can call, and MCP clients.
//! 11. [`services`]: transport-free operations that handlers and jobs call.
//! 12. [`jobs`]: the job handlers and their registry.

pub mod config;
pub mod context;
pub mod db;
pub mod domain;
pub mod embed;
pub mod error;
pub mod jobs;
pub mod kinds;
pub mod knowledge;
pub mod limits;
pub mod llm;
pub mod metrics;
pub mod queue;
pub mod secrets;
pub mod services;
pub mod telemetry;
pub mod tools;
pub mod vectors;
pub mod webhooks;

pub use context::Ctx;
pub use error::{ErrorCode, ServiceError};

/// The library's modules by layer, lowest first; a module may name modules
/// of its own layer or below. The unit test in `layer_check.rs` enforces it.
pub const LAYERS: &[&[&str]] = &[
    &["domain"],
    &["config", "telemetry", "secrets"],
    &["db"],
    &["error"],
    &["metrics"],
    &["embed", "knowledge", "webhooks", "llm", "vectors"],
    &["kinds"],
    &["queue", "limits"],
    &["context"],
    &["tools"],
    &["services"],
    &["jobs"],
];

#[cfg(test)]
mod layer_check;
