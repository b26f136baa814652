//! Rate limits per API key and per tenant, kept in Redis so that they hold
//! across every API process: GCRA (the generic cell rate algorithm, as in
//! redis-cell) in one Lua script (`gcra.lua`) that checks all of a call's
//! limits at once and spends on all of them or on none. Redis's clock times
//! them, so the API hosts' clocks need not agree.
//!
//! A limit is a quota per window (`q` per `w` seconds, in the terms of the
//! IETF RateLimit header fields): a burst may spend a window's whole quota
//! at once, then one unit frees up every `w / q` seconds. A tenant's limits
//! (these, and its cost caps) are an operator's overrides (`tenant_limits`)
//! over the configured defaults (`[limits]`), kept in each process for
//! `limits.cache_ms`.
//!
//! When Redis does not answer, the call goes through and a warning is
//! logged: a limiter must not turn a Redis hiccup into an outage.

use std::collections::{BTreeMap, HashMap};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::config::LimitSettings;
use crate::db::schema::tenant_limits as tl;
use crate::db::DbPool;
use crate::error::{ErrorCode, ServiceError, ServiceResult};
use crate::queue::Broker;

/// A tenant's limits in force; 0 is no limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Limits {
    /// Requests per second one API key may make.
    pub key_requests_per_sec: u32,
    /// Requests per second all of the tenant's keys together may make.
    pub tenant_requests_per_sec: u32,
    /// Jobs per minute the tenant may submit, by kind; a kind not named has no limit.
    pub jobs_per_min: BTreeMap<String, u32>,
    /// What the tenant's model calls may cost (USD) per UTC day and month.
    pub cost_per_day_usd: f64,
    pub cost_per_month_usd: f64,
    /// Most of the tenant's jobs running (or on their way to a worker) at
    /// once, by queue; a queue not named has no cap.
    pub concurrency: BTreeMap<String, u32>,
    /// Days the tenant's data is kept (0: for good), and whether an export
    /// is written before it is deleted.
    pub retention_days: u32,
    pub retention_export: bool,
}

/// What an operator set for one tenant; an absent value (or a kind not
/// named) takes the configured default, and 0 is no limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 2147483647)]
    pub key_requests_per_sec: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 2147483647)]
    pub tenant_requests_per_sec: Option<u32>,
    /// By job kind (a key that names no kind is refused).
    #[serde(default)]
    pub jobs_per_min: BTreeMap<String, u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub cost_per_day_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub cost_per_month_usd: Option<f64>,
    /// By queue (a key that names no queue is refused).
    #[serde(default)]
    pub concurrency: BTreeMap<String, u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 36500)]
    pub retention_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_export: Option<bool>,
}

impl Overrides {
    /// These overrides over the configured defaults.
    pub fn with_defaults(&self, defaults: &LimitSettings) -> Limits {
        let over = |defaults: &BTreeMap<String, u32>, own: &BTreeMap<String, u32>| {
            let mut all = defaults.clone();
            all.extend(own.iter().map(|(k, v)| (k.clone(), *v)));
            all
        };
        Limits {
            key_requests_per_sec: self.key_requests_per_sec.unwrap_or(defaults.key_requests_per_sec),
            tenant_requests_per_sec: self.tenant_requests_per_sec.unwrap_or(defaults.tenant_requests_per_sec),
            jobs_per_min: over(&defaults.jobs_per_min, &self.jobs_per_min),
            cost_per_day_usd: self.cost_per_day_usd.unwrap_or(defaults.cost_per_day_usd),
            cost_per_month_usd: self.cost_per_month_usd.unwrap_or(defaults.cost_per_month_usd),
            concurrency: over(&defaults.concurrency, &self.concurrency),
            retention_days: self.retention_days.unwrap_or(defaults.retention_days),
            retention_export: self.retention_export.unwrap_or(defaults.retention_export),
        }
    }
}

