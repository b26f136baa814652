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
pub mod openai;
pub mod openai_batches;
pub mod schedules;
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
            .configure(agents::configure)
            .configure(schedules::configure)
            .configure(openai::configure)
            .configure(openai_batches::configure),
    );
}

/// `?wait=<seconds>`: how long a route waits for its job before it answers
/// 202 instead of the result.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Wait {
    /// Seconds (0..=60) to wait for the result before answering 202.
    #[param(minimum = 0, maximum = 60)]
    pub wait: Option<f64>,
}

impl Wait {
    /// The asked wait, or `default`; out of range is `invalid_parameter`.
    pub fn seconds(&self, default: f64) -> crate::error::ApiResult<f64> {
        let wait = self.wait.unwrap_or(default);
        if !(0.0..=60.0).contains(&wait) {
            return Err(crate::error::api_error(
                chorus_shared::error::ErrorCode::InvalidParameter,
                "wait must be between 0 and 60 seconds",
            ));
        }
        Ok(wait)
    }
}

/// 202 with the job, `Location` pointing at it.
pub fn accepted(summary: JobSummary) -> HttpResponse {
    HttpResponse::Accepted().insert_header((header::LOCATION, format!("/v1/jobs/{}", summary.id))).json(summary)
}
