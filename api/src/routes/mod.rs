//! One file per resource; each exports `configure`.

pub mod admin;
pub mod agents;
pub mod bulk;
pub mod conversations;
pub mod documents;
pub mod embeddings;
pub mod health;
pub mod jobs;
pub mod keys;
pub mod llm;
pub mod mcp;
pub mod search;
pub mod tags;
pub mod tools;
pub mod webhooks;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chorus_shared::domain::JobSummary;

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
            .configure(embeddings::configure)
            .configure(search::configure)
            .configure(admin::configure)
            .configure(conversations::configure)
            .configure(llm::configure)
            .configure(tools::configure)
            .configure(mcp::configure)
            .configure(agents::configure),
    );
}

/// 202 with the job, `Location` pointing at it.
pub fn accepted(summary: JobSummary) -> HttpResponse {
    HttpResponse::Accepted().insert_header((header::LOCATION, format!("/v1/jobs/{}", summary.id))).json(summary)
}
