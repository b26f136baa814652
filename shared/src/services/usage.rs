//! `GET /v1/usage`: the tenant's model calls aggregated by day, provider
//! and model: calls, tokens, cost, average latency and error rate.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::sql_types::{BigInt, Date, Double, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Principal;
use crate::domain::Role;
use crate::error::ServiceResult;
use crate::Ctx;

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// Calls at or after this time (default: 30 days ago).
    pub from: Option<DateTime<Utc>>,
    /// Calls before this time (default: now).
    pub to: Option<DateTime<Utc>>,
}

/// One (day, provider, model) group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, QueryableByName, ToSchema)]
pub struct UsageRow {
    #[diesel(sql_type = Date)]
    pub day: NaiveDate,
    #[diesel(sql_type = Text)]
    pub provider: String,
    #[diesel(sql_type = Text)]
    pub model: String,
    #[diesel(sql_type = BigInt)]
    pub calls: i64,
    #[diesel(sql_type = BigInt)]
    pub errors: i64,
    #[diesel(sql_type = Double)]
    pub error_rate: f64,
    #[diesel(sql_type = BigInt)]
    pub prompt_tokens: i64,
    #[diesel(sql_type = BigInt)]
    pub completion_tokens: i64,
    #[diesel(sql_type = Double)]
    pub cost_usd: f64,
    #[diesel(sql_type = Nullable<Double>)]
    pub avg_latency_ms: Option<f64>,
    #[diesel(sql_type = BigInt)]
    pub cache_hits: i64,
}

/// The tenant's usage (admins), newest day first.
pub async fn aggregate(ctx: &Ctx, p: &Principal, q: UsageQuery) -> ServiceResult<Vec<UsageRow>> {
    p.require(Role::Admin, "reading usage")?;
    let to = q.to.unwrap_or_else(Utc::now);
    let from = q.from.unwrap_or(to - chrono::Duration::days(30));
    let mut conn = ctx.pool.get().await?;
    Ok(diesel::sql_query(
        "SELECT (created_at AT TIME ZONE 'UTC')::date AS day, provider, model, \
                count(*) AS calls, count(error_code) AS errors, \
                count(error_code)::float8 / count(*) AS error_rate, \
                coalesce(sum(prompt_tokens), 0)::int8 AS prompt_tokens, \
                coalesce(sum(completion_tokens), 0)::int8 AS completion_tokens, \
                coalesce(sum(cost_usd), 0)::float8 AS cost_usd, \
                avg(latency_ms) FILTER (WHERE error_code IS NULL)::float8 AS avg_latency_ms, \
                count(*) FILTER (WHERE cache_hit) AS cache_hits \
         FROM llm_usage WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3 \
         GROUP BY 1, 2, 3 ORDER BY 1 DESC, 2, 3",
    )
    .bind::<SqlUuid, _>(p.tenant_id)
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .load(&mut conn)
    .await?)
}
