//! Webhook endpoints and their deliveries: register, update, delete, rotate
//! secrets, send a test, list the delivery log, redeliver. Plus the
//! tenant's callback secret that signs jobs' own `callback_url` deliveries.

use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::audit::audited;
use super::Principal;
use crate::db::models::{WebhookAttempt, WebhookDelivery, WebhookEndpoint};
use crate::db::schema::{tenants as t, webhook_attempts as a, webhook_deliveries as d, webhook_endpoints as e};
use crate::domain::Role;
use crate::error::{ErrorCode, ServiceError, ServiceResult};
use crate::queue::outbox::{self, Target};
use crate::secrets::Cipher;
use crate::webhooks::{check_url, signing, EVENT_TYPES, TEST_EVENT};
use crate::Ctx;

/// An endpoint as shown (never its secret, except on creation and rotation).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EndpointView {
    pub id: Uuid,
    pub url: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub description: String,
    /// Why Chorus disabled it (410 Gone, or too many failed deliveries).
    pub disabled_reason: Option<String>,
    pub consecutive_failures: i32,
    /// Until when the previous secret still signs, after a rotation.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An endpoint with its secret: the answer to creation and rotation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EndpointWithSecret {
    #[serde(flatten)]
    pub endpoint: EndpointView,
    /// `whsec_…`; shown only now.
    pub secret: String,
}

fn view(ep: &WebhookEndpoint) -> EndpointView {
    EndpointView {
        id: ep.id,
        url: ep.url.clone(),
        event_types: ep.event_types.clone(),
        enabled: ep.enabled,
        description: ep.description.clone(),
        disabled_reason: ep.disabled_reason.clone(),
        consecutive_failures: ep.consecutive_failures,
        previous_secret_expires_at: ep.previous_expires_at.filter(|t| *t > Utc::now()),
        created_at: ep.created_at,
        updated_at: ep.updated_at,
    }
}

/// The body of `POST /v1/webhooks`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    pub url: String,
    /// Event types to receive, e.g. `["job.succeeded", "job.dead"]`.
    #[schema(schema_with = event_types)]
    pub event_types: Vec<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// The body of `PATCH /v1/webhooks/{id}`; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpoint {
    pub url: Option<String>,
    #[schema(schema_with = event_types_nullable)]
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    /// Re-enabling clears the failure count and the disabled reason.
    pub enabled: Option<bool>,
}

fn event_types() -> utoipa::openapi::Array {
    crate::domain::spec::list_of(EVENT_TYPES, false)
}

fn event_types_nullable() -> utoipa::openapi::Array {
    crate::domain::spec::list_of(EVENT_TYPES, true)
}

fn check_types(types: &[String]) -> ServiceResult<()> {
    if types.is_empty() {
        return Err(ServiceError::new(ErrorCode::InvalidPayload, "event_types must not be empty"));
    }
    if let Some(bad) = types.iter().find(|t| !EVENT_TYPES.contains(&t.as_str())) {
        return Err(ServiceError::new(ErrorCode::InvalidPayload, format!("unknown event type {bad:?}"))
            .with_details(json!({ "field": "event_types", "known": EVENT_TYPES })));
    }
    Ok(())
}

fn not_found() -> ServiceError {
    ServiceError::new(ErrorCode::WebhookNotFound, "no such webhook endpoint")
}