/// The tenant's overrides, from `tenant_limits` (none: all defaults).
pub async fn load_overrides(conn: &mut diesel_async::AsyncPgConnection, tenant: Uuid) -> QueryResult<Overrides> {
    type Row = (
        Option<i32>,
        Option<i32>,
        serde_json::Value,
        Option<f64>,
        Option<f64>,
        serde_json::Value,
        Option<i32>,
        Option<bool>,
    );
    let row: Option<Row> = tl::table
        .find(tenant)
        .select((
            tl::key_requests_per_sec,
            tl::tenant_requests_per_sec,
            tl::jobs_per_min,
            tl::cost_per_day_usd,
            tl::cost_per_month_usd,
            tl::concurrency,
            tl::retention_days,
            tl::retention_export,
        ))
        .first(conn)
        .await
        .optional()?;
    Ok(row.map_or_else(Overrides::default, |(key, all, jobs, day, month, concurrency, days, export)| Overrides {
        key_requests_per_sec: key.map(|v| v.max(0) as u32),
        tenant_requests_per_sec: all.map(|v| v.max(0) as u32),
        jobs_per_min: serde_json::from_value(jobs).unwrap_or_default(),
        cost_per_day_usd: day,
        cost_per_month_usd: month,
        concurrency: serde_json::from_value(concurrency).unwrap_or_default(),
        retention_days: days.map(|d| d.max(0) as u32),
        retention_export: export,
    }))
}

/// One limit as a call meets it, after the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// Its name in the RateLimit headers: `key`, `tenant` or `jobs.<kind>`.
    pub policy: String,
    pub quota: u32,
    pub window_secs: u32,
    /// Units left now.
    pub remaining: u64,
    /// Seconds until the whole quota is back.
    pub reset_secs: u64,
}

/// What a check found: every limit met, and the one that refused, if any.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    pub states: Vec<State>,
    /// The refusing limit (an index into `states`) and when to try again.
    pub denied: Option<(usize, Duration)>,
}

impl Verdict {
    /// `RateLimit-Policy`: every limit met.
    pub fn policy_header(&self) -> Option<String> {
        let items: Vec<String> =
            self.states.iter().map(|s| format!("\"{}\";q={};w={}", s.policy, s.quota, s.window_secs)).collect();
        (!items.is_empty()).then(|| items.join(", "))
    }

    /// `RateLimit`: the refusing limit, or the one closest to running out.
    pub fn state_header(&self) -> Option<String> {
        let closest = match self.denied {
            Some((i, _)) => self.states.get(i),
            None => self.states.iter().min_by_key(|s| s.remaining * 1_000 / u64::from(s.quota.max(1))),
        }?;
        Some(format!("\"{}\";r={};t={}", closest.policy, closest.remaining, closest.reset_secs))
    }

    /// `Retry-After` (whole seconds, at least 1) when refused.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.denied.map(|(_, d)| d.as_micros().div_ceil(1_000_000).max(1) as u64)
    }

    /// The `rate_limited` error when refused; its details name the policy
    /// and carry the three headers, for the HTTP edge to send.
    pub fn error(&self) -> Option<ServiceError> {
        let (i, _) = self.denied?;
        let s = &self.states[i];
        let retry = self.retry_after_secs().unwrap_or(1);
        let message = match s.policy.strip_prefix("jobs.") {
            Some(kind) => format!("over {} {kind} jobs per {} s: try again in {retry} s", s.quota, s.window_secs),
            None => format!(
                "over the {} limit of {} requests per {} s: try again in {retry} s",
                s.policy, s.quota, s.window_secs
            ),
        };
        Some(ServiceError::new(ErrorCode::RateLimited, message).with_details(json!({
            "policy": s.policy, "quota": s.quota, "window_secs": s.window_secs, "retry_after": retry,
            "headers": {
                "Retry-After": retry.to_string(),
                "RateLimit-Policy": self.policy_header(),
                "RateLimit": self.state_header(),
            },
        })))
    }
}

/// One limit to check: its policy name, Redis key, quota per window, and
/// what this call spends.
struct Check {
    policy: String,
    key: String,
    quota: u32,
    window_secs: u32,
    cost: u32,
}

/// How long a check waits for Redis before letting the call through.
const ANSWER_WITHIN: Duration = Duration::from_millis(500);

static GCRA: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(include_str!("gcra.lua")));

