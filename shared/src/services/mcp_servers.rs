//! MCP servers per tenant (admin): a stdio command (only programs listed in
//! `tools.mcp_stdio_commands`, since it runs on the workers) or a
//! Streamable HTTP URL (through the webhooks' SSRF guard). Registering one,
//! or `POST …/discover`, queues an `mcp_discover` job that stores the
//! server's `tools/list`; those tools then join the tenant's registry.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Principal;
use crate::db::models::Job;
use crate::db::models::McpServer as Row;
use crate::db::schema::mcp_servers as ms;
use crate::domain::{JobSummary, Role};
use crate::error::{ErrorCode, ServiceError, ServiceResult};
use crate::kinds::mcp_discover::McpDiscover;
use crate::kinds::JobArgs;
use crate::tools::mcp::{Declared, McpTool, Server, Transport};
use crate::tools::Tool;
use crate::Ctx;

/// What a server keeps encrypted.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Secrets {
    #[serde(default)]
    bearer_token: Option<String>,
    #[serde(default)]
    env: std::collections::BTreeMap<String, String>,
}

fn secrets_context(tenant: Uuid, server: Uuid) -> String {
    format!("mcp_servers/{tenant}/{server}")
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct McpServerView {
    pub id: Uuid,
    pub name: String,
    /// `stdio` or `http`.
    pub transport: String,
    /// `stdio`: the name of its command line in `tools.mcp_stdio`.
    pub command: Option<String>,
    pub url: Option<String>,
    pub timeout_ms: u64,
    pub roles: Vec<String>,
    /// The tools as discovered, named as the registry shows them.
    pub tools: Vec<String>,
    pub discovered_at: Option<DateTime<Utc>>,
    /// Why the last discovery failed, if it did.
    pub discovery_error: Option<String>,
    /// Names of the environment variables given to a stdio server (their
    /// values are encrypted at rest and never shown).
    pub env_keys: Vec<String>,
    /// Whether an HTTP server gets a bearer token (encrypted, never shown).
    pub bearer_token_set: bool,
    pub created_at: DateTime<Utc>,
    /// The discovery job queued by this request, if any.
    pub discovery_job: Option<JobSummary>,
}

/// The body of `POST /v1/mcp/servers`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct McpServerInput {
    #[schema(pattern = r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    pub name: String,
    /// `stdio` (with `command`) or `http` (with `url`).
    #[schema(schema_with = transport_schema)]
    pub transport: String,
    /// `stdio`: the name of a command line in `tools.mcp_stdio`; the
    /// operator set its program and arguments.
    pub command: Option<String>,
    pub url: Option<String>,
    /// One call's limit (default `tools.mcp_timeout_ms`).
    #[schema(minimum = 100, maximum = 600000)]
    pub timeout_ms: Option<u64>,
    /// Roles that may call its tools (default admin and user).
    pub roles: Option<Vec<Role>>,
    /// `http`: sent as `Authorization: Bearer <token>`; encrypted at rest.
    #[schema(min_length = 1, max_length = 4096)]
    pub bearer_token: Option<String>,
    /// `stdio`: environment variables of the server (API keys and the
    /// like), encrypted at rest; only the names its command line lists.
    /// The worker's own environment is not passed on, except `PATH` and
    /// `LANG`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub env: std::collections::BTreeMap<String, String>,
}

fn transport_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(["stdio", "http"]))
        .build()
}

fn declared(row: &Row) -> Vec<Declared> {
    serde_json::from_value(row.tools.clone()).unwrap_or_default()
}