async fn load(conn: &mut AsyncPgConnection, p: &Principal, id: Uuid) -> ServiceResult<WebhookEndpoint> {
    e::table
        .filter(e::id.eq(id))
        .filter(e::tenant_id.eq(p.tenant_id))
        .select(WebhookEndpoint::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(not_found)
}

/// Registers an endpoint after checking its URL (after DNS).
pub async fn create(ctx: &Ctx, p: &Principal, req: CreateEndpoint) -> ServiceResult<EndpointWithSecret> {
    p.require(Role::Admin, "managing webhooks")?;
    check_types(&req.event_types)?;
    check_url(&req.url, &ctx.settings.webhooks, "url").await?;
    let secret = signing::generate_secret();
    let id = Uuid::now_v7();
    let (tenant, sealed) = (p.tenant_id, ctx.secrets.encrypt(&secret, &endpoint_context(id)));
    let selector = json!({"endpoint_id": id, "url": req.url});
    let ep: WebhookEndpoint = audited(ctx, p, "webhook.create", selector, move |conn| {
        Box::pin(async move {
            Ok(diesel::insert_into(e::table)
                .values((
                    e::id.eq(id),
                    e::tenant_id.eq(tenant),
                    e::url.eq(&req.url),
                    e::event_types.eq(&req.event_types),
                    e::enabled.eq(req.enabled),
                    e::description.eq(&req.description),
                    e::secret.eq(sealed),
                ))
                .returning(WebhookEndpoint::as_returning())
                .get_result(conn)
                .await?)
        })
    })
    .await?;
    Ok(EndpointWithSecret { endpoint: view(&ep), secret })
}

pub async fn list(ctx: &Ctx, p: &Principal) -> ServiceResult<Vec<EndpointView>> {
    p.require(Role::Admin, "managing webhooks")?;
    let mut conn = ctx.pool.get().await?;
    let rows: Vec<WebhookEndpoint> = e::table
        .filter(e::tenant_id.eq(p.tenant_id))
        .order(e::created_at.asc())
        .select(WebhookEndpoint::as_select())
        .load(&mut conn)
        .await?;
    Ok(rows.iter().map(view).collect())
}

pub async fn get(ctx: &Ctx, p: &Principal, id: Uuid) -> ServiceResult<EndpointView> {
    p.require(Role::Admin, "managing webhooks")?;
    let mut conn = ctx.pool.get().await?;
    Ok(view(&load(&mut conn, p, id).await?))
}

pub async fn update(ctx: &Ctx, p: &Principal, id: Uuid, req: UpdateEndpoint) -> ServiceResult<EndpointView> {
    p.require(Role::Admin, "managing webhooks")?;
    if let Some(types) = &req.event_types {
        check_types(types)?;
    }
    if let Some(url) = &req.url {
        check_url(url, &ctx.settings.webhooks, "url").await?;
    }
    let mut conn = ctx.pool.get().await?;
    let ep = load(&mut conn, p, id).await?;
    drop(conn);
    let enabling = req.enabled == Some(true) && !ep.enabled;
    let selector = json!({"endpoint_id": id, "url": req.url, "event_types": req.event_types, "enabled": req.enabled});
    let ep: WebhookEndpoint = audited(ctx, p, "webhook.update", selector, move |conn| {
        Box::pin(async move {
            let ep: WebhookEndpoint = diesel::update(e::table.find(id))
                .set((
                    e::url.eq(req.url.unwrap_or(ep.url)),
                    e::event_types.eq(req.event_types.unwrap_or(ep.event_types)),
                    e::description.eq(req.description.unwrap_or(ep.description)),
                    e::enabled.eq(req.enabled.unwrap_or(ep.enabled)),
                    e::consecutive_failures.eq(if enabling { 0 } else { ep.consecutive_failures }),
                    e::disabled_reason.eq(if enabling { None } else { ep.disabled_reason }),
                    e::updated_at.eq(Utc::now()),
                ))
                .returning(WebhookEndpoint::as_returning())
                .get_result(conn)
                .await?;
            crate::queue::circuit::endpoint_disabled(conn, ep.id).await?;
            Ok(ep)
        })
    })
    .await?;
    Ok(view(&ep))
}

/// Deletes an endpoint; its pending deliveries go with it.
pub async fn delete(ctx: &Ctx, p: &Principal, id: Uuid) -> ServiceResult<()> {
    p.require(Role::Admin, "managing webhooks")?;
    let tenant = p.tenant_id;
    audited(ctx, p, "webhook.delete", json!({"endpoint_id": id}), move |conn| {
        Box::pin(async move {
            let n = diesel::delete(e::table.filter(e::id.eq(id)).filter(e::tenant_id.eq(tenant))).execute(conn).await?;
            if n == 0 {
                return Err(not_found());
            }
            Ok(())
        })
    })
    .await
}

/// Replaces the secret; the old one keeps signing for
/// `webhooks.secret_overlap_secs`.
pub async fn rotate_secret(ctx: &Ctx, p: &Principal, id: Uuid) -> ServiceResult<EndpointWithSecret> {
    p.require(Role::Admin, "managing webhooks")?;
    let mut conn = ctx.pool.get().await?;
    let ep = load(&mut conn, p, id).await?;
    let secret = signing::generate_secret();
    let until = Utc::now() + TimeDelta::seconds(ctx.settings.webhooks.secret_overlap_secs as i64);
    let context = endpoint_context(ep.id);
    // The previous secret, sealed (a row from before sealing is sealed now).
    let previous = sealed(&ctx.secrets, &ep.secret, &context);
    let next = ctx.secrets.encrypt(&secret, &context);
    drop(conn);
    let ep: WebhookEndpoint = audited(ctx, p, "webhook.rotate_secret", json!({"endpoint_id": ep.id}), move |conn| {
        Box::pin(async move {
            Ok(diesel::update(e::table.find(ep.id))
                .set((
                    e::previous_secret.eq(Some(previous)),
                    e::previous_expires_at.eq(Some(until)),
                    e::secret.eq(next),
                    e::updated_at.eq(Utc::now()),
                ))
                .returning(WebhookEndpoint::as_returning())
                .get_result(conn)
                .await?)
        })
    })
    .await?;
    Ok(EndpointWithSecret { endpoint: view(&ep), secret })
}

/// A delivery as listed, with its attempts.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    /// Also the `webhook-id` header, as `msg_<id without dashes>`.
    pub id: Uuid,
    pub webhook_id: String,
    pub endpoint_id: Option<Uuid>,
    pub event_type: String,
    /// `pending`, `held` (waiting behind its endpoint's probe while the
    /// endpoint fails), `succeeded`, `failed` or `cancelled`.
    pub status: String,
    pub attempts: i32,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub body: serde_json::Value,
    pub log: Vec<AttemptView>,
}

