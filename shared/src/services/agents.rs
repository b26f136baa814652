//! Agent profiles (`/v1/agents`): a named system prompt, model,
//! temperature, allowed tools and step limit that a chat message may name
//! to run the function-calling loop ([`crate::services::tools::agent`]). Each is
//! checked on write: prompt length, temperature 0–2, steps 1–20, a model
//! the tenant may use, and tools that exist in its registry.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::audit::audited;
use super::Principal;
use crate::db::models::Agent as AgentRow;
use crate::db::schema::agents as a;
use crate::domain::Role;
use crate::error::{ErrorCode, ServiceError, ServiceResult};
use crate::Ctx;

const MAX_PROMPT_CHARS: usize = 20_000;
const MAX_STEPS: i32 = 20;

/// An agent profile, as clients see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Agent {
    pub id: Uuid,
    pub name: String,
    pub system_prompt: String,
    pub model: String,
    pub temperature: f32,
    pub tools: Vec<String>,
    pub max_steps: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<AgentRow> for Agent {
    fn from(r: AgentRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            system_prompt: r.system_prompt,
            model: r.model,
            temperature: r.temperature,
            tools: r.tools,
            max_steps: r.max_steps,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The body of `POST /v1/agents` (`name`, `model` and `tools` required)
/// and `PATCH /v1/agents/{id}`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentInput {
    #[schema(schema_with = crate::domain::spec::optional_name)]
    pub name: Option<String>,
    #[schema(max_length = 20000)]
    pub system_prompt: Option<String>,
    pub model: Option<String>,
    /// 0 to 2 (default 0.2).
    #[schema(minimum = 0, maximum = 2)]
    pub temperature: Option<f32>,
    #[schema(min_items = 1, max_items = 32)]
    pub tools: Option<Vec<String>>,
    /// Model calls before the loop stops (1 to 20, default 5).
    #[schema(minimum = 1, maximum = 20)]
    pub max_steps: Option<i32>,
}

fn not_found() -> ServiceError {
    ServiceError::new(ErrorCode::AgentNotFound, "no such agent in your tenant")
}

async fn check(ctx: &Ctx, tenant: Uuid, agent: &Agent) -> ServiceResult<()> {
    super::llm_catalog::check_name("name", &agent.name)?;
    if agent.system_prompt.chars().count() > MAX_PROMPT_CHARS {
        return Err(ServiceError::invalid_field(
            "system_prompt",
            format!("system_prompt is at most {MAX_PROMPT_CHARS} characters"),
        ));
    }
    if !(0.0..=2.0).contains(&agent.temperature) {
        return Err(ServiceError::invalid_field("temperature", "temperature is between 0 and 2"));
    }
    if !(1..=MAX_STEPS).contains(&agent.max_steps) {
        return Err(ServiceError::invalid_field("max_steps", format!("max_steps is between 1 and {MAX_STEPS}")));
    }
    if !super::llm_catalog::aliases(ctx, tenant).await?.contains(&agent.model) {
        return Err(ServiceError::new(ErrorCode::UnknownModel, format!("unknown model {:?}", agent.model))
            .with_details(json!({ "field": "model" })));
    }
    if agent.tools.is_empty() || agent.tools.len() > 32 {
        return Err(ServiceError::invalid_field("tools", "an agent has 1 to 32 tools"));
    }
    let known: Vec<String> = super::tools::registry(ctx, tenant).await?.iter().map(|t| t.spec().name.clone()).collect();
    let missing: Vec<&String> = agent.tools.iter().filter(|t| !known.contains(t)).collect();
    if !missing.is_empty() {
        return Err(ServiceError::invalid_field("tools", format!("unknown tools {missing:?}"))
            .with_details(json!({ "field": "tools", "unknown": missing })));
    }
    Ok(())
}

pub async fn create(ctx: &Ctx, p: &Principal, i: AgentInput) -> ServiceResult<Agent> {
    p.require(Role::Admin, "managing agents")?;
    let now = Utc::now();
    let agent = Agent {
        id: Uuid::now_v7(),
        name: i.name.ok_or_else(|| ServiceError::invalid_field("name", "name is required"))?,
        system_prompt: i.system_prompt.unwrap_or_default(),
        model: i.model.ok_or_else(|| ServiceError::invalid_field("model", "model is required"))?,
        temperature: i.temperature.unwrap_or(0.2),
        tools: i.tools.ok_or_else(|| ServiceError::invalid_field("tools", "tools is required"))?,
        max_steps: i.max_steps.unwrap_or(5),
        created_at: now,
        updated_at: now,
    };
    check(ctx, p.tenant_id, &agent).await?;
    let tenant = p.tenant_id;
    let selector = json!({"agent_id": agent.id, "name": agent.name, "model": agent.model, "tools": agent.tools});
    audited(ctx, p, "agent.create", selector, move |conn| {
        Box::pin(async move {
            diesel::insert_into(a::table)
                .values((
                    a::id.eq(agent.id),
                    a::tenant_id.eq(tenant),
                    a::name.eq(&agent.name),
                    a::system_prompt.eq(&agent.system_prompt),
                    a::model.eq(&agent.model),
                    a::temperature.eq(agent.temperature),
                    a::tools.eq(&agent.tools),
                    a::max_steps.eq(agent.max_steps),
                ))
                .on_conflict_do_nothing()
                .returning(AgentRow::as_returning())
                .get_result(conn)
                .await
                .optional()?
                .map(Agent::from)
                .ok_or_else(|| {
                    ServiceError::new(ErrorCode::NameTaken, format!("an agent named {:?} exists", agent.name))
                })
        })
    })
    .await
}

pub async fn list(ctx: &Ctx, p: &Principal) -> ServiceResult<Vec<Agent>> {
    let mut conn = ctx.pool.get().await?;
    let rows: Vec<AgentRow> = a::table
        .filter(a::tenant_id.eq(p.tenant_id))
        .order(a::name)
        .select(AgentRow::as_select())
        .load(&mut conn)
        .await?;
    Ok(rows.into_iter().map(Agent::from).collect())
}

pub async fn get(ctx: &Ctx, p: &Principal, id: Uuid) -> ServiceResult<Agent> {
    let mut conn = ctx.pool.get().await?;
    a::table
        .filter(a::tenant_id.eq(p.tenant_id))
        .filter(a::id.eq(id))
        .select(AgentRow::as_select())
        .first(&mut conn)
        .await
        .optional()?
        .map(Agent::from)
        .ok_or_else(not_found)
}

/// The agent named `name` in the tenant (what a chat message names).
pub async fn by_name(ctx: &Ctx, tenant: Uuid, name: &str) -> ServiceResult<Agent> {
    let mut conn = ctx.pool.get().await?;
    a::table
        .filter(a::tenant_id.eq(tenant))
        .filter(a::name.eq(name))
        .select(AgentRow::as_select())
        .first(&mut conn)
        .await
        .optional()?
        .map(Agent::from)
        .ok_or_else(|| not_found().with_details(json!({ "agent": name })))
}

pub async fn update(ctx: &Ctx, p: &Principal, id: Uuid, i: AgentInput) -> ServiceResult<Agent> {
    p.require(Role::Admin, "managing agents")?;
    let old = get(ctx, p, id).await?;
    let agent = Agent {
        name: i.name.unwrap_or(old.name),
        system_prompt: i.system_prompt.unwrap_or(old.system_prompt),
        model: i.model.unwrap_or(old.model),
        temperature: i.temperature.unwrap_or(old.temperature),
        tools: i.tools.unwrap_or(old.tools),
        max_steps: i.max_steps.unwrap_or(old.max_steps),
        updated_at: Utc::now(),
        ..old
    };
    check(ctx, p.tenant_id, &agent).await?;
    let tenant = p.tenant_id;
    let selector = json!({"agent_id": id, "name": agent.name, "model": agent.model, "tools": agent.tools});
    audited(ctx, p, "agent.update", selector, move |conn| {
        Box::pin(async move {
            let taken = a::table
                .filter(a::tenant_id.eq(tenant))
                .filter(a::name.eq(&agent.name))
                .filter(a::id.ne(id))
                .select(a::id)
                .first::<Uuid>(conn)
                .await
                .optional()?;
            if taken.is_some() {
                let message = format!("an agent named {:?} exists", agent.name);
                return Err(ServiceError::new(ErrorCode::NameTaken, message));
            }
            Ok(diesel::update(a::table.filter(a::id.eq(id)))
                .set((
                    a::name.eq(&agent.name),
                    a::system_prompt.eq(&agent.system_prompt),
                    a::model.eq(&agent.model),
                    a::temperature.eq(agent.temperature),
                    a::tools.eq(&agent.tools),
                    a::max_steps.eq(agent.max_steps),
                    a::updated_at.eq(agent.updated_at),
                ))
                .returning(AgentRow::as_returning())
                .get_result::<AgentRow>(conn)
                .await?
                .into())
        })
    })
    .await
}

pub async fn delete(ctx: &Ctx, p: &Principal, id: Uuid) -> ServiceResult<()> {
    p.require(Role::Admin, "managing agents")?;
    let tenant = p.tenant_id;
    audited(ctx, p, "agent.delete", json!({"agent_id": id}), move |conn| {
        Box::pin(async move {
            let n = diesel::delete(a::table.filter(a::tenant_id.eq(tenant)).filter(a::id.eq(id))).execute(conn).await?;
            if n == 0 {
                return Err(not_found());
            }
            Ok(())
        })
    })
    .await
}