/// Checks (and spends on) every limit in one Redis round trip.
async fn check(broker: &Broker, checks: Vec<Check>) -> Verdict {
    if checks.is_empty() {
        return Verdict::default();
    }
    let mut call = GCRA.prepare_invoke();
    for c in &checks {
        call.key(&c.key).arg(c.quota).arg(u64::from(c.window_secs) * 1_000_000).arg(c.cost);
    }
    let mut conn = broker.conn();
    let out: Vec<i64> = match tokio::time::timeout(ANSWER_WITHIN, call.invoke_async::<Vec<i64>>(&mut conn)).await {
        Ok(Ok(out)) if out.len() == 2 + 2 * checks.len() => out,
        Ok(Ok(out)) => {
            tracing::warn!(len = out.len(), "rate limits not checked: the script answered oddly");
            return Verdict::default();
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "rate limits not checked: Redis did not answer");
            return Verdict::default();
        }
        Err(_) => {
            tracing::warn!("rate limits not checked: Redis did not answer within 500 ms");
            return Verdict::default();
        }
    };
    let states = checks
        .into_iter()
        .enumerate()
        .map(|(i, c)| State {
            policy: c.policy,
            quota: c.quota,
            window_secs: c.window_secs,
            remaining: out[2 + 2 * i].max(0) as u64,
            reset_secs: (out[3 + 2 * i].max(0) as u64).div_ceil(1_000_000),
        })
        .collect();
    let denied = (out[0] > 0).then(|| ((out[0] - 1) as usize, Duration::from_micros(out[1].max(0) as u64)));
    Verdict { states, denied }
}

/// The limits of this process: the configured defaults, and each tenant's
/// limits in force as last read.
pub struct Limiter {
    defaults: LimitSettings,
    tenants: Mutex<HashMap<Uuid, (Limits, Instant)>>,
}

/// Tenants whose limits one process keeps; past that it starts over.
const CACHED_TENANTS: usize = 10_000;

impl Limiter {
    pub fn new(defaults: LimitSettings) -> Self {
        Self { defaults, tenants: Mutex::default() }
    }

