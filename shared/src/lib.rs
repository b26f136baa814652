//! The Chorus library crate: everything the API and the workers share.
//!
//! - [`config`]: layered settings with defaults that work on one machine.
//! - [`error`]: the one error table and the typed service error.
//! - [`domain`]: our own enums (job status, role) and wire views.
//! - [`db`]: the diesel schema, one model file per table, the pool and migrations.
//! - [`services`]: transport-free operations that handlers and jobs call.
//! - [`queue`]: the Redis side: dispatch of committed jobs into apalis queues,
//!   pub/sub of job events and cancellations.
//! - [`jobs`]: one file per job kind, registered in one place.
//! - [`webhooks`]: signing, the SSRF guard and the delivery outbox.
//! - [`metrics`] and [`telemetry`]: Prometheus and tracing.

pub mod config;
pub mod context;
pub mod db;
pub mod domain;
pub mod embed;
pub mod error;
pub mod jobs;
pub mod knowledge;
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