/// One recorded attempt.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AttemptView {
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<String>,
    /// The first `webhooks.max_response_bytes` of the response.
    pub response: Option<String>,
}

fn delivery_view(dl: &WebhookDelivery, attempts: Vec<AttemptView>) -> DeliveryView {
    DeliveryView {
        id: dl.id,
        webhook_id: format!("msg_{}", dl.id.simple()),
        endpoint_id: dl.endpoint_id,
        event_type: dl.event_type.clone(),
        status: dl.status.clone(),
        attempts: dl.attempts,
        last_status: dl.last_status,
        last_error: dl.last_error.clone(),
        created_at: dl.created_at,
        delivered_at: dl.delivered_at,
        body: serde_json::from_str(&dl.body).unwrap_or(serde_json::Value::Null),
        log: attempts,
    }
}

const DELIVERY_STATUSES: &[&str] = &["pending", "held", "succeeded", "failed", "cancelled"];

fn delivery_statuses() -> utoipa::openapi::Object {
    crate::domain::spec::one_of(DELIVERY_STATUSES)
}

/// Filters of the delivery log.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryFilter {
    /// `pending`, `held` (behind its endpoint's open circuit), `succeeded`,
    /// `failed` or `cancelled`.
    #[param(schema_with = delivery_statuses)]
    pub status: Option<String>,
    pub event_type: Option<String>,
    /// Only deliveries created before this one (the previous page's last id).
    pub before: Option<Uuid>,
    /// 1..=200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// The endpoint's deliveries, newest first, each with its attempts.
pub async fn deliveries(ctx: &Ctx, p: &Principal, id: Uuid, f: DeliveryFilter) -> ServiceResult<Vec<DeliveryView>> {
    p.require(Role::Admin, "managing webhooks")?;
    let limit = f.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ServiceError::new(ErrorCode::InvalidParameter, "limit must be between 1 and 200"));
    }
    if let Some(s) = &f.status {
        if !DELIVERY_STATUSES.contains(&s.as_str()) {
            return Err(ServiceError::new(ErrorCode::InvalidParameter, format!("unknown status {s:?}")));
        }
    }
    let mut conn = ctx.pool.get().await?;
    load(&mut conn, p, id).await?;
    let mut q = d::table.filter(d::endpoint_id.eq(id)).select(WebhookDelivery::as_select()).into_boxed();
    if let Some(s) = f.status {
        q = q.filter(d::status.eq(s));
    }
    if let Some(t) = f.event_type {
        q = q.filter(d::event_type.eq(t));
    }
    if let Some(before) = f.before {
        q = q.filter(d::id.lt(before));
    }
    let rows: Vec<WebhookDelivery> = q.order(d::id.desc()).limit(limit).load(&mut conn).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let attempts: Vec<WebhookAttempt> = a::table
        .filter(a::delivery_id.eq_any(&ids))
        .order(a::id.asc())
        .select(WebhookAttempt::as_select())
        .load(&mut conn)
        .await?;
    Ok(rows
        .iter()
        .map(|dl| {
            let log = attempts
                .iter()
                .filter(|at| at.delivery_id == dl.id)
                .map(|at| AttemptView {
                    attempted_at: at.attempted_at,
                    status_code: at.status_code,
                    latency_ms: at.latency_ms,
                    error: at.error.clone(),
                    response: at.response.clone(),
                })
                .collect();
            delivery_view(dl, log)
        })
        .collect())
}

