//! Running tools: the tenant's registry (built-ins plus its MCP servers'
//! discovered tools), argument validation, `POST /v1/tools/{name}/invoke`
//! as a `tool_call` job, and [`execute`], the one path every call takes
//! (invocations and agents alike): role check, schema check, result cache,
//! time limit, execution log and metrics.

pub mod agent;
pub mod knowledge_search;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{page, page_limit, Principal};
use crate::db::models::Job;
use crate::db::models::ToolExecution;
use crate::db::schema::tool_executions as te;
use crate::domain::Role;
use crate::error::{ErrorCode, ServiceError, ServiceResult};
use crate::tools::{schema::Violation, Caller, Tool, ToolError};
use crate::Ctx;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ToolView {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments.
    #[schema(value_type = Object)]
    pub parameters: Value,
    pub timeout_ms: u64,
    /// Identical calls within this many seconds are served from the cache;
    /// absent: never cached.
    pub cache_ttl_secs: Option<u64>,
    pub roles: Vec<Role>,
    /// `builtin`, or `mcp` with the server's name.
    pub source: String,
    pub server: Option<String>,
}

fn view(t: &dyn Tool) -> ToolView {
    let s = t.spec();
    let server = s.name.strip_prefix("mcp.").and_then(|rest| rest.split('.').next()).map(String::from);
    ToolView {
        name: s.name.clone(),
        description: s.description.clone(),
        parameters: s.parameters.clone(),
        timeout_ms: s.timeout.as_millis() as u64,
        cache_ttl_secs: s.cache_ttl.map(|t| t.as_secs()),
        roles: s.roles.clone(),
        source: if server.is_some() { "mcp" } else { "builtin" }.into(),
        server,
    }
}

/// The built-in tools, in listing order.
pub fn builtins() -> Vec<Arc<dyn Tool>> {
    use crate::tools::{calculator, conversation_history, current_time, http_fetch};
    vec![
        Arc::new(calculator::Calculator::new()),
        Arc::new(current_time::CurrentTime::new()),
        Arc::new(knowledge_search::KnowledgeSearch::new()),
        Arc::new(conversation_history::ConversationHistory::new()),
        Arc::new(http_fetch::HttpFetch::new()),
    ]
}

/// Every tool of the tenant: built-ins, then each MCP server's.
pub async fn registry(ctx: &Ctx, tenant: Uuid) -> ServiceResult<Vec<Arc<dyn Tool>>> {
    let mut all = builtins();
    all.extend(super::mcp_servers::tools_of(ctx, tenant).await?);
    Ok(all)
}

/// The tool called `name` in the tenant's registry.
pub async fn find(ctx: &Ctx, tenant: Uuid, name: &str) -> ServiceResult<Arc<dyn Tool>> {
    registry(ctx, tenant).await?.into_iter().find(|t| t.spec().name == name).ok_or_else(|| {
        ServiceError::new(ErrorCode::ToolNotFound, format!("no tool {name:?}")).with_details(json!({ "tool": name }))
    })
}

/// The tools `p` may call.
pub async fn list(ctx: &Ctx, p: &Principal) -> ServiceResult<Vec<ToolView>> {
    let all = registry(ctx, p.tenant_id).await?;
    Ok(all.iter().filter(|t| t.spec().allows(p.role)).map(|t| view(t.as_ref())).collect())
}

pub async fn get(ctx: &Ctx, p: &Principal, name: &str) -> ServiceResult<ToolView> {
    let tool = find(ctx, p.tenant_id, name).await?;
    if !tool.spec().allows(p.role) {
        // Tools a key may not use are not shown to it.
        return Err(ServiceError::new(ErrorCode::ToolNotFound, format!("no tool {name:?}")));
    }
    Ok(view(tool.as_ref()))
}

/// The 422 for arguments that do not fit the schema, listing each path.
pub fn invalid_arguments(tool: &str, violations: &[Violation]) -> ServiceError {
    ServiceError::new(ErrorCode::InvalidArguments, format!("the arguments do not fit {tool}'s schema"))
        .with_details(json!({ "tool": tool, "errors": violations }))
}

/// Checks the caller may run `tool` with `args`: role, then schema.
pub fn check_call(tool: &dyn Tool, role: Role, args: &Value) -> ServiceResult<()> {
    let spec = tool.spec();
    if !spec.allows(role) {
        return Err(ServiceError::new(
            ErrorCode::Forbidden,
            format!(
                "tool {} is for the roles {:?}",
                spec.name,
                spec.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>()
            ),
        ));
    }
    let violations = crate::tools::schema::violations(&spec.parameters, args);
    if !violations.is_empty() {
        return Err(invalid_arguments(&spec.name, &violations));
    }
    Ok(())
}

/// The body of `POST /v1/tools/{name}/invoke`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvokeRequest {
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub arguments: Value,
}

