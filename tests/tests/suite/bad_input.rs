//! Bad input on every route answers a 4xx with a code from the table,
//! never a 500.

use chorus_shared::domain::Role;
use chorus_tests::TestApp;
use reqwest::Method;
use serde_json::{json, Value};

struct Case {
    method: Method,
    path: String,
    key: Option<String>,
    headers: Vec<(&'static str, String)>,
    body: Option<(&'static str, Vec<u8>)>,
    status: u16,
    code: &'static str,
}

fn case(method: Method, path: &str, status: u16, code: &'static str) -> Case {
    Case { method, path: path.into(), key: None, headers: vec![], body: None, status, code }
}

impl Case {
    fn key(mut self, k: &str) -> Self {
        self.key = Some(k.into());
        self
    }
    fn json(mut self, v: &str) -> Self {
        self.body = Some(("application/json", v.as_bytes().to_vec()));
        self
    }
    fn raw(mut self, ct: &'static str, b: Vec<u8>) -> Self {
        self.body = Some((ct, b));
        self
    }
    fn header(mut self, k: &'static str, v: &str) -> Self {
        self.headers.push((k, v.into()));
        self
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_bad_input_with_a_stable_code() {
    let app = TestApp::spawn_with(0, |s| s.api.max_body_bytes = 4096).await;
    let admin = app.admin_key.clone();
    let viewer = app.key("acme", Role::Viewer).await;
    let job = app.submit(json!({"kind": "diagnostic", "payload": {}})).await;
    let huge = format!("{{\"kind\":\"diagnostic\",\"payload\":{{\"x\":\"{}\"}}}}", "a".repeat(10_000));
    use Method as M;
    let cases = vec![
        case(M::GET, "/v1/jobs", 401, "missing_api_key"),
        case(M::GET, "/v1/jobs", 401, "missing_api_key").header("Authorization", "Basic abc"),
        case(M::GET, "/v1/jobs", 401, "invalid_api_key").key("chorus_00000000_nope"),
        case(M::POST, "/v1/jobs", 400, "invalid_json").key(&admin).json("{not json"),
        case(M::POST, "/v1/jobs", 415, "unsupported_media_type").key(&admin).raw("text/plain", b"hi".to_vec()),
        case(M::POST, "/v1/jobs", 413, "payload_too_large").key(&admin).json(&huge),
        case(M::POST, "/v1/jobs", 422, "invalid_payload").key(&admin).json(r#"{"payload":{}}"#),
        case(M::POST, "/v1/jobs", 422, "invalid_payload").key(&admin).json(r#"{"kind":5}"#),
        case(M::POST, "/v1/jobs", 422, "invalid_payload").key(&admin).json(r#"{"kind":"diagnostic","surprise":1}"#),
        case(M::POST, "/v1/jobs", 422, "unknown_kind").key(&admin).json(r#"{"kind":"teleport","payload":{}}"#),
        case(M::POST, "/v1/jobs", 422, "invalid_payload")
            .key(&admin)
            .json(r#"{"kind":"diagnostic","payload":{"sleep_ms":"long"}}"#),
        case(M::POST, "/v1/jobs", 422, "invalid_payload")
            .key(&admin)
            .json(r#"{"kind":"diagnostic","payload":{"sleep_ms":99999999}}"#),
        case(M::POST, "/v1/jobs", 422, "invalid_payload")
            .key(&admin)
            .json(r#"{"kind":"diagnostic","payload":{"bogus":true}}"#),
        case(M::POST, "/v1/jobs", 422, "invalid_payload").key(&admin).json(r#"{"kind":"diagnostic","priority":1000}"#),
        case(M::POST, "/v1/jobs", 422, "invalid_payload").key(&admin).json(r#"{"kind":"diagnostic","max_attempts":0}"#),
        case(M::POST, "/v1/jobs", 422, "invalid_payload")
            .key(&admin)
            .json(r#"{"kind":"diagnostic","run_at":"tomorrow"}"#),
        case(M::POST, "/v1/jobs", 422, "invalid_payload")
            .key(&admin)
            .json(r#"{"kind":"diagnostic","callback_url":"ftp://x"}"#),
        case(M::POST, "/v1/jobs", 400, "invalid_header")
            .key(&admin)
            .json(r#"{"kind":"diagnostic"}"#)
            .header("Idempotency-Key", &"k".repeat(300)),
        case(M::POST, "/v1/jobs", 403, "forbidden").key(&viewer).json(r#"{"kind":"diagnostic"}"#),
        case(M::GET, "/v1/jobs?status=done", 400, "invalid_parameter").key(&admin),
        case(M::GET, "/v1/jobs?limit=0", 400, "invalid_parameter").key(&admin),
        case(M::GET, "/v1/jobs?limit=many", 400, "invalid_parameter").key(&admin),
        case(M::GET, "/v1/jobs?cursor=garbage", 400, "invalid_parameter").key(&admin),
        // What the document's pattern refuses, the server refuses too.
        case(M::GET, &format!("/v1/jobs?cursor=+5_{}", uuid::Uuid::new_v4().simple()), 400, "invalid_parameter")
            .key(&admin),
        case(M::GET, &format!("/v1/jobs?cursor=5_{}", uuid::Uuid::new_v4()), 400, "invalid_parameter").key(&admin),
        case(M::GET, "/v1/jobs?status=failed,%20dead", 400, "invalid_parameter").key(&admin),
        case(M::GET, "/v1/conversations?model=a%00b", 400, "invalid_parameter").key(&admin),
        case(M::GET, "/v1/documents?q=%00", 400, "invalid_parameter").key(&admin),
        case(M::GET, "/v1/tools/a%00b", 400, "invalid_parameter").key(&admin),
        case(M::GET, "/v1/jobs?created_after=yesterday", 400, "invalid_parameter").key(&admin),
        case(M::GET, "/v1/jobs/not-a-uuid", 400, "invalid_parameter").key(&admin),
        case(M::GET, &format!("/v1/jobs/{}", uuid::Uuid::new_v4()), 404, "job_not_found").key(&admin),
        case(M::POST, "/v1/jobs/not-a-uuid/cancel", 400, "invalid_parameter").key(&admin),
        case(M::POST, &format!("/v1/jobs/{}/retry", uuid::Uuid::new_v4()), 404, "job_not_found").key(&admin),
        case(M::POST, &format!("/v1/jobs/{job}/retry"), 409, "job_not_retryable").key(&admin),
        case(M::GET, &format!("/v1/jobs/{job}/events"), 400, "invalid_header")
            .key(&admin)
            .header("Last-Event-ID", "abc"),
        case(M::POST, "/v1/keys", 422, "invalid_payload").key(&admin).json(r#"{"name":"x","role":"root"}"#),
        case(M::POST, "/v1/keys", 422, "invalid_payload").key(&admin).json(r#"{"name":"","role":"user"}"#),
        case(M::POST, "/v1/keys", 403, "forbidden").key(&viewer).json(r#"{"name":"x","role":"user"}"#),
        case(M::DELETE, "/v1/keys/123", 400, "invalid_parameter").key(&admin),
        case(M::DELETE, &format!("/v1/keys/{}", uuid::Uuid::new_v4()), 404, "api_key_not_found").key(&admin),
        case(M::POST, "/v1/webhooks", 400, "invalid_json").key(&admin).json("{"),
        case(M::POST, "/v1/webhooks", 422, "invalid_payload").key(&admin).json(r#"{"url":"https://example.com"}"#),
        case(M::POST, "/v1/webhooks", 422, "invalid_payload")
            .key(&admin)
            .json(r#"{"url":"https://example.com","event_types":[]}"#),
        case(M::POST, "/v1/webhooks", 422, "url_not_allowed")
            .key(&admin)
            .json(r#"{"url":"not a url","event_types":["job.dead"]}"#),
        case(M::POST, "/v1/webhooks", 403, "forbidden")
            .key(&viewer)
            .json(r#"{"url":"https://example.com","event_types":["job.dead"]}"#),
        case(M::GET, "/v1/webhooks", 403, "forbidden").key(&viewer),
        case(M::GET, "/v1/webhooks/123", 400, "invalid_parameter").key(&admin),
        case(M::GET, &format!("/v1/webhooks/{}", uuid::Uuid::new_v4()), 404, "webhook_not_found").key(&admin),
        case(M::PATCH, &format!("/v1/webhooks/{}", uuid::Uuid::new_v4()), 404, "webhook_not_found")
            .key(&admin)
            .json("{}"),
        case(M::PATCH, &format!("/v1/webhooks/{}", uuid::Uuid::new_v4()), 422, "invalid_payload")
            .key(&admin)
            .json(r#"{"colour":1}"#),
        case(M::DELETE, &format!("/v1/webhooks/{}", uuid::Uuid::new_v4()), 404, "webhook_not_found").key(&admin),
        case(M::POST, &format!("/v1/webhooks/{}/rotate-secret", uuid::Uuid::new_v4()), 404, "webhook_not_found")
            .key(&admin),
        case(M::POST, &format!("/v1/webhooks/{}/test", uuid::Uuid::new_v4()), 404, "webhook_not_found").key(&admin),
        case(M::GET, &format!("/v1/webhooks/{}/deliveries", uuid::Uuid::new_v4()), 404, "webhook_not_found")
            .key(&admin),
        case(M::GET, &format!("/v1/webhooks/{}/deliveries?limit=0", uuid::Uuid::new_v4()), 400, "invalid_parameter")
            .key(&admin),
        case(
            M::GET,
            &format!("/v1/webhooks/{}/deliveries?status=lost", uuid::Uuid::new_v4()),
            400,
            "invalid_parameter",
        )
        .key(&admin),
        case(
            M::POST,
            &format!("/v1/webhooks/deliveries/{}/redeliver", uuid::Uuid::new_v4()),
            404,
            "delivery_not_found",
        )
        .key(&admin),
        case(M::POST, "/v1/webhooks/deliveries/x/redeliver", 400, "invalid_parameter").key(&admin),
        case(M::GET, "/v1/webhooks/callback-secret", 403, "forbidden").key(&viewer),
        case(M::PUT, "/v1/webhooks", 405, "method_not_allowed").key(&admin),
        case(M::GET, "/v1/documents?limit=0", 400, "invalid_parameter").key(&admin),
        case(M::GET, "/v1/documents?doc_type=exe", 400, "invalid_parameter").key(&admin),
        case(M::GET, "/v1/documents?status=gone", 400, "invalid_parameter").key(&admin),
        case(M::GET, "/v1/documents?cursor=abc", 400, "invalid_parameter").key(&admin),
        case(M::GET, "/v1/documents/nope", 400, "invalid_parameter").key(&admin),
        case(M::GET, &format!("/v1/documents/{}", uuid::Uuid::new_v4()), 404, "document_not_found").key(&admin),
        case(M::GET, &format!("/v1/documents/{}/preview?page=0", uuid::Uuid::new_v4()), 400, "invalid_parameter")
            .key(&admin),
        case(M::GET, &format!("/v1/documents/{}/download", uuid::Uuid::new_v4()), 404, "document_not_found")
            .key(&admin),
        case(M::DELETE, &format!("/v1/documents/{}", uuid::Uuid::new_v4()), 404, "document_not_found").key(&admin),
        case(M::POST, "/v1/documents", 415, "unsupported_media_type").key(&admin).json("{}"),
        case(M::POST, "/v1/documents", 403, "forbidden").key(&viewer).json("{}"),
        case(
            M::PUT,
            &format!("/v1/documents/{}/tags/{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4()),
            404,
            "tag_not_found",
        )
        .key(&admin),
        case(M::POST, "/v1/tags", 422, "invalid_payload").key(&admin).json(r#"{"description":"no name"}"#),
        case(M::POST, "/v1/tags", 422, "invalid_payload").key(&admin).json(r#"{"name":"a,b"}"#),
        case(M::GET, &format!("/v1/tags/{}", uuid::Uuid::new_v4()), 404, "tag_not_found").key(&admin),
        case(M::PATCH, &format!("/v1/tags/{}", uuid::Uuid::new_v4()), 404, "tag_not_found").key(&admin).json("{}"),
        case(M::POST, "/v1/bulk", 400, "invalid_json").key(&admin).json("{"),
        case(M::POST, "/v1/bulk", 422, "invalid_payload").key(&admin).json(r#"{"op":"delete"}"#),
        case(M::GET, &format!("/v1/bulk/{}/export", uuid::Uuid::new_v4()), 404, "export_not_found").key(&admin),
        case(M::GET, "/v1/audit?limit=500", 400, "invalid_parameter").key(&admin),
        case(M::GET, "/v1/audit", 403, "forbidden").key(&viewer),
        case(M::GET, "/v1/nothing-here", 404, "not_found").key(&admin),
        case(M::DELETE, "/v1/jobs", 405, "method_not_allowed").key(&admin),
        case(M::GET, &format!("/v1/jobs/{job}/cancel"), 405, "method_not_allowed").key(&admin),
    ];
    for c in cases {
        let mut req = app.client.request(c.method.clone(), app.url(&c.path));
        if let Some(k) = &c.key {
            req = req.bearer_auth(k);
        }
        for (k, v) in &c.headers {
            req = req.header(*k, v);
        }
        if let Some((ct, body)) = c.body {
            req = req.header("content-type", ct).body(body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let body: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{} {}: not JSON: {text}", c.method, c.path));
        assert_eq!(
            (status, body["code"].as_str().unwrap_or("")),
            (c.status, c.code),
            "{} {}: {text}",
            c.method,
            c.path
        );
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_characters_are_refused_with_a_code_never_a_500() {
    let app = TestApp::spawn_with(0, |_| {}).await;
    let admin = app.admin_key.clone();
    let conv: Value =
        app.post(&admin, "/v1/conversations").json(&json!({})).send().await.unwrap().json().await.unwrap();
    let messages = format!("/v1/conversations/{}/messages", conv["id"].as_str().unwrap());
    let cases = [
        (messages.as_str(), json!({"content": "hi", "rag": {"enabled": true, "filters": {"tags": ["a\u{0}b"]}}})),
        (messages.as_str(), json!({"content": "nul \u{0} inside"})),
        ("/v1/conversations", json!({"title": "a\u{0}b"})),
        ("/v1/tags", json!({"name": "a\u{0}b"})),
    ];
    for (path, body) in cases {
        let resp = app.post(&admin, path).json(&body).send().await.unwrap();
        let status = resp.status().as_u16();
        let answer: Value = resp.json().await.unwrap();
        assert_eq!((status, answer["code"].as_str()), (422, Some("invalid_payload")), "{path} {body}: {answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeclared_methods_on_the_service_routes_answer_405() {
    let app = TestApp::spawn_with(0, |_| {}).await;
    let job = format!("/v1/jobs/{}", uuid::Uuid::new_v4());
    let paths = [("/healthz", "GET"), ("/readyz", "GET"), ("/metrics", "GET"), ("/openapi.json", "GET")];
    let v1 = [("/v1/jobs", "GET, POST"), (job.as_str(), "GET"), ("/v1/tags/x", "GET, DELETE, PATCH")];
    for (path, allow) in paths.into_iter().chain(v1) {
        for method in [Method::PUT, Method::from_bytes(b"TRACE").unwrap()] {
            let resp =
                app.client.request(method.clone(), app.url(path)).bearer_auth(&app.admin_key).send().await.unwrap();
            let status = resp.status().as_u16();
            // RFC 9110: a 405 lists the methods the route serves.
            let allowed = resp.headers().get("allow").map(|v| v.to_str().unwrap().to_string());
            let body: Value = resp.json().await.unwrap_or_default();
            assert_eq!((status, body["code"].as_str()), (405, Some("method_not_allowed")), "{method} {path}");
            assert_eq!(allowed.as_deref(), Some(allow), "{method} {path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_read_as_json_schema_reads_them() {
    let app = TestApp::spawn_with(0, |_| {}).await;
    let admin = app.admin_key.clone();
    // `3.0` is an integer to JSON Schema, and so to the server.
    let body = json!({"kind": "diagnostic", "payload": {}, "max_attempts": 3.0, "priority": -1.0});
    let resp = app.post(&admin, "/v1/jobs").json(&body).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 202, "{}", resp.text().await.unwrap());
    let resp =
        app.post(&admin, "/v1/jobs").json(&json!({"kind": "diagnostic", "max_attempts": 2.5})).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 422);
    // A chat message's retrieval filters follow the rules of a search's.
    let conv: Value =
        app.post(&admin, "/v1/conversations").json(&json!({})).send().await.unwrap().json().await.unwrap();
    let messages = format!("/v1/conversations/{}/messages", conv["id"].as_str().unwrap());
    let bad = json!({"content": "hi", "rag": {"enabled": false, "filters": {"metadata": {"": "x"}}}});
    let resp = app.post(&admin, &messages).json(&bad).send().await.unwrap();
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["code"], "invalid_payload", "{answer}");
    // Lengths are characters, as in the document: 64 of them fit a tag
    // name even where they take more bytes.
    let resp = app.post(&admin, "/v1/tags").json(&json!({"name": "é".repeat(64)})).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 201, "{}", resp.text().await.unwrap());
}
