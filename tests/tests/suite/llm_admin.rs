//! The admin API for a tenant's own providers and models: keys encrypted at
//! rest and never shown, the chat job using them (key sent, rotation taken
//! up at once), validation, roles and tenant isolation.

use std::time::Duration;

use chorus_shared::domain::{JobStatus, Role};
use chorus_tests::provider::Answers;
use chorus_tests::TestApp;
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// An OpenAI-compatible server that answers only callers with `key`.
async fn upstream(key: &str, answer: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", format!("Bearer {key}").as_str()))
        .respond_with(Answers { text: answer.to_string(), usage: false })
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": {"message": "bad key"}})))
        .mount(&server)
        .await;
    server
}

/// Sends one message on `model` and waits for its job to end.
async fn ask(app: &TestApp, key: &str, model: &str) -> chorus_shared::domain::JobView {
    let conv: Value = app.post(key, "/v1/conversations").json(&json!({})).send().await.unwrap().json().await.unwrap();
    let path = format!("/v1/conversations/{}/messages", conv["id"].as_str().unwrap());
    let resp = app.post(key, &path).json(&json!({"content": "hi", "models": [model]})).send().await.unwrap();
    assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap());
    let posted: Value = resp.json().await.unwrap();
    let job: Uuid = posted["job"]["id"].as_str().unwrap().parse().unwrap();
    app.wait_for(job, Duration::from_secs(30), |j| j.status.is_terminal()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_providers_keep_keys_encrypted_and_serve_chat() {
    let app = TestApp::spawn().await;
    let server = upstream("sk-first-1234", "from the registered provider").await;
    let admin = &app.admin_key;

    let resp = app
        .post(admin, "/v1/admin/llm/providers")
        .json(&json!({"name": "acme-openai", "kind": "openai", "base_url": format!("{}/v1", server.uri()),
            "api_key": "sk-first-1234", "timeout_ms": 5000}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let body = resp.text().await.unwrap();
    assert!(!body.contains("sk-first"), "the key is never shown: {body}");
    let view: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(view["api_key_set"], true);
    assert_eq!(view["api_key_hint"], "…1234");
    assert_eq!(view["source"], "api");

    // At rest: ciphertext only.
    #[derive(diesel::QueryableByName)]
    struct Stored {
        #[diesel(sql_type = diesel::sql_types::Text)]
        api_key_encrypted: String,
    }
    let mut conn = app.ctx.pool.get().await.unwrap();
    let stored: Stored =
        diesel::sql_query("SELECT api_key_encrypted FROM llm_providers").get_result(&mut conn).await.unwrap();
    assert!(stored.api_key_encrypted.starts_with("v1:") && !stored.api_key_encrypted.contains("sk-first"));
    drop(conn);

    let resp = app
        .post(admin, "/v1/admin/llm/models")
        .json(&json!({"alias": "acme-gpt", "provider": "acme-openai", "name": "gpt-upstream",
            "context_tokens": 8000, "input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let listed = app.get_json(admin, "/v1/admin/llm/models").await;
    let sources: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["alias"].as_str().unwrap(), m["source"].as_str().unwrap()))
        .collect();
    assert!(sources.contains(&("smollm2", "config")) && sources.contains(&("acme-gpt", "api")), "{sources:?}");

    let done = ask(&app, admin, "acme-gpt").await;
    assert_eq!(done.status, JobStatus::Succeeded, "{done:#?}");
    assert_eq!(done.result.as_ref().unwrap()["content"], "from the registered provider");

    // Rotating the key reaches the next job at once; the old key is refused upstream.
    let rotated = upstream("sk-second-9876", "after rotation").await;
    let resp = app
        .client
        .patch(app.url("/v1/admin/llm/providers/acme-openai"))
        .bearer_auth(admin)
        .json(&json!({"api_key": "sk-second-9876", "base_url": format!("{}/v1", rotated.uri())}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["api_key_hint"], "…9876");
    let done = ask(&app, admin, "acme-gpt").await;
    assert_eq!(done.result.as_ref().unwrap()["content"], "after rotation", "{done:#?}");

    // Another tenant sees neither and cannot use the alias.
    let other = app.key("globex", Role::Admin).await;
    let providers = app.get_json(&other, "/v1/admin/llm/providers").await;
    assert!(providers.as_array().unwrap().iter().all(|p| p["name"] != "acme-openai"));
    let resp = app.post(&other, "/v1/conversations").json(&json!({"models": ["acme-gpt"]})).send().await.unwrap();
    assert_eq!(resp.status(), 422);
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], "unknown_model");
    let resp = app.get(&other, "/v1/admin/llm/models/acme-gpt").send().await.unwrap();
    assert_eq!(resp.status(), 404);

    // A provider in use cannot go; the model first, then the provider.
    let delete = |p: &str| app.client.delete(app.url(p)).bearer_auth(admin).send();
    assert_eq!(delete("/v1/admin/llm/providers/acme-openai").await.unwrap().status(), 409);
    assert_eq!(delete("/v1/admin/llm/models/acme-gpt").await.unwrap().status(), 204);
    assert_eq!(delete("/v1/admin/llm/providers/acme-openai").await.unwrap().status(), 204);
    assert_eq!(delete("/v1/admin/llm/providers/acme-openai").await.unwrap().status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_and_model_input_is_checked() {
    let app = TestApp::spawn_with(0, |_| {}).await;
    let admin = &app.admin_key;
    let post = |path: &'static str, body: Value| app.post(admin, path).json(&body).send();
    let code = |resp: reqwest::Response| async move {
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_string())
    };
    let cases = [
        (json!({"name": "x", "kind": "cohere", "base_url": "http://127.0.0.1:1/v1"}), 422, "invalid_payload"),
        (json!({"name": "Bad Name", "kind": "openai", "base_url": "http://127.0.0.1:1/v1"}), 422, "invalid_payload"),
        (json!({"name": "local", "kind": "openai", "base_url": "http://127.0.0.1:1/v1"}), 409, "llm_name_taken"),
        (json!({"name": "meta", "kind": "openai", "base_url": "http://169.254.169.254/v1"}), 422, "url_not_allowed"),
        (json!({"name": "x", "kind": "openai", "base_url": "http://127.0.0.1:1", "extra": 1}), 422, "invalid_payload"),
    ];
    for (body, status, expected) in cases {
        let got = code(post("/v1/admin/llm/providers", body.clone()).await.unwrap()).await;
        assert_eq!(got, (status, expected.to_string()), "{body}");
    }
    let cases = [
        (json!({"alias": "m", "provider": "nowhere", "name": "n"}), 422, "invalid_payload"),
        (json!({"alias": "m", "provider": "local", "name": "n", "fallbacks": ["ghost"]}), 422, "invalid_payload"),
        (json!({"alias": "m", "provider": "local", "name": "n", "input_usd_per_mtok": -1.0}), 422, "invalid_payload"),
        (json!({"alias": "smollm2", "provider": "local", "name": "n"}), 409, "llm_name_taken"),
    ];
    for (body, status, expected) in cases {
        let got = code(post("/v1/admin/llm/models", body.clone()).await.unwrap()).await;
        assert_eq!(got, (status, expected.to_string()), "{body}");
    }
    let ok =
        post("/v1/admin/llm/models", json!({"alias": "m", "provider": "local", "name": "n", "fallbacks": ["smollm2"]}));
    assert_eq!(ok.await.unwrap().status(), 201);
    let again = post("/v1/admin/llm/models", json!({"alias": "m", "provider": "local", "name": "n"}));
    assert_eq!(code(again.await.unwrap()).await, (409, "llm_name_taken".into()));

    let user = app.key("acme", Role::User).await;
    let resp = app.get(&user, "/v1/admin/llm/providers").send().await.unwrap();
    assert_eq!(resp.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_providers_host_that_rebinds_to_an_internal_address_is_not_called() {
    // No internal network is open: the guard refuses loopback.
    let app = TestApp::spawn_with(1, |s| {
        s.webhooks.allow_http = true;
        s.webhooks.allow_networks.clear();
    })
    .await;
    let server = upstream("sk-rebind", "an internal service answered").await;
    let admin = &app.admin_key;
    // At registration the host is public (a literal here, as a DNS answer
    // would have been)...
    let resp = app
        .post(admin, "/v1/admin/llm/providers")
        .json(&json!({"name": "rebinder", "kind": "openai", "base_url": "http://93.184.215.14/v1",
            "api_key": "sk-rebind", "timeout_ms": 2000}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let resp = app
        .post(admin, "/v1/admin/llm/models")
        .json(&json!({"alias": "rebound", "provider": "rebinder", "name": "m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    // ...then its name resolves to loopback, where an internal service listens.
    let port = server.address().port();
    let mut conn = app.ctx.pool.get().await.unwrap();
    diesel::sql_query("UPDATE llm_providers SET base_url = $1, updated_at = now() WHERE name = 'rebinder'")
        .bind::<diesel::sql_types::Text, _>(format!("http://localhost:{port}/v1"))
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    let done = ask(&app, admin, "rebound").await;
    assert_ne!(done.status, JobStatus::Succeeded, "{done:#?}");
    let requests = server.received_requests().await.unwrap();
    assert!(requests.is_empty(), "the internal service was called {} times", requests.len());
}
