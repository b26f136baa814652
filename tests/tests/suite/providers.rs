//! The provider adapters against local servers that speak each provider's
//! real wire format (wiremock): streaming chunks, usage, error bodies, 429
//! with `Retry-After`, a timeout, a circuit that opens and closes, the
//! fallback chain, exact cost accounting, and the response cache.

use std::collections::BTreeMap;
use std::time::Duration;

use chorus_shared::config::{LlmSettings, ModelSettings, ProviderSettings};
use chorus_shared::llm::registry::{CallOptions, Circuit, Outcome, Registry};
use chorus_shared::llm::{ChatMessage, ProviderError, Role};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn settings(providers: &[(&str, &str, &str)], models: &[(&str, &str, &[&str])]) -> LlmSettings {
    let providers: BTreeMap<String, ProviderSettings> = providers
        .iter()
        .map(|(name, kind, url)| {
            let p = ProviderSettings {
                kind: kind.to_string(),
                base_url: url.to_string(),
                api_key: "k".into(),
                timeout_ms: 1_000,
                ..Default::default()
            };
            (name.to_string(), p)
        })
        .collect();
    let models = models
        .iter()
        .map(|(alias, provider, fallbacks)| {
            let m = ModelSettings {
                provider: provider.to_string(),
                name: format!("{alias}-upstream"),
                input_usd_per_mtok: 3.0,
                output_usd_per_mtok: 15.0,
                fallbacks: fallbacks.iter().map(|f| f.to_string()).collect(),
                ..ModelSettings::default()
            };
            (alias.to_string(), m)
        })
        .collect();
    LlmSettings {
        default_model: String::new(),
        providers,
        models,
        retries: 2,
        retry_base_ms: 10,
        retry_max_ms: 50,
        breaker_failures: 5,
        breaker_cooldown_ms: 300,
        cache_ttl_secs: 60,
        judge_model: String::new(),
        summary_model: String::new(),
        router: Default::default(),
    }
}

fn question() -> Vec<ChatMessage> {
    vec![ChatMessage::new(Role::System, "Be brief."), ChatMessage::new(Role::User, "Capital of France?")]
}

async fn call(r: &Registry, alias: &str) -> (Result<Outcome, ProviderError>, Vec<String>) {
    let mut tokens = Vec::new();
    let mut on = |t: &str| tokens.push(t.to_string());
    let out = r.chat(None, alias, &question(), &CallOptions::default(), &mut on).await.map_err(|(e, _)| e);
    (out, tokens)
}

fn sse(events: &[&str]) -> String {
    events.iter().map(|e| format!("{e}\n\n")).collect()
}

const OPENAI_STREAM: &[&str] = &[
    r#"data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
    r#"data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Par"},"finish_reason":null}]}"#,
    r#"data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"is."},"finish_reason":null}]}"#,
    r#"data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
    r#"data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":500,"total_tokens":1500}}"#,
    "data: [DONE]",
];

fn openai_ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(sse(OPENAI_STREAM), "text/event-stream")
}

#[tokio::test]
async fn openai_streams_tokens_usage_and_an_exact_cost() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", "Bearer k"))
        .respond_with(openai_ok())
        .mount(&server)
        .await;
    let r =
        Registry::new(&settings(&[("oa", "openai", &format!("{}/v1", server.uri()))], &[("gpt", "oa", &[])])).unwrap();
    let (out, tokens) = call(&r, "gpt").await;
    let out = out.unwrap();
    assert_eq!(tokens, vec!["Par", "is."]);
    assert_eq!((out.response.content.as_str(), out.response.finish_reason.as_str()), ("Paris.", "stop"));
    assert_eq!((out.usage.prompt_tokens, out.usage.completion_tokens, out.usage_estimated), (1000, 500, false));
    // 1000 × $3 + 500 × $15 per million tokens.
    assert!((out.cost_usd - 0.0105).abs() < 1e-12, "{}", out.cost_usd);
    let sent: serde_json::Value = server.received_requests().await.unwrap()[0].body_json().unwrap();
    assert_eq!(sent["model"], "gpt-upstream");
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["messages"][0]["role"], "system");
}

