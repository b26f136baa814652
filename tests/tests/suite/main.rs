//! The black-box suite: one test binary, real Postgres, real Redis.

mod agents;
mod auth;
mod bad_input;
mod bulk;
mod cancel;
mod chaos;
mod chat;
mod documents;
mod embeddings;
mod heartbeat;
mod idempotency;
mod kinds;
mod lifecycle;
mod llm_admin;
mod mcp;
mod modes;
mod observability;
mod outage;
mod providers;
mod retries;
mod scheduling;
mod search;
mod tools;
mod vacuum;
mod vector_store;
mod webhooks;
