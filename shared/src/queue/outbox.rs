//! The outbox: deliveries are rows written in the same transaction as the
//! state change they report, each with a `webhook_delivery` job that sends
//! it. A crash before the commit loses both the change and its deliveries;
//! after it, the job runs (and is rescued and retried like any job).

use chrono::{TimeDelta, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::config::Settings;
use crate::db::models::{Job, NewWebhookDelivery, WebhookDelivery};
use crate::db::schema::{webhook_deliveries as d, webhook_endpoints as e};
use crate::db::DbPool;
use crate::domain::JobStatus;
use crate::kinds::webhook_delivery::{self, DeliverWebhook};
use crate::kinds::JobArgs;

/// Where one delivery goes.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Endpoint(Uuid),
    /// A job's own `callback_url`, signed with the tenant's callback secret.
    Callback(&'a str),
}

/// The body every delivery carries.
pub fn body(event_type: &str, data: &Value) -> String {
    json!({ "type": event_type, "timestamp": Utc::now(), "data": data }).to_string()
}

/// Writes one delivery to `target` and the job that sends it.
pub async fn record_one(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    tenant_id: Uuid,
    target: Target<'_>,
    event_type: &str,
    subject_id: Option<Uuid>,
    body: String,
) -> QueryResult<WebhookDelivery> {
    let (endpoint_id, url) = match target {
        Target::Endpoint(id) => (Some(id), None),
        Target::Callback(url) => (None, Some(url)),
    };
    let delivery: WebhookDelivery = diesel::insert_into(d::table)
        .values(NewWebhookDelivery {
            id: Uuid::now_v7(),
            tenant_id,
            endpoint_id,
            url,
            event_type,
            subject_id,
            body,
            status: "pending",
        })
        .returning(WebhookDelivery::as_returning())
        .get_result(conn)
        .await?;
    schedule(conn, settings, &delivery).await?;
    Ok(delivery)
}

/// Queues a `webhook_delivery` job for an existing delivery row.
pub async fn schedule(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    delivery: &WebhookDelivery,
) -> QueryResult<Job> {
    let args = DeliverWebhook { delivery_id: delivery.id };
    super::insert::insert_with(conn, delivery.tenant_id, &args, webhook_delivery::attempts(settings)).await
}

/// Enabled endpoints of the tenant that subscribe to `event_type`.
async fn subscribers(conn: &mut AsyncPgConnection, tenant_id: Uuid, event_type: &str) -> QueryResult<Vec<Uuid>> {
    e::table
        .filter(e::tenant_id.eq(tenant_id))
        .filter(e::enabled.eq(true))
        .filter(e::event_types.contains(vec![event_type.to_string()]))
        .select(e::id)
        .load(conn)
        .await
}

/// Records `event_type` for every subscribed endpoint of the tenant.
/// Returns how many deliveries were written.
pub async fn record(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    tenant_id: Uuid,
    event_type: &str,
    subject_id: Option<Uuid>,
    data: &Value,
) -> QueryResult<usize> {
    let endpoints = subscribers(conn, tenant_id, event_type).await?;
    let body = body(event_type, data);
    for id in &endpoints {
        record_one(conn, settings, tenant_id, Target::Endpoint(*id), event_type, subject_id, body.clone()).await?;
    }
    Ok(endpoints.len())
}

/// The event a job's status reports, if any.
pub fn job_event_type(status: JobStatus) -> Option<&'static str> {
    match status {
        JobStatus::Succeeded => Some("job.succeeded"),
        JobStatus::Failed => Some("job.failed"),
        JobStatus::Dead => Some("job.dead"),
        JobStatus::Cancelled => Some("job.cancelled"),
        _ => None,
    }
}

fn reports(job: &Job) -> bool {
    crate::kinds::find(&job.kind).is_some_and(|k| !k.internal)
}

/// Records the event of a job's new status: to subscribed endpoints and,
/// for final states, to the job's `callback_url`. Call it in the
/// transaction that changed the status.
pub async fn for_job(conn: &mut AsyncPgConnection, settings: &Settings, job: &Job) -> QueryResult<usize> {
    let Some(event_type) = job_event_type(job.status) else { return Ok(0) };
    if !reports(job) {
        return Ok(0);
    }
    let data = serde_json::to_value(job.view()).expect("job view serializes");
    let mut n = record(conn, settings, job.tenant_id, event_type, Some(job.id), &data).await?;
    if let Some(url) = &job.callback_url {
        record_one(
            conn,
            settings,
            job.tenant_id,
            Target::Callback(url),
            event_type,
            Some(job.id),
            body(event_type, &data),
        )
        .await?;
        n += 1;
    }
    Ok(n)
}