/// Checks the call and queues its `tool_call` job (queue `tool`).
pub async fn invoke(ctx: &Ctx, p: &Principal, name: &str, req: InvokeRequest) -> ServiceResult<Job> {
    p.require(Role::Viewer, "calling tools")?;
    let tool = find(ctx, p.tenant_id, name).await?;
    let args = if req.arguments.is_null() { json!({}) } else { req.arguments };
    check_call(tool.as_ref(), p.role, &args)?;
    let call = crate::kinds::tool_call::ToolCall { tool: name.to_string(), arguments: args, role: p.role };
    super::jobs::enqueue(ctx, p.tenant_id, &call).await
}

/// What one execution gave.
#[derive(Debug, Clone)]
pub struct Execution {
    pub id: Uuid,
    pub result: Result<Value, ToolError>,
    pub cache_hit: bool,
    pub duration: Duration,
}

impl Execution {
    /// The execution as a job result or a transcript entry.
    pub fn to_json(&self, tool: &str) -> Value {
        let mut out = json!({ "execution_id": self.id, "tool": tool, "cache_hit": self.cache_hit,
            "duration_ms": self.duration.as_millis() as u64 });
        match &self.result {
            Ok(v) => out["result"] = v.clone(),
            Err(e) => out["error"] = json!({ "code": e.code, "message": e.message }),
        }
        out
    }
}

/// Sorted keys all the way down, so equal arguments hash equally.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> =
                keys.into_iter().map(|k| format!("{}:{}", Value::String(k.clone()), canonical(&map[k]))).collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

fn cache_key(ctx: &Ctx, tenant: Uuid, tool: &str, args: &Value) -> String {
    let digest = Sha256::digest(format!("{tenant}\n{tool}\n{}", canonical(args)).as_bytes());
    format!("{}:tool-cache:{}", ctx.broker.namespace(), hex::encode(digest))
}

/// Runs one call: checks it, serves it from the cache when the tool allows,
/// else runs it under its time limit; logs it and counts it. Errors of the
/// tool itself are in [`Execution::result`]; `Err` means the call was
/// refused (unknown tool, role, arguments) or the log could not be written.
pub async fn execute(
    ctx: &Ctx,
    caller: Caller,
    job_id: Option<Uuid>,
    tool: &dyn Tool,
    args: Value,
) -> ServiceResult<Execution> {
    check_call(tool, caller.role, &args)?;
    let spec = tool.spec();
    let started = Instant::now();
    let key = spec.cache_ttl.map(|_| cache_key(ctx, caller.tenant_id, &spec.name, &args));
    let mut redis = ctx.broker.conn();
    let mut cached = None;
    if let Some(key) = &key {
        if let Ok(Some(hit)) = redis.get::<_, Option<String>>(key).await {
            cached = serde_json::from_str::<Value>(&hit).ok();
        }
        ctx.metrics.tool_cache.with_label_values(&[if cached.is_some() { "hit" } else { "miss" }]).inc();
    }
    let cache_hit = cached.is_some();
    let result = match cached {
        Some(v) => Ok(v),
        None => match tokio::time::timeout(spec.timeout, tool.call(ctx, caller, args.clone())).await {
            Ok(r) => r,
            Err(_) => {
                Err(ToolError::new("tool_timeout", format!("{} did not finish in {:?}", spec.name, spec.timeout)))
            }
        },
    };
    if let (Some(key), Some(ttl), Ok(v), false) = (&key, spec.cache_ttl, &result, cache_hit) {
        let _: Result<(), _> = redis.set_ex(key, v.to_string(), ttl.as_secs().max(1)).await;
    }
    let duration = started.elapsed();
    let outcome = match &result {
        Ok(_) => "ok".to_string(),
        Err(e) => e.code.clone(),
    };
    let (tool, outcome) = (ctx.metrics.named("tool", &spec.name), ctx.metrics.named("tool_outcome", &outcome));
    ctx.metrics.tool_executions.with_label_values(&[&tool, &outcome]).inc();
    ctx.metrics.tool_seconds.with_label_values(&[&tool]).observe(duration.as_secs_f64());
    let id = Uuid::now_v7();
    let (logged, truncated) = match &result {
        Ok(v) => cap(v, ctx.settings.tools.log_result_max_bytes),
        Err(_) => (None, false),
    };
    let (code, message) = match &result {
        Ok(_) => (None, None),
        Err(e) => (Some(e.code.clone()), Some(e.message.clone())),
    };
    let mut conn = ctx.pool.get().await?;
    diesel::insert_into(te::table)
        .values((
            te::id.eq(id),
            te::tenant_id.eq(caller.tenant_id),
            te::job_id.eq(job_id),
            te::tool.eq(&spec.name),
            te::arguments.eq(&args),
            te::result.eq(logged),
            te::result_truncated.eq(truncated),
            te::error_code.eq(code),
            te::error_message.eq(message),
            te::duration_ms.eq(duration.as_millis() as i32),
            te::cache_hit.eq(cache_hit),
        ))
        .execute(&mut conn)
        .await?;
    Ok(Execution { id, result, cache_hit, duration })
}

