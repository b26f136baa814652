//! The Chorus HTTP API (actix-web). Handlers are thin: read, authorize,
//! call a service in `chorus_shared::services`, map to a view. No SQL here.
//!
//! - [`startup`]: builds and runs the server.
//! - [`routes`]: one file per resource, each with `configure`.
//! - [`auth`]: the bearer-key extractor and role checks.
//! - [`dashboard`]: the operators' web pages under `/dashboard`.
//! - [`error`]: the wire shape of errors and the extractor error handlers.
//! - [`openapi`]: the OpenAPI document behind `/openapi.json` and `/docs`.

pub mod auth;
pub mod dashboard;
pub mod error;
pub mod json;
pub mod key_cache;
pub mod multipart;
pub mod openapi;
pub mod rate_limits;
pub mod routes;
pub mod startup;
pub mod streams;