/// The server as a call needs it, secrets decrypted.
fn server_of(ctx: &Ctx, tenant: Uuid, row: &Row) -> Result<Server, String> {
    let secrets: Secrets = match &row.secrets_encrypted {
        None => Secrets::default(),
        Some(stored) => {
            let text = ctx.secrets.decrypt(stored, &secrets_context(tenant, row.id))?;
            serde_json::from_str(&text).map_err(|e| e.to_string())?
        }
    };
    let transport = match row.transport.as_str() {
        "stdio" => {
            // What runs is the operator's command line of that name, now.
            let name = row.command.clone().unwrap_or_default();
            let line = ctx
                .settings
                .tools
                .mcp_stdio
                .get(&name)
                .ok_or_else(|| format!("command line {name:?} is not in tools.mcp_stdio"))?;
            let env = secrets.env.into_iter().filter(|(k, _)| line.env.contains(k)).collect();
            let user = Some(ctx.settings.tools.mcp_stdio_user.clone()).filter(|u| !u.is_empty());
            Transport::Stdio { command: line.program.clone(), args: line.args.clone(), env, user }
        }
        _ => Transport::Http { url: row.url.clone().unwrap_or_default(), bearer_token: secrets.bearer_token },
    };
    Ok(Server {
        tenant_id: tenant,
        name: row.name.clone(),
        transport,
        timeout: Duration::from_millis(row.timeout_ms.max(1) as u64),
        roles: row.roles.iter().filter_map(|r| Role::parse(r)).collect(),
    })
}

fn view(row: Row, job: Option<&Job>) -> McpServerView {
    let tools = declared(&row).iter().map(|t| format!("mcp.{}.{}", row.name, t.name)).collect();
    McpServerView {
        id: row.id,
        name: row.name,
        transport: row.transport,
        command: row.command,
        url: row.url,
        timeout_ms: row.timeout_ms as u64,
        roles: row.roles,
        tools,
        discovered_at: row.discovered_at,
        discovery_error: row.discovery_error,
        env_keys: row.env_keys,
        bearer_token_set: row.has_bearer_token,
        created_at: row.created_at,
        discovery_job: job.map(Job::summary),
    }
}

fn not_found() -> ServiceError {
    ServiceError::new(ErrorCode::McpServerNotFound, "no such MCP server in your tenant")
}

/// Every discovered tool of the tenant's servers.
pub async fn tools_of(ctx: &Ctx, tenant: Uuid) -> ServiceResult<Vec<Arc<dyn Tool>>> {
    let mut conn = ctx.pool.get().await?;
    let rows: Vec<Row> =
        ms::table.filter(ms::tenant_id.eq(tenant)).order(ms::name).select(Row::as_select()).load(&mut conn).await?;
    let mut out: Vec<Arc<dyn Tool>> = Vec::new();
    for row in &rows {
        let server = match server_of(ctx, tenant, row) {
            Ok(s) => s,
            Err(e) => {
                // Its tools stay out of the registry until it is fixed.
                tracing::warn!(server = %row.name, error = %e, "MCP server secrets do not decrypt");
                continue;
            }
        };
        out.extend(declared(row).iter().map(|d| Arc::new(McpTool::new(&server, d)) as Arc<dyn Tool>));
    }
    Ok(out)
}

async fn check(ctx: &Ctx, i: &McpServerInput) -> ServiceResult<()> {
    super::llm_catalog::check_name("name", &i.name)?;
    if i.name.contains('.') {
        return Err(ServiceError::invalid_field(
            "name",
            "an MCP server's name has no '.' (tools are mcp.<server>.<tool>)",
        ));
    }
    match i.transport.as_str() {
        "stdio" => {
            let command = i.command.as_deref().unwrap_or_default();
            let Some(line) = ctx.settings.tools.mcp_stdio.get(command) else {
                let allowed: Vec<&String> = ctx.settings.tools.mcp_stdio.keys().collect();
                return Err(ServiceError::new(
                    ErrorCode::CommandNotAllowed,
                    format!("{command:?} is not a command line in tools.mcp_stdio"),
                )
                .with_details(json!({ "field": "command", "allowed": allowed })));
            };
            if let Some(k) = i.env.keys().find(|k| !line.env.contains(k)) {
                return Err(ServiceError::new(
                    ErrorCode::CommandNotAllowed,
                    format!("{command:?} takes no variable {k:?} (tools.mcp_stdio.{command}.env)"),
                )
                .with_details(json!({ "field": "env", "allowed": line.env })));
            }
            if i.url.is_some() || i.bearer_token.is_some() {
                return Err(ServiceError::invalid_field("url", "a stdio server has a command, not a url or token"));
            }
            let bad_name = |k: &String| {
                k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || k.starts_with("CHORUS")
            };
            if i.env.len() > 32 || i.env.keys().any(bad_name) || i.env.values().any(|v| v.len() > 4096) {
                return Err(ServiceError::invalid_field(
                    "env",
                    "at most 32 variables named [A-Za-z0-9_] (not CHORUS*), values up to 4096 bytes",
                ));
            }
        }
        "http" => {
            let url = i.url.as_deref().ok_or_else(|| ServiceError::invalid_field("url", "url is required"))?;
            crate::webhooks::check_url(url, &ctx.settings.tools.guard(), "url").await?;
            if i.command.is_some() || !i.env.is_empty() {
                return Err(ServiceError::invalid_field("command", "an http server has a url, not a command or env"));
            }
            if i.bearer_token.as_ref().is_some_and(|t| t.is_empty() || t.chars().count() > 4096) {
                return Err(ServiceError::invalid_field("bearer_token", "bearer_token is 1 to 4096 characters"));
            }
        }
        _ => return Err(ServiceError::invalid_field("transport", "transport is stdio or http")),
    }
    if i.timeout_ms.is_some_and(|t| !(100..=600_000).contains(&t)) {
        return Err(ServiceError::invalid_field("timeout_ms", "timeout_ms is between 100 and 600000"));
    }
    Ok(())
}

