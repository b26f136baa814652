//! The audit log of admin operations: who, what, when, on which selection,
//! with what outcome. Written in the transaction of the operation (or of
//! its end, for a bulk job): keys, webhooks, providers and models, MCP
//! servers, agents, retries of failed and dead jobs, tenants' limits, and
//! bulk operations.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::Principal;
use crate::db::models::AuditEntry as Row;
use crate::db::schema::audit_log as a;
use crate::domain::Role;
use crate::error::{ErrorCode, ServiceError, ServiceResult};
use crate::Ctx;

/// An audit entry, as admins see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    /// The API key that asked for it.
    pub actor_key_id: Option<Uuid>,
    /// E.g. `bulk.delete`.
    pub action: String,
    pub selector: Value,
    /// Counts: total, ok, failed (and `cancelled` when stopped early).
    pub outcome: Value,
    pub job_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl From<Row> for AuditEntry {
    fn from(r: Row) -> Self {
        Self {
            id: r.id,
            actor_key_id: r.actor_key_id,
            action: r.action,
            selector: r.selector,
            outcome: r.outcome,
            job_id: r.job_id,
            created_at: r.created_at,
        }
    }
}

/// Appends an entry inside the caller's transaction.
pub(crate) async fn record(
    conn: &mut AsyncPgConnection,
    tenant: Uuid,
    actor: Option<Uuid>,
    action: &str,
    selector: &Value,
    outcome: &Value,
    job_id: Option<Uuid>,
) -> QueryResult<()> {
    diesel::insert_into(a::table)
        .values((
            a::tenant_id.eq(tenant),
            a::actor_key_id.eq(actor),
            a::action.eq(action),
            a::selector.eq(selector),
            a::outcome.eq(outcome),
            a::job_id.eq(job_id),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Runs `op` and appends its audit entry (`action` by `p`'s key, on
/// `selector`, outcome `{}`) in one transaction: the change and its entry
/// land together or not at all. `op` owns what it uses (it outlives no
/// borrow), and names no secret in `selector`.
pub(crate) async fn audited<T: Send + 'static>(
    ctx: &Ctx,
    p: &Principal,
    action: &'static str,
    selector: Value,
    op: impl for<'c> FnOnce(&'c mut AsyncPgConnection) -> BoxFuture<'c, ServiceResult<T>> + Send + 'static,
) -> ServiceResult<T> {
    let (tenant, actor) = (p.tenant_id, p.key_id);
    let mut conn = ctx.pool.get().await?;
    (*conn)
        .transaction::<_, ServiceError, _>(async move |conn: &mut AsyncPgConnection| {
            let out = op(conn).await?;
            record(conn, tenant, Some(actor), action, &selector, &Value::Object(Default::default()), None).await?;
            Ok(out)
        })
        .await
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Entries older than this id (the previous page's last).
    pub before: Option<i64>,
    /// 1..=200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// The tenant's audit log, newest first (admin).
pub async fn list(ctx: &Ctx, p: &Principal, q: AuditQuery) -> ServiceResult<Vec<AuditEntry>> {
    p.require(Role::Admin, "reading the audit log")?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ServiceError::new(ErrorCode::InvalidParameter, "limit must be between 1 and 200"));
    }
    let mut conn = ctx.pool.get().await?;
    let mut query = a::table.filter(a::tenant_id.eq(p.tenant_id)).select(Row::as_select()).into_boxed();
    if let Some(before) = q.before {
        query = query.filter(a::id.lt(before));
    }
    let rows: Vec<Row> = query.order(a::id.desc()).limit(limit).load(&mut conn).await?;
    Ok(rows.into_iter().map(AuditEntry::from).collect())
}
