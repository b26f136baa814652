//! MCP servers through the official Rust SDK (`rmcp`): a stdio command run
//! as a child process, or a Streamable HTTP URL. `tools/call` runs on the
//! server's open session ([`super::mcp_sessions`]); discovery opens a fresh
//! one and closes it in the background once the answer is in. A stdio
//! child is killed at the server's time limit, and the SDK kills one whose
//! session is dropped (on a crash, on cancel) or does not exit when
//! closed, so none is left behind.
//!
//! A server's tools join the registry as `mcp.<server>.<tool>` with the
//! schema it declared ([`McpTool`]).

use std::time::Duration;

use rmcp::model::CallToolRequestParams;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{ConfigureCommandExt, StreamableHttpClientTransport, TokioChildProcess};
use rmcp::ServiceExt;
use serde_json::{json, Value};

use super::{Caller, Tool, ToolError, ToolSpec};
use crate::domain::Role;
use crate::Ctx;

/// How a server is reached.
#[derive(Clone, PartialEq)]
pub enum Transport {
    /// A child process. It gets only `PATH` and `LANG` of the worker's
    /// environment (never its secrets), plus `env`. Where the worker runs
    /// as root, it runs as `user` (uid, gid and `HOME` from the passwd
    /// entry), and refuses to start if that user is unknown.
    Stdio { command: String, args: Vec<String>, env: Vec<(String, String)>, user: Option<String> },
    /// Streamable HTTP, with `Authorization: Bearer <token>` when set.
    Http { url: String, bearer_token: Option<String> },
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Stdio { command, args, env, user } => {
                let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
                f.debug_struct("Stdio")
                    .field("command", command)
                    .field("args", args)
                    .field("env", &names)
                    .field("user", user)
                    .finish()
            }
            Self::Http { url, bearer_token } => {
                f.debug_struct("Http").field("url", url).field("bearer_token", &bearer_token.is_some()).finish()
            }
        }
    }
}

/// The worker's variables a stdio server inherits.
const INHERITED: &[&str] = &["PATH", "LANG"];

/// Who a stdio child runs as: `None` (the worker's own user) unless the
/// worker is root, then `user`'s uid, gid and home.
fn run_as(user: &Option<String>) -> Result<Option<(u32, u32, String)>, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = user.as_deref().ok_or("the worker runs as root and tools.mcp_stdio_user is empty")?;
    let c_name = std::ffi::CString::new(name).map_err(|_| "a user name has no NUL")?;
    // SAFETY: getpwnam reads a NUL-terminated name; its result points into
    // static storage that we copy out before returning (no other thread of
    // ours calls getpwnam).
    let pw = unsafe { libc::getpwnam(c_name.as_ptr()) };
    if pw.is_null() {
        return Err(format!("no user {name:?} (tools.mcp_stdio_user)"));
    }
    // SAFETY: pw is non-null and points at a passwd entry; pw_dir is a C string.
    let (uid, gid, home) =
        unsafe { ((*pw).pw_uid, (*pw).pw_gid, std::ffi::CStr::from_ptr((*pw).pw_dir).to_string_lossy().into_owned()) };
    if uid == 0 {
        return Err(format!("tools.mcp_stdio_user {name:?} is root"));
    }
    Ok(Some((uid, gid, home)))
}

/// A registered server, as a call needs it.
#[derive(Debug, Clone)]
pub struct Server {
    /// The tenant that registered it: sessions are never shared between
    /// tenants, even for equal configurations.
    pub tenant_id: uuid::Uuid,
    pub name: String,
    pub transport: Transport,
    pub timeout: Duration,
    pub roles: Vec<Role>,
}

/// One tool a server declared.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Declared {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub input_schema: Value,
}

fn unavailable(server: &Server, what: impl std::fmt::Display) -> ToolError {
    ToolError::new("mcp_unavailable", format!("MCP server {}: {what}", server.name))
}

