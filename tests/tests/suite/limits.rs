//! Rate limits: requests per second per key and per tenant, held in Redis
//! across API processes, answered `429 rate_limited` with `Retry-After` and
//! the IETF `RateLimit-Policy`/`RateLimit` headers; jobs per minute per
//! kind, set per tenant by an operator (audited), on single and batch
//! submissions; cost caps that fail chat jobs fast and warn once at 80%.

use std::time::Duration;

use chorus_shared::domain::Role;
use chorus_shared::Ctx;
use chorus_tests::TestApp;
use serde_json::{json, Value};

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

/// Sends `n` GETs of `/v1/jobs` at once, spread over `bases`, as `keys`
/// in turn: the answers, and how long the burst took. Whatever the
/// machine's speed, at most the quota plus what freed up meanwhile passes.
async fn burst(app: &TestApp, n: usize, bases: &[String], keys: &[String]) -> (Vec<reqwest::Response>, Duration) {
    let started = std::time::Instant::now();
    let calls = (0..n).map(|i| {
        let url = format!("{}/v1/jobs", bases[i % bases.len()]);
        app.client.get(url).bearer_auth(&keys[i % keys.len()]).send()
    });
    let answers = futures::future::join_all(calls).await.into_iter().map(Result::unwrap).collect();
    (answers, started.elapsed())
}