#[tokio::test]
async fn anthropic_and_gemini_speak_their_own_formats() {
    let server = MockServer::start().await;
    let anthropic = sse(&[
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m1\",\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Bon\"}}",
        "event: ping\ndata: {\"type\":\"ping\"}",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"jour\"}}",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},\"usage\":{\"output_tokens\":7}}",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}",
    ]);
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(header("x-api-key", "k"))
        .and(header("anthropic-version", "2023-06-01"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(anthropic, "text/event-stream"))
        .mount(&server)
        .await;
    let gemini = sse(&[
        r#"data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Ciao"}]}}]}"#,
        r#"data: {"candidates":[{"content":{"role":"model","parts":[{"text":" tutti"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":3}}"#,
    ]);
    Mock::given(method("POST"))
        .and(path("/v1beta/models/gem-upstream:streamGenerateContent"))
        .and(header("x-goog-api-key", "k"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(gemini, "text/event-stream"))
        .mount(&server)
        .await;
    let s = settings(
        &[("an", "anthropic", &server.uri()), ("gg", "gemini", &server.uri())],
        &[("claude", "an", &[]), ("gem", "gg", &[])],
    );
    let r = Registry::new(&s).unwrap();
    let (out, tokens) = call(&r, "claude").await;
    let out = out.unwrap();
    assert_eq!((tokens.join(""), out.response.finish_reason.as_str()), ("Bonjour".to_string(), "length"));
    assert_eq!((out.usage.prompt_tokens, out.usage.completion_tokens), (12, 7));
    let sent: serde_json::Value = server.received_requests().await.unwrap()[0].body_json().unwrap();
    assert_eq!(sent["system"], "Be brief.", "the system prompt travels apart");
    assert_eq!(sent["messages"].as_array().unwrap().len(), 1);

    let (out, tokens) = call(&r, "gem").await;
    let out = out.unwrap();
    assert_eq!((tokens.join(""), out.response.finish_reason.as_str()), ("Ciao tutti".to_string(), "stop"));
    assert_eq!((out.usage.prompt_tokens, out.usage.completion_tokens), (9, 3));
    let sent: serde_json::Value = server.received_requests().await.unwrap()[1].body_json().unwrap();
    assert_eq!(sent["systemInstruction"]["parts"][0]["text"], "Be brief.");
    assert_eq!(sent["contents"][0]["role"], "user");
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after_and_errors_carry_the_providers_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).respond_with(openai_ok()).with_priority(2).mount(&server).await;
    let r =
        Registry::new(&settings(&[("oa", "openai", &format!("{}/v1", server.uri()))], &[("gpt", "oa", &[])])).unwrap();
    let (out, _) = call(&r, "gpt").await;
    assert_eq!(out.unwrap().response.content, "Paris.");
    assert_eq!(server.received_requests().await.unwrap().len(), 2);

    let bad = MockServer::start().await;
    let body = r#"{"error":{"message":"model overloaded","type":"server_error"}}"#;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(503).set_body_string(body)).mount(&bad).await;
    let r = Registry::new(&settings(&[("oa", "openai", &bad.uri())], &[("gpt", "oa", &[])])).unwrap();
    let (out, _) = call(&r, "gpt").await;
    assert_eq!(out.unwrap_err(), ProviderError::Server { status: 503, message: "model overloaded".into() });
    assert_eq!(bad.received_requests().await.unwrap().len(), 3, "one call and two retries");

    let refused = MockServer::start().await;
    let body = r#"{"error":{"message":"invalid model","type":"invalid_request_error"}}"#;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(400).set_body_string(body)).mount(&refused).await;
    let r = Registry::new(&settings(&[("oa", "openai", &refused.uri())], &[("gpt", "oa", &[])])).unwrap();
    let (out, _) = call(&r, "gpt").await;
    assert_eq!(out.unwrap_err().code(), "llm_request_refused");
    assert_eq!(refused.received_requests().await.unwrap().len(), 1, "a refusal is not retried");
}

#[tokio::test]
async fn a_slow_provider_times_out_and_its_circuit_opens_then_closes() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(openai_ok().set_delay(Duration::from_secs(3)))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).respond_with(openai_ok()).with_priority(2).mount(&server).await;
    let mut s = settings(&[("oa", "openai", &server.uri())], &[("gpt", "oa", &[])]);
    (s.retries, s.breaker_failures) = (0, 2);
    let r = Registry::new(&s).unwrap();
    for _ in 0..2 {
        let (out, _) = call(&r, "gpt").await;
        assert_eq!(out.unwrap_err(), ProviderError::Timeout);
    }
    assert_eq!(r.circuit("oa"), Circuit::Open);
    let (out, _) = call(&r, "gpt").await;
    assert_eq!(out.unwrap_err(), ProviderError::CircuitOpen("oa".into()));
    assert_eq!(server.received_requests().await.unwrap().len(), 2, "an open circuit sends nothing");
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(r.circuit("oa"), Circuit::HalfOpen);
    // The trial call times out too: open again.
    let (out, _) = call(&r, "gpt").await;
    assert_eq!(out.unwrap_err(), ProviderError::Timeout);
    assert_eq!(r.circuit("oa"), Circuit::Open);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (out, _) = call(&r, "gpt").await;
    assert_eq!(out.unwrap().response.content, "Paris.");
    assert_eq!(r.circuit("oa"), Circuit::Closed);
}

