//! What an operator sets for a tenant: its rate limits and cost caps
//! (`GET`/`PUT /v1/admin/tenants/{tenant}/limits`). Only admins of the
//! operator tenant (`api.operator_tenant`) may; a change writes an audit
//! entry (`limits.set`) in the tenant's log, in the same transaction.
//!
//! The cost caps: a chat job checks [`check_cost_caps`] before it calls a
//! model, and storing usage calls [`cross_thresholds`], which sends one
//! `usage.threshold` event per period once 80% of a cap is spent.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Principal;
use crate::db::schema::{llm_usage as u, tenant_limits as tl, tenants as t, usage_thresholds as th};
use crate::error::{ErrorCode, ServiceError, ServiceResult};
use crate::limits::{load_overrides, Limits, Overrides};
use crate::Ctx;

/// The most any rate may be set to (what the columns hold).
const MAX_LIMIT: u32 = i32::MAX as u32;
/// The share of a cost cap at which `usage.threshold` goes out.
pub const THRESHOLD: f64 = 0.8;

/// A tenant's limits: what an operator set, and what is in force.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TenantLimits {
    pub tenant: String,
    /// Set for this tenant; the rest are the configured defaults.
    pub overrides: Overrides,
    /// In force (each API process applies a change within `limits.cache_ms`).
    pub effective: Limits,
}

async fn require_operator(ctx: &Ctx, p: &Principal) -> ServiceResult<()> {
    if super::jobs::is_operator(ctx, p).await? {
        Ok(())
    } else {
        Err(ServiceError::new(
            ErrorCode::Forbidden,
            "a tenant's limits are set by operators: an admin key of the operator tenant (api.operator_tenant)",
        ))
    }
}

async fn tenant_id(conn: &mut AsyncPgConnection, name: &str) -> ServiceResult<Uuid> {
    t::table
        .filter(t::name.eq(name))
        .select(t::id)
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| ServiceError::new(ErrorCode::NotFound, format!("no tenant named {name:?}")))
}

fn invalid(field: &str, message: String) -> ServiceError {
    ServiceError::invalid_field(field, message)
}

fn check(o: &Overrides) -> ServiceResult<()> {
    for (field, v) in
        [("key_requests_per_sec", o.key_requests_per_sec), ("tenant_requests_per_sec", o.tenant_requests_per_sec)]
    {
        if v.is_some_and(|v| v > MAX_LIMIT) {
            return Err(invalid(field, format!("{field} is at most {MAX_LIMIT} (0: no limit)")));
        }
    }
    for (field, v) in [("cost_per_day_usd", o.cost_per_day_usd), ("cost_per_month_usd", o.cost_per_month_usd)] {
        if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
            return Err(invalid(field, format!("{field} is a number of dollars, 0 or more (0: no cap)")));
        }
    }
    for (kind, v) in &o.jobs_per_min {
        if crate::kinds::find(kind).is_none() {
            return Err(invalid("jobs_per_min", format!("no job kind is called {kind:?}")));
        }
        if *v > MAX_LIMIT {
            return Err(invalid("jobs_per_min", format!("jobs_per_min.{kind} is at most {MAX_LIMIT} (0: no limit)")));
        }
    }
    if o.retention_days.is_some_and(|d| d > 36_500) {
        return Err(invalid("retention_days", "retention_days is at most 36500 (0: kept for good)".into()));
    }
    for (queue, v) in &o.concurrency {
        if crate::domain::Queue::parse(queue).is_none() {
            return Err(invalid("concurrency", format!("no queue is called {queue:?}")));
        }
        if *v > MAX_LIMIT {
            return Err(invalid("concurrency", format!("concurrency.{queue} is at most {MAX_LIMIT} (0: no cap)")));
        }
    }
    Ok(())
}

/// The tenant's limits (operators only).
pub async fn limits(ctx: &Ctx, p: &Principal, tenant: &str) -> ServiceResult<TenantLimits> {
    require_operator(ctx, p).await?;
    let mut conn = ctx.pool.get().await?;
    let id = tenant_id(&mut conn, tenant).await?;
    let overrides = load_overrides(&mut conn, id).await?;
    let effective = overrides.with_defaults(ctx.limits.defaults());
    Ok(TenantLimits { tenant: tenant.to_string(), overrides, effective })
}

