//! `webhook_delivery` (internal, queue `webhook`): sends one outbox row,
//! signed per Standard Webhooks, and logs the attempt.
//!
//! Idempotent: a delivery that already succeeded (or was cancelled) is not
//! sent again; a repeated attempt re-sends the same `webhook-id` and body,
//! which receivers de-duplicate on. The URL is checked again after DNS and
//! the request goes to exactly the addresses that passed.

use std::time::{Duration, Instant};

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{parse_payload, JobContext, JobError, KindSpec};
use crate::config::Settings;
use crate::db::models::{WebhookDelivery, WebhookEndpoint};
use crate::db::schema::{webhook_attempts as a, webhook_deliveries as d, webhook_endpoints as e};
use crate::error::ServiceError;
use crate::services::webhooks as service;
use crate::webhooks::{guard, signing};

/// The kind's name (also used by the outbox, which cannot name `SPEC`
/// without a type cycle).
pub const NAME: &str = "webhook_delivery";
/// The kind's queue.
pub const QUEUE: &str = "webhook";

pub const SPEC: KindSpec = KindSpec {
    name: NAME,
    queue: QUEUE,
    default_max_attempts: 8,
    timeout: Duration::from_secs(120),
    admin_only: true,
    handles_cancel: false,
    internal: true,
    backoff: Some(backoff),
    validate,
    run: |ctx, payload| Box::pin(run(ctx, payload)),
};

#[derive(Debug, Deserialize)]
struct Payload {
    delivery_id: Uuid,
}

fn validate(payload: &Value) -> Result<(), ServiceError> {
    parse_payload::<Payload>(payload).map(|_| ())
}

/// The configured schedule: the wait after attempt `n` is its `n`-th entry.
fn backoff(settings: &Settings, attempt: i32) -> Duration {
    let schedule = &settings.webhooks.retry_schedule_ms;
    let i = (attempt.max(1) as usize - 1).min(schedule.len().saturating_sub(1));
    Duration::from_millis(schedule.get(i).copied().unwrap_or(5_000))
}

/// What one HTTP attempt came to.
struct Attempt {
    status: Option<u16>,
    error: Option<String>,
    response: Option<String>,
    latency: Duration,
}

async fn run(ctx: &JobContext, payload: Value) -> Result<Value, JobError> {
    let p: Payload =
        serde_json::from_value(payload).map_err(|e| JobError::permanent("invalid_payload", e.to_string()))?;
    let app = &ctx.ctx;
    let settings = &app.settings;
    let mut conn = app.pool.get().await.map_err(JobError::database)?;
    let delivery: WebhookDelivery = d::table
        .find(p.delivery_id)
        .select(WebhookDelivery::as_select())
        .first(&mut conn)
        .await
        .map_err(|e| JobError::permanent("delivery_not_found", e.to_string()))?;
    if delivery.status != "pending" {
        return Ok(json!({ "skipped": delivery.status }));
    }
    // Where it goes, and the secrets that sign it.
    let (url, secrets, endpoint) = match delivery.endpoint_id {
        Some(id) => {
            let endpoint: Option<WebhookEndpoint> = e::table
                .find(id)
                .select(WebhookEndpoint::as_select())
                .first(&mut conn)
                .await
                .optional()
                .map_err(JobError::database)?;
            let Some(endpoint) = endpoint.filter(|ep| ep.enabled) else {
                set_status(&mut conn, delivery.id, "cancelled").await?;
                return Ok(json!({ "skipped": "endpoint disabled or deleted" }));
            };
            let secrets = live_secrets(&endpoint.secret, &endpoint.previous_secret, endpoint.previous_expires_at);
            (endpoint.url.clone(), secrets, Some(endpoint))
        }
        None => {
            let tenant = service::callback_secrets(&mut conn, delivery.tenant_id).await.map_err(JobError::database)?;
            (delivery.url.clone().unwrap_or_default(), tenant, None)
        }
    };
    let attempt = match guard::check(&url, &settings.webhooks).await {
        Err(why) => Attempt {
            status: None,
            error: Some(format!("url_not_allowed: {why}")),
            response: None,
            latency: Duration::ZERO,
        },
        Ok((parsed, addrs)) => send(settings, &delivery, parsed, &addrs, &secrets).await,
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
    log_attempt(&mut conn, &delivery, &attempt).await?;

    if ok {
        diesel::update(d::table.find(delivery.id))
            .set((d::status.eq("succeeded"), d::delivered_at.eq(Utc::now())))
            .execute(&mut conn)
            .await
            .map_err(JobError::database)?;
        if let Some(ep) = &endpoint {
            diesel::update(e::table.find(ep.id))
                .set(e::consecutive_failures.eq(0))
                .execute(&mut conn)
                .await
                .map_err(JobError::database)?;
        }
        return Ok(json!({ "status": attempt.status }));
    }
    let what = attempt.error.clone().unwrap_or_else(|| format!("HTTP {}", attempt.status.unwrap_or(0)));
    if gone || refused || last_try {
        set_status(&mut conn, delivery.id, "failed").await?;
        if let Some(ep) = &endpoint {
            let reason = if gone { Some("the receiver answered 410 Gone".to_string()) } else { None };
            service::record_failed_delivery(&mut conn, app, ep, reason).await.map_err(JobError::database)?;
        }
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

/// The current secret, plus the previous one while its overlap lasts.
pub(crate) fn live_secrets(
    current: &str,
    previous: &Option<String>,
    expires: Option<chrono::DateTime<Utc>>,
) -> Vec<String> {
    let mut out = vec![current.to_string()];
    if let (Some(p), Some(until)) = (previous, expires) {
        if until > Utc::now() {
            out.push(p.clone());
        }
    }
    out
}

async fn set_status(conn: &mut AsyncPgConnection, id: Uuid, status: &str) -> Result<(), JobError> {
    diesel::update(d::table.find(id)).set(d::status.eq(status)).execute(conn).await.map_err(JobError::database)?;
    Ok(())
}

async fn log_attempt(conn: &mut AsyncPgConnection, delivery: &WebhookDelivery, at: &Attempt) -> Result<(), JobError> {
    diesel::insert_into(a::table)
        .values((
            a::delivery_id.eq(delivery.id),
            a::status_code.eq(at.status.map(i32::from)),
            a::latency_ms.eq(at.latency.as_millis().min(i32::MAX as u128) as i32),
            a::error.eq(&at.error),
            a::response.eq(&at.response),
        ))
        .execute(conn)
        .await
        .map_err(JobError::database)?;
    diesel::update(d::table.find(delivery.id))
        .set((
            d::attempts.eq(d::attempts + 1),
            d::last_status.eq(at.status.map(i32::from)),
            d::last_error.eq(&at.error),
        ))
        .execute(conn)
        .await
        .map_err(JobError::database)?;
    Ok(())
}

/// One signed POST to the checked addresses, no redirects, capped reading.
async fn send(
    settings: &Settings,
    delivery: &WebhookDelivery,
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
