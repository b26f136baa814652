//! The HTTP edge of the rate limits (`chorus_shared::limits`): [`Auth`]
//! spends one request of the key and of its tenant and leaves the verdict
//! on the request; [`headers`] sends `RateLimit-Policy` and `RateLimit` on
//! the answer (IETF draft-ietf-httpapi-ratelimit-headers), and a refusal
//! (`429 rate_limited`) also carries `Retry-After`.
//!
//! [`Auth`]: crate::auth::Auth

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use chorus_shared::limits::Verdict;

/// Sets the headers a `rate_limited` error's details carry (`Retry-After`,
/// `RateLimit-Policy`, `RateLimit`).
pub fn from_details(details: Option<&serde_json::Value>, headers: &mut HeaderMap) {
    let Some(map) = details.and_then(|d| d.get("headers")).and_then(|h| h.as_object()) else { return };
    for (name, value) in map {
        if let (Ok(name), Some(Ok(value))) =
            (HeaderName::try_from(name.as_str()), value.as_str().map(HeaderValue::from_str))
        {
            headers.insert(name, value);
        }
    }
}

/// Adds the request's rate-limit headers to an answer that has none.
pub async fn headers<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let verdict = res.request().extensions().get::<Verdict>().cloned();
    let Some(verdict) = verdict else { return Ok(res) };
    let headers = res.headers_mut();
    if headers.contains_key("ratelimit") {
        return Ok(res);
    }
    for (name, value) in [("ratelimit-policy", verdict.policy_header()), ("ratelimit", verdict.state_header())] {
        if let Some(Ok(value)) = value.map(|v| HeaderValue::from_str(&v)) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    Ok(res)
}