/// Records `job.progress` for subscribed endpoints that have not had one
/// for this job within `webhooks.progress_throttle_ms`.
pub async fn for_progress(conn: &mut AsyncPgConnection, settings: &Settings, job: &Job) -> QueryResult<usize> {
    const EVENT: &str = "job.progress";
    if !reports(job) {
        return Ok(0);
    }
    let since = Utc::now() - TimeDelta::milliseconds(settings.webhooks.progress_throttle_ms as i64);
    let mut sent = 0;
    let data = serde_json::to_value(job.view()).expect("job view serializes");
    for endpoint in subscribers(conn, job.tenant_id, EVENT).await? {
        let recent: i64 = d::table
            .filter(d::endpoint_id.eq(endpoint))
            .filter(d::subject_id.eq(job.id))
            .filter(d::event_type.eq(EVENT))
            .filter(d::created_at.gt(since))
            .count()
            .get_result(conn)
            .await?;
        if recent == 0 {
            record_one(
                conn,
                settings,
                job.tenant_id,
                Target::Endpoint(endpoint),
                EVENT,
                Some(job.id),
                body(EVENT, &data),
            )
            .await?;
            sent += 1;
        }
    }
    Ok(sent)
}

/// Deliveries not yet delivered, for the pending gauge.
pub async fn pending_count(pool: &DbPool) -> anyhow::Result<i64> {
    let mut conn = pool.get().await?;
    Ok(d::table.filter(d::status.eq_any(["pending", "held"])).count().get_result(&mut conn).await?)
}

/// Counts one failed delivery against endpoint `endpoint_id` and disables
/// it when `reason` is given (e.g. a 410) or the failures in a row reach
/// `webhooks.disable_after_failures`, recording `webhook.endpoint.disabled`.
/// Returns the disabling's metric label (`gone` or `failures`) if it
/// disabled the endpoint now.
pub async fn endpoint_failed(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    endpoint_id: Uuid,
    reason: Option<String>,
) -> QueryResult<Option<&'static str>> {
    let (failures, url, tenant): (i32, String, Uuid) = diesel::update(e::table.find(endpoint_id))
        .set(e::consecutive_failures.eq(e::consecutive_failures + 1))
        .returning((e::consecutive_failures, e::url, e::tenant_id))
        .get_result(conn)
        .await?;
    let limit = settings.webhooks.disable_after_failures;
    let reason = reason.or_else(|| (failures >= limit).then(|| format!("{failures} deliveries in a row failed")));
    let Some(reason) = reason else { return Ok(None) };
    let label = if reason.contains("410") { "gone" } else { "failures" };
    let disabled = diesel::update(e::table.find(endpoint_id).filter(e::enabled.eq(true)))
        .set((e::enabled.eq(false), e::disabled_reason.eq(&reason), e::updated_at.eq(Utc::now())))
        .execute(conn)
        .await?;
    if disabled == 0 {
        return Ok(None);
    }
    tracing::warn!(endpoint = %endpoint_id, %reason, "webhook endpoint disabled");
    let data = json!({ "endpoint_id": endpoint_id, "url": url, "reason": reason });
    record(conn, settings, tenant, "webhook.endpoint.disabled", Some(endpoint_id), &data).await?;
    Ok(Some(label))
}

/// When a `webhook_delivery` job ends `failed`, `dead` or `cancelled` (a
/// crash, a timeout, a rescue out of attempts, a cancel) with its delivery
/// still `pending`, the delivery is `failed` and counts toward disabling its
/// endpoint. Call it in the transaction that ended the job; a delivery the
/// job already settled is left alone.
pub async fn delivery_job_ended(conn: &mut AsyncPgConnection, settings: &Settings, job: &Job) -> QueryResult<()> {
    if job.kind != DeliverWebhook::KIND.name
        || !matches!(job.status, JobStatus::Failed | JobStatus::Dead | JobStatus::Cancelled)
    {
        return Ok(());
    }
    let Ok(args) = serde_json::from_value::<DeliverWebhook>(job.payload.clone()) else { return Ok(()) };
    let error = match job.status {
        JobStatus::Cancelled => "cancelled".to_string(),
        _ => job.error_code.clone().unwrap_or_default(),
    };
    let endpoint: Option<Option<Uuid>> =
        diesel::update(d::table.find(args.delivery_id).filter(d::status.eq("pending")))
            .set((d::status.eq("failed"), d::last_error.eq(format!("the delivery job ended {}: {error}", job.status))))
            .returning(d::endpoint_id)
            .get_result(conn)
            .await
            .optional()?;
    if let Some(Some(endpoint)) = endpoint {
        endpoint_failed(conn, settings, endpoint, None).await?;
        super::circuit::delivery_failed(conn, settings, endpoint, args.delivery_id).await?;
    }
    Ok(())
}