/// Checks a burst against a quota per second: some refused, no more passed
/// than the quota and what freed up while it ran, and every answer says
/// which policy it met.
async fn check_burst(answers: Vec<reqwest::Response>, took: Duration, quota: u32, policy: &str) {
    let passed = answers.iter().filter(|r| r.status() == 200).count() as u32;
    let freed = (took.as_millis() as u32 * quota).div_ceil(1_000);
    assert!(passed >= 1 && passed <= quota + freed, "{passed} passed in {took:?}");
    for resp in &answers {
        assert_eq!(header(resp, "ratelimit-policy"), format!("\"{policy}\";q={quota};w=1"));
    }
    let refused: Vec<_> = answers.into_iter().filter(|r| r.status() == 429).collect();
    assert!(!refused.is_empty(), "{passed} passed in {took:?}, none refused");
    for resp in refused {
        assert_eq!(header(&resp, "retry-after"), "1");
        assert!(
            header(&resp, "ratelimit").starts_with(&format!("\"{policy}\";r=0;t=")),
            "{}",
            header(&resp, "ratelimit")
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!((body["code"].as_str(), body["details"]["policy"].as_str()), (Some("rate_limited"), Some(policy)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keys_requests_per_second_hold_across_api_processes() {
    let app = TestApp::spawn_with(0, |s| {
        s.limits.key_requests_per_sec = 5;
        s.limits.tenant_requests_per_sec = 0;
    })
    .await;
    // A second API process with its own context: only Redis is shared.
    let ctx = Ctx::connect(app.settings.clone()).await.unwrap();
    let second = chorus_api::startup::Application::build(ctx).unwrap();
    let b = format!("http://127.0.0.1:{}", second.port);
    tokio::spawn(second.server);
    let key = app.key("acme", Role::User).await;
    let (answers, took) = burst(&app, 20, &[app.address.clone(), b.clone()], std::slice::from_ref(&key)).await;
    check_burst(answers, took, 5, "key").await;
    // Another key of the tenant has a quota of its own.
    let other = app.key("acme", Role::User).await;
    let resp = app.get(&other, "/v1/jobs").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(header(&resp, "ratelimit").starts_with("\"key\";r="), "{}", header(&resp, "ratelimit"));
    // One unit frees up every 200 ms.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(app.get(&key, "/v1/jobs").send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_keys_share_its_requests_per_second() {
    let app = TestApp::spawn_with(0, |s| {
        s.limits.key_requests_per_sec = 0;
        s.limits.tenant_requests_per_sec = 4;
    })
    .await;
    let keys = [app.key("initech", Role::User).await, app.key("initech", Role::User).await];
    let (answers, took) = burst(&app, 16, std::slice::from_ref(&app.address), &keys).await;
    check_burst(answers, took, 4, "tenant").await;
    // Another tenant is not touched.
    let other = app.key("globex", Role::User).await;
    assert_eq!(app.get(&other, "/v1/jobs").send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sets_a_tenants_jobs_per_minute() {
    let app = TestApp::spawn_with(0, |_| {}).await;
    let beta = app.key("beta", Role::Admin).await;
    let path = "/v1/admin/tenants/beta/limits";
    let put = |key: &str, body: Value| app.client.put(app.url(path)).bearer_auth(key).json(&body).send();

    // Only the operator tenant's admins set limits.
    assert_eq!(put(&beta, json!({"jobs_per_min": {"diagnostic": 1000}})).await.unwrap().status(), 403);
    assert_eq!(app.get(&beta, path).send().await.unwrap().status(), 403);
    let bad = put(&app.admin_key, json!({"jobs_per_min": {"no_such_kind": 3}})).await.unwrap();
    assert_eq!(bad.status(), 422);
    let nobody = app.client.put(app.url("/v1/admin/tenants/nobody/limits")).bearer_auth(&app.admin_key);
    assert_eq!(nobody.json(&json!({})).send().await.unwrap().status(), 404);

    let set = put(&app.admin_key, json!({"jobs_per_min": {"diagnostic": 3}})).await.unwrap();
    assert_eq!(set.status(), 200);
    let set: Value = set.json().await.unwrap();
    assert_eq!(set["overrides"]["jobs_per_min"]["diagnostic"], 3);
    assert_eq!(set["effective"]["jobs_per_min"]["diagnostic"], 3);
    assert_eq!(set["effective"]["key_requests_per_sec"], 1000, "the configured default");
    assert_eq!(app.get_json(&app.admin_key, path).await, set);

    let job = json!({"kind": "diagnostic", "payload": {}});
    for i in 0..3 {
        assert_eq!(app.post(&beta, "/v1/jobs").json(&job).send().await.unwrap().status(), 202, "job {i}");
    }
    let refused = app.post(&beta, "/v1/jobs").json(&job).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    let retry: u64 = header(&refused, "retry-after").parse().unwrap();
    assert!((1..=20).contains(&retry), "one job frees up every 20 s: {retry}");
    assert_eq!(header(&refused, "ratelimit-policy"), "\"jobs.diagnostic\";q=3;w=60");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        (body["code"].as_str(), body["details"]["policy"].as_str()),
        (Some("rate_limited"), Some("jobs.diagnostic"))
    );
    // A batch spends as many as it holds, all or none.
    let batch = json!({"jobs": [job, job]});
    assert_eq!(app.post(&beta, "/v1/jobs/batch").json(&batch).send().await.unwrap().status(), 429);
    let listed = app.get_json(&beta, "/v1/jobs?limit=100").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 3, "nothing past the limit was made");
    // Other kinds, and other tenants, are not limited.
    let resp = app.post(&beta, "/v1/embeddings").json(&json!({"input": ["copper"]})).send().await.unwrap();
    assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap());
    assert_eq!(app.post(&app.admin_key, "/v1/jobs").json(&job).send().await.unwrap().status(), 202);

    // Back to the defaults: no limit on the kind.
    assert_eq!(put(&app.admin_key, json!({})).await.unwrap().status(), 200);
    assert_eq!(app.post(&beta, "/v1/jobs").json(&job).send().await.unwrap().status(), 202);
    // Both changes are in the tenant's audit log.
    let audit = app.get_json(&beta, "/v1/audit").await;
    let sets = audit.as_array().map_or(0, |e| e.iter().filter(|e| e["action"] == "limits.set").count());
    assert_eq!(sets, 2, "{audit}");
}

/// A provider that answers every call with 1,000 prompt and 500 completion
/// tokens: $0.0105 at $3 and $15 per million.
const PRICED_ANSWER: &str = concat!(
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Paris.\"},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":500,\"total_tokens\":1500}}\n\n",
    "data: [DONE]\n\n",
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cost_cap_fails_chat_jobs_fast_and_warns_once_at_80_percent() {
    use chorus_shared::config::{ModelSettings, ProviderSettings};
    use chorus_shared::domain::JobStatus;
    use wiremock::{matchers::method, Mock, MockServer, ResponseTemplate};

    let llm = MockServer::start().await;
    let answer = ResponseTemplate::new(200).set_body_raw(PRICED_ANSWER, "text/event-stream");
    Mock::given(method("POST")).respond_with(answer).mount(&llm).await;
    let url = llm.uri();
    let app = TestApp::spawn_with(1, move |s| {
        s.llm.providers.insert("paid".into(), ProviderSettings { base_url: url, ..Default::default() });
        let model = ModelSettings {
            provider: "paid".into(),
            name: "pricey".into(),
            input_usd_per_mtok: 3.0,
            output_usd_per_mtok: 15.0,
            ..Default::default()
        };
        s.llm.models.insert("pricey".into(), model);
    })
    .await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&receiver).await;
    let hook = json!({"url": format!("{}/hook", receiver.uri()), "event_types": ["usage.threshold"]});
    assert_eq!(app.post(&app.admin_key, "/v1/webhooks").json(&hook).send().await.unwrap().status(), 201);
    let cap = json!({"cost_per_day_usd": 0.024});
    let set = app.client.put(app.url("/v1/admin/tenants/acme/limits")).bearer_auth(&app.admin_key).json(&cap);
    assert_eq!(set.send().await.unwrap().status(), 200);

    let conv: Value = app.post_json(&app.admin_key, "/v1/conversations", &json!({"models": ["pricey"]})).await;
    let app = &app;
    let say = |text: &'static str| {
        let path = format!("/v1/conversations/{}/messages", conv["id"].as_str().unwrap());
        let body = json!({"content": text, "settings": {"max_tokens": 256}});
        async move {
            let posted = app.post_json(&app.admin_key, &path, &body).await;
            posted["job"]["id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap()
        }
    };
    // $0.0105, then $0.021: 87.5% of the cap.
    for text in ["What is the capital of France?", "And of Italy?"] {
        let job = say(text).await;
        app.wait_for_status(job, JobStatus::Succeeded, Duration::from_secs(20)).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while receiver.received_requests().await.unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "usage.threshold was sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let event: Value = receiver.received_requests().await.unwrap()[0].body_json().unwrap();
    assert_eq!(event["type"], "usage.threshold");
    assert_eq!((event["data"]["period"].as_str(), event["data"]["cap_usd"].as_f64()), (Some("day"), Some(0.024)));
    assert!((event["data"]["spent_usd"].as_f64().unwrap() - 0.021).abs() < 1e-9, "{event}");

    // The next answer may cost up to 256 tokens at $15 per million: past the cap.
    let job = say("And of Spain?").await;
    let failed = app.wait_for_status(job, JobStatus::Failed, Duration::from_secs(20)).await;
    assert_eq!(failed.error.unwrap().code, "cost_cap_reached");
    assert_eq!(failed.attempts, 1, "not retried");
    assert_eq!(llm.received_requests().await.unwrap().len(), 2, "the model was not called");
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(receiver.received_requests().await.unwrap().len(), 1, "the threshold is sent once a day");
}