/// Sends a delivery again, with the same `webhook-id` and body.
pub async fn redeliver(ctx: &Ctx, p: &Principal, delivery_id: Uuid) -> ServiceResult<DeliveryView> {
    p.require(Role::Admin, "managing webhooks")?;
    let mut conn = ctx.pool.get().await?;
    let settings = ctx.settings.clone();
    let tenant = p.tenant_id;
    let dl = (*conn)
        .transaction::<_, ServiceError, _>(async move |conn: &mut AsyncPgConnection| {
            let dl: WebhookDelivery =
                diesel::update(d::table.filter(d::id.eq(delivery_id)).filter(d::tenant_id.eq(tenant)))
                    .set(d::status.eq("pending"))
                    .returning(WebhookDelivery::as_returning())
                    .get_result(conn)
                    .await
                    .optional()?
                    .ok_or_else(|| ServiceError::new(ErrorCode::DeliveryNotFound, "no such delivery"))?;
            outbox::schedule(conn, &settings, &dl).await?;
            Ok(dl)
        })
        .await?;
    super::jobs::dispatch_webhooks(ctx);
    Ok(delivery_view(&dl, Vec::new()))
}

/// Sends a `webhook.test` event to one endpoint.
pub async fn send_test(ctx: &Ctx, p: &Principal, id: Uuid) -> ServiceResult<DeliveryView> {
    p.require(Role::Admin, "managing webhooks")?;
    let mut conn = ctx.pool.get().await?;
    let ep = load(&mut conn, p, id).await?;
    let settings = ctx.settings.clone();
    let body = outbox::body(TEST_EVENT, &json!({ "endpoint_id": ep.id, "message": "test event from Chorus" }));
    let dl = (*conn)
        .transaction::<_, ServiceError, _>(async move |conn: &mut AsyncPgConnection| {
            Ok(outbox::record_one(conn, &settings, ep.tenant_id, Target::Endpoint(ep.id), TEST_EVENT, None, body)
                .await?)
        })
        .await?;
    super::jobs::dispatch_webhooks(ctx);
    Ok(delivery_view(&dl, Vec::new()))
}

/// Signing secrets at rest are sealed with `secrets.key` and bound to their
/// row: `webhook:<endpoint id>`, `callback:<tenant id>`.
pub(crate) fn endpoint_context(id: Uuid) -> String {
    format!("webhook:{id}")
}

fn callback_context(tenant_id: Uuid) -> String {
    format!("callback:{tenant_id}")
}

/// `stored` as it must rest: as it is when sealed already, else (a row
/// from before secrets were sealed) sealed now.
fn sealed(cipher: &Cipher, stored: &str, context: &str) -> String {
    if stored.starts_with(signing::SECRET_PREFIX) {
        cipher.encrypt(stored, context)
    } else {
        stored.to_string()
    }
}

/// The secret in `stored`. A row written before secrets were sealed holds
/// it plainly (`whsec_…`); `seal_plain_secrets` seals those at startup.
pub(crate) fn unseal(cipher: &Cipher, stored: &str, context: &str) -> ServiceResult<String> {
    if stored.starts_with(signing::SECRET_PREFIX) {
        return Ok(stored.to_string());
    }
    cipher.decrypt(stored, context).map_err(|e| ServiceError::internal(format!("signing secret: {e}")))
}

/// The tenant's callback secrets (current, plus the previous one during its
/// overlap), creating the secret on first use.
pub async fn callback_secrets(
    conn: &mut AsyncPgConnection,
    cipher: &Cipher,
    tenant_id: Uuid,
) -> ServiceResult<Vec<String>> {
    let context = callback_context(tenant_id);
    diesel::update(t::table.find(tenant_id).filter(t::callback_secret.is_null()))
        .set(t::callback_secret.eq(cipher.encrypt(&signing::generate_secret(), &context)))
        .execute(conn)
        .await?;
    let (current, previous, until): (Option<String>, Option<String>, Option<DateTime<Utc>>) = t::table
        .find(tenant_id)
        .select((t::callback_secret, t::callback_previous_secret, t::callback_previous_expires_at))
        .first(conn)
        .await?;
    let current = unseal(cipher, &current.unwrap_or_default(), &context)?;
    let previous = previous.map(|p| unseal(cipher, &p, &context)).transpose()?;
    Ok(super::deliveries::live_secrets(&current, &previous, until))
}