/// Replaces the tenant's overrides (an absent value takes the default
/// again) and records who did it (operators only).
pub async fn set_limits(ctx: &Ctx, p: &Principal, tenant: &str, overrides: Overrides) -> ServiceResult<TenantLimits> {
    require_operator(ctx, p).await?;
    check(&overrides)?;
    let mut conn = ctx.pool.get().await?;
    let id = tenant_id(&mut conn, tenant).await?;
    let as_int = |v: Option<u32>| v.map(|v| v as i32);
    let jobs = serde_json::to_value(&overrides.jobs_per_min).expect("a map of numbers serializes");
    let concurrency = serde_json::to_value(&overrides.concurrency).expect("a map of numbers serializes");
    let (actor, selector, outcome) =
        (p.key_id, json!({"tenant": tenant}), serde_json::to_value(&overrides).expect("overrides serialize"));
    let row = (
        tl::tenant_id.eq(id),
        tl::key_requests_per_sec.eq(as_int(overrides.key_requests_per_sec)),
        tl::tenant_requests_per_sec.eq(as_int(overrides.tenant_requests_per_sec)),
        tl::jobs_per_min.eq(jobs),
        tl::cost_per_day_usd.eq(overrides.cost_per_day_usd),
        tl::cost_per_month_usd.eq(overrides.cost_per_month_usd),
        tl::concurrency.eq(concurrency),
        tl::retention_days.eq(as_int(overrides.retention_days)),
        tl::retention_export.eq(overrides.retention_export),
        tl::updated_at.eq(chrono::Utc::now()),
    );
    (*conn)
        .transaction::<_, diesel::result::Error, _>(async |conn: &mut AsyncPgConnection| {
            diesel::insert_into(tl::table)
                .values(row.clone())
                .on_conflict(tl::tenant_id)
                .do_update()
                .set(row)
                .execute(conn)
                .await?;
            super::audit::record(conn, id, Some(actor), "limits.set", &selector, &outcome, None).await
        })
        .await?;
    ctx.limits.forget(id);
    let effective = overrides.with_defaults(ctx.limits.defaults());
    Ok(TenantLimits { tenant: tenant.to_string(), overrides, effective })
}

/// The starts of the current UTC day and month.
fn periods() -> [(&'static str, chrono::NaiveDate); 2] {
    use chrono::Datelike;
    let today = chrono::Utc::now().date_naive();
    [("day", today), ("month", today.with_day(1).expect("the first of a month"))]
}

/// What the tenant's model calls cost since the start of `day` (UTC).
pub(super) async fn spent_since(
    conn: &mut AsyncPgConnection,
    tenant: Uuid,
    day: chrono::NaiveDate,
) -> QueryResult<f64> {
    let since = day.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    u::table
        .filter(u::tenant_id.eq(tenant))
        .filter(u::created_at.ge(since))
        .select(diesel::dsl::sum(u::cost_usd))
        .first::<Option<f64>>(conn)
        .await
        .map(Option::unwrap_or_default)
}

fn caps(limits: &Limits) -> [f64; 2] {
    [limits.cost_per_day_usd, limits.cost_per_month_usd]
}

/// Refuses (`cost_cap_reached`) a model call estimated at `estimate_usd`
/// that would take the tenant past its cost cap of the day or the month.
pub async fn check_cost_caps(ctx: &Ctx, tenant: Uuid, estimate_usd: f64) -> ServiceResult<()> {
    let limits = ctx.limits.of_tenant(&ctx.pool, tenant).await;
    if caps(&limits).iter().all(|c| *c <= 0.0) {
        return Ok(());
    }
    let mut conn = ctx.pool.get().await?;
    for ((period, start), cap) in periods().into_iter().zip(caps(&limits)) {
        if cap <= 0.0 {
            continue;
        }
        let spent = spent_since(&mut conn, tenant, start).await?;
        if spent + estimate_usd > cap {
            return Err(ServiceError::new(
                ErrorCode::CostCapReached,
                format!(
                    "${spent:.4} spent this {period} of a ${cap:.4} cap; this call would cost up to ${estimate_usd:.4}"
                ),
            )
            .with_details(
                json!({"period": period, "cap_usd": cap, "spent_usd": spent, "estimate_usd": estimate_usd}),
            ));
        }
    }
    Ok(())
}

/// Inside the transaction that stored usage: for each cost cap whose 80%
/// the tenant has now spent, records a `usage.threshold` event for its
/// subscribed endpoints, once per period (the first transaction to insert
/// the period's row sends it). Returns the deliveries written.
pub async fn cross_thresholds(
    conn: &mut AsyncPgConnection,
    settings: &crate::config::Settings,
    tenant: Uuid,
    limits: &Limits,
) -> QueryResult<usize> {
    let mut written = 0;
    for ((period, start), cap) in periods().into_iter().zip(caps(limits)) {
        if cap <= 0.0 {
            continue;
        }
        let spent = spent_since(conn, tenant, start).await?;
        if spent < THRESHOLD * cap {
            continue;
        }
        let first = diesel::insert_into(th::table)
            .values((th::tenant_id.eq(tenant), th::period.eq(period), th::period_start.eq(start)))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        if first == 1 {
            let data = json!({"period": period, "period_start": start, "cap_usd": cap, "spent_usd": spent,
                "threshold": THRESHOLD});
            written += crate::queue::outbox::record(conn, settings, tenant, "usage.threshold", None, &data).await?;
        }
    }
    Ok(written)
}
