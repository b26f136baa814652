//! One webhook delivery's state: where it goes and with which secrets, the
//! attempt log, its place in its endpoint's circuit
//! ([`crate::queue::circuit`]), and its end (delivered, or failed, which
//! counts toward disabling its endpoint). The `webhook_delivery` handler
//! sends it and calls these for every write.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::models::{WebhookDelivery, WebhookEndpoint};
use crate::db::schema::{webhook_attempts as a, webhook_deliveries as d, webhook_endpoints as e};
use crate::error::{ErrorCode, ServiceError, ServiceResult};
use crate::queue::circuit;
use crate::Ctx;

/// A pending delivery, ready to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub delivery: WebhookDelivery,
    pub url: String,
    /// The secrets that sign it (the current one, and the previous one
    /// while a rotation's overlap lasts).
    pub secrets: Vec<String>,
    /// Its endpoint; `None` for a job's `callback_url`.
    pub endpoint: Option<WebhookEndpoint>,
    /// Whether the endpoint's circuit was open when the delivery was loaded.
    pub circuit_open: bool,
}

/// Why a delivery is not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// It already ended with this status.
    Ended(String),
    /// Its endpoint was disabled or deleted (the delivery is now `cancelled`).
    EndpointGone,
    /// Its endpoint's circuit is open and another delivery probes: it is
    /// now `held` until the endpoint recovers.
    Held,
}

/// What one HTTP attempt came to.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub status: Option<u16>,
    pub error: Option<String>,
    pub response: Option<String>,
    pub latency: std::time::Duration,
}

/// The current secret, plus the previous one while its overlap lasts.
pub fn live_secrets(current: &str, previous: &Option<String>, expires: Option<DateTime<Utc>>) -> Vec<String> {
    let mut out = vec![current.to_string()];
    if let (Some(p), Some(until)) = (previous, expires) {
        if until > Utc::now() {
            out.push(p.clone());
        }
    }
    out
}

/// Loads delivery `id` and what it needs to be sent; a missing delivery is
/// `delivery_not_found`.
pub async fn outgoing(ctx: &Ctx, id: Uuid) -> ServiceResult<Result<Outgoing, Skip>> {
    let mut conn = ctx.pool.get().await?;
    let delivery: WebhookDelivery = d::table
        .find(id)
        .select(WebhookDelivery::as_select())
        .first(&mut conn)
        .await
        .optional()?
        .ok_or_else(|| ServiceError::new(ErrorCode::DeliveryNotFound, "no such delivery"))?;
    if delivery.status != "pending" {
        return Ok(Err(Skip::Ended(delivery.status)));
    }
    let Some(id) = delivery.endpoint_id else {
        let secrets = super::webhooks::callback_secrets(&mut conn, &ctx.secrets, delivery.tenant_id).await?;
        let url = delivery.url.clone().unwrap_or_default();
        return Ok(Ok(Outgoing { delivery, url, secrets, endpoint: None, circuit_open: false }));
    };
    let endpoint: Option<(WebhookEndpoint, Option<Uuid>)> = e::table
        .find(id)
        .select((WebhookEndpoint::as_select(), e::probe_delivery_id))
        .first(&mut conn)
        .await
        .optional()?;
    let Some((endpoint, probe)) = endpoint.filter(|(ep, _)| ep.enabled) else {
        set_status(&mut conn, delivery.id, "cancelled").await?;
        circuit::endpoint_disabled(&mut conn, id).await?;
        return Ok(Err(Skip::EndpointGone));
    };
    // Another delivery probes a failing endpoint: wait behind it (the hold
    // checks again under the endpoint's lock).
    if probe.is_some_and(|p| p != delivery.id) && circuit::hold(&mut conn, endpoint.id, delivery.id).await? {
        return Ok(Err(Skip::Held));
    }
    let context = super::webhooks::endpoint_context(endpoint.id);
    let current = super::webhooks::unseal(&ctx.secrets, &endpoint.secret, &context)?;
    let previous =
        endpoint.previous_secret.as_deref().map(|p| super::webhooks::unseal(&ctx.secrets, p, &context)).transpose()?;
    let secrets = live_secrets(&current, &previous, endpoint.previous_expires_at);
    let circuit_open = probe.is_some();
    Ok(Ok(Outgoing { url: endpoint.url.clone(), delivery, secrets, endpoint: Some(endpoint), circuit_open }))
}