/// The result as logged: whole when it fits in `max` bytes, else its JSON
/// text cut to `max` (as a string), marked truncated.
fn cap(v: &Value, max: usize) -> (Option<Value>, bool) {
    let text = v.to_string();
    if text.len() <= max {
        return (Some(v.clone()), false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (Some(Value::String(text[..end].to_string())), true)
}

/// A logged execution, as clients see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExecutionView {
    pub id: Uuid,
    pub job_id: Option<Uuid>,
    pub tool: String,
    #[schema(value_type = Object)]
    pub arguments: Value,
    /// The result (cut to `tools.log_result_max_bytes`, then a string).
    #[schema(value_type = Object)]
    pub result: Option<Value>,
    pub result_truncated: bool,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub duration_ms: i32,
    pub cache_hit: bool,
    pub created_at: DateTime<Utc>,
}

impl From<ToolExecution> for ExecutionView {
    fn from(r: ToolExecution) -> Self {
        Self {
            id: r.id,
            job_id: r.job_id,
            tool: r.tool,
            arguments: r.arguments,
            result: r.result,
            result_truncated: r.result_truncated,
            error_code: r.error_code,
            error_message: r.error_message,
            duration_ms: r.duration_ms,
            cache_hit: r.cache_hit,
            created_at: r.created_at,
        }
    }
}

fn outcomes() -> utoipa::openapi::Object {
    crate::domain::spec::one_of(&["ok", "error"])
}

/// Filters of `GET /v1/tools/executions`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExecutionFilter {
    pub tool: Option<String>,
    /// `ok` or `error`.
    #[param(schema_with = outcomes)]
    pub outcome: Option<String>,
    pub error_code: Option<String>,
    pub cache_hit: Option<bool>,
    pub job_id: Option<Uuid>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub cursor: Option<Uuid>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExecutionPage {
    pub items: Vec<ExecutionView>,
    pub next_cursor: Option<Uuid>,
}

/// The names of the tenant's tools that `role` may call: the only ones
/// whose executions and results a key of that role may read.
pub async fn visible_to(ctx: &Ctx, tenant: Uuid, role: Role) -> ServiceResult<Vec<String>> {
    Ok(registry(ctx, tenant).await?.iter().filter(|t| t.spec().allows(role)).map(|t| t.spec().name.clone()).collect())
}

/// The tenant's executions, newest first: for a key below admin, only of
/// the tools its role may call.
pub async fn executions(ctx: &Ctx, p: &Principal, f: ExecutionFilter) -> ServiceResult<ExecutionPage> {
    let limit = page_limit(&ctx.settings, f.limit)?;
    let mut q = te::table
        .filter(te::tenant_id.eq(p.tenant_id))
        .select(ToolExecution::as_select())
        .order(te::id.desc())
        .limit(limit + 1)
        .into_boxed();
    if p.role != Role::Admin {
        q = q.filter(te::tool.eq_any(visible_to(ctx, p.tenant_id, p.role).await?));
    }
    if let Some(tool) = &f.tool {
        q = q.filter(te::tool.eq(tool.clone()));
    }
    match f.outcome.as_deref() {
        None => {}
        Some("ok") => q = q.filter(te::error_code.is_null()),
        Some("error") => q = q.filter(te::error_code.is_not_null()),
        Some(_) => return Err(ServiceError::invalid_parameter("outcome", "outcome is ok or error")),
    }
    if let Some(code) = &f.error_code {
        q = q.filter(te::error_code.eq(code.clone()));
    }
    if let Some(hit) = f.cache_hit {
        q = q.filter(te::cache_hit.eq(hit));
    }
    if let Some(job) = f.job_id {
        q = q.filter(te::job_id.eq(job));
    }
    if let Some(t) = f.created_after {
        q = q.filter(te::created_at.ge(t));
    }
    if let Some(t) = f.created_before {
        q = q.filter(te::created_at.lt(t));
    }
    if let Some(c) = f.cursor {
        q = q.filter(te::id.lt(c));
    }
    let mut conn = ctx.pool.get().await?;
    let rows: Vec<ExecutionView> =
        q.load::<ToolExecution>(&mut conn).await?.into_iter().map(ExecutionView::from).collect();
    let (items, next_cursor) = page(rows, limit, |r| r.id);
    Ok(ExecutionPage { items, next_cursor })
}

/// A finished execution of `job`, if one was logged (a job run twice
/// returns it instead of calling the tool again).
pub async fn logged_for_job(ctx: &Ctx, job: Uuid) -> ServiceResult<Option<ExecutionView>> {
    let mut conn = ctx.pool.get().await?;
    Ok(te::table
        .filter(te::job_id.eq(job))
        .select(ToolExecution::as_select())
        .order(te::id.desc())
        .first::<ToolExecution>(&mut conn)
        .await
        .optional()?
        .map(ExecutionView::from))
}