/// A client session with one server.
pub type Session = rmcp::service::RunningService<rmcp::RoleClient, ()>;

/// Opens a session; for stdio, also reports the child's pid as soon as it
/// is known, so that a timeout can kill it at once.
pub(super) async fn open(
    server: &Server,
    guard: &crate::config::WebhookSettings,
    pid: &std::sync::atomic::AtomicU32,
) -> Result<Session, ToolError> {
    match &server.transport {
        Transport::Stdio { command, args, env, user } => {
            let who = run_as(user).map_err(|e| unavailable(server, e))?;
            let cmd = tokio::process::Command::new(command).configure(|c| {
                c.args(args).kill_on_drop(true).env_clear();
                for name in INHERITED {
                    if let Ok(v) = std::env::var(name) {
                        c.env(name, v);
                    }
                }
                if let Some((uid, gid, home)) = &who {
                    c.uid(*uid).gid(*gid).env("HOME", home).current_dir("/");
                }
                c.envs(env.iter().map(|(k, v)| (k, v)));
            });
            let (transport, _) = TokioChildProcess::builder(cmd)
                .stderr(std::process::Stdio::null())
                .spawn()
                .map_err(|e| unavailable(server, format!("cannot start {command}: {e}")))?;
            pid.store(transport.id().unwrap_or(0), std::sync::atomic::Ordering::SeqCst);
            ().serve(transport).await.map_err(|e| unavailable(server, format!("initialise: {e}")))
        }
        Transport::Http { url, bearer_token } => {
            // The SSRF guard again, after DNS, and the connection pinned to
            // the addresses it checked (a name that re-resolves elsewhere
            // since registration gets nowhere); no redirects.
            let (checked, addrs) = crate::webhooks::guard::check(url, guard)
                .await
                .map_err(|why| ToolError::new("url_not_allowed", format!("MCP server {}: {why}", server.name)))?;
            let client = reqwest_mcp::Client::builder()
                .redirect(reqwest_mcp::redirect::Policy::none())
                .no_proxy()
                .pool_max_idle_per_host(0)
                .resolve_to_addrs(checked.host_str().unwrap_or_default(), &addrs)
                .build()
                .map_err(|e| unavailable(server, format!("http client: {e}")))?;
            let mut config = StreamableHttpClientTransportConfig::with_uri(url.as_str());
            if let Some(token) = bearer_token {
                config = config.auth_header(token.clone());
            }
            let transport = StreamableHttpClientTransport::with_client(client, config);
            ().serve(transport).await.map_err(|e| unavailable(server, format!("initialise: {e}")))
        }
    }
}

/// Runs `work` in a fresh session under the server's time limit. On
/// timeout a stdio child is killed at once (SIGKILL): the SDK's own
/// cleanup would first wait for it to exit on its own, for seconds.
async fn session<T>(
    server: &Server,
    guard: &crate::config::WebhookSettings,
    work: impl AsyncFnOnce(&Session) -> Result<T, ToolError>,
) -> Result<T, ToolError> {
    let pid = std::sync::atomic::AtomicU32::new(0);
    let run = async {
        let s = open(server, guard, &pid).await?;
        let out = work(&s).await;
        // Closing waits for the server to exit (the SDK's graceful
        // shutdown: close stdin, then SIGTERM, then kill, seconds apart);
        // the answer need not wait for that.
        tokio::spawn(async move {
            let _ = s.cancel().await;
        });
        out
    };
    let out = tokio::time::timeout(server.timeout, run).await;
    out.unwrap_or_else(|_| {
        kill(pid.load(std::sync::atomic::Ordering::SeqCst));
        Err(ToolError::new(
            "tool_timeout",
            format!("MCP server {} did not answer in {:?}", server.name, server.timeout),
        ))
    })
}

