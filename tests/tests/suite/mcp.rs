//! MCP against a real server nobody here wrote: npm's
//! `@modelcontextprotocol/server-everything` (`scripts/mcp.sh`), over stdio
//! and over Streamable HTTP. Discovery, a call, the server's own errors, a
//! hang cut by the time limit with no child left behind, a crash, a
//! restart with rediscovery, the stdio allowlist and tenant isolation.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chorus_shared::domain::{JobStatus, Role};
use chorus_shared::tools::mcp::{self, Server, Transport};
use chorus_tests::TestApp;
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::{matchers::method, Mock, MockServer, ResponseTemplate};

use crate::tools::invoke;

fn entry() -> String {
    std::env::var("CHORUS_TEST_MCP").expect("CHORUS_TEST_MCP is not set: run the suite with `just test`")
}

fn node() -> String {
    let out = Command::new("sh").args(["-c", "command -v node"]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Registers a server and waits for its discovery job; returns the server.
async fn register(app: &TestApp, body: Value) -> Value {
    let resp = app.post(&app.admin_key, "/v1/mcp/servers").json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let server: Value = resp.json().await.unwrap();
    let job: Uuid = server["discovery_job"]["id"].as_str().unwrap().parse().unwrap();
    app.wait_for(job, Duration::from_secs(60), |j| j.status.is_terminal()).await;
    app.get_json(&app.admin_key, &format!("/v1/mcp/servers/{}", server["id"].as_str().unwrap())).await
}

/// Processes still running the reference server with `marker` in their
/// command line.
fn running(marker: &str) -> usize {
    let out = Command::new("pgrep").args(["-f", marker]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn http_server(port: u16) -> Child {
    Command::new(node())
        .arg(entry())
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_listening(port: u16) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the MCP server did not listen on {port}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_server_is_discovered_called_timed_out_and_survived() {
    let node = node();
    // Unique arguments mark this test's children for pgrep.
    let marker = format!("stdio-{}", Uuid::new_v4().simple());
    let hung = format!("hung-{}", Uuid::new_v4().simple());
    let line = |args: Vec<String>| chorus_shared::config::StdioCommand {
        program: node.clone(),
        args,
        env: vec!["GREETING_TOKEN".into()],
    };
    let lines = [
        ("everything", line(vec![entry(), "stdio".into(), marker.clone()])),
        ("everything-hung", line(vec![entry(), "stdio".into(), hung.clone()])),
        ("broken", line(vec![entry(), "no-such-transport".into()])),
    ];
    let app = TestApp::spawn_with(1, |s| {
        s.tools.mcp_stdio = lines.iter().map(|(n, l)| (n.to_string(), l.clone())).collect();
    })
    .await;
    let admin = &app.admin_key;

    // Operators configure whole command lines; a tenant picks one by name,
    // adds no arguments, and sets only the variables it lists.
    for (body, code) in [
        (json!({"name": "shell", "transport": "stdio", "command": "/bin/sh"}), "command_not_allowed"),
        (json!({"name": "shell", "transport": "stdio", "command": node}), "command_not_allowed"),
        (
            json!({"name": "shell", "transport": "stdio", "command": "everything", "args": ["-e", "x"]}),
            "invalid_payload",
        ),
        (
            json!({"name": "shell", "transport": "stdio", "command": "everything", "env": {"NODE_OPTIONS": "--require=/tmp/x"}}),
            "command_not_allowed",
        ),
    ] {
        let resp = app.post(admin, "/v1/mcp/servers").json(&body).send().await.unwrap();
        let answer: Value = resp.json().await.unwrap();
        assert_eq!(answer["code"], code, "{body}: {answer}");
    }

    let server = register(
        &app,
        json!({"name": "everything", "transport": "stdio", "command": "everything",
            "timeout_ms": 8000, "env": {"GREETING_TOKEN": "s3cret-value"}}),
    )
    .await;
    // Where the worker is root, the child is not.
    if std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
    {
        let out = Command::new("pgrep").args(["-f", &marker]).output().unwrap();
        let pid = String::from_utf8_lossy(&out.stdout).lines().next().expect("the child runs").to_string();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap().to_string();
        assert!(!uid.split_whitespace().skip(1).any(|u| u == "0"), "the MCP child runs as root: {uid}");
    }
    assert_eq!(server["env_keys"], json!(["GREETING_TOKEN"]));
    assert!(!server.to_string().contains("s3cret"), "env values are never shown: {server}");
    let tools: Vec<&str> = server["tools"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert!(tools.contains(&"mcp.everything.echo") && tools.contains(&"mcp.everything.get-sum"), "{server}");
    assert!(server["discovery_error"].is_null());
    let listed = app.get_json(admin, "/v1/tools/mcp.everything.get-sum").await;
    assert_eq!(listed["source"], "mcp");
    assert_eq!(listed["parameters"]["properties"]["a"]["type"], "number", "the server's own schema: {listed}");

    let (status, echoed) = invoke(&app, admin, "mcp.everything.echo", json!({"message": "hello"})).await;
    assert_eq!(status, 200, "{echoed}");
    assert_eq!(echoed["result"]["content"][0]["text"], "Echo: hello", "{echoed}");
    // Its schema is enforced before anything runs.
    let (status, body) = invoke(&app, admin, "mcp.everything.get-sum", json!({"a": "two", "b": 3})).await;
    assert_eq!((status, body["details"]["errors"][0]["path"].as_str()), (422, Some("/a")), "{body}");

    // The server gets its own variables, and none of the worker's secrets.
    let (_, env) = invoke(&app, admin, "mcp.everything.get-env", json!({})).await;
    let env = env["result"]["content"][0]["text"].as_str().unwrap().to_string();
    assert!(env.contains("s3cret-value"), "{env}");
    assert!(!env.contains("CHORUS"), "the worker's environment leaked: {env}");
    #[derive(diesel::QueryableByName)]
    struct Stored {
        #[diesel(sql_type = diesel::sql_types::Text)]
        secrets_encrypted: String,
    }
    let mut conn = app.ctx.pool.get().await.unwrap();
    let stored: Stored = diesel::sql_query("SELECT secrets_encrypted FROM mcp_servers WHERE name = 'everything'")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert!(stored.secrets_encrypted.starts_with("v1:") && !stored.secrets_encrypted.contains("s3cret"));
    drop(conn);

    // The server's own errors come back as mcp_tool_error with its text.
    let direct = Server {
        tenant_id: uuid::Uuid::nil(),
        name: "everything".into(),
        transport: Transport::Stdio {
            command: node.clone(),
            args: vec![entry(), "stdio".into(), marker.clone()],
            env: Vec::new(),
            user: Some("nobody".into()),
        },
        timeout: Duration::from_secs(8),
        roles: vec![Role::Admin],
    };
    let unknown = mcp::call(&direct, &app.settings.webhooks, "no-such-tool", json!({})).await.unwrap_err();
    assert_eq!(unknown.code, "mcp_tool_error", "{unknown:?}");
    let invalid = mcp::call(&direct, &app.settings.webhooks, "echo", json!({"wrong": 1})).await.unwrap_err();
    assert_eq!(invalid.code, "mcp_tool_error", "{invalid:?}");
    assert!(!invalid.message.is_empty());

    // A hang is cut at the server's limit, and its child does not outlive it.
    let resp = app
        .client
        .delete(app.url(&format!("/v1/mcp/servers/{}", server["id"].as_str().unwrap())))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    register(
        &app,
        json!({"name": "everything", "transport": "stdio", "command": "everything-hung", "timeout_ms": 3000}),
    )
    .await;
    let (_, slow) =
        invoke(&app, admin, "mcp.everything.trigger-long-running-operation", json!({"duration": 30, "steps": 3})).await;
    assert_eq!(slow["error"]["code"], "tool_timeout", "{slow}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(running(&hung), 0, "the hung server may not be left behind");
    // The next call opens a fresh session.
    let (_, echoed) = invoke(&app, admin, "mcp.everything.echo", json!({"message": "after"})).await;
    assert_eq!(echoed["result"]["content"][0]["text"], "Echo: after", "{echoed}");
    assert_eq!(running(&hung), 1, "one open session, kept for the next call");
    chorus_shared::tools::mcp_sessions::close_all();
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(running(&hung), 0, "a closed session's server exits");

    // A server that crashes at start: discovery fails and says why; the worker lives on.
    let broken = register(&app, json!({"name": "broken", "transport": "stdio", "command": "broken"})).await;
    assert!(broken["discovery_error"].as_str().unwrap().contains("mcp_unavailable"), "{broken}");
    assert_eq!(broken["tools"], json!([]));
    let (_, calc) = invoke(&app, admin, "calculator", json!({"expression": "1 + 1"})).await;
    assert_eq!(calc["result"]["result"], 2.0, "the worker still runs tools");

    // Another tenant sees none of it.
    let globex = app.key("globex", Role::Admin).await;
    let theirs: Vec<String> = app
        .get_json(&globex, "/v1/tools")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert!(theirs.iter().all(|t| !t.starts_with("mcp.")), "{theirs:?}");
    assert_eq!(app.get_json(&globex, "/v1/mcp/servers").await, json!([]));
    let (status, _) = invoke(&app, &globex, "mcp.everything.echo", json!({"message": "x"})).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamable_http_server_survives_a_crash_and_is_rediscovered() {
    let app = TestApp::spawn().await;
    let admin = &app.admin_key;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = http_server(port);
    wait_listening(port).await;
    let server = register(
        &app,
        json!({"name": "remote", "transport": "http", "url": format!("http://127.0.0.1:{port}/mcp"), "timeout_ms": 8000}),
    )
    .await;
    assert!(server["tools"].as_array().unwrap().contains(&json!("mcp.remote.get-sum")), "{server}");
    let (status, sum) = invoke(&app, admin, "mcp.remote.get-sum", json!({"a": 2, "b": 3})).await;
    assert_eq!(status, 200, "{sum}");
    assert!(sum["result"]["content"][0]["text"].as_str().unwrap().contains('5'), "{sum}");

    // The server dies: calls fail clearly.
    child.kill().unwrap();
    child.wait().unwrap();
    let (_, down) = invoke(&app, admin, "mcp.remote.get-sum", json!({"a": 1, "b": 1})).await;
    assert_eq!(down["error"]["code"], "mcp_unavailable", "{down}");

    // It comes back: rediscovery on demand, and calls work again.
    let mut child = http_server(port);
    wait_listening(port).await;
    let resp =
        app.post(admin, &format!("/v1/mcp/servers/{}/discover", server["id"].as_str().unwrap())).send().await.unwrap();
    assert_eq!(resp.status(), 202);
    let job: Uuid = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    app.wait_for_status(job, JobStatus::Succeeded, Duration::from_secs(30)).await;
    let (_, again) = invoke(&app, admin, "mcp.remote.echo", json!({"message": "back"})).await;
    assert_eq!(again["result"]["content"][0]["text"], "Echo: back", "{again}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_server_gets_its_bearer_token_which_is_never_shown() {
    let app = TestApp::spawn().await;
    let upstream = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(401)).mount(&upstream).await;
    let server = register(
        &app,
        json!({"name": "guarded", "transport": "http", "url": format!("{}/mcp", upstream.uri()),
            "bearer_token": "tok-123", "timeout_ms": 3000}),
    )
    .await;
    assert_eq!(server["bearer_token_set"], true);
    assert!(!server.to_string().contains("tok-123"));
    assert!(server["discovery_error"].as_str().unwrap().contains("mcp_unavailable"), "{server}");
    let sent = upstream.received_requests().await.unwrap();
    assert!(!sent.is_empty());
    assert!(sent.iter().all(|r| r.headers.get("authorization").unwrap() == "Bearer tok-123"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ssrf_guard_runs_again_when_a_worker_connects() {
    // The API allows loopback; the worker's settings do not (as if the
    // name had since re-resolved to an internal address).
    let mut app = TestApp::spawn_with(0, |_| {}).await;
    app.settings.tools.allow_networks = Vec::new();
    app.start_worker().await;
    let server = register(
        &app,
        json!({"name": "internal", "transport": "http", "url": "http://127.0.0.1:9/mcp", "timeout_ms": 2000}),
    )
    .await;
    assert!(server["discovery_error"].as_str().unwrap().starts_with("url_not_allowed"), "{server}");
}
