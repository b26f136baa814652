//! Open MCP sessions, kept per server configuration so that a call costs
//! one request rather than a server start and a handshake. A session that
//! fails (its server crashed or went away) or times out is dropped (and a
//! stdio child killed); one idle for `tools.mcp_idle_secs` is closed by the
//! workers' maintenance loop; at most [`MAX_OPEN`] are kept (the least
//! recently used goes first). Dropping a session cancels it, and the SDK
//! then kills its child.

use std::collections::HashMap;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::mcp::{Server, Session, Transport};
use super::ToolError;

/// Sessions kept open in one process, at most.
pub const MAX_OPEN: usize = 32;

/// One open session.
pub struct Open {
    pub session: Session,
    /// The stdio child's pid (0 for HTTP).
    pub pid: u32,
    last_used: Mutex<Instant>,
}

static OPEN: LazyLock<Mutex<HashMap<String, Arc<Open>>>> = LazyLock::new(Default::default);

/// A server's identity: its tenant and everything that reaches it, secrets
/// included (as a hash), so that a changed server never reuses an old
/// session and no tenant ever uses another's.
fn key(server: &Server) -> String {
    let reach = match &server.transport {
        Transport::Stdio { command, args, env, user } => format!("stdio\n{command}\n{args:?}\n{env:?}\n{user:?}"),
        Transport::Http { url, bearer_token } => format!("http\n{url}\n{bearer_token:?}"),
    };
    hex::encode(Sha256::digest(format!("{}\n{}\n{reach}", server.tenant_id, server.name).as_bytes()))
}

/// The server's open session, or a new one (opened under its time limit).
pub async fn get(server: &Server, guard: &crate::config::WebhookSettings) -> Result<Arc<Open>, ToolError> {
    let key = key(server);
    if let Some(open) = OPEN.lock().unwrap().get(&key).filter(|o| !o.session.is_closed()).cloned() {
        *open.last_used.lock().unwrap() = Instant::now();
        return Ok(open);
    }
    let pid = AtomicU32::new(0);
    let opened = tokio::time::timeout(server.timeout, super::mcp::open(server, guard, &pid)).await;
    let pid = pid.load(std::sync::atomic::Ordering::SeqCst);
    let session = match opened {
        Ok(s) => s?,
        Err(_) => {
            super::mcp::kill(pid);
            return Err(ToolError::new("tool_timeout", format!("MCP server {} did not start in time", server.name)));
        }
    };
    let open = Arc::new(Open { session, pid, last_used: Mutex::new(Instant::now()) });
    let mut all = OPEN.lock().unwrap();
    if all.len() >= MAX_OPEN && !all.contains_key(&key) {
        let oldest = all.iter().min_by_key(|(_, o)| *o.last_used.lock().unwrap()).map(|(k, _)| k.clone());
        if let Some(k) = oldest {
            all.remove(&k);
        }
    }
    // Another call may have opened one meanwhile: either is fine; the
    // newer replaces it and the older closes when its calls end.
    all.insert(key, open.clone());
    Ok(open)
}

/// Forgets `open` (if it is still the server's session); with `kill`, its
/// child is killed at once rather than closed.
pub fn evict(server: &Server, open: &Arc<Open>, kill: bool) {
    let mut all = OPEN.lock().unwrap();
    let key = key(server);
    if all.get(&key).is_some_and(|o| Arc::ptr_eq(o, open)) {
        all.remove(&key);
    }
    drop(all);
    if kill {
        super::mcp::kill(open.pid);
    }
}

/// Closes sessions idle for `idle` or more; returns how many.
pub fn close_idle(idle: Duration) -> usize {
    let mut all = OPEN.lock().unwrap();
    let before = all.len();
    all.retain(|_, o| o.last_used.lock().unwrap().elapsed() < idle && !o.session.is_closed());
    before - all.len()
}

/// Closes every session (at shutdown).
pub fn close_all() {
    OPEN.lock().unwrap().clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_configurations_of_two_tenants_never_share_a_session() {
        let server = |tenant: u128| Server {
            tenant_id: uuid::Uuid::from_u128(tenant),
            name: "files".into(),
            transport: Transport::Stdio {
                command: "node".into(),
                args: vec!["server.js".into()],
                env: Vec::new(),
                user: None,
            },
            timeout: Duration::from_secs(5),
            roles: Vec::new(),
        };
        assert_ne!(key(&server(1)), key(&server(2)));
        assert_eq!(key(&server(1)), key(&server(1)));
    }
}