/// SIGKILL to our own child `pid` (0: none was started).
pub(super) fn kill(pid: u32) {
    if pid == 0 {
        return;
    }
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    // The pid is our child's and is not reused before the SDK reaps it.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGKILL);
    }
}

/// The server's tools (`tools/list`, every page).
pub async fn discover(server: &Server, guard: &crate::config::WebhookSettings) -> Result<Vec<Declared>, ToolError> {
    session(server, guard, async |s| {
        let tools = s.list_all_tools().await.map_err(|e| unavailable(server, format!("tools/list: {e}")))?;
        let mut out = Vec::new();
        for t in tools {
            let v = serde_json::to_value(&t).map_err(|e| unavailable(server, e))?;
            out.push(Declared {
                name: v["name"].as_str().unwrap_or_default().to_string(),
                description: v["description"].as_str().unwrap_or_default().to_string(),
                input_schema: v.get("inputSchema").cloned().unwrap_or(json!({"type": "object"})),
            });
        }
        Ok(out)
    })
    .await
}

/// One `tools/call` on the server's open session ([`super::mcp_sessions`]).
/// A session that fails is dropped and the call tried once more on a fresh
/// one (the server may have crashed since); a call past the server's time
/// limit drops the session, killing a stdio child. A result the server
/// marks as an error is a `mcp_tool_error` carrying its text.
pub async fn call(
    server: &Server,
    guard: &crate::config::WebhookSettings,
    tool: &str,
    args: Value,
) -> Result<Value, ToolError> {
    use super::mcp_sessions as sessions;
    let arguments = match args {
        Value::Object(map) => map,
        Value::Null => Default::default(),
        other => return Err(ToolError::new("invalid_arguments", format!("arguments must be an object, not {other}"))),
    };
    let params = CallToolRequestParams::new(tool.to_string()).with_arguments(arguments);
    let mut fresh = false;
    let result = loop {
        let open = sessions::get(server, guard).await?;
        match tokio::time::timeout(server.timeout, open.session.call_tool(params.clone())).await {
            Err(_) => {
                sessions::evict(server, &open, true);
                let message = format!("MCP server {} did not answer in {:?}", server.name, server.timeout);
                return Err(ToolError::new("tool_timeout", message));
            }
            Ok(Ok(result)) => break result,
            Ok(Err(rmcp::ServiceError::McpError(e))) => {
                return Err(ToolError::new("mcp_tool_error", e.message.to_string()))
            }
            Ok(Err(other)) => {
                sessions::evict(server, &open, false);
                if fresh {
                    return Err(unavailable(server, format!("tools/call: {other}")));
                }
                fresh = true;
            }
        }
    };
    let v = serde_json::to_value(&result).map_err(|e| unavailable(server, e))?;
    if v["isError"].as_bool() == Some(true) {
        let text: Vec<&str> =
            v["content"].as_array().into_iter().flatten().filter_map(|c| c["text"].as_str()).collect();
        return Err(ToolError::new("mcp_tool_error", text.join("\n")));
    }
    Ok(v)
}

/// A discovered tool in the registry.
pub struct McpTool {
    spec: ToolSpec,
    server: Server,
    remote: String,
}

impl McpTool {
    pub fn new(server: &Server, declared: &Declared) -> Self {
        let spec = ToolSpec {
            name: format!("mcp.{}.{}", server.name, declared.name),
            description: declared.description.clone(),
            parameters: declared.input_schema.clone(),
            // Opening a session and the call each have the server's limit.
            timeout: server.timeout * 2 + Duration::from_secs(1),
            cache_ttl: None,
            roles: server.roles.clone(),
        };
        Self { spec, server: server.clone(), remote: declared.name.clone() }
    }
}

#[async_trait::async_trait]
impl Tool for McpTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, ctx: &Ctx, _caller: Caller, args: Value) -> Result<Value, ToolError> {
        call(&self.server, &ctx.settings.tools.guard(), &self.remote, args).await
    }
}
