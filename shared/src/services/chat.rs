//! What a `chat` turn reads and writes in Postgres: the replies already
//! stored for a message, the conversation with its history and the tenant's
//! model registry, the stored summary, the router's facts, and the answers
//! with one usage row per model call (stored together). The `chat` handler
//! runs the stages and calls these for every read and write.

use std::sync::Arc;

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::models::{Conversation, Message, NewLlmUsage};
use crate::db::schema::{conversations as c, llm_usage as u, messages as m};
use crate::error::ServiceResult;
use crate::llm::context::Summary;
use crate::llm::modes::RouteFacts;
use crate::llm::registry::Registry;
use crate::Ctx;

/// Everything a turn starts from.
pub struct Turn {
    pub conversation: Conversation,
    /// The history as read through forks, oldest first.
    pub history: Vec<Message>,
    /// The tenant's model registry, or why it cannot be built.
    pub llm: Result<Arc<Registry>, String>,
}

/// The assistant messages already stored in reply to `message_id`.
pub async fn replies_to(ctx: &Ctx, message_id: Uuid) -> ServiceResult<Vec<Message>> {
    let mut conn = ctx.pool.get().await?;
    load_replies(&mut conn, message_id).await
}

async fn load_replies(conn: &mut AsyncPgConnection, message_id: Uuid) -> ServiceResult<Vec<Message>> {
    Ok(m::table.filter(m::reply_to.eq(message_id)).order(m::id).select(Message::as_select()).load(conn).await?)
}

/// Loads the tenant's conversation, its history and the tenant's registry.
pub async fn load_turn(ctx: &Ctx, tenant: Uuid, conversation: Uuid) -> ServiceResult<Turn> {
    let mut conn = ctx.pool.get().await?;
    let conv = super::conversations::load_for_job(&mut conn, tenant, conversation).await?;
    let history = super::conversations::history(&mut conn, tenant, conv.id).await?;
    let llm = super::llm_catalog::registry_for(ctx, &mut conn, tenant).await;
    Ok(Turn { conversation: conv, history, llm })
}

/// Stores the conversation's extended summary.
pub async fn save_summary(ctx: &Ctx, conversation: Uuid, summary: &Summary) -> ServiceResult<()> {
    let mut conn = ctx.pool.get().await?;
    diesel::update(c::table.find(conversation))
        .set((c::summary.eq(&summary.text), c::summary_through.eq(summary.through)))
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// The router's facts: the tenant's spend since midnight UTC, and each
/// candidate's average latency over the last hour. Missing facts (a
/// database error) leave the defaults.
pub async fn route_facts(ctx: &Ctx, tenant: Uuid, llm: &Registry, models: &[String]) -> RouteFacts {
    let mut facts = RouteFacts::default();
    let Ok(mut conn) = ctx.pool.get().await else { return facts };
    let today = Utc::now().date_naive();
    facts.spent_today_usd = super::governance::spent_since(&mut conn, tenant, today).await.unwrap_or(0.0);
    let hour_ago = Utc::now() - chrono::Duration::hours(1);
    for alias in models {
        let Some(model) = llm.model(alias) else { continue };
        let avg: Option<f64> = u::table
            .filter(u::model.eq(&model.name))
            .filter(u::provider.eq(&model.provider))
            .filter(u::error_code.is_null())
            .filter(u::created_at.ge(hour_ago))
            .select(diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Double>>(
                "avg(latency_ms)::float8",
            ))
            .first::<Option<f64>>(&mut conn)
            .await
            .ok()
            .flatten();
        if let Some(ms) = avg {
            facts.latency_ms.insert(alias.clone(), ms);
        }
    }
    facts
}

/// Who a usage row belongs to.
#[derive(Debug, Clone, Copy)]
pub struct UsageOwner {
    pub tenant_id: Uuid,
    pub job_id: Uuid,
}

/// Records a failed call's usage row (best effort: the job fails anyway).
pub async fn record_failure(ctx: &Ctx, owner: UsageOwner, message_id: Uuid, provider: &str, model: &str, code: &str) {
    let Ok(mut conn) = ctx.pool.get().await else { return };
    let _ = diesel::insert_into(u::table)
        .values((
            u::tenant_id.eq(owner.tenant_id),
            u::job_id.eq(owner.job_id),
            u::message_id.eq(message_id),
            u::provider.eq(provider),
            u::model.eq(model),
            u::error_code.eq(code),
        ))
        .execute(&mut conn)
        .await;
}

/// Stores the answers and their usage rows (owned by `owner`) in one
/// transaction, with the `usage.threshold` event they may cross. Answers are unique per (user message, model): when a run
/// before this one stored them, nothing is written and the stored ones are
/// returned.
pub async fn store_replies(
    ctx: &Ctx,
    owner: UsageOwner,
    reply_to: Uuid,
    replies: Vec<Message>,
    usage: Vec<NewLlmUsage>,
) -> ServiceResult<Vec<Message>> {
    let rows: Vec<NewLlmUsage> = usage
        .into_iter()
        .map(|u| NewLlmUsage { tenant_id: owner.tenant_id, job_id: Some(owner.job_id), ..u })
        .collect();
    let limits = ctx.limits.of_tenant(&ctx.pool, owner.tenant_id).await;
    let settings = ctx.settings.clone();
    let mut conn = ctx.pool.get().await?;
    let stored = (*conn)
        .transaction::<_, diesel::result::Error, _>(async move |conn: &mut AsyncPgConnection| {
            let stored: Vec<Message> = diesel::insert_into(m::table)
                .values(&replies)
                .on_conflict_do_nothing()
                .returning(Message::as_returning())
                .get_results(conn)
                .await?;
            if !stored.is_empty() {
                diesel::insert_into(u::table).values(rows).execute(conn).await?;
                super::governance::cross_thresholds(conn, &settings, owner.tenant_id, &limits).await?;
            }
            Ok(stored)
        })
        .await?;
    if stored.is_empty() {
        return load_replies(&mut conn, reply_to).await;
    }
    Ok(stored)
}
