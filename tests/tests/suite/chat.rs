//! Chat end to end on the real local model (llama.cpp server with
//! SmolLM2, started by `just test`): a message becomes a `chat` job whose
//! tokens stream over SSE before the final message, the answer and its
//! usage are stored, forks share history, and bad input is refused.

use std::time::Duration;

use chorus_shared::domain::{JobStatus, Role};
use chorus_tests::TestApp;
use serde_json::{json, Value};
use uuid::Uuid;

async fn conversation(app: &TestApp, body: Value) -> Value {
    let resp = app.post(&app.admin_key, "/v1/conversations").json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    resp.json().await.unwrap()
}

async fn say(app: &TestApp, conv: &str, content: &str) -> Value {
    let body = json!({ "content": content, "settings": { "temperature": 0, "max_tokens": 48 } });
    let resp =
        app.post(&app.admin_key, &format!("/v1/conversations/{conv}/messages")).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap());
    resp.json().await.unwrap()
}

/// Reads the job's SSE until the final state; returns (event kind, data) in order.
async fn follow(app: &TestApp, job: &str) -> Vec<(String, Value)> {
    let resp = app.get(&app.admin_key, &format!("/v1/jobs/{job}/events")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let frames = chorus_tests::sse::read_until(resp, Duration::from_secs(120), |f| f.is_final_state()).await;
    frames.into_iter().map(|f| (f.event, f.data)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_model_answers_and_streams_tokens_before_the_final_message() {
    let app = TestApp::spawn().await;
    let conv = conversation(
        &app,
        json!({"title": "geography", "system_prompt": "Answer in one short sentence.", "tags": ["demo"]}),
    )
    .await;
    let id = conv["id"].as_str().unwrap();
    assert_eq!(conv["models"], json!([]));
    let posted = say(&app, id, "What is the capital of France?").await;
    assert_eq!(posted["message"]["role"], "user");
    let job = posted["job"]["id"].as_str().unwrap().to_string();
    let events = follow(&app, &job).await;
    let tokens: Vec<&str> =
        events.iter().filter(|(k, _)| k == "token").map(|(_, d)| d["data"]["text"].as_str().unwrap()).collect();
    let last = events.last().unwrap();
    assert_eq!((last.0.as_str(), last.1["status"].as_str()), ("state", Some("succeeded")), "{events:?}");
    assert!(!tokens.is_empty(), "tokens stream before the final message: {events:?}");

    let done = app.job(job.parse().unwrap()).await;
    let result = done.result.unwrap();
    let content = result["content"].as_str().unwrap();
    assert!(!content.trim().is_empty());
    assert_eq!(tokens.concat(), content, "the streamed tokens are the answer");
    assert!(result["usage"]["prompt_tokens"].as_u64().unwrap() > 0, "{result}");
    assert!(result["usage"]["completion_tokens"].as_u64().unwrap() > 0, "{result}");
    assert!(result["finish_reason"].is_string(), "{result}");
    assert_eq!(result["model"], "smollm2");

    let page = app.get_json(&app.admin_key, &format!("/v1/conversations/{id}/messages")).await;
    let roles: Vec<&str> = page["items"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, vec!["user", "assistant"]);
    assert_eq!(page["items"][1]["content"], content);
    assert_eq!(page["items"][1]["meta"]["provider"], "local");

    let usage = app.get_json(&app.admin_key, "/v1/usage").await;
    assert_eq!(usage[0]["model"], "smollm2", "{usage}");
    assert_eq!(usage[0]["calls"], 1);
    assert_eq!(usage[0]["errors"], 0);

    // Search and filters over conversations.
    let found = app.get_json(&app.admin_key, "/v1/conversations?q=capital&tag=demo").await;
    assert_eq!(found["items"][0]["id"], id, "{found}");
    let none = app.get_json(&app.admin_key, "/v1/conversations?tag=nope").await;
    assert!(none["items"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_shares_the_history_up_to_its_message_without_copying_it() {
    let app = TestApp::spawn().await;
    let conv = conversation(&app, json!({"system_prompt": "Answer in one short sentence."})).await;
    let id = conv["id"].as_str().unwrap();
    let first = say(&app, id, "What is the capital of France?").await;
    let job: Uuid = first["job"]["id"].as_str().unwrap().parse().unwrap();
    app.wait_for_status(job, JobStatus::Succeeded, Duration::from_secs(120)).await;
    let at = first["message"]["id"].as_str().unwrap();

    let resp = app
        .post(&app.admin_key, &format!("/v1/conversations/{id}/fork"))
        .json(&json!({"at_message_id": at}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let fork: Value = resp.json().await.unwrap();
    let fork_id = fork["id"].as_str().unwrap();
    assert_eq!(fork["parent_id"], id);
    let shared = app.get_json(&app.admin_key, &format!("/v1/conversations/{fork_id}/messages")).await;
    let ids: Vec<&str> = shared["items"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![at], "the fork shares the history up to the fork point, not after");

    let second = say(&app, fork_id, "And of Italy?").await;
    let job: Uuid = second["job"]["id"].as_str().unwrap().parse().unwrap();
    app.wait_for_status(job, JobStatus::Succeeded, Duration::from_secs(120)).await;
    let fork_page = app.get_json(&app.admin_key, &format!("/v1/conversations/{fork_id}/messages")).await;
    let contents: Vec<&str> =
        fork_page["items"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(contents.len(), 3);
    assert_eq!((contents[0], contents[1]), ("What is the capital of France?", "And of Italy?"));
    let parent = app.get_json(&app.admin_key, &format!("/v1/conversations/{id}/messages")).await;
    assert_eq!(parent["items"].as_array().unwrap().len(), 2, "the parent is untouched");
    // Only the fork's own messages are stored under it.
    let mut conn = app.ctx.pool.get().await.unwrap();
    use chorus_shared::db::schema::messages as m;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    let own: i64 = m::table
        .filter(m::conversation_id.eq(Uuid::parse_str(fork_id).unwrap()))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(own, 2, "nothing was copied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_chat_input_gets_clear_codes_and_tenants_are_apart() {
    let app = TestApp::spawn_with(0, |_| {}).await;
    let conv = conversation(&app, json!({"title": "t"})).await;
    let id = conv["id"].as_str().unwrap();
    let bad = [
        ("/v1/conversations", json!({"models": ["no-such-model"]}), 422, "unknown_model"),
        ("/v1/conversations", json!({"settings": {"temperature": 3}}), 422, "invalid_payload"),
        ("/v1/conversations", json!({"colour": "red"}), 422, "invalid_payload"),
    ];
    for (path, body, status, code) in bad {
        let resp = app.post(&app.admin_key, path).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), status, "{body}");
        assert_eq!(resp.json::<Value>().await.unwrap()["code"], code, "{body}");
    }
    let post = |body: Value| app.post(&app.admin_key, &format!("/v1/conversations/{id}/messages")).json(&body).send();
    for (body, code) in [
        (json!({"content": ""}), "invalid_payload"),
        (json!({"content": "x", "mode": "telepathy"}), "invalid_payload"),
        (json!({"content": "x", "rounds": 9}), "invalid_payload"),
        (json!({"content": "x", "models": ["nope"]}), "unknown_model"),
    ] {
        let resp = post(body.clone()).await.unwrap();
        assert_eq!(resp.status(), 422, "{body}");
        assert_eq!(resp.json::<Value>().await.unwrap()["code"], code);
    }
    let missing = app.get(&app.admin_key, &format!("/v1/conversations/{}", Uuid::new_v4())).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.json::<Value>().await.unwrap()["code"], "conversation_not_found");
    let stranger = app.key("globex", Role::Admin).await;
    let theirs = app.get(&stranger, &format!("/v1/conversations/{id}")).send().await.unwrap();
    assert_eq!(theirs.status(), 404, "another tenant's conversation does not exist for them");
    let viewer = app.key("acme", Role::Viewer).await;
    let denied = app.post(&viewer, "/v1/conversations").json(&json!({})).send().await.unwrap();
    assert_eq!(denied.status(), 403);
    let usage = app.get(&viewer, "/v1/usage").send().await.unwrap();
    assert_eq!(usage.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_streaming_chat_stops_the_provider_call() {
    use wiremock::{matchers::method, Mock, MockServer, ResponseTemplate};
    let slow = MockServer::start().await;
    let body =
        "data: {\"choices\":[{\"delta\":{\"content\":\"late\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(body, "text/event-stream").set_delay(Duration::from_secs(30)),
        )
        .mount(&slow)
        .await;
    let url = slow.uri();
    let app = TestApp::spawn_with(1, move |s| {
        let p = chorus_shared::config::ProviderSettings { base_url: url, ..Default::default() };
        s.llm.providers.insert("slow".into(), p);
        let m =
            chorus_shared::config::ModelSettings { provider: "slow".into(), name: "slow".into(), ..Default::default() };
        s.llm.models.insert("slowpoke".into(), m);
    })
    .await;
    let conv = conversation(&app, json!({"models": ["slowpoke"]})).await;
    let posted = say(&app, conv["id"].as_str().unwrap(), "take your time").await;
    let job: Uuid = posted["job"]["id"].as_str().unwrap().parse().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while slow.received_requests().await.unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the provider was never called");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = tokio::time::Instant::now();
    let resp = app.post(&app.admin_key, &format!("/v1/jobs/{job}/cancel")).send().await.unwrap();
    assert!(resp.status().is_success());
    app.wait_for_status(job, JobStatus::Cancelled, Duration::from_secs(10)).await;
    assert!(started.elapsed() < Duration::from_secs(10), "cancelled long before the provider would answer");
    let page =
        app.get_json(&app.admin_key, &format!("/v1/conversations/{}/messages", conv["id"].as_str().unwrap())).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "no answer was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forks_history_pages_by_cursor_in_order() {
    // No worker: only the user messages are stored.
    let app = TestApp::spawn_with(0, |_| {}).await;
    let parent = conversation(&app, json!({})).await;
    let parent = parent["id"].as_str().unwrap();
    let mut ids = Vec::new();
    for text in ["one", "two", "three"] {
        ids.push(say(&app, parent, text).await["message"]["id"].as_str().unwrap().to_string());
    }
    let resp = app
        .post(&app.admin_key, &format!("/v1/conversations/{parent}/fork"))
        .json(&json!({"at_message_id": ids[1]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let fork: Value = resp.json().await.unwrap();
    let fork = fork["id"].as_str().unwrap();
    let mut expected = ids[..2].to_vec();
    for text in ["four", "five"] {
        expected.push(say(&app, fork, text).await["message"]["id"].as_str().unwrap().to_string());
    }
    let (mut seen, mut cursor) = (Vec::new(), String::new());
    loop {
        let page: Value =
            app.get_json(&app.admin_key, &format!("/v1/conversations/{fork}/messages?limit=1{cursor}")).await;
        seen.extend(page["items"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, expected, "the parent's history up to the fork, then the fork's own");
    let stray = uuid::Uuid::now_v7();
    let page: Value = app.get_json(&app.admin_key, &format!("/v1/conversations/{fork}/messages?cursor={stray}")).await;
    assert_eq!(page["items"], json!([]), "a cursor from elsewhere starts past the end");
}