fn discovery(server_id: Uuid) -> McpDiscover {
    McpDiscover { server_id }
}

/// Registers a server and queues its discovery, in one transaction.
pub async fn create(ctx: &Ctx, p: &Principal, i: McpServerInput) -> ServiceResult<McpServerView> {
    p.require(Role::Admin, "managing MCP servers")?;
    check(ctx, &i).await?;
    let id = Uuid::now_v7();
    let roles: Vec<String> =
        i.roles.clone().unwrap_or(vec![Role::Admin, Role::User]).iter().map(|r| r.as_str().to_string()).collect();
    let timeout = i.timeout_ms.unwrap_or(ctx.settings.tools.mcp_timeout_ms) as i64;
    let args = discovery(id);
    let tenant = p.tenant_id;
    let env_keys: Vec<String> = i.env.keys().cloned().collect();
    let has_bearer_token = i.bearer_token.is_some();
    let sealed = (has_bearer_token || !i.env.is_empty()).then(|| {
        let secrets = Secrets { bearer_token: i.bearer_token.clone(), env: i.env.clone() };
        let text = serde_json::to_string(&secrets).expect("strings serialise");
        ctx.secrets.encrypt(&text, &secrets_context(tenant, id))
    });
    let actor = p.key_id;
    let selector =
        json!({"server_id": id, "name": i.name, "transport": i.transport, "url": i.url, "command": i.command});
    let mut conn = ctx.pool.get().await?;
    let created = (*conn)
        .transaction::<_, diesel::result::Error, _>(async move |conn: &mut AsyncPgConnection| {
            let row: Option<Row> = diesel::insert_into(ms::table)
                .values((
                    ms::id.eq(id),
                    ms::tenant_id.eq(tenant),
                    ms::name.eq(&i.name),
                    ms::transport.eq(&i.transport),
                    ms::command.eq(&i.command),
                    ms::url.eq(&i.url),
                    ms::timeout_ms.eq(timeout),
                    ms::roles.eq(&roles),
                    ms::secrets_encrypted.eq(sealed),
                    ms::env_keys.eq(&env_keys),
                    ms::has_bearer_token.eq(has_bearer_token),
                ))
                .on_conflict_do_nothing()
                .returning(Row::as_returning())
                .get_result(conn)
                .await
                .optional()?;
            let Some(row) = row else { return Ok(None) };
            let job = crate::queue::insert(conn, tenant, &args).await?;
            super::audit::record(conn, tenant, Some(actor), "mcp.create", &selector, &json!({}), None).await?;
            Ok(Some((row, job)))
        })
        .await?;
    let Some((row, job)) = created else {
        return Err(ServiceError::new(ErrorCode::NameTaken, "an MCP server of that name exists"));
    };
    drop(conn);
    super::jobs::nudge(ctx, McpDiscover::KIND.queue.as_str());
    Ok(view(row, Some(&job)))
}

