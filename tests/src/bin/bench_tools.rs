//! `just bench tools`: the cost of an MCP tool call through Chorus. For
//! `n` calls of the reference server's `echo` over stdio it measures
//! (1) Chorus's MCP client as the tool runs it (the server's session kept
//! open between calls; the first call, which starts it, is a warm-up), and
//! (2) the whole `POST /v1/tools/mcp.everything.echo/invoke?wait=` round
//! trip (the job hop on top). Prints one JSON line with p50 and p99 of
//! each, and the first call's time. The peer (the TypeScript SDK's client
//! on one persistent session) runs beside it in `scripts/bench-tools.sh`.
//!
//! Usage: bench_tools <node> <server-entry> <api-url> <api-key> <n>

use std::time::{Duration, Instant};

use chorus_shared::config::WebhookSettings;
use chorus_shared::domain::Role;
use chorus_shared::tools::mcp::{self, Server, Transport};
use serde_json::{json, Value};

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn summary(mut v: Vec<f64>) -> Value {
    json!({ "p50_ms": pct(&mut v, 0.5), "p99_ms": pct(&mut v, 0.99) })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, node, entry, api, key, n] = args.as_slice() else {
        anyhow::bail!("usage: bench_tools <node> <entry> <api> <key> <n>")
    };
    let n: usize = n.parse()?;
    let server = Server {
        tenant_id: uuid::Uuid::nil(),
        name: "everything".into(),
        // As the worker runs it: as `nobody` when root.
        transport: Transport::Stdio {
            command: node.clone(),
            args: vec![entry.clone(), "stdio".into()],
            env: vec![],
            user: Some("nobody".into()),
        },
        timeout: Duration::from_secs(30),
        roles: vec![Role::Admin],
    };
    let guard = WebhookSettings::default();
    let mut direct = Vec::new();
    let mut first_ms = 0.0;
    for i in 0..n + 3 {
        let started = Instant::now();
        let out = mcp::call(&server, &guard, "echo", json!({ "message": format!("hello {i}") })).await?;
        anyhow::ensure!(out["content"][0]["text"] == format!("Echo: hello {i}"), "unexpected {out}");
        if i == 0 {
            first_ms = started.elapsed().as_secs_f64() * 1000.0;
        }
        if i >= 3 {
            direct.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }

    let http = reqwest::Client::new();
    let registered: Value = http
        .post(format!("{api}/v1/mcp/servers"))
        .bearer_auth(key)
        // The operator's command line `everything` (scripts/bench-tools.sh).
        .json(&json!({"name": "everything", "transport": "stdio", "command": "everything"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = registered["id"].as_str().unwrap_or_default().to_string();
    for _ in 0..300 {
        let s: Value = http.get(format!("{api}/v1/mcp/servers/{id}")).bearer_auth(key).send().await?.json().await?;
        if !s["tools"].as_array().is_none_or(|t| t.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut invoked = Vec::new();
    for i in 0..n + 3 {
        let started = Instant::now();
        let out: Value = http
            .post(format!("{api}/v1/tools/mcp.everything.echo/invoke?wait=30"))
            .bearer_auth(key)
            .json(&json!({ "arguments": { "message": format!("again {i}") } }))
            .send()
            .await?
            .json()
            .await?;
        anyhow::ensure!(out["result"]["content"][0]["text"] == format!("Echo: again {i}"), "unexpected {out}");
        if i >= 3 {
            invoked.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    println!("{}", json!({ "n": n, "first_call_ms": first_ms, "client": summary(direct), "invoke": summary(invoked) }));
    Ok(())
}
