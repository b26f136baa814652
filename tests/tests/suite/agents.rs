//! Agent profiles and the chat tool loop against a provider double that
//! speaks OpenAI's, Anthropic's and Gemini's tool-call wire formats (streamed):
//! the model asks for a tool, Chorus runs it and feeds the result back,
//! the model answers; a tool error is fed back too; the step limit stops a
//! model that never answers; the transcript is stored with the message.

use std::time::Duration;

use chorus_shared::config::{ModelSettings, ProviderSettings};
use chorus_shared::domain::{JobStatus, Role};
use chorus_tests::TestApp;
use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::{matchers::method, Mock, MockServer, Request, Respond, ResponseTemplate};

/// What the double's model does: `solver` asks for `6*7` then reports the
/// tool's answer; `divider` asks for `1/0` then reports; `looper` asks for
/// a tool every time.
struct Double;

fn sse(events: &[Value]) -> String {
    events.iter().map(|e| format!("data: {e}\n\n")).collect()
}

fn anthropic_sse(events: &[Value]) -> String {
    events.iter().map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap())).collect()
}

impl Respond for Double {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = req.body_json().unwrap();
        let path = req.url.path().to_string();
        if path.contains(":streamGenerateContent") {
            return gemini(&path, &body);
        }
        let model = body["model"].as_str().unwrap();
        let anthropic = path.ends_with("/v1/messages");
        // The latest tool result, in either format.
        let result = body["messages"].as_array().unwrap().iter().rev().find_map(|m| {
            if anthropic {
                m["content"].as_array().and_then(|b| b.iter().find(|b| b["type"] == "tool_result")).map(|b| {
                    assert_eq!(b["tool_use_id"], "toolu_1");
                    b["content"].as_str().unwrap().to_string()
                })
            } else {
                (m["role"] == "tool").then(|| {
                    assert_eq!(m["tool_call_id"], "call_1");
                    m["content"].as_str().unwrap().to_string()
                })
            }
        });
        // The tools arrive in the provider's own shape.
        let offered =
            if anthropic { &body["tools"][0]["input_schema"] } else { &body["tools"][0]["function"]["parameters"] };
        assert!(offered.is_object(), "tools offered in the wrong shape: {body}");
        let expression = match model {
            "divider-up" => "1/0",
            "looper-up" => "1+1",
            _ => "6*7",
        };
        let call = result.is_none() || model == "looper-up";
        let text = format!("The tool said: {}", result.unwrap_or_default());
        let body = match (anthropic, call) {
            (false, true) => {
                sse(&[
                    json!({"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [{"index": 0, "id": "call_1",
                    "type": "function", "function": {"name": "calculator", "arguments": ""}}]}, "finish_reason": null}]}),
                    json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"expression\":"}}]}}]}),
                    json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": format!("\"{expression}\"}}")}}]}}]}),
                    json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
                ]) + "data: [DONE]\n\n"
            }
            (false, false) => {
                sse(&[json!({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": "stop"}]})])
                    + "data: [DONE]\n\n"
            }
            (true, true) => anthropic_sse(&[
                json!({"type": "message_start", "message": {"usage": {"input_tokens": 20}}}),
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_1",
                    "name": "calculator", "input": {}}}),
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta",
                    "partial_json": format!("{{\"expression\": \"{expression}\"}}")}}),
                json!({"type": "content_block_stop", "index": 0}),
                json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}}),
                json!({"type": "message_stop"}),
            ]),
            (true, false) => anthropic_sse(&[
                json!({"type": "message_start", "message": {"usage": {"input_tokens": 30}}}),
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
                json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}}),
                json!({"type": "message_stop"}),
            ]),
        };
        ResponseTemplate::new(200).set_body_raw(body, "text/event-stream")
    }
}