/// Seals every signing secret still stored plainly (rows from before
/// secrets were sealed). Idempotent; every process runs it when it starts.
pub async fn seal_plain_secrets(ctx: &Ctx) -> ServiceResult<usize> {
    let mut conn = ctx.pool.get().await?;
    let plain = format!("{}%", signing::SECRET_PREFIX);
    let endpoints: Vec<(Uuid, String, Option<String>)> = e::table
        .filter(e::secret.like(&plain).or(e::previous_secret.like(&plain)))
        .select((e::id, e::secret, e::previous_secret))
        .load(&mut conn)
        .await?;
    let tenants: Vec<(Uuid, Option<String>, Option<String>)> = t::table
        .filter(t::callback_secret.like(&plain).or(t::callback_previous_secret.like(&plain)))
        .select((t::id, t::callback_secret, t::callback_previous_secret))
        .load(&mut conn)
        .await?;
    let seal = |stored: &str, context: &str| sealed(&ctx.secrets, stored, context);
    for (id, secret, previous) in &endpoints {
        let context = endpoint_context(*id);
        let previous = previous.as_deref().map(|p| seal(p, &context));
        diesel::update(e::table.find(id))
            .set((e::secret.eq(seal(secret, &context)), e::previous_secret.eq(previous)))
            .execute(&mut conn)
            .await?;
    }
    for (id, secret, previous) in &tenants {
        let context = callback_context(*id);
        let secret = secret.as_deref().map(|s| seal(s, &context));
        let previous = previous.as_deref().map(|p| seal(p, &context));
        diesel::update(t::table.find(id))
            .set((t::callback_secret.eq(secret), t::callback_previous_secret.eq(previous)))
            .execute(&mut conn)
            .await?;
    }
    Ok(endpoints.len() + tenants.len())
}

/// The secret that signs this tenant's `callback_url` deliveries.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CallbackSecret {
    pub secret: String,
    /// While set, the previous secret also signs.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
}

/// Shows the callback secret, creating it on first use.
pub async fn callback_secret(ctx: &Ctx, p: &Principal) -> ServiceResult<CallbackSecret> {
    p.require(Role::Admin, "managing webhooks")?;
    let mut conn = ctx.pool.get().await?;
    let secrets = callback_secrets(&mut conn, &ctx.secrets, p.tenant_id).await?;
    let until: Option<DateTime<Utc>> =
        t::table.find(p.tenant_id).select(t::callback_previous_expires_at).first(&mut conn).await?;
    Ok(CallbackSecret { secret: secrets[0].clone(), previous_secret_expires_at: until.filter(|u| *u > Utc::now()) })
}

/// Rotates the callback secret with the same overlap as endpoints.
pub async fn rotate_callback_secret(ctx: &Ctx, p: &Principal) -> ServiceResult<CallbackSecret> {
    p.require(Role::Admin, "managing webhooks")?;
    let mut conn = ctx.pool.get().await?;
    let current = callback_secrets(&mut conn, &ctx.secrets, p.tenant_id).await?.remove(0);
    let secret = signing::generate_secret();
    let until = Utc::now() + TimeDelta::seconds(ctx.settings.webhooks.secret_overlap_secs as i64);
    let context = callback_context(p.tenant_id);
    let (tenant, next, previous) =
        (p.tenant_id, ctx.secrets.encrypt(&secret, &context), ctx.secrets.encrypt(&current, &context));
    drop(conn);
    audited(ctx, p, "webhook.rotate_callback_secret", json!({}), move |conn| {
        Box::pin(async move {
            diesel::update(t::table.find(tenant))
                .set((
                    t::callback_secret.eq(next),
                    t::callback_previous_secret.eq(Some(previous)),
                    t::callback_previous_expires_at.eq(Some(until)),
                ))
                .execute(conn)
                .await?;
            Ok(())
        })
    })
    .await?;
    Ok(CallbackSecret { secret, previous_secret_expires_at: Some(until) })
}

/// Counts a failed delivery against its endpoint, and disables the endpoint
/// on a 410 (`reason`) or after `webhooks.disable_after_failures` failures
/// in a row; a disable is counted in metrics and reported as a
/// `webhook.endpoint.disabled` event to the tenant's other endpoints.
pub async fn record_failed_delivery(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    ep: &WebhookEndpoint,
    reason: Option<String>,
) -> QueryResult<()> {
    if let Some(label) = outbox::endpoint_failed(conn, &ctx.settings, ep.id, reason).await? {
        ctx.metrics.webhook_endpoints_disabled.with_label_values(&[label]).inc();
    }
    Ok(())
}