async fn row(ctx: &Ctx, p: &Principal, id: Uuid) -> ServiceResult<Row> {
    let mut conn = ctx.pool.get().await?;
    ms::table
        .filter(ms::tenant_id.eq(p.tenant_id))
        .filter(ms::id.eq(id))
        .select(Row::as_select())
        .first(&mut conn)
        .await
        .optional()?
        .ok_or_else(not_found)
}

pub async fn list(ctx: &Ctx, p: &Principal) -> ServiceResult<Vec<McpServerView>> {
    p.require(Role::Admin, "managing MCP servers")?;
    let mut conn = ctx.pool.get().await?;
    let rows: Vec<Row> = ms::table
        .filter(ms::tenant_id.eq(p.tenant_id))
        .order(ms::name)
        .select(Row::as_select())
        .load(&mut conn)
        .await?;
    Ok(rows.into_iter().map(|r| view(r, None)).collect())
}

pub async fn get(ctx: &Ctx, p: &Principal, id: Uuid) -> ServiceResult<McpServerView> {
    p.require(Role::Admin, "managing MCP servers")?;
    Ok(view(row(ctx, p, id).await?, None))
}

/// Queues a fresh `tools/list` of the server.
pub async fn rediscover(ctx: &Ctx, p: &Principal, id: Uuid) -> ServiceResult<Job> {
    p.require(Role::Admin, "managing MCP servers")?;
    row(ctx, p, id).await?;
    super::jobs::enqueue(ctx, p.tenant_id, &discovery(id)).await
}

pub async fn delete(ctx: &Ctx, p: &Principal, id: Uuid) -> ServiceResult<()> {
    p.require(Role::Admin, "managing MCP servers")?;
    let tenant = p.tenant_id;
    super::audit::audited(ctx, p, "mcp.delete", json!({"server_id": id}), move |conn| {
        Box::pin(async move {
            let n =
                diesel::delete(ms::table.filter(ms::tenant_id.eq(tenant)).filter(ms::id.eq(id))).execute(conn).await?;
            if n == 0 {
                return Err(not_found());
            }
            Ok(())
        })
    })
    .await
}

/// Runs `tools/list` on a server and stores the answer (or the failure).
/// Returns the tool names, or the failure.
pub async fn discover(ctx: &Ctx, tenant: Uuid, id: Uuid) -> Result<Vec<String>, crate::tools::ToolError> {
    let db = |e: diesel::result::Error| crate::tools::ToolError::new("database", e.to_string());
    let mut conn = ctx.pool.get().await.map_err(|e| crate::tools::ToolError::new("database", e.to_string()))?;
    let Some(r): Option<Row> = ms::table
        .filter(ms::tenant_id.eq(tenant))
        .filter(ms::id.eq(id))
        .select(Row::as_select())
        .first(&mut conn)
        .await
        .optional()
        .map_err(db)?
    else {
        return Err(crate::tools::ToolError::new("mcp_server_not_found", "the server was deleted"));
    };
    drop(conn);
    let server = server_of(ctx, tenant, &r)
        .map_err(|e| crate::tools::ToolError::new("mcp_secrets_unreadable", format!("the server's secrets: {e}")))?;
    let found = crate::tools::mcp::discover(&server, &ctx.settings.tools.guard()).await;
    let mut conn = ctx.pool.get().await.map_err(|e| crate::tools::ToolError::new("database", e.to_string()))?;
    let target = ms::table.filter(ms::id.eq(id));
    match found {
        Ok(tools) => {
            let names = tools.iter().map(|t| format!("mcp.{}.{}", r.name, t.name)).collect();
            let stored = serde_json::to_value(&tools).unwrap_or(json!([]));
            diesel::update(target)
                .set((
                    ms::tools.eq(stored),
                    ms::discovered_at.eq(Some(Utc::now())),
                    ms::discovery_error.eq(None::<String>),
                    ms::updated_at.eq(Utc::now()),
                ))
                .execute(&mut conn)
                .await
                .map_err(db)?;
            Ok(names)
        }
        Err(e) => {
            diesel::update(target)
                .set((ms::discovery_error.eq(Some(e.to_string())), ms::updated_at.eq(Utc::now())))
                .execute(&mut conn)
                .await
                .map_err(db)?;
            Err(e)
        }
    }
}