#[tokio::test]
async fn the_fallback_chain_answers_when_the_first_model_fails() {
    let down = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(500)).mount(&down).await;
    let up = MockServer::start().await;
    Mock::given(method("POST")).respond_with(openai_ok()).mount(&up).await;
    let s = settings(
        &[("a", "openai", &down.uri()), ("b", "openai", &up.uri())],
        &[("primary", "a", &["backup"]), ("backup", "b", &[])],
    );
    let r = Registry::new(&s).unwrap();
    let (out, tokens) = call(&r, "primary").await;
    let out = out.unwrap();
    assert_eq!((out.alias.as_str(), out.provider.as_str()), ("backup", "b"));
    assert_eq!(out.failed_over, vec![("primary".to_string(), "llm_server_error".to_string())]);
    assert_eq!(tokens.join(""), "Paris.");
}

#[tokio::test]
async fn deterministic_answers_come_from_the_cache_the_second_time() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(openai_ok()).mount(&server).await;
    let r = Registry::new(&settings(&[("oa", "openai", &server.uri())], &[("gpt", "oa", &[])])).unwrap();
    let redis = redis::Client::open(chorus_tests::redis_url()).unwrap();
    let conn = redis::aio::ConnectionManager::new(redis).await.unwrap();
    let ns = format!("t{}", uuid::Uuid::new_v4().simple());
    let options = CallOptions { temperature: Some(0.0), ..Default::default() };
    let mut outs = Vec::new();
    for _ in 0..2 {
        let mut on = |_: &str| {};
        outs.push(r.chat(Some((&conn, &ns)), "gpt", &question(), &options, &mut on).await.map_err(|(e, _)| e).unwrap());
    }
    assert_eq!((outs[0].cache_hit, outs[1].cache_hit), (false, true));
    assert_eq!(outs[1].response, outs[0].response);
    assert_eq!(outs[1].cost_usd, 0.0, "a cached answer costs nothing");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    // Not deterministic: never cached.
    let warm = CallOptions { temperature: Some(0.7), ..Default::default() };
    let mut on = |_: &str| {};
    let out = r.chat(Some((&conn, &ns)), "gpt", &question(), &warm, &mut on).await.map_err(|(e, _)| e).unwrap();
    assert!(!out.cache_hit);
}

#[test]
fn the_sliding_window_keeps_the_budget_the_system_prompt_and_the_question() {
    use chorus_shared::llm::context::sliding_window;
    let mut messages = vec![ChatMessage::new(Role::System, "You are terse.")];
    for i in 0..50 {
        let role = if i % 2 == 0 { Role::User } else { Role::Assistant };
        messages.push(ChatMessage::new(role, format!("turn {i} {}", "word ".repeat(30))));
    }
    messages.push(ChatMessage::new(Role::User, "the question"));
    let counter = chorus_shared::llm::tokens::Counter::Estimate;
    let dropped = sliding_window(&mut messages, 300, &counter);
    assert!(dropped > 0);
    assert!(counter.prompt(&messages) <= 300);
    assert_eq!(messages[0].content, "You are terse.");
    assert_eq!(messages.last().unwrap().content, "the question");
    assert_eq!(messages.len() + dropped, 52);
}

#[tokio::test]
async fn without_provider_usage_tokens_are_counted_with_the_models_tokenizer() {
    let server = MockServer::start().await;
    let body = sse(&[
        r#"data: {"choices":[{"index":0,"delta":{"content":"Tokenization, unsurprisingly."},"finish_reason":"stop"}]}"#,
        "data: [DONE]",
    ]);
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "text/event-stream"))
        .mount(&server)
        .await;
    let mut s = settings(&[("oa", "openai", &server.uri())], &[("counted", "oa", &[]), ("guessed", "oa", &[])]);
    let models = std::env::var("CHORUS_TEST_MODELS").unwrap();
    s.models.get_mut("counted").unwrap().tokenizer = format!("{models}/all-MiniLM-L6-v2/tokenizer.json");
    let r = Registry::new(&s).unwrap();
    let counted = call(&r, "counted").await.0.unwrap();
    let guessed = call(&r, "guessed").await.0.unwrap();
    assert!(counted.usage_estimated && guessed.usage_estimated, "neither came from the provider");
    // WordPiece splits the words; the estimate counts max(words, chars/4).
    let tokenizer = chorus_shared::llm::tokens::Counter::for_model(&s.models["counted"]);
    assert_eq!(counted.usage.completion_tokens, tokenizer.count("Tokenization, unsurprisingly."));
    assert_eq!(guessed.usage.completion_tokens, 8, "29 characters / 4, rounded up");
    assert_ne!(counted.usage.completion_tokens, guessed.usage.completion_tokens);
}
