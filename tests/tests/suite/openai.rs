//! The OpenAI-compatible routes, driven by the official `openai` Python SDK
//! (PyPI, in the suite's Python environment): `GET /v1/models` lists the
//! tenant's aliases, and errors reach the SDK in OpenAI's envelope, as the
//! SDK's own exception classes.

use chorus_tests::TestApp;
use serde_json::{json, Value};

/// Runs `tests/openai/<script>` with the suite's Python against the app as
/// its admin; the one JSON line it prints.
pub async fn sdk(app: &TestApp, script: &str) -> Value {
    sdk_with(app, script, &[]).await
}

/// [`sdk`] with more environment variables.
pub async fn sdk_with(app: &TestApp, script: &str, env: &[(&str, &str)]) -> Value {
    let python = std::env::var("CHORUS_TEST_PYTHON").expect("CHORUS_TEST_PYTHON (run `just test`)");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openai").join(script);
    let mut cmd = std::process::Command::new(python);
    cmd.arg(script).env("CHORUS_URL", &app.address).env("CHORUS_KEY", &app.admin_key).envs(env.iter().copied());
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().expect("python runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    serde_json::from_str(stdout.trim()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_sdk_lists_models_and_reads_our_errors() {
    let app = TestApp::spawn_with(0, |s| s.limits.key_requests_per_sec = 5).await;
    let model = json!({"alias": "acme-gpt", "provider": "local", "name": "smollm2"});
    let resp = app.post(&app.admin_key, "/v1/admin/llm/models").json(&model).send().await.unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());

    let seen = sdk(&app, "models.py").await;
    assert_eq!(seen["ids"], json!(["acme-gpt", "smollm2"]), "the configured model and the tenant's own");
    assert_eq!(
        seen["unknown_key"],
        json!({"status": 401, "type": "authentication_error", "code": "invalid_api_key", "class": "AuthenticationError"})
    );
    assert_eq!(
        seen["over_limit"],
        json!({"status": 429, "type": "rate_limit_error", "code": "rate_limited", "class": "RateLimitError"})
    );
    // Another tenant sees only the configured model.
    let other = app.key("globex", chorus_shared::domain::Role::Viewer).await;
    let theirs = app.get_json(&other, "/v1/models").await;
    assert_eq!(theirs["data"].as_array().unwrap().len(), 1, "{theirs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_sdk_gets_a_chat_completion_from_a_chat_job() {
    let app = TestApp::spawn().await;
    let seen = sdk(&app, "chat.py").await;
    assert_eq!(
        (seen["object"].as_str(), seen["model"].as_str(), seen["role"].as_str()),
        (Some("chat.completion"), Some("smollm2"), Some("assistant"))
    );
    assert!(seen["content"].as_str().unwrap().contains("Paris"), "{seen}");
    let usage = &seen["usage"];
    assert!(usage["prompt_tokens"].as_u64().unwrap() > 0 && usage["completion_tokens"].as_u64().unwrap() > 0, "{seen}");
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap())
    );
    assert_eq!(seen["unknown_model"]["status"], 422, "{seen}");
    // Streamed (another answer budget, so not from the answer cache): the
    // same answer at temperature 0, a finish reason, and the usage chunk.
    let streamed = &seen["streamed"];
    assert!(streamed["content"].as_str().unwrap().contains("Paris"), "{seen}");
    assert_eq!(streamed["finish_reason"].as_str(), seen["finish_reason"].as_str(), "{seen}");
    assert!(streamed["usage"]["total_tokens"].as_u64().is_some(), "{seen}");
    assert!(streamed["chunks"].as_u64().unwrap() >= 3, "role, content, finish and usage chunks: {seen}");

    // It ran as a chat job of a conversation tagged `openai`, with the
    // history it was sent, and its usage row was written.
    let job = seen["id"].as_str().unwrap().strip_prefix("chatcmpl-").unwrap().to_string();
    let view = app.get_json(&app.admin_key, &format!("/v1/jobs/{job}")).await;
    assert_eq!((view["kind"].as_str(), view["status"].as_str()), (Some("chat"), Some("succeeded")));
    let conv = view["payload"]["conversation_id"].as_str().unwrap();
    let page = app.get_json(&app.admin_key, &format!("/v1/conversations/{conv}/messages")).await;
    let roles: Vec<&str> = page["items"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"], "{page}");
    let usage = app.get_json(&app.admin_key, "/v1/usage").await;
    assert!(usage.to_string().contains("smollm2"), "{usage}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_sdk_calls_its_own_tools_through_a_chat_job() {
    use chorus_shared::config::{ModelSettings, ProviderSettings};
    use wiremock::{matchers::method, Mock, MockServer};
    let llm = MockServer::start().await;
    let model = chorus_tests::provider::WeatherCaller::default();
    Mock::given(method("POST")).respond_with(model.clone()).mount(&llm).await;
    let url = llm.uri();
    let app = TestApp::spawn_with(1, move |s| {
        s.llm.providers.insert("toolful".into(), ProviderSettings { base_url: url, ..Default::default() });
        let model = ModelSettings { provider: "toolful".into(), name: "weather-1".into(), ..Default::default() };
        s.llm.models.insert("weather".into(), model);
    })
    .await;
    let seen = sdk_with(&app, "tools.py", &[("CHORUS_MODEL", "weather")]).await;
    assert_eq!((seen["finish_reason"].as_str(), &seen["content"]), (Some("tool_calls"), &Value::Null), "{seen}");
    assert_eq!(
        seen["call"],
        json!({"id": "call_1", "type": "function", "name": "get_weather", "arguments": {"city": "Paris"}})
    );
    assert_eq!(seen["answer"], "It is 18°C and sunny in Paris.", "{seen}");
    assert_eq!(seen["answer_finish"], "stop");
    assert_eq!(seen["streamed"], json!({"calls": ["get_weather"], "finish_reason": "tool_calls"}), "{seen}");
    assert_eq!(seen["bad_choice"], json!({"status": 400, "code": "invalid_parameter"}));

    // The provider got the caller's tools and choice as OpenAI's fields,
    // and, the second time, the call and its result in the history.
    let asked = model.seen.lock().unwrap().clone();
    assert_eq!(asked.len(), 3, "{asked:?}");
    assert_eq!(asked[0]["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(asked[0]["tool_choice"], json!({"type": "function", "function": {"name": "get_weather"}}));
    assert_eq!(asked[2]["tool_choice"], "required");
    let history = asked[1]["messages"].as_array().unwrap();
    let roles: Vec<&str> = history.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "tool"], "{history:?}");
    assert_eq!(history[1]["tool_calls"][0]["id"], "call_1");
    assert_eq!(
        (history[2]["tool_call_id"].as_str(), history[2]["content"].as_str()),
        (Some("call_1"), Some("18°C and sunny"))
    );
}