/// Gemini's `streamGenerateContent`: `solver-up` asks for `6*7` with a
/// `functionCall`, then reports the `functionResponse` it gets back.
fn gemini(path: &str, body: &Value) -> ResponseTemplate {
    assert!(path.contains("solver-up"), "{path}");
    assert!(body["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"].is_object(), "{body}");
    let result = body["contents"].as_array().unwrap().iter().rev().find_map(|c| {
        c["parts"].as_array().unwrap().iter().find_map(|p| p.get("functionResponse")).map(|r| {
            assert_eq!(r["name"], "calculator");
            r["response"].to_string()
        })
    });
    let parts = match result {
        None => json!([{"functionCall": {"name": "calculator", "args": {"expression": "6*7"}}}]),
        Some(r) => json!([{"text": format!("The tool said: {r}")}]),
    };
    let chunk = json!({"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 5}});
    ResponseTemplate::new(200).set_body_raw(format!("data: {chunk}\n\n"), "text/event-stream")
}

async fn app_with_double() -> (TestApp, MockServer) {
    let double = MockServer::start().await;
    Mock::given(method("POST")).respond_with(Double).mount(&double).await;
    let uri = double.uri();
    let app = TestApp::spawn_with(1, move |s| {
        let openai = ProviderSettings { base_url: format!("{uri}/v1"), ..Default::default() };
        let anthropic = ProviderSettings { kind: "anthropic".into(), base_url: uri.clone(), ..Default::default() };
        s.llm.providers.insert("oai".into(), openai);
        s.llm.providers.insert("ant".into(), anthropic);
        let gemini = ProviderSettings { kind: "gemini".into(), base_url: uri.clone(), ..Default::default() };
        s.llm.providers.insert("gem".into(), gemini);
        for (alias, provider, name) in [
            ("solver", "oai", "solver-up"),
            ("divider", "oai", "divider-up"),
            ("looper", "oai", "looper-up"),
            ("claude-solver", "ant", "solver-up"),
            ("gemini-solver", "gem", "solver-up"),
        ] {
            let m = ModelSettings { provider: provider.into(), name: name.into(), ..Default::default() };
            s.llm.models.insert(alias.into(), m);
        }
    })
    .await;
    (app, double)
}

async fn agent(app: &TestApp, name: &str, model: &str, max_steps: i32) {
    let body = json!({"name": name, "model": model, "system_prompt": "Use the calculator for arithmetic.",
        "temperature": 0.0, "tools": ["calculator"], "max_steps": max_steps});
    let resp = app.post(&app.admin_key, "/v1/agents").json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
}

/// Asks `agent` a question; returns the job's result and the stored answer.
async fn ask(app: &TestApp, agent: &str) -> (Value, Value) {
    let conv: Value =
        app.post(&app.admin_key, "/v1/conversations").json(&json!({})).send().await.unwrap().json().await.unwrap();
    let path = format!("/v1/conversations/{}/messages", conv["id"].as_str().unwrap());
    let resp = app
        .post(&app.admin_key, &path)
        .json(&json!({"content": "What is 6 times 7?", "agent": agent}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap());
    let job: Uuid = resp.json::<Value>().await.unwrap()["job"]["id"].as_str().unwrap().parse().unwrap();
    let done = app.wait_for_status(job, JobStatus::Succeeded, Duration::from_secs(30)).await;
    let messages = app.get_json(&app.admin_key, &path).await;
    (done.result.unwrap(), messages["items"][1].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tool_loop_runs_in_three_formats_feeds_errors_back_and_stops_at_the_limit() {
    let (app, _double) = app_with_double().await;
    agent(&app, "maths", "solver", 4).await;
    agent(&app, "claude-maths", "claude-solver", 4).await;
    agent(&app, "gemini-maths", "gemini-solver", 4).await;
    agent(&app, "careless", "divider", 4).await;
    agent(&app, "stuck", "looper", 2).await;

    for name in ["maths", "claude-maths", "gemini-maths"] {
        let (result, answer) = ask(&app, name).await;
        assert_eq!(result["content"], r#"The tool said: {"expression":"6*7","result":42.0}"#, "{name}: {result}");
        let calls = answer["meta"]["tool_calls"].as_array().unwrap();
        assert_eq!(calls.len(), 1, "{answer}");
        assert_eq!(
            (calls[0]["tool"].as_str(), calls[0]["result"]["result"].as_f64()),
            (Some("calculator"), Some(42.0))
        );
        assert_eq!(answer["meta"]["agent"], name);
        assert_eq!(answer["meta"]["steps"].as_array().unwrap().len(), 2, "two model calls: {answer}");
    }

    // A tool error goes back to the model, which can say so.
    let (result, answer) = ask(&app, "careless").await;
    assert!(result["content"].as_str().unwrap().contains("division_by_zero"), "{result}");
    assert_eq!(answer["meta"]["tool_calls"][0]["error"]["code"], "division_by_zero");

    // A model that never stops asking is stopped at the step limit.
    let (result, answer) = ask(&app, "stuck").await;
    assert_eq!(result["finish_reason"], "step_limit", "{result}");
    assert_eq!(answer["meta"]["tool_calls"].as_array().unwrap().len(), 2);

    // Every call the agents made is in the execution log.
    let log = app.get_json(&app.admin_key, "/v1/tools/executions?tool=calculator&limit=50").await;
    assert!(log["items"].as_array().unwrap().iter().all(|e| e["job_id"].is_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_profiles_are_validated_and_tenant_scoped() {
    let (app, _double) = app_with_double().await;
    let admin = &app.admin_key;
    let base = json!({"name": "a", "model": "solver", "tools": ["calculator"]});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let cases = [
        (with("temperature", json!(2.5)), "invalid_payload"),
        (with("max_steps", json!(0)), "invalid_payload"),
        (with("tools", json!(["calculator", "teleport"])), "invalid_payload"),
        (with("tools", json!([])), "invalid_payload"),
        (with("model", json!("gpt-9")), "unknown_model"),
        (with("system_prompt", json!("x".repeat(20_001))), "invalid_payload"),
    ];
    for (body, code) in cases {
        let resp = app.post(admin, "/v1/agents").json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 422);
        assert_eq!(resp.json::<Value>().await.unwrap()["code"], code);
    }
    let resp = app.post(admin, "/v1/agents").json(&base).send().await.unwrap();
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    assert_eq!(app.post(admin, "/v1/agents").json(&base).send().await.unwrap().status(), 409);
    let user = app.key("acme", Role::User).await;
    assert_eq!(app.post(&user, "/v1/agents").json(&with("name", json!("b"))).send().await.unwrap().status(), 403);

    let globex = app.key("globex", Role::Admin).await;
    assert_eq!(app.get_json(&globex, "/v1/agents").await, json!([]));
    let id = created["id"].as_str().unwrap();
    assert_eq!(app.get(&globex, &format!("/v1/agents/{id}")).send().await.unwrap().status(), 404);
    let conv: Value =
        app.post(&globex, "/v1/conversations").json(&json!({})).send().await.unwrap().json().await.unwrap();
    let resp = app
        .post(&globex, &format!("/v1/conversations/{}/messages", conv["id"].as_str().unwrap()))
        .json(&json!({"content": "hi", "agent": "a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], "agent_not_found");
}