    fn tenants(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, (Limits, Instant)>> {
        self.tenants.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The configured defaults.
    pub fn defaults(&self) -> &LimitSettings {
        &self.defaults
    }

    /// The tenant's limits in force: from memory while fresh, else read.
    /// If Postgres cannot answer, the defaults (not kept).
    pub async fn of_tenant(&self, pool: &DbPool, tenant: Uuid) -> Limits {
        let ttl = Duration::from_millis(self.defaults.cache_ms);
        if let Some((limits, at)) = self.tenants().get(&tenant) {
            if at.elapsed() < ttl {
                return limits.clone();
            }
        }
        let read = async {
            let mut conn = pool.get().await.map_err(|e| e.to_string())?;
            load_overrides(&mut conn, tenant).await.map_err(|e| e.to_string())
        };
        match read.await {
            Ok(overrides) => {
                let limits = overrides.with_defaults(&self.defaults);
                let mut tenants = self.tenants();
                if tenants.len() >= CACHED_TENANTS {
                    tenants.clear();
                }
                tenants.insert(tenant, (limits.clone(), Instant::now()));
                limits
            }
            Err(e) => {
                tracing::warn!(%tenant, error = %e, "the tenant's limits could not be read: using the defaults");
                Overrides::default().with_defaults(&self.defaults)
            }
        }
    }

    /// Drops what this process remembers of the tenant (after a change).
    pub fn forget(&self, tenant: Uuid) {
        self.tenants().remove(&tenant);
    }

    /// One request of `key` in `tenant`: spends on the key's and the
    /// tenant's requests per second.
    pub async fn request(&self, pool: &DbPool, broker: &Broker, tenant: Uuid, key: Uuid) -> Verdict {
        let limits = self.of_tenant(pool, tenant).await;
        let ns = broker.namespace();
        let mut checks = Vec::new();
        if limits.key_requests_per_sec > 0 {
            let key = format!("{ns}:rl:{{{tenant}}}:key:{key}");
            checks.push(Check {
                policy: "key".into(),
                key,
                quota: limits.key_requests_per_sec,
                window_secs: 1,
                cost: 1,
            });
        }
        if limits.tenant_requests_per_sec > 0 {
            let key = format!("{ns}:rl:{{{tenant}}}:tenant");
            let quota = limits.tenant_requests_per_sec;
            checks.push(Check { policy: "tenant".into(), key, quota, window_secs: 1, cost: 1 });
        }
        check(broker, checks).await
    }

    /// Jobs the tenant submits, counted by kind: spends on each limited
    /// kind's jobs per minute, all or none. A count larger than a whole
    /// minute's quota is refused outright (it could never pass).
    pub async fn jobs(
        &self,
        pool: &DbPool,
        broker: &Broker,
        tenant: Uuid,
        counts: &BTreeMap<&str, u32>,
    ) -> ServiceResult<()> {
        let limits = self.of_tenant(pool, tenant).await;
        let ns = broker.namespace();
        let mut checks = Vec::new();
        for (kind, n) in counts {
            let Some(&quota) = limits.jobs_per_min.get(*kind).filter(|q| **q > 0) else { continue };
            if *n > quota {
                return Err(ServiceError::new(
                    ErrorCode::RateLimited,
                    format!("{n} {kind} jobs in one request, but the tenant may submit {quota} per minute"),
                )
                .with_details(json!({"policy": format!("jobs.{kind}"), "quota": quota, "window_secs": 60})));
            }
            let key = format!("{ns}:rl:{{{tenant}}}:jobs:{kind}");
            checks.push(Check { policy: format!("jobs.{kind}"), key, quota, window_secs: 60, cost: *n });
        }
        match check(broker, checks).await.error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(policy: &str, quota: u32, remaining: u64) -> State {
        State { policy: policy.into(), quota, window_secs: 1, remaining, reset_secs: 1 }
    }

    #[test]
    fn headers_follow_the_ietf_draft() {
        let v = Verdict { states: vec![state("key", 10, 9), state("tenant", 100, 20)], denied: None };
        assert_eq!(v.policy_header().unwrap(), "\"key\";q=10;w=1, \"tenant\";q=100;w=1");
        // The tenant has 20% left, the key 90%: the tenant is the closer.
        assert_eq!(v.state_header().unwrap(), "\"tenant\";r=20;t=1");
        assert_eq!(v.retry_after_secs(), None);
        assert!(v.error().is_none());
        let v = Verdict { denied: Some((0, Duration::from_millis(1_200))), ..v };
        assert_eq!(v.state_header().unwrap(), "\"key\";r=9;t=1");
        assert_eq!(v.retry_after_secs(), Some(2));
        let e = v.error().unwrap();
        assert_eq!(e.code, ErrorCode::RateLimited);
        assert_eq!(e.details.unwrap()["headers"]["Retry-After"], "2");
    }

    #[test]
    fn overrides_win_over_defaults() {
        let defaults = LimitSettings {
            key_requests_per_sec: 5,
            tenant_requests_per_sec: 50,
            jobs_per_min: BTreeMap::from([("chat".to_string(), 60), ("ingest".to_string(), 10)]),
            cost_per_day_usd: 1.0,
            cost_per_month_usd: 0.0,
            concurrency: BTreeMap::from([("chat".to_string(), 4)]),
            cache_ms: 0,
            ..Default::default()
        };
        let o = Overrides {
            key_requests_per_sec: Some(0),
            jobs_per_min: BTreeMap::from([("chat".into(), 6)]),
            cost_per_month_usd: Some(20.0),
            concurrency: BTreeMap::from([("knowledge".into(), 2)]),
            ..Default::default()
        };
        let l = o.with_defaults(&defaults);
        assert_eq!((l.key_requests_per_sec, l.tenant_requests_per_sec), (0, 50));
        assert_eq!(l.jobs_per_min, BTreeMap::from([("chat".to_string(), 6), ("ingest".to_string(), 10)]));
        assert_eq!((l.cost_per_day_usd, l.cost_per_month_usd), (1.0, 20.0));
        assert_eq!(l.concurrency, BTreeMap::from([("chat".to_string(), 4), ("knowledge".to_string(), 2)]));
    }
}