async fn set_status(conn: &mut diesel_async::AsyncPgConnection, id: Uuid, status: &str) -> QueryResult<()> {
    diesel::update(d::table.find(id)).set(d::status.eq(status)).execute(conn).await.map(|_| ())
}

/// Logs one attempt (the first KB of the answer) on the delivery.
pub async fn log_attempt(ctx: &Ctx, delivery: &WebhookDelivery, at: &Attempt) -> ServiceResult<()> {
    let mut conn = ctx.pool.get().await?;
    diesel::insert_into(a::table)
        .values((
            a::delivery_id.eq(delivery.id),
            a::status_code.eq(at.status.map(i32::from)),
            a::latency_ms.eq(at.latency.as_millis().min(i32::MAX as u128) as i32),
            a::error.eq(&at.error),
            a::response.eq(&at.response),
        ))
        .execute(&mut conn)
        .await?;
    diesel::update(d::table.find(delivery.id))
        .set((
            d::attempts.eq(d::attempts + 1),
            d::last_status.eq(at.status.map(i32::from)),
            d::last_error.eq(&at.error),
        ))
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// Marks the delivery `succeeded`. On an endpoint whose circuit was open,
/// resets its failure count and releases the next delivery the circuit held
/// ([`circuit::succeeded`]); on one that was closed it only resets the
/// failure count, if any (the common case is one statement). Returns how
/// many it released.
pub async fn delivered(ctx: &Ctx, out: &Outgoing) -> ServiceResult<usize> {
    let mut conn = ctx.pool.get().await?;
    let mark =
        diesel::update(d::table.find(out.delivery.id)).set((d::status.eq("succeeded"), d::delivered_at.eq(Utc::now())));
    let Some(ep) = out.endpoint.as_ref().filter(|_| out.circuit_open) else {
        mark.execute(&mut conn).await?;
        if let Some(ep) = out.endpoint.as_ref().filter(|ep| ep.consecutive_failures > 0) {
            diesel::update(e::table.find(ep.id)).set(e::consecutive_failures.eq(0)).execute(&mut conn).await?;
        }
        return Ok(0);
    };
    let (endpoint, settings) = (ep.id, ctx.settings.clone());
    let released = (*conn)
        .transaction::<_, diesel::result::Error, _>(async move |conn: &mut AsyncPgConnection| {
            mark.execute(conn).await?;
            circuit::succeeded(conn, &settings, endpoint).await
        })
        .await?;
    Ok(released)
}

/// After a failed attempt that will be retried: whether the delivery is now
/// `held` behind another delivery probing its endpoint (then it ends
/// quietly); otherwise it is the probe, or has no endpoint, and retries.
pub async fn held_after_failure(ctx: &Ctx, out: &Outgoing) -> ServiceResult<bool> {
    let Some(ep) = &out.endpoint else { return Ok(false) };
    let mut conn = ctx.pool.get().await?;
    if circuit::failed_attempt(&mut conn, ep.id, out.delivery.id).await? {
        return Ok(false);
    }
    Ok(circuit::hold(&mut conn, ep.id, out.delivery.id).await?)
}

/// Marks the delivery `failed` for good; on an endpoint it counts toward
/// disabling it (`reason` disables it at once, e.g. a 410), and the
/// endpoint's circuit moves on (see [`circuit::delivery_failed`]).
pub async fn failed(ctx: &Ctx, out: &Outgoing, reason: Option<String>) -> ServiceResult<()> {
    let mut conn = ctx.pool.get().await?;
    let Some(ep) = out.endpoint.clone() else {
        set_status(&mut conn, out.delivery.id, "failed").await?;
        return Ok(());
    };
    let id = out.delivery.id;
    (*conn)
        .transaction::<_, diesel::result::Error, _>(async move |conn: &mut AsyncPgConnection| {
            set_status(conn, id, "failed").await?;
            super::webhooks::record_failed_delivery(conn, ctx, &ep, reason).await?;
            circuit::delivery_failed(conn, &ctx.settings, ep.id, id).await
        })
        .await?;
    Ok(())
}
