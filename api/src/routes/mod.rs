//! One file per resource; each exports `configure`.

pub mod bulk;
pub mod documents;
pub mod embeddings;
pub mod health;
pub mod jobs;
pub mod keys;
pub mod tags;
pub mod webhooks;

use actix_web::web;

/// Every `/v1` route.
pub fn configure_v1(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1")
            .configure(jobs::configure)
            .configure(keys::configure)
            .configure(webhooks::configure)
            .configure(documents::configure)
            .configure(tags::configure)
            .configure(bulk::configure)
            .configure(embeddings::configure),
    );
}
