//! The tool registry and the built-in tools through `POST …/invoke`:
//! schema failures listing their paths, each built-in (the SSRF refusal, a
//! timeout and the size cap of `http_fetch` included), cache hits, the
//! execution log with its filters, roles, metrics and tenant isolation.

use std::time::Duration;

use chorus_shared::domain::Role;
use chorus_tests::TestApp;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::documents::{settled, upload_as};

/// Invokes `tool` as `key`, waiting up to 30 s; returns status and body.
pub async fn invoke(app: &TestApp, key: &str, tool: &str, args: Value) -> (u16, Value) {
    let resp = app
        .post(key, &format!("/v1/tools/{tool}/invoke?wait=30"))
        .json(&json!({ "arguments": args }))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

fn names(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn built_in_tools_validate_run_cache_and_log() {
    let app = TestApp::spawn_with(1, |s| {
        s.tools.http_fetch_timeout_ms = 500;
        s.tools.http_fetch_max_bytes = 4096;
    })
    .await;
    let admin = &app.admin_key;
    let viewer = app.key("acme", Role::Viewer).await;

    // The registry, by role.
    let all = names(&app.get_json(admin, "/v1/tools").await);
    for t in ["calculator", "current_time", "knowledge_search", "conversation_history", "http_fetch"] {
        assert!(all.contains(&t.to_string()), "{all:?}");
    }
    let seen = names(&app.get_json(&viewer, "/v1/tools").await);
    assert!(!seen.contains(&"http_fetch".to_string()) && seen.contains(&"calculator".to_string()));
    let calc = app.get_json(admin, "/v1/tools/calculator").await;
    assert_eq!(calc["parameters"]["required"], json!(["expression"]));
    assert_eq!(calc["source"], "builtin");
    assert_eq!(app.get(admin, "/v1/tools/nope").send().await.unwrap().status(), 404);
    let (status, body) = invoke(&app, &viewer, "http_fetch", json!({"url": "https://example.com/"})).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));

    // Schema failures list each path.
    let (status, body) = invoke(&app, admin, "calculator", json!({"expression": 5, "extra": true})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "invalid_arguments");
    let paths: Vec<&str> =
        body["details"]["errors"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&"/expression") && paths.contains(&""), "{body}");

    // calculator: a result, then the same call from the cache; clear errors.
    let (status, first) = invoke(&app, admin, "calculator", json!({"expression": "(2 + 3) * 4 / 8"})).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!((first["result"]["result"].as_f64(), first["cache_hit"].as_bool()), (Some(2.5), Some(false)));
    let (_, again) = invoke(&app, admin, "calculator", json!({"expression": "(2 + 3) * 4 / 8"})).await;
    assert_eq!((again["result"]["result"].as_f64(), again["cache_hit"].as_bool()), (Some(2.5), Some(true)));
    for (expression, code) in
        [("1 / (2 - 2)", "division_by_zero"), ("10 ^ 999", "overflow"), ("2 +", "invalid_expression")]
    {
        let (status, body) = invoke(&app, admin, "calculator", json!({ "expression": expression })).await;
        assert_eq!((status, body["error"]["code"].as_str()), (200, Some(code)), "{expression}: {body}");
    }

    // current_time takes a time zone.
    let (_, tokyo) = invoke(&app, admin, "current_time", json!({"time_zone": "Asia/Tokyo"})).await;
    assert_eq!(tokyo["result"]["utc_offset"], "+09:00", "{tokyo}");
    let (_, bad) = invoke(&app, admin, "current_time", json!({"time_zone": "Mars/Olympus"})).await;
    assert_eq!(bad["error"]["code"], "unknown_time_zone");

    // http_fetch: HTML to text, the SSRF guard, a timeout, the size cap.
    let site = MockServer::start().await;
    let html =
        "<html><head><script>var x=1;</script></head><body><h1>Tides</h1><p>The moon pulls the sea.</p></body></html>";
    Mock::given(method("GET"))
        .and(path("/page"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(html, "text/html; charset=utf-8"))
        .mount(&site)
        .await;
    Mock::given(method("GET"))
        .and(path("/slow"))
        .respond_with(ResponseTemplate::new(200).set_body_string("late").set_delay(Duration::from_secs(3)))
        .mount(&site)
        .await;
    Mock::given(method("GET"))
        .and(path("/big"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(100_000)))
        .mount(&site)
        .await;
    let (_, page) = invoke(&app, admin, "http_fetch", json!({"url": format!("{}/page", site.uri())})).await;
    assert_eq!(page["result"]["text"], "# Tides\nThe moon pulls the sea.", "{page}");
    let (_, refused) =
        invoke(&app, admin, "http_fetch", json!({"url": "http://169.254.169.254/latest/meta-data"})).await;
    assert_eq!(refused["error"]["code"], "url_not_allowed", "{refused}");
    let (_, slow) = invoke(&app, admin, "http_fetch", json!({"url": format!("{}/slow", site.uri())})).await;
    assert_eq!(slow["error"]["code"], "fetch_timeout", "{slow}");
    let (_, big) = invoke(&app, admin, "http_fetch", json!({"url": format!("{}/big", site.uri())})).await;
    assert_eq!(
        (big["result"]["truncated"].as_bool(), big["result"]["text"].as_str().map(str::len)),
        (Some(true), Some(4096))
    );

    // conversation_history: the tenant's own messages only.
    let conv: Value = app
        .post(admin, "/v1/conversations")
        .json(&json!({"title": "trip"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let posted = app
        .post(admin, &format!("/v1/conversations/{}/messages", conv["id"].as_str().unwrap()))
        .json(&json!({"content": "remember the quokka itinerary"}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    let (_, found) = invoke(&app, admin, "conversation_history", json!({"query": "QUOKKA"})).await;
    assert_eq!(found["result"]["messages"][0]["content"], "remember the quokka itinerary", "{found}");
    assert_eq!(found["result"]["messages"][0]["conversation_title"], "trip");
    let globex = app.key("globex", Role::Admin).await;
    let (_, other) = invoke(&app, &globex, "conversation_history", json!({"query": "quokka"})).await;
    assert_eq!(other["result"]["messages"], json!([]), "{other}");

    // knowledge_search: the tenant's documents through the search service.
    let resp = upload_as(&app, admin, b"Ocean tides follow the moon.".to_vec(), "tides.txt", "text/plain", "").await;
    let doc: Value = resp.json().await.unwrap();
    let id = doc["document"]["id"].as_str().unwrap().to_string();
    assert_eq!(settled(&app, &id).await["status"], "ingested");
    let (_, hits) = invoke(&app, admin, "knowledge_search", json!({"query": "what causes tides?"})).await;
    assert_eq!(hits["result"]["results"][0]["document_id"], id.as_str(), "{hits}");
    let (_, none) = invoke(&app, &globex, "knowledge_search", json!({"query": "what causes tides?"})).await;
    assert_eq!(none["result"]["results"], json!([]), "{none}");

    // The execution log: filters, and each tenant sees only its own.
    let log = app.get_json(admin, "/v1/tools/executions?tool=calculator").await;
    assert_eq!(log["items"].as_array().unwrap().len(), 5, "{log}");
    let hits_only = app.get_json(admin, "/v1/tools/executions?tool=calculator&cache_hit=true").await;
    assert_eq!(hits_only["items"].as_array().unwrap().len(), 1);
    let errors = app.get_json(admin, "/v1/tools/executions?outcome=error&error_code=division_by_zero").await;
    assert_eq!(errors["items"][0]["arguments"]["expression"], "1 / (2 - 2)", "{errors}");
    let page = app.get_json(admin, "/v1/tools/executions?limit=2").await;
    assert!(page["next_cursor"].is_string());
    let theirs = app.get_json(&globex, "/v1/tools/executions").await;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 2, "only globex's two calls: {theirs}");

    // Metrics on the worker that ran them.
    let metrics = reqwest::get(format!("http://127.0.0.1:{}/metrics", app.workers[0].metrics_port))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains(r#"chorus_tool_executions_total{outcome="ok",tool="calculator"} 2"#), "{metrics}");
    assert!(metrics.contains(r#"chorus_tool_cache_total{result="hit"} 1"#));
    assert!(metrics.contains("chorus_tool_seconds_bucket"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_fetch_has_its_own_allowlist_apart_from_the_webhooks() {
    // Webhooks may reach loopback here; tools may not.
    let app = TestApp::spawn_with(1, |s| s.tools.allow_networks = Vec::new()).await;
    let site = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200).set_body_string("hi")).mount(&site).await;
    let (_, page) = invoke(&app, &app.admin_key, "http_fetch", json!({"url": format!("{}/page", site.uri())})).await;
    assert_eq!(page["error"]["code"], "url_not_allowed", "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_nested_3000_deep_is_fetched_and_uploaded_and_every_worker_lives() {
    let app = TestApp::spawn().await;
    // Deep enough for the depth cap; the parser's own cost grows with the
    // square of the depth, which a debug build under load feels.
    let depth = 3_000;
    let page = format!("<html><body><p>top</p>{}deep{}</body></html>", "<div>".repeat(depth), "</div>".repeat(depth));
    let site = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(page.clone(), "text/html"))
        .mount(&site)
        .await;
    let (_, fetched) = invoke(&app, &app.admin_key, "http_fetch", json!({"url": format!("{}/deep", site.uri())})).await;
    assert_eq!(fetched["result"]["text"], "top", "{fetched}");
    // The same page as an upload: refused with a code, the worker alive.
    let up = upload_as(&app, &app.admin_key, page.into_bytes(), "deep.html", "text/html", "").await;
    assert!(up.status().is_success());
    let up: Value = up.json().await.unwrap();
    let doc = settled(&app, up["document"]["id"].as_str().unwrap()).await;
    assert_eq!((doc["status"].as_str(), doc["error"]["code"].as_str()), (Some("failed"), Some("document_too_complex")));
    assert!(!app.workers[0].task.is_finished(), "the worker is alive");
    let (_, sum) = invoke(&app, &app.admin_key, "calculator", json!({"expression": "2+2"})).await;
    assert_eq!(sum["result"]["result"].as_f64(), Some(4.0), "{sum}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_never_read_calls_of_tools_their_role_may_not_call() {
    use chorus_shared::domain::Role;
    let app = TestApp::spawn().await;
    let viewer = app.key("acme", Role::Viewer).await;
    let site = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("private page"))
        .mount(&site)
        .await;
    // http_fetch is for users and admins; calculator for every role.
    let (_, fetched) = invoke(&app, &app.admin_key, "http_fetch", json!({"url": format!("{}/p", site.uri())})).await;
    let fetch_job = fetched["job_id"].as_str().unwrap().to_string();
    let (_, sum) = invoke(&app, &app.admin_key, "calculator", json!({"expression": "1+1"})).await;
    let sum_job = sum["job_id"].as_str().unwrap().to_string();

    let resp = app.get(&viewer, &format!("/v1/jobs/{fetch_job}")).send().await.unwrap();
    assert_eq!(resp.status(), 404, "a viewer does not read an http_fetch result");
    let resp = app.get(&viewer, &format!("/v1/jobs/{sum_job}")).send().await.unwrap();
    assert_eq!(resp.status(), 200, "but reads a calculator result");
    let listed: Value = app.get_json(&viewer, "/v1/jobs?kind=tool_call").await;
    let ids: Vec<&str> = listed["items"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![sum_job.as_str()], "{listed}");
    let log: Value = app.get_json(&viewer, "/v1/tools/executions").await;
    let tools: Vec<&str> = log["items"].as_array().unwrap().iter().map(|e| e["tool"].as_str().unwrap()).collect();
    assert_eq!(tools, vec!["calculator"], "{log}");
    let log: Value = app.get_json(&app.admin_key, "/v1/tools/executions").await;
    assert_eq!(log["items"].as_array().unwrap().len(), 2, "an admin reads both");
}
