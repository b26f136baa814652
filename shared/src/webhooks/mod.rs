//! Webhooks: Standard Webhooks signing, the SSRF guard and event types. The
//! outbox that records deliveries with each state change is part of the
//! job machinery ([`crate::queue::outbox`]); the `webhook_delivery` job
//! sends them.

pub mod guard;
pub mod signing;

/// Event types an endpoint may subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    "job.succeeded",
    "job.failed",
    "job.dead",
    "job.cancelled",
    "job.progress",
    "document.ingested",
    "document.failed",
    "bulk.completed",
    "batch.completed",
    "usage.threshold",
    "webhook.endpoint.disabled",
];

/// The event sent by `POST /v1/webhooks/{id}/test`, whatever the endpoint
/// subscribes to.
pub const TEST_EVENT: &str = "webhook.test";

/// Checks `url` with the guard under `settings`; a refusal is the API error
/// naming `field`.
pub async fn check_url(
    url: &str,
    settings: &crate::config::WebhookSettings,
    field: &str,
) -> crate::error::ServiceResult<()> {
    guard::check(url, settings).await.map(|_| ()).map_err(|why| refused_error(field, why))
}

/// The API error for a refused URL, naming the field.
pub fn refused_error(field: &str, why: guard::Refused) -> crate::ServiceError {
    crate::ServiceError::new(crate::ErrorCode::UrlNotAllowed, format!("{field} is not allowed: {why}"))
        .with_details(serde_json::json!({ "field": field, "reason": why.to_string() }))
}
