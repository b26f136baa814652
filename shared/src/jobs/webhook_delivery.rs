//! Handler of `webhook_delivery` ([`crate::kinds::webhook_delivery`]):
//! sends one outbox row, signed per Standard Webhooks, and logs the attempt
//! ([`crate::services::deliveries`] keeps the delivery's state).
//!
//! Idempotent: a delivery that already succeeded (or was cancelled) is not
//! sent again; a repeated attempt re-sends the same `webhook-id` and body,
//! which receivers de-duplicate on. The URL is checked again after DNS and
//! the request goes to exactly the addresses that passed.

use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use serde_json::{json, Value};

use super::{JobContext, JobError};
use crate::config::Settings;
use crate::kinds::webhook_delivery::DeliverWebhook;
use crate::kinds::JobArgs;
use crate::services::deliveries::{self, Attempt, Skip};
use crate::webhooks::{guard, signing};

pub async fn run(ctx: &JobContext, p: DeliverWebhook) -> Result<Value, JobError> {
    let app = &ctx.ctx;
    let settings = &app.settings;
    let out = match deliveries::outgoing(app, p.delivery_id).await? {
        Ok(out) => out,
        Err(Skip::Ended(status)) => return Ok(json!({ "skipped": status })),
        Err(Skip::EndpointGone) => return Ok(json!({ "skipped": "endpoint disabled or deleted" })),
        Err(Skip::Held) => return Ok(json!({ "held": "the endpoint is failing; released when it recovers" })),
    };
    let attempt = match guard::check(&out.url, &settings.webhooks).await {
        Err(why) => Attempt {
            status: None,
            error: Some(format!("url_not_allowed: {why}")),
            response: None,
            latency: Duration::ZERO,
        },
        Ok((parsed, addrs)) => send(settings, &out.delivery, parsed, &addrs, &out.secrets).await,
    };
    let ok = attempt.status.is_some_and(|s| (200..300).contains(&s));
    let gone = attempt.status == Some(410);
    let refused = attempt.error.as_deref().is_some_and(|e| e.starts_with("url_not_allowed"));
    let last_try = ctx.attempt >= ctx.max_attempts;
    let outcome = if ok {
        "success"
    } else if gone {
        "gone"
    } else if refused {
        "refused"
    } else {
        "failure"
    };
    app.metrics.webhook_deliveries.with_label_values(&[outcome]).inc();
    app.metrics.webhook_delivery_seconds.observe(attempt.latency.as_secs_f64());
    deliveries::log_attempt(app, &out.delivery, &attempt).await.map_err(JobError::database)?;

    if ok {
        if out.circuit_open {
            // Draining a backlog: at most `release_per_sec` a second.
            let per_sec = u64::from(settings.webhooks.release_per_sec.max(1));
            tokio::time::sleep(Duration::from_micros(1_000_000 / per_sec)).await;
        }
        let released = deliveries::delivered(app, &out).await.map_err(JobError::database)?;
        if released > 0 {
            crate::services::jobs::nudge(app, DeliverWebhook::KIND.queue.as_str());
        }
        return Ok(json!({ "status": attempt.status, "released": released }));
    }
    let what = attempt.error.clone().unwrap_or_else(|| format!("HTTP {}", attempt.status.unwrap_or(0)));
    // A failure that a retry could mend waits behind the endpoint's probe
    // (even on its last attempt: the endpoint is known to be down).
    if !gone && !refused && deliveries::held_after_failure(app, &out).await.map_err(JobError::database)? {
        return Ok(json!({ "held": "the endpoint is failing; released when it recovers", "error": what }));
    }
    if gone || refused || last_try {
        let reason = if gone { Some("the receiver answered 410 Gone".to_string()) } else { None };
        deliveries::failed(app, &out, reason).await.map_err(JobError::database)?;
        let code = if gone {
            "endpoint_gone"
        } else if refused {
            "url_not_allowed"
        } else {
            "delivery_failed"
        };
        return Err(JobError::permanent(code, what));
    }
    Err(JobError::retryable("delivery_failed", what))
}

/// One signed POST to the checked addresses, no redirects, capped reading.
async fn send(
    settings: &Settings,
    delivery: &crate::db::models::WebhookDelivery,
    url: url::Url,
    addrs: &[std::net::SocketAddr],
    secrets: &[String],
) -> Attempt {
    let cfg = &settings.webhooks;
    let msg_id = format!("msg_{}", delivery.id.simple());
    let timestamp = Utc::now().timestamp();
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let signature = signing::signature_header(&refs, &msg_id, timestamp, &delivery.body);
    let host = url.host_str().unwrap_or_default().to_string();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_millis(cfg.timeout_ms))
        .resolve_to_addrs(&host, addrs)
        .user_agent("Chorus-Webhooks/1")
        .build();
    let started = Instant::now();
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            return Attempt {
                status: None,
                error: Some(format!("client: {e}")),
                response: None,
                latency: started.elapsed(),
            }
        }
    };
    let sent = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &msg_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(delivery.body.clone())
        .send()
        .await;
    match sent {
        Err(e) => {
            let kind = if e.is_timeout() {
                "timeout"
            } else if e.is_connect() {
                "connection"
            } else {
                "request"
            };
            Attempt { status: None, error: Some(format!("{kind}: {e}")), response: None, latency: started.elapsed() }
        }
        Ok(resp) => {
            let status = resp.status().as_u16();
            let mut body = Vec::new();
            let mut stream = resp.bytes_stream();
            while body.len() < cfg.max_response_bytes {
                match stream.next().await {
                    Some(Ok(chunk)) => body.extend_from_slice(&chunk),
                    _ => break,
                }
            }
            body.truncate(cfg.max_response_bytes);
            let latency = started.elapsed();
            Attempt {
                status: Some(status),
                error: None,
                response: Some(String::from_utf8_lossy(&body).into_owned()),
                latency,
            }
        }
    }
}
